"""The tenant's OpenAPI document, its docs page, and the page of problem types.

``GET /api/t/<tenant>/openapi.json`` describes the JSON API as this workspace has it: each
level's record, its values (one property per field, its JSON Schema from the field-type
registry's :meth:`~steerco.fields.base.FieldType.api_schema`), what a create and an update
take, the stages, roles, reports and status dimensions as enumerations. It is built from
the active configuration on each request (:mod:`steerco.engine.openapi_document`), so a
new field appears without code. ``GET /api/t/<tenant>/docs`` renders it as a plain HTML
page (no script, nothing fetched from elsewhere); ``/api/problems`` explains each problem
``type`` an error answer names.

The document needs a token like every other API call (it lists the workspace's levels,
fields and roles, which are not for strangers); the docs page is a page of the workspace
(``/t/<tenant>/api-docs``), read with the login session as people do.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, render_template, url_for

from steerco.engine.errors import SteercoError
from steerco.engine.openapi_document import openapi_document
from steerco.web.api import bp
from steerco.web.tenancy import tenant_blueprint

problems_bp = Blueprint("api_problems", __name__)
#: the docs page, read in a browser with the login session (``/t/<tenant>/api-docs``)
docs_bp = tenant_blueprint("api_docs", __name__)


def _document() -> dict[str, Any]:
    return openapi_document(g.config, server_url=url_for("api.list_records", tenant=g.tenant.slug)
                            .removesuffix("/records"), tenant_name=g.tenant.name)


@bp.get("/openapi.json")
def openapi_json():  # type: ignore[no-untyped-def]
    """This workspace's API as an OpenAPI 3.1 document."""
    return jsonify(_document())


@docs_bp.get("/api-docs")
def docs():  # type: ignore[no-untyped-def]
    """The OpenAPI document as a page to read: operations, parameters and schemas."""
    return render_template("api_docs.html", doc=_document(), tenant=g.tenant,
                           json_url=url_for("api.openapi_json", _external=True))


def _kinds() -> list[tuple[str, str, int, str]]:
    """(kind, class name, status, explanation) of every error class of the engine."""
    from steerco.engine import config_versions, records  # noqa: F401 - their errors count too
    from steerco.web.app import problem_kind

    found: dict[str, tuple[str, str, int, str]] = {}
    stack = list(SteercoError.__subclasses__())
    while stack:
        cls = stack.pop()
        stack += cls.__subclasses__()
        kind = problem_kind(cls.__new__(cls))
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        found[kind] = (kind, cls.__name__, cls.status, doc)
    return sorted(found.values())


@problems_bp.get("/api/problems")
def problems():  # type: ignore[no-untyped-def]
    """What each ``type`` of an API error means (the anchors the problem documents link to)."""
    return render_template("api_problems.html", kinds=_kinds())
