"""The rest of the complete API: soft delete and restore, problem details, cursor pages,
the user directory and role grants, each through the real engine on a small workspace.

- A deleted record leaves lists, lookups, reports, exports and direct reads; the audit
  trail keeps it (and says who deleted and restored it); only the ``delete`` right
  deletes and restores, with the version read (409 when stale) and never under a record's
  children; the page's Delete button asks first.
- Every API error is an RFC 9457 problem document (``application/problem+json``).
- Lists page by cursor: every record once, in the order of a page by number, stable
  while records come and go.
- The directory gives names and ids to every member, e-mails to user administrators only.
- Role grants at a record: user administrators only, audited, refused for a stranger.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import select

from configs import full_documents
from steerco.engine import members, tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records
from steerco.store.models import AuditEvent, Membership, Record, RoleAssignment, User

API = "/api/t/mini"
PROBLEM = "application/problem+json"


def bearer(session, user: User) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, plaintext = tokens.create_token(session, user, "tests")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


class World:
    """The full mini tenant, an administrator and a measure owner with tokens, one program."""

    def __init__(self, client, session, make_tenant, make_user):  # type: ignore[no-untyped-def]
        self.client, self.session = client, session
        self.tenant = make_tenant(full_documents())
        self.admin = make_user(self.tenant, [("admin", None)], name="Ada Admin")
        self.owner = make_user(self.tenant, [("owner", None)], name="Otto Owner")
        self.headers, self.owner_headers = bearer(session, self.admin), bearer(session, self.owner)
        self.program = self.create({"level": "program", "title": "Operations"})["id"]

    def create(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.post(f"{API}/records", json=body, headers=headers or self.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    def measure(self, title: str, potential: float | None = None) -> dict[str, Any]:
        values = {} if potential is None else {"potential": potential}
        return self.create({"level": "measure", "parent": self.program, "title": title, "values": values})

    def get(self, path: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.get(API + path, headers=headers or self.headers)

    def delete(self, record: dict[str, Any], version: int | None = None,  # type: ignore[no-untyped-def]
               headers: dict[str, str] | None = None):
        version = record["version"] if version is None else version
        return self.client.delete(f"{API}/records/{record['id']}?version={version}", headers=headers or self.headers)

    def restore(self, record_id: int, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(f"{API}/records/{record_id}/restore", headers=headers or self.headers)

    def listed(self, path: str = f"/records?level=measure") -> set[str]:
        return {item["title"] for item in self.get(path + "&limit=200").get_json()["items"]}

    def engine(self, user: User) -> Records:
        config = tenants.active_config(self.session, self.tenant)
        return Records(self.session, self.tenant.id, config,
                       Access(config, tenants.actor_for(self.session, self.tenant, user)))


@pytest.fixture
def world(client, session, make_tenant, make_user) -> World:  # type: ignore[no-untyped-def]
    return World(client, session, make_tenant, make_user)


# -- soft delete and restore -------------------------------------------------------------------
def test_a_deleted_record_leaves_lists_lookups_reports_and_exports_and_stays_in_the_audit_trail(world) -> None:  # type: ignore[no-untyped-def]
    kept, gone = world.measure("Cheaper coil", 1000), world.measure("Fewer trucks", 2500)
    assert world.listed() == {"Cheaper coil", "Fewer trucks"}

    deleted = world.delete(gone)
    assert deleted.status_code == 200
    assert deleted.get_json()["deleted"] is True and deleted.get_json()["number"] == gone["number"]
    assert world.get(f"/records/{gone['id']}").status_code == 404
    assert world.listed() == world.listed(f"/records?level=measure&parent={world.program}") == {"Cheaper coil"}
    # The report, the lookups of a reference and the CSV export no longer know it.
    report = json.dumps(world.get("/reports/steerco").get_json())
    assert "Cheaper coil" in report and "Fewer trucks" not in report
    lookups = world.engine(world.admin).search_choices("records", "measure", "")
    assert [label for _, label in lookups] == [f"{kept['number']} Cheaper coil"]
    assert world.client.post("/login", data={"email": world.admin.email, "password": "correct-horse-battery"}
                             ).status_code == 302
    csv = world.client.get(f"/t/mini/r/{world.program}/list/measure/export.csv").get_data(as_text=True)
    assert "Cheaper coil" in csv and "Fewer trucks" not in csv

    # The trail keeps everything it had, and says who deleted it.
    events = world.session.scalars(select(AuditEvent).where(AuditEvent.record_id == gone["id"])
                                   .order_by(AuditEvent.id)).all()
    assert [e.kind for e in events] == ["record.created", "record.deleted"]
    assert events[-1].user_id == world.admin.id and events[-1].data["number"] == gone["number"]

    # The bin lists it for whoever may restore it; restoring brings it back everywhere.
    bin_ = world.get("/deleted").get_json()
    assert [i["id"] for i in bin_["items"]] == [gone["id"]] and bin_["next_cursor"] is None
    restored = world.restore(gone["id"])
    assert restored.status_code == 200 and restored.get_json()["title"] == "Fewer trucks"
    assert world.listed() == {"Cheaper coil", "Fewer trucks"}
    assert world.get("/deleted").get_json()["items"] == []
    assert world.restore(gone["id"]).status_code == 404  # not deleted (any more)
    kinds = world.session.scalars(select(AuditEvent.kind).where(AuditEvent.record_id == gone["id"])
                                  .order_by(AuditEvent.id)).all()
    assert kinds == ["record.created", "record.deleted", "record.restored"]


def test_only_the_delete_right_deletes_with_the_version_read_and_never_under_children(world) -> None:  # type: ignore[no-untyped-def]
    measure = world.measure("Mine")
    # The owner role may read and update its own measures, not delete them.
    world.session.execute(Record.__table__.update().where(Record.id == measure["id"]).values(owner_id=world.owner.id))
    world.session.commit()
    refused = world.delete(world.get(f"/records/{measure['id']}").get_json(), headers=world.owner_headers)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert world.client.delete(f"{API}/records/{measure['id']}", headers=world.headers).status_code == 400
    stale = world.delete(measure, version=measure["version"] + 5)
    assert stale.status_code == 409 and stale.get_json()["current_version"] == measure["version"]
    assert stale.get_json()["type"].endswith("#stale-record")

    program = world.get(f"/records/{world.program}").get_json()
    under = world.delete(program)
    assert under.status_code == 409 and "still has 1 record(s) under it" in under.get_json()["detail"]

    assert world.delete(world.get(f"/records/{measure['id']}").get_json()).status_code == 200
    assert world.get("/deleted", headers=world.owner_headers).get_json()["items"] == []  # not theirs to restore
    assert world.restore(measure["id"], headers=world.owner_headers).status_code == 404
    # With its only child gone, the program may go too; the measure cannot come back under it.
    assert world.delete(program).status_code == 200
    blocked = world.restore(measure["id"])
    assert blocked.status_code == 409 and "restore that one first" in blocked.get_json()["detail"]
    assert world.restore(world.program).status_code == 200
    assert world.restore(measure["id"]).status_code == 200


def test_the_record_page_deletes_after_a_confirmation_and_the_bin_restores(world) -> None:  # type: ignore[no-untyped-def]
    measure = world.measure("Cheaper coil")
    client = world.client
    assert client.post("/login", data={"email": world.admin.email, "password": "correct-horse-battery"}
                       ).status_code == 302
    page = client.get(f"/t/mini/r/{measure['id']}").get_data(as_text=True)
    assert f'href="/t/mini/r/{measure["id"]}/delete"' in page
    confirm = client.get(f"/t/mini/r/{measure['id']}/delete")
    assert confirm.status_code == 200 and "leaves every list" in confirm.get_data(as_text=True)
    assert world.get(f"/records/{measure['id']}").status_code == 200  # asking deletes nothing

    done = client.post(f"/t/mini/r/{measure['id']}/delete", data={"version": measure["version"]})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/t/mini/r/{world.program}")
    assert world.get(f"/records/{measure['id']}").status_code == 404
    bin_page = client.get("/t/mini/deleted").get_data(as_text=True)
    assert "Cheaper coil" in bin_page and "Restore" in bin_page
    assert "Deleted records" in client.get("/t/mini/").get_data(as_text=True)
    back = client.post(f"/t/mini/deleted/{measure['id']}/restore")
    assert back.status_code == 303 and world.get(f"/records/{measure['id']}").status_code == 200

    # A reader without the right sees no button and is refused the page.
    assert client.post("/logout").status_code in (302, 303)
    world.session.execute(Record.__table__.update().where(Record.id == measure["id"]).values(owner_id=world.owner.id))
    world.session.commit()
    assert client.post("/login", data={"email": world.owner.email, "password": "correct-horse-battery"}
                       ).status_code == 302
    assert "/delete" not in client.get(f"/t/mini/r/{measure['id']}").get_data(as_text=True)
    assert client.get(f"/t/mini/r/{measure['id']}/delete").status_code == 403


# -- problem details ----------------------------------------------------------------------------
def test_every_api_error_is_an_rfc_9457_problem_document(world) -> None:  # type: ignore[no-untyped-def]
    client = world.client
    answers = {
        401: client.get(f"{API}/records?level=measure"),
        404: world.get("/records/999999"),
        405: client.put(f"{API}/records/{world.program}", headers=world.headers),
        400: world.get("/records?level=measure&cursor=not-a-cursor"),
        422: client.post(f"{API}/records", headers=world.headers,
                         json={"level": "measure", "parent": world.program, "title": "", "values": {}}),
    }
    for status, response in answers.items():
        assert response.status_code == status
        assert response.mimetype == PROBLEM, (status, response.mimetype)
        body = response.get_json()
        assert {"type", "title", "status", "detail", "instance"} <= set(body), body
        assert body["status"] == status and body["instance"].startswith("/api/t/mini")
        assert body["error"]["status"] == status and body["error"]["message"] == body["detail"]  # the earlier shape
    assert answers[401].get_json()["type"] == "about:blank" and answers[401].get_json()["title"] == "Unauthorized"
    refused = answers[422].get_json()
    assert refused["type"].endswith("/api/problems#validation-failed")
    assert refused["errors"] == refused["error"]["fields"] and "title" in refused["errors"]
    assert answers[400].get_json()["type"].endswith("#invalid-query")


# -- cursor pages -------------------------------------------------------------------------------
def _walk(world, query: str, limit: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    pages, cursor = [], None
    while True:
        response = world.get(f"/records?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        pages.append(body)
        cursor = body["next_cursor"]
        assert ("Link" in response.headers) == (cursor is not None)
        if cursor is None:
            return pages


@pytest.mark.parametrize("sort", ["potential", "title", "number", "updated_at", "due"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_cursor_pages_give_every_record_once_in_the_order_of_numbered_pages(world, sort, direction) -> None:  # type: ignore[no-untyped-def]
    for n, potential in enumerate([500, None, 1500, 500, None, 700, 500, 9000]):
        world.measure(f"Measure {n % 3}", potential)
    query = f"level=measure&sort={sort}&dir={direction}"
    pages = _walk(world, query, 3)
    walked = [item["id"] for page in pages for item in page["items"]]
    numbered = [item["id"] for item in world.get(f"/records?{query}&per_page=200&page=1").get_json()["items"]]
    assert walked == numbered and len(set(walked)) == 8
    assert pages[0]["total"] == 8 and "total" not in pages[1]


def test_cursor_pages_stay_stable_while_records_come_and_go(world) -> None:  # type: ignore[no-untyped-def]
    made = [world.measure(f"M{n}", 100 * n) for n in range(6)]
    first = world.get("/records?level=measure&sort=potential&limit=2").get_json()
    assert [i["title"] for i in first["items"]] == ["M0", "M1"]
    world.delete(made[0])          # before the cursor: the next page does not shift
    world.measure("Early", 50)     # also before it
    second = world.get(f"/records?level=measure&sort=potential&limit=2&cursor={first['next_cursor']}").get_json()
    assert [i["title"] for i in second["items"]] == ["M2", "M3"]


def test_a_cursor_of_another_order_or_a_forged_one_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        world.measure(f"M{n}", n)
    cursor = world.get("/records?level=measure&sort=potential&limit=1").get_json()["next_cursor"]
    other = world.get(f"/records?level=measure&sort=title&limit=1&cursor={cursor}")
    assert other.status_code == 400 and "another order" in other.get_json()["detail"]
    forged = base64.urlsafe_b64encode(json.dumps({"s": "potential", "d": False, "v": "x'--", "i": 1})
                                      .encode()).decode().rstrip("=")
    for bad in (forged, "%%%", "eyJ9"):
        response = world.get(f"/records?level=measure&sort=potential&cursor={bad}")
        assert response.status_code == 400 and response.mimetype == PROBLEM


# -- the user directory -------------------------------------------------------------------------
def test_the_directory_names_members_for_everyone_and_shows_emails_to_user_administrators(world, make_user) -> None:  # type: ignore[no-untyped-def]
    gone = make_user(world.tenant, [("owner", None)], name="Gone Gina")
    world.session.execute(Membership.__table__.update().where(Membership.user_id == gone.id).values(is_active=False))
    world.session.commit()
    as_admin = world.get("/users").get_json()["items"]
    as_owner = world.get("/users", headers=world.owner_headers).get_json()["items"]
    assert [p["name"] for p in as_admin] == [p["name"] for p in as_owner] == ["Ada Admin", "Otto Owner"]
    assert {p["id"]: p["email"] for p in as_admin} == {world.admin.id: world.admin.email,
                                                       world.owner.id: world.owner.email}
    assert all(set(p) == {"id", "name"} for p in as_owner)
    assert world.get(f"/users/{world.admin.id}", headers=world.owner_headers).get_json() == \
        {"id": world.admin.id, "name": "Ada Admin"}
    assert world.get(f"/users/{gone.id}").status_code == 404
    assert [p["name"] for p in world.get("/users?q=ott").get_json()["items"]] == ["Otto Owner"]
    first = world.get("/users?limit=1").get_json()
    second = world.get(f"/users?limit=1&cursor={first['next_cursor']}").get_json()
    assert [p["name"] for p in first["items"] + second["items"]] == ["Ada Admin", "Otto Owner"]
    assert second["next_cursor"] is None


# -- memberships and role grants ----------------------------------------------------------------
def test_role_grants_at_a_record_are_for_user_administrators_and_audited(world, make_user) -> None:  # type: ignore[no-untyped-def]
    newcomer = make_user(world.tenant, [], name="Nina New")
    path = f"{API}/members/{newcomer.id}/roles"
    assert world.client.post(path, headers=world.owner_headers, json={"role": "owner"}).status_code == 403
    assert world.get("/members", headers=world.owner_headers).status_code == 403

    granted = world.client.post(path, headers=world.headers, json={"role": "owner", "node": world.program})
    assert granted.status_code == 201
    roles = granted.get_json()["roles"]
    assert [(r["role"], r["node"]["id"]) for r in roles] == [("owner", world.program)]
    event = world.session.scalars(select(AuditEvent).where(AuditEvent.kind == "role.granted")
                                  .order_by(AuditEvent.id.desc())).first()
    assert event.data["user"] == newcomer.id and event.data["role"] == "owner"
    again = world.client.post(path, headers=world.headers, json={"role": "owner", "node": world.program})
    assert again.status_code == 422 and "already" in again.get_json()["errors"]["role"]
    for body, field in (({"role": "nobody"}, "role"), ({"role": "owner", "node": 999999}, "node"),
                        ({"role": "owner", "node": "x"}, "node")):
        refused = world.client.post(path, headers=world.headers, json=body)
        assert refused.status_code == 422 and field in refused.get_json()["errors"], refused.get_json()

    listed = {m["name"]: m for m in world.get("/members").get_json()["items"]}
    assert set(listed) == {"Ada Admin", "Otto Owner", "Nina New"} and listed["Nina New"]["email"] == newcomer.email
    assignment = roles[0]["id"]
    revoked = world.client.delete(f"{path}/{assignment}", headers=world.headers)
    assert revoked.status_code == 200 and revoked.get_json()["roles"] == []
    assert world.session.get(RoleAssignment, assignment) is None
    assert world.client.delete(f"{path}/{assignment}", headers=world.headers).status_code == 404
    # The last tenant-wide grant of the user administration right stays with its holder.
    own = world.get(f"/members/{world.admin.id}").get_json()["roles"][0]["id"]
    assert world.client.delete(f"{API}/members/{world.admin.id}/roles/{own}", headers=world.headers).status_code == 403
    assert members.member(world.session, world.tenant, world.admin.id).assignments


def test_an_administrator_invites_deactivates_and_reactivates_members(world, outbox) -> None:  # type: ignore[no-untyped-def]
    refused = world.client.post(f"{API}/members", headers=world.owner_headers,
                                json={"email": "nina@example.com", "name": "Nina New"})
    assert refused.status_code == 403
    bad = world.client.post(f"{API}/members", headers=world.headers, json={"email": "no-address", "name": ""})
    assert bad.status_code == 422 and {"email", "name"} <= set(bad.get_json()["errors"])
    invited = world.client.post(f"{API}/members", headers=world.headers,
                                json={"email": "nina@example.com", "name": "Nina New", "role": "owner",
                                      "node": world.program})
    assert invited.status_code == 201, invited.get_json()
    member = invited.get_json()
    assert (member["joined"], member["active"], [r["role"] for r in member["roles"]]) == (False, False, ["owner"])
    assert [m["To"] for m in outbox()][-1] == "nina@example.com"
    assert "Nina New" not in {p["name"] for p in world.get("/users").get_json()["items"]}  # not joined yet

    owner = world.owner.id
    off = world.client.post(f"{API}/members/{owner}/deactivate", headers=world.headers)
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert world.get("/records?level=measure", headers=world.owner_headers).status_code == 404
    on = world.client.post(f"{API}/members/{owner}/reactivate", headers=world.headers)
    assert on.status_code == 200 and on.get_json()["active"] is True
    assert world.get("/records?level=measure", headers=world.owner_headers).status_code == 200


def test_a_deleted_records_waiting_step_is_not_escalated_until_it_is_restored(world, make_user) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from steerco.engine.approvals import escalate_overdue
    from steerco.store.models import utcnow

    make_user(world.tenant, [("admin", None)], name="Second Admin")  # someone besides the requester decides
    measure = world.measure("Big one", 5000)
    requested = world.client.post(f"{API}/records/{measure['id']}/transitions/decide", headers=world.headers, json={})
    assert requested.status_code == 201 and requested.get_json()["state"] == "pending"
    assert world.delete(world.get(f"/records/{measure['id']}").get_json()).status_code == 200
    later = utcnow() + dt.timedelta(days=30)
    assert escalate_overdue(world.session, later) == []
    assert world.restore(measure["id"]).status_code == 200
    assert [t.record_id for t in escalate_overdue(world.session, later)] == [measure["id"]]
