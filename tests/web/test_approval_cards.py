"""The approver decides with the facts: the card in the inbox and on the record's decision
panel shows the fields the level names (``approval_card``) and links the gate's evidence.
And the workspace home leads every role to its work, never to a dead end.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.demo import DEMO_PASSWORD
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import Workflows
from steerco.fields import Upload
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import Record, Tenant, User

MEASURE = "Consolidate PCB suppliers"  # the owner's, potential 425,000


@pytest.fixture
def acme(demo_workspaces):  # type: ignore[no-untyped-def]
    """The demo workspaces (cheap password hashes); acme."""
    return demo_workspaces["acme"]


def _client(app, email: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
    return client


def _actor(session, tenant: Tenant, email: str) -> tuple:  # type: ignore[type-arg, no-untyped-def]
    user = session.scalar(select(User).where(User.email == email))
    config = tenants.active_config(session, tenant)
    return config, Access(config, tenants.actor_for(session, tenant, user))


def _requested(session, tenant: Tenant, upload_dir) -> Record:  # type: ignore[no-untyped-def]
    """The owner's measure at DoI3 with its business case, its "decide" requested."""
    measure = session.scalar(select(Record).where(Record.title == MEASURE))
    config, access = _actor(session, tenant, "owner@acme.example")
    owner = Records(session, tenant.id, config, access, DiskBlobStore(upload_dir))
    owner.update(measure, Submission(measure.title, MultiDict({"target_date": "2027-06-30"}),
                                     uploads={"business_case": [Upload("case.pdf", "application/pdf", b"%PDF-1.4")]}),
                 measure.version)
    session.execute(Record.__table__.update().where(Record.id == measure.id).values(stage_key="doi3"))
    session.commit()
    session.expire_all()
    measure = session.get(Record, measure.id)
    Workflows(session, tenant.id, config, access).request(measure, "decide", "Supplier audit done")
    session.commit()
    return measure


def test_the_inbox_card_and_the_decision_panel_show_the_facts_and_the_evidence(acme, session, app, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure = _requested(session, acme, upload_dir)
    pm = _client(app, "pm@acme.example")
    for url in ("/t/acme/inbox", f"/t/acme/r/{measure.id}"):
        body = pm.get(url).get_data(as_text=True)
        card = body[body.index('class="approval-card"'):]
        card = card[:card.index('class="decide')]
        assert re.search(r'data-field="potential">[^<]*425[.,]000', card), url
        assert "Probability-weighted potential" in card or 'data-field="probability_weighted_potential"' in card
        assert re.search(r'<a href="/t/acme/attachments/\d+">case.pdf</a>', card), url


def test_each_role_finds_its_work_from_the_home_page(acme, app) -> None:  # type: ignore[no-untyped-def]
    for email in ("controller@acme.example", "cfo@acme.example", "viewer@acme.example", "owner@acme.example"):
        body = _client(app, email).get("/t/acme/").get_data(as_text=True)
        assert "There is nothing for you to see here yet" not in body, email
        work = body[body.index('id="your-work"'):]
        assert re.search(r'href="/t/acme/(list/measure|r/\d+)"', work), email


def test_my_records_lists_what_i_own_across_levels(acme, session, app) -> None:  # type: ignore[no-untyped-def]
    owner = session.scalar(select(User).where(User.email == "admin@acme.example"))
    owned = list(session.scalars(select(Record).where(Record.tenant_id == acme.id, Record.owner_id == owner.id,
                                                      Record.deleted_at.is_(None))))
    assert len({r.level_key for r in owned}) > 1, "the administrator owns records of several levels"
    body = _client(app, "admin@acme.example").get("/t/acme/mine").get_data(as_text=True)
    for record in owned:
        assert f'href="/t/acme/r/{record.id}"' in body, record.number


def test_a_card_leaves_out_a_field_hidden_from_its_reader(acme, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    """The viewer's role hides the baseline and business cases: named on the card, they
    are still not on theirs."""
    from steerco.engine import approval_cards
    from steerco.store.models import TransitionRequest

    measure = _requested(session, acme, upload_dir)
    request = session.scalar(select(TransitionRequest).where(TransitionRequest.record_id == measure.id))
    config, access = _actor(session, acme, "viewer@acme.example")
    level = config.levels["measure"]
    chosen = level.approval_card
    object.__setattr__(level, "approval_card", ("potential", "baseline"))  # the compiled level, for this test
    try:
        viewer = Records(session, acme.id, config, access, DiskBlobStore(upload_dir))
        card = approval_cards.cards(viewer, [(measure, request)])[request.id]
        admin_config, admin_access = _actor(session, acme, "admin@acme.example")
        admin = Records(session, acme.id, admin_config, admin_access, DiskBlobStore(upload_dir))
        full = approval_cards.cards(admin, [(measure, request)])[request.id]
    finally:
        object.__setattr__(level, "approval_card", chosen)
    assert [fv.key for fv in card.facts] == ["potential"]
    assert [fv.key for fv in full.facts] == ["potential", "baseline"]
    assert card.evidence == () and [fv.key for fv in full.evidence] == ["business_case"]
