"""The approver-eligibility rule: one rule, read in Python and as SQL, agreeing everywhere.

On the demo tenants, for every member, every record with a workflow and every role a step
could name: the per-record decision (:meth:`ApproverRule.decides`), the SQL condition
(who :meth:`Approvers.eligible` finds) and :meth:`Access.roles_allowing` ("approve") give
the same answer. Levels and scope count: a role without ``approve`` on the record's level,
or held in another part of the tree, or ``own``-scoped on a record someone else owns, does
not make its holder an approver.
"""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.demo import load_demo
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.approvers import Approvers, ApproverRule
from steerco.engine.context import WorkContext
from steerco.engine.inbox import Inbox
from steerco.engine.records import Records, Submission
from steerco.store.models import ApprovalTask, Membership, Record, Tenant, User


def _context(session, tenant: Tenant, user: User) -> WorkContext:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, user))
    return WorkContext(session, tenant.id, config, access, Records(session, tenant.id, config, access))


def test_the_rule_agrees_in_python_sql_and_access_on_the_demo(session) -> None:  # type: ignore[no-untyped-def]
    load_demo(session)
    session.commit()
    checked = 0
    for tenant in session.scalars(select(Tenant)).all():
        config = tenants.active_config(session, tenant)
        rule = ApproverRule(config)
        members = session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                  .where(Membership.tenant_id == tenant.id)).all()
        records = [r for r in session.scalars(select(Record).where(Record.tenant_id == tenant.id))
                   if config.workflow_of(config.levels[r.level_key])]
        contexts = {u.id: _context(session, tenant, u) for u in members}
        someone = next(iter(contexts.values()))
        for record in records:
            eligible = Approvers(someone).eligible_by_role(config.roles, record)
            for user in members:
                ctx = contexts[user.id]
                actor = ctx.access.actor
                allowing = ctx.access.roles_allowing("approve", record.level_key, record)
                for role in config.roles:
                    in_python = rule.decides(actor.grants, user.id, role, record)
                    in_sql = user.id in eligible[role]
                    by_access = role in allowing and role in {g.role for g in actor.grants}
                    assert in_python == in_sql == by_access, (tenant.slug, user.email, record.number, role)
                    checked += 1
    assert checked > 1000


def test_the_inbox_offers_a_step_exactly_to_those_who_may_decide_it(session) -> None:  # type: ignore[no-untyped-def]
    """The inbox (SQL) and a decision (Python) read the same rule: on the demo's waiting
    improvement, every member finds the step in their inbox exactly when they may decide it."""
    load_demo(session)
    session.commit()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "servicedesk"))
    task = session.scalar(select(ApprovalTask).where(ApprovalTask.tenant_id == tenant.id,
                                                     ApprovalTask.state == "pending"))
    record = session.get(Record, task.record_id)
    offered = set()
    for user in session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                .where(Membership.tenant_id == tenant.id)):
        ctx = _context(session, tenant, user)
        capacity = Approvers(ctx).capacity(task, record)
        may = capacity is not False and task.request.requested_by_id not in {user.id, capacity}
        listed = task.id in Inbox(ctx).decidable_on(record)
        assert listed == may, user.email
        offered |= {user.email} if listed else set()
    assert offered == {"slm@servicedesk.example", "slm2@servicedesk.example"}


def test_levels_and_scope_decide_who_is_eligible(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = minimal_documents()
    docs["roles"]["roles"] += [
        {"key": "lead", "label": "Lead", "permissions": [
            {"levels": ["*"], "actions": ["read"], "scope": "subtree"},
            {"levels": ["measure"], "actions": ["approve"], "scope": "own"}]},
        {"key": "program_approver", "label": "Program approver", "permissions": [
            {"levels": ["program"], "actions": ["read", "approve"], "scope": "tenant"}]},
    ]
    tenant = make_tenant(docs)
    admin = make_user(tenant, [("admin", None)])
    ctx = _context(session, tenant, admin)
    program = ctx.records.create("program", None, Submission("P", MultiDict()))
    other = ctx.records.create("program", None, Submission("Q", MultiDict()))
    measure = ctx.records.create("measure", program, Submission("M", MultiDict()))
    session.commit()
    owner_lead = make_user(tenant, [("lead", program.id)])
    far_lead = make_user(tenant, [("lead", other.id)])
    make_user(tenant, [("program_approver", None)])
    session.execute(Record.__table__.update().where(Record.id == measure.id).values(owner_id=owner_lead.id))
    session.commit()
    session.expire_all()
    measure = session.get(Record, measure.id)
    approvers = Approvers(ctx)
    # "own" scope: only the lead who owns the measure, in its subtree; the one elsewhere never.
    assert approvers.eligible("lead", measure) == {owner_lead.id}
    assert far_lead.id not in approvers.eligible("lead", measure)
    # approve on programs only: nobody for a measure's step, someone for a program's.
    assert approvers.eligible("program_approver", measure) == set()
    assert len(approvers.eligible("program_approver", session.get(Record, program.id))) == 1
