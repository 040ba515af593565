"""The OpenAPI 3.1 document of one tenant's JSON API, built from its configuration.

The paths are the same for every workspace; what differs is the data: each level is a
record schema of its own (``Record_measure``) whose ``values`` has one property per field,
described by the field type's :meth:`~steerco.fields.base.FieldType.api_schema` (the
registry's JSON Schema of a value in the API) with the field's label and help, and
nullable, since an empty value is null. Stages, roles, reports and status dimensions are
enumerations. Nothing here is written per field type or per tenant, so a field added to
a configuration is documented by the next request.

Every error is an RFC 9457 problem document (``Problem``), the ``default`` answer of each
operation; a write's field messages are its ``errors``.
"""

from __future__ import annotations

from typing import Any

from steerco.config.model import Level, TenantConfig

OPENAPI_VERSION = "3.1.0"
ID_MAX = 2**31 - 1

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict[str, Schema], required: list[str] | None = None, **more: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = required
    return schema


ID: Schema = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
TEXT: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}
NUMBER: Schema = {"type": "number"}
CURSOR: Schema = _nullable({"type": "string"})


def _field_schema(level: Level, key: str, *, for_input: bool) -> Schema:
    fld = level.field(key)
    assert fld is not None
    schema = dict(fld.kind.api_schema(fld))
    if for_input:
        schema.pop("readOnly", None)
    described: Schema = {"title": fld.label, **_nullable(schema)}
    if fld.help:
        described["description"] = fld.help
    return described


def _level_schemas(config: TenantConfig, level: Level) -> dict[str, Schema]:
    """Record_<level>, Values_<level> and RecordCreate_<level>."""
    workflow = config.workflow_of(level)
    stage: Schema = {"type": "null"} if workflow is None else \
        _nullable({"enum": [s.key for s in workflow.stages]})
    values = _obj({f.key: _field_schema(level, f.key, for_input=False) for f in level.fields},
                  additionalProperties=False,
                  description=f"The fields of a {level.label} the caller may see (a hidden field has no key).")
    inputs = _obj({f.key: _field_schema(level, f.key, for_input=True) for f in level.fields
                   if f.kind.accepts_input and f.kind.api_input},
                  additionalProperties=False,
                  description="Field keys and values to set; null empties a field. Files are uploaded "
                              "through /records/{record_id}/files/{field_key}.")
    record = _obj({
        "id": ID, "number": {"type": "string", "description": f"e.g. {level.number_prefix}-0001"},
        "level": {"const": level.key}, "title": TEXT, "parent_id": _nullable(ID), "stage": stage,
        "owner": _nullable(_ref("UserRef")), "version": {"type": "integer", "minimum": 1},
        "config_version": {"type": "integer"}, "created_at": TIME, "updated_at": TIME,
        "values": _ref(f"Values_{level.key}"),
        "problems": {"type": "object", "additionalProperties": TEXT,
                     "description": "Computed fields whose value cannot be computed, with the reason."},
        "url": {"type": "string", "format": "uri"},
        "baselines": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": NUMBER},
                      "description": "A single record's frozen plans: {grid: {period: amount}} as they stood "
                                     "when the plan froze."},
        "run_rates": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": NUMBER},
                      "description": "A single record's recurring grids: {grid: {scenario: annualised run-rate}}."},
    }, ["id", "number", "level", "title", "parent_id", "stage", "owner", "version", "values", "url"],
        title=level.label, description=f"A {level.label} as the caller sees it.")
    create = _obj({
        "level": {"const": level.key},
        "parent": (_nullable(ID) if level.is_root and level.parents else ({"type": "null"} if level.is_root else ID)),
        "title": {"type": "string", "minLength": 1, "maxLength": 300},
        "values": _ref(f"Input_{level.key}"),
        "owner": {**ID, "description": "Needs the assign_owner action."},
    }, ["level", "title"] + ([] if level.is_root else ["parent"]), additionalProperties=False,
        title=f"New {level.label}")
    return {f"Record_{level.key}": record, f"Values_{level.key}": values, f"Input_{level.key}": inputs,
            f"RecordCreate_{level.key}": create}


def _one_of(names: list[str]) -> Schema:
    return _ref(names[0]) if len(names) == 1 else {"oneOf": [_ref(n) for n in names]}


def _common_schemas(config: TenantConfig) -> dict[str, Schema]:
    levels = list(config.levels)
    request = _obj({
        "id": ID, "record_id": ID, "transition": TEXT, "from": _nullable(TEXT), "to": TEXT,
        "state": TEXT, "requested_by": _nullable(_ref("UserRef")), "requested_at": _nullable(TIME),
        "decided_at": _nullable(TIME), "comment": _nullable(TEXT), "config_version": {"type": "integer"},
        "steps": {"type": "array", "items": {"type": "object"}},
        "changes": {"type": "object", "description": "A plan change's cells: {grid: {scenario: {period: amount}}}."},
    }, ["id", "record_id", "transition", "state", "steps"])
    return {
        "Problem": _obj({
            "type": {"type": "string", "format": "uri-reference",
                     "description": "about:blank, or /api/problems#<kind> for the engine's refusals"},
            "title": TEXT, "status": {"type": "integer", "minimum": 400, "maximum": 599}, "detail": TEXT,
            "instance": TEXT, "errors": {"type": "object", "additionalProperties": TEXT,
                                         "description": "A message per field of a refused write."},
            "current_version": {"type": "integer"}, "missing": {"type": "array", "items": {"type": "object"}},
            "error": {"type": "object", "description": "The earlier error shape, kept for older clients."},
        }, ["type", "title", "status", "detail"], title="Problem details (RFC 9457)"),
        "UserRef": _obj({"id": ID, "name": TEXT}, ["id", "name"]),
        "RecordRef": _obj({"id": ID, "number": TEXT, "title": TEXT, "level": {"enum": levels},
                           "stage": _nullable(TEXT)}, ["id", "number", "title", "level"]),
        "Record": _one_of([f"Record_{k}" for k in levels]),
        "RecordCreate": _one_of([f"RecordCreate_{k}" for k in levels]),
        "RecordUpdate": _obj({
            "version": {"type": "integer", "minimum": 1, "description": "The version you read (409 when stale)."},
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "values": {"type": "object", "description": "Field keys of the record's level (see Input_<level>)."},
            "owner": ID,
        }, ["version"], additionalProperties=False),
        "RecordList": _obj({
            "items": {"type": "array", "items": _ref("Record")}, "next_cursor": CURSOR,
            "total": {"type": "integer"}, "page": {"type": "integer"}, "pages": {"type": "integer"},
            "per_page": {"type": "integer"},
        }, ["items", "per_page"]),
        "Deleted": _obj({"id": ID, "number": TEXT, "deleted": {"const": True}, "deleted_at": TIME,
                         "restore_url": TEXT}, ["id", "deleted"]),
        "DeletedList": _obj({"items": {"type": "array", "items": _obj(
            {"id": ID, "number": TEXT, "title": TEXT, "level": {"enum": levels}, "parent_id": _nullable(ID),
             "deleted_at": TIME, "restore_url": TEXT}, ["id", "number", "deleted_at"])},
            "next_cursor": CURSOR}, ["items", "next_cursor"]),
        "Transitions": _obj({"transitions": {"type": "array", "items": _obj(
            {"key": TEXT, "label": TEXT, "to": TEXT, "ready": {"type": "boolean"},
             "missing": {"type": "array", "items": {"type": "object"}},
             "approvals": {"type": "array", "items": {"type": "object"}}}, ["key", "ready"])},
            "pending": _nullable(_ref("TransitionRequest"))}, ["transitions", "pending"]),
        "TransitionRequest": request,
        "TransitionRequestBody": _obj({"comment": _nullable(TEXT)}, additionalProperties=False),
        "PlanChangeBody": _obj({
            "version": {"type": "integer", "minimum": 1, "description": "The version you read (409 when stale)."},
            "values": {"type": "object", "description": "Grid cells to change, as in a record's values."},
            "comment": _nullable(TEXT)}, ["version", "values"], additionalProperties=False),
        "Period": _obj({"period": TEXT, "state": {"enum": ["open", "locked"]}, "opened_at": _nullable(TIME),
                        "locked_at": _nullable(TIME), "reminded": {"type": "integer"}}, ["period", "state"]),
        "PeriodList": _obj({"items": {"type": "array", "items": _ref("Period")}}, ["items"]),
        "Decision": _obj({"decision": {"enum": ["approve", "reject"]}, "comment": _nullable(TEXT)},
                         ["decision"], additionalProperties=False),
        "Inbox": _obj({k: {"type": "array", "items": {"type": "object"}}
                       for k in ("approvals", "requests", "blocked", "escalated", "exceptions")}
                      | {"page": {"type": "integer"}, "per_page": {"type": "integer"}, "totals": {"type": "object"}},
                      ["approvals", "requests", "blocked", "escalated", "exceptions", "totals"]),
        "StatusBody": _obj({"value": TEXT, "comment": _nullable(TEXT)}, ["value"], additionalProperties=False),
        "Status": _obj({"dimension": {"enum": list(config.status_dimensions)} if config.status_dimensions else TEXT,
                        "value": _nullable(TEXT), "changed": {"type": "boolean"},
                        "history": {"type": "array", "items": {"type": "object"}}}, ["dimension", "changed"]),
        "CommentBody": _obj({"body": {"type": "string", "minLength": 1}}, ["body"], additionalProperties=False),
        "Comment": _obj({"id": ID, "record_id": ID, "body": TEXT, "user": _ref("UserRef"), "created_at": TIME},
                        ["id", "record_id", "body"]),
        "Upload": _obj({"version": {"type": "integer", "minimum": 1},
                        "file": {"type": "array", "items": {"type": "string", "contentMediaType":
                                                            "application/octet-stream"}}}, ["version", "file"]),
        "Person": _obj({"id": ID, "name": TEXT, "email": {"type": "string",
                                                          "description": "Only for user administrators."}},
                       ["id", "name"]),
        "PersonList": _obj({"items": {"type": "array", "items": _ref("Person")}, "next_cursor": CURSOR},
                           ["items", "next_cursor"]),
        "RoleList": _obj({"items": {"type": "array", "items": _obj(
            {"key": {"enum": list(config.roles)}, "label": TEXT, "admin": {"type": "array", "items": TEXT}},
            ["key", "label"])}}, ["items"]),
        "Member": _obj({"id": ID, "name": TEXT, "email": TEXT, "active": {"type": "boolean"},
                        "joined": {"type": "boolean"}, "url": TEXT,
                        "capacity_hours": _nullable({"type": "number"}), "roles": {"type": "array", "items": _obj(
                            {"id": ID, "role": TEXT, "node": _nullable(_obj({"id": ID, "number": _nullable(TEXT),
                                                                             "title": _nullable(TEXT)}))},
                            ["id", "role", "node"])}}, ["id", "name", "email", "active", "roles"]),
        "MemberList": _obj({"items": {"type": "array", "items": _ref("Member")}}, ["items"]),
        "Grant": _obj({"role": {"enum": list(config.roles)}, "node": _nullable(ID)}, ["role"],
                      additionalProperties=False),
        "Invitation": _obj({"email": {"type": "string", "format": "email"}, "name": {"type": "string", "minLength": 1},
                            "role": _nullable({"enum": list(config.roles)}), "node": _nullable(ID)},
                           ["email", "name"], additionalProperties=False),
        "ReportList": _obj({"items": {"type": "array", "items": _obj(
            {"key": {"enum": list(config.reports)} if config.reports else TEXT, "title": TEXT, "url": TEXT,
             "pdf_url": TEXT}, ["key", "title"])}}, ["items"]),
        "ReportJob": _obj({"id": ID, "report": TEXT, "state": {"enum": ["queued", "running", "done", "failed",
                                                                        "expired"]},
                           "progress": {"type": "integer"}, "message": TEXT, "error": _nullable(TEXT),
                           "filename": TEXT, "url": TEXT, "download_url": _nullable(TEXT)}, ["id", "state"]),
    }


# -- operations ----------------------------------------------------------------------------------
def _param(name: str, where: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": where, "schema": schema, "required": required or where == "path"}
    if description:
        param["description"] = description
    return param


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _binary(media: str, description: str) -> Schema:
    return {"description": description, "content": {media: {"schema": {"type": "string", "format": "binary"}}}}


PROBLEM = {"description": "A problem (RFC 9457): 400 malformed, 401 no valid token, 403 not allowed, "
                          "404 not found or not yours to see, 409 stale or conflicting, 422 refused input.",
           "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _op(summary: str, responses: dict[str, Schema], *, params: list[Schema] | None = None,
        body: Schema | None = None, body_media: str = "application/json", tag: str = "records") -> Schema:
    operation: Schema = {"summary": summary, "tags": [tag], "responses": {**responses, "default": PROBLEM}}
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {body_media: {"schema": body}}}
    return operation


def _paths(config: TenantConfig) -> dict[str, Schema]:
    record_id = _param("record_id", "path", ID)
    levels = {"enum": list(config.levels)}
    sorts = TEXT
    limit = {"type": "integer", "minimum": 1, "maximum": 200}
    cursor = _param("cursor", "query", TEXT, "next_cursor of the page before")
    transition_keys = sorted({t.key for w in config.workflows.values() for t in w.transitions})
    return {
        "/records": {
            "get": _op("List readable records of a level (filter, sort, cursor pages)", {
                "200": _json(_ref("RecordList"), "One page; next_cursor is null on the last")}, params=[
                _param("level", "query", levels, required=True), _param("parent", "query", ID),
                _param("q", "query", TEXT, "title contains"), _param("stage", "query", TEXT),
                _param("owner", "query", {"enum": ["me"]}), _param("sort", "query", sorts),
                _param("dir", "query", {"enum": ["asc", "desc"]}), cursor, _param("limit", "query", limit),
                _param("page", "query", {"type": "integer", "minimum": 1}, "a page by number (no cursor)"),
                _param("per_page", "query", limit)]),
            "post": _op("Create a record", {"201": _json(_ref("Record"), "Created")}, body=_ref("RecordCreate")),
        },
        "/records/{record_id}": {
            "parameters": [record_id],
            "get": _op("Read a record", {"200": _json(_ref("Record"), "The record")}),
            "patch": _op("Change a record (version required)", {
                "200": _json({"anyOf": [_ref("Record"), _obj({"id": ID, "transferred": {"const": True}},
                                                               ["id", "transferred"])]}, "Saved")},
                body=_ref("RecordUpdate")),
            "delete": _op("Delete a record (soft; restore brings it back)", {
                "200": _json(_ref("Deleted"), "Deleted")}, params=[
                _param("version", "query", {"type": "integer", "minimum": 1}, "the version you read",
                       required=True)]),
        },
        "/records/{record_id}/restore": {"parameters": [record_id], "post": _op(
            "Restore a deleted record", {"200": _json(_ref("Record"), "Restored")})},
        "/deleted": {"get": _op("Deleted records the caller may restore", {
            "200": _json(_ref("DeletedList"), "Newest deletion first")},
            params=[_param("level", "query", levels), cursor, _param("limit", "query", limit)])},
        "/records/{record_id}/files/{field_key}": {"parameters": [record_id, _param(
            "field_key", "path", TEXT, "an evidence field of the record's level")], "post": _op(
            "Upload evidence files (multipart)", {"201": _json(_ref("Record"), "The record with its files")},
            body=_ref("Upload"), body_media="multipart/form-data", tag="files")},
        "/attachments/{attachment_id}": {"parameters": [_param("attachment_id", "path", ID)], "get": _op(
            "Download a file", {"200": _binary("application/octet-stream", "The file")}, tag="files")},
        "/records/{record_id}/pdf": {"parameters": [record_id], "get": _op(
            "The record as a PDF", {"200": _binary("application/pdf", "The PDF")}, tag="files")},
        "/records/{record_id}/transitions": {"parameters": [record_id], "get": _op(
            "Transitions the caller may request, with their gates",
            {"200": _json(_ref("Transitions"), "Options")}, tag="workflow")},
        "/records/{record_id}/transitions/{key}": {"parameters": [record_id, _param(
            "key", "path", {"enum": transition_keys} if transition_keys else TEXT)], "post": _op(
            "Request a transition", {"201": _json(_ref("TransitionRequest"), "Requested (or applied)")},
            body=_ref("TransitionRequestBody"), tag="workflow")},
        "/records/{record_id}/plan-changes": {"parameters": [record_id], "post": _op(
            "Request a change to frozen plan or locked period values (applied once approved)",
            {"201": _json(_ref("TransitionRequest"), "Requested (or applied)")},
            body=_ref("PlanChangeBody"), tag="workflow")},
        "/periods": {"get": _op("Reporting periods opened or locked (configuration administrators)", {
            "200": _json(_ref("PeriodList"), "Periods")}, tag="workflow")},
        "/periods/{period}/{action}": {"parameters": [
            _param("period", "path", {"enum": [p.key for p in config.periods]}),
            _param("action", "path", {"enum": ["open", "lock", "unlock"]})], "post": _op(
            "Open (reminding owners of missing actuals), lock or unlock a reporting period",
            {"200": _json(_ref("Period"), "The period")}, tag="workflow")},
        "/requests/{request_id}": {"parameters": [_param("request_id", "path", ID)], "get": _op(
            "A transition request", {"200": _json(_ref("TransitionRequest"), "The request")}, tag="workflow")},
        "/requests/{request_id}/withdraw": {"parameters": [_param("request_id", "path", ID)], "post": _op(
            "Withdraw a pending request", {"200": _json(_ref("TransitionRequest"), "Withdrawn")},
            body=_ref("TransitionRequestBody"), tag="workflow")},
        "/approvals/{task_id}": {"parameters": [_param("task_id", "path", ID)], "post": _op(
            "Decide an approval step", {"200": _json(_ref("TransitionRequest"), "Decided")},
            body=_ref("Decision"), tag="workflow")},
        "/inbox": {"get": _op("The caller's work", {"200": _json(_ref("Inbox"), "Inbox")}, params=[
            _param("page", "query", {"type": "integer", "minimum": 1}), _param("per_page", "query", limit)],
            tag="workflow")},
        "/records/{record_id}/status/{dimension}": {"parameters": [record_id, _param(
            "dimension", "path", {"enum": list(config.status_dimensions)} if config.status_dimensions else TEXT)],
            "post": _op("Change a status", {"200": _json(_ref("Status"), "The status and its history")},
                        body=_ref("StatusBody"), tag="workflow")},
        "/records/{record_id}/comments": {"parameters": [record_id], "post": _op(
            "Comment on a record", {"201": _json(_ref("Comment"), "The comment")}, body=_ref("CommentBody"),
            tag="workflow")},
        "/users": {"get": _op("The user directory (e-mails for user administrators only)", {
            "200": _json(_ref("PersonList"), "People by name")},
            params=[_param("q", "query", TEXT, "name contains"), cursor, _param("limit", "query", limit)],
            tag="people")},
        "/users/{user_id}": {"parameters": [_param("user_id", "path", ID)], "get": _op(
            "One person of the directory", {"200": _json(_ref("Person"), "The person")}, tag="people")},
        "/roles": {"get": _op("The workspace's roles", {"200": _json(_ref("RoleList"), "Roles")}, tag="people")},
        "/members": {
            "get": _op("Memberships with their roles (user administration right)", {
                "200": _json(_ref("MemberList"), "Members")}, params=[_param("q", "query", TEXT)], tag="people"),
            "post": _op("Invite someone by e-mail, optionally with a role (user administration right)", {
                "201": _json(_ref("Member"), "The waiting membership; the link is mailed")},
                body=_ref("Invitation"), tag="people")},
        "/members/{user_id}/deactivate": {"parameters": [_param("user_id", "path", ID)], "post": _op(
            "Close the workspace to a member (user administration right)",
            {"200": _json(_ref("Member"), "The member")}, tag="people")},
        "/members/{user_id}/capacity": {"parameters": [_param("user_id", "path", ID)], "put": _op(
            "Set the hours a member can work per reporting period; null: the capacity rules' default "
            "(user administration right)", {"200": _json(_ref("Member"), "The member")},
            body=_obj({"hours": _nullable({"type": "number", "minimum": 0})}, ["hours"], additionalProperties=False),
            tag="people")},
        "/members/{user_id}/reactivate": {"parameters": [_param("user_id", "path", ID)], "post": _op(
            "Open the workspace to a member again (user administration right)",
            {"200": _json(_ref("Member"), "The member")}, tag="people")},
        "/members/{user_id}": {"parameters": [_param("user_id", "path", ID)], "get": _op(
            "One membership (user administration right)", {"200": _json(_ref("Member"), "The member")},
            tag="people")},
        "/members/{user_id}/roles": {"parameters": [_param("user_id", "path", ID)], "post": _op(
            "Grant a role tenant-wide or at a record (user administration right)",
            {"201": _json(_ref("Member"), "The member with every role")}, body=_ref("Grant"), tag="people")},
        "/members/{user_id}/roles/{assignment_id}": {"parameters": [
            _param("user_id", "path", ID), _param("assignment_id", "path", ID)], "delete": _op(
            "Take a role grant away (user administration right)", {"200": _json(_ref("Member"), "The member")},
            tag="people")},
        "/reports": {"get": _op("Reports the caller may open", {"200": _json(_ref("ReportList"), "Reports")},
                                tag="reports")},
        "/reports/{key}": {"parameters": [_param("key", "path", TEXT)], "get": _op(
            "A report's content as JSON", {"200": _json({"type": "object"}, "The report")},
            params=[_param("under", "query", ID, "limit to the subtree of this record")], tag="reports")},
        "/reports/{key}/pdf": {"parameters": [_param("key", "path", TEXT)], "get": _op(
            "A report's PDF: at once when cached, else a job to poll", {
                "200": _binary("application/pdf", "The PDF"),
                "202": _json(_ref("ReportJob"), "Rendering; poll the job (Location)")},
            params=[_param("under", "query", ID, "limit to the subtree of this record")], tag="reports")},
        "/reports/jobs/{job_id}": {"parameters": [_param("job_id", "path", ID)], "get": _op(
            "A report job", {"200": _json(_ref("ReportJob"), "The job")}, tag="reports")},
        "/reports/jobs/{job_id}/download": {"parameters": [_param("job_id", "path", ID)], "get": _op(
            "A finished report job's PDF", {"200": _binary("application/pdf", "The PDF")}, tag="reports")},
        "/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")},
                                     tag="meta")},
    }


def openapi_document(config: TenantConfig, *, server_url: str, tenant_name: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API of a workspace under this configuration."""
    schemas = _common_schemas(config)
    for level in config.levels.values():
        schemas.update(_level_schemas(config, level))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{tenant_name or config.name} API", "version": f"configuration {config.version}",
                 "description": "Records, workflow, files, people and reports of this workspace. Authenticate "
                                "with a personal API token: 'Authorization: Bearer stc_…'. Errors are RFC 9457 "
                                "problem documents; lists page by cursor (next_cursor)."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in ("records", "files", "workflow", "people", "reports", "meta")],
        "paths": _paths(config),
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "A personal API token (stc_…)"}}},
    }
