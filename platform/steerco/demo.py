"""Demo workspaces: the two tenants in ``tenants/`` with users and a few dozen records.

Everything is written through the engine (configuration store, Records service), so the
demo data carries the same audit trail and validation as data typed into a form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.users import create_user
from steerco.engine.workflow import Workflows
from steerco.settings import RESOURCE_ROOT
from steerco.store import scoping
from steerco.store.models import Record, Tenant, User

DEMO_PASSWORD = "steerco-demo"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    #: tenant slug -> [(role, node title or None for tenant-wide)]
    roles: dict[str, list[tuple[str, str | None]]]


DEMO_USERS = (
    DemoUser("consultant@steerco.example", "Clara Consultant",
             {"acme": [("tenant_admin", None)], "servicedesk": [("service_admin", None)]}),
    DemoUser("admin@acme.example", "Anna Admin", {"acme": [("tenant_admin", None)]}),
    DemoUser("portfolio@acme.example", "Paul Portfolio", {"acme": [("portfolio_owner", "Operations Excellence")]}),
    DemoUser("pm@acme.example", "Petra Program", {"acme": [("program_manager", "Procurement 2027")]}),
    DemoUser("owner@acme.example", "Oskar Owner", {"acme": [("measure_owner", "Procurement 2027")]}),
    DemoUser("controller@acme.example", "Carla Controller", {"acme": [("controller", None)]}),
    DemoUser("cfo@acme.example", "Frank CFO", {"acme": [("cfo", None)]}),
    DemoUser("steerco@acme.example", "Stella Steerco", {"acme": [("steering_committee_member", None)]}),
    DemoUser("viewer@acme.example", "Vera Viewer", {"acme": [("viewer", None)]}),
    DemoUser("admin@servicedesk.example", "Sam Admin", {"servicedesk": [("service_admin", None)]}),
    DemoUser("slm@servicedesk.example", "Lena Lines", {"servicedesk": [("service_line_manager", "Workplace Services")]}),
    DemoUser("slm2@servicedesk.example", "Leo Lines", {"servicedesk": [("service_line_manager", "Workplace Services")]}),
    DemoUser("owner@servicedesk.example", "Otto Service", {"servicedesk": [("service_owner", "Workplace Services")]}),
    DemoUser("analyst@servicedesk.example", "Ada Analyst", {"servicedesk": [("analyst", None)]}),
    DemoUser("auditor@servicedesk.example", "Aldo Auditor", {"servicedesk": [("auditor", None)]}),
)

# (level, title, parent title or None, values); a parent is named by title for readability.
ACME_TREE: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("organization", "ACME Group", None, {"headquarters": "Stuttgart", "annual_revenue": "4200000000",
                                          "savings_target": "120000000"}),
    ("portfolio", "Operations Excellence", "ACME Group", {"strategic_theme": "cost_leadership",
                                                          "savings_target": "80000000"}),
    ("portfolio", "Commercial Excellence", "ACME Group", {"strategic_theme": "digital_operations",
                                                          "savings_target": "40000000"}),
    ("program", "Procurement 2027", "Operations Excellence", {"health": "amber", "start_date": "2026-01-01",
                                                              "end_date": "2027-12-31"}),
    ("program", "Footprint Optimisation", "Operations Excellence", {"health": "green"}),
    ("program", "Pricing Power", "Commercial Excellence", {"health": "red"}),
    ("project", "Direct Material Savings", "Procurement 2027", {"budget": "450000", "cost_to_date": "310000",
                                                                "planned_hours": "1200", "actual_hours": "1350"}),
    ("project", "Indirect Spend", "Procurement 2027", {"budget": "200000", "cost_to_date": "240000"}),
    ("project", "Plant Consolidation", "Footprint Optimisation", {"budget": "1500000", "cost_to_date": "600000"}),
    ("project", "Price Realisation", "Pricing Power", {"budget": "300000", "cost_to_date": "120000"}),
    ("measure_package", "Steel & Metals", "Direct Material Savings", {"package_target": "5000000",
                                                                      "review_frequency": "monthly"}),
    ("measure_package", "Electronics", "Direct Material Savings", {"package_target": "2500000"}),
    ("measure_package", "Facility Services", "Indirect Spend", {"package_target": "900000"}),
    ("measure_package", "Site North", "Plant Consolidation", {"package_target": "12000000"}),
    ("measure_package", "List Price Increase", "Price Realisation", {"package_target": "8000000"}),
]

MEASURE_TITLES = {
    "Steel & Metals": ["Renegotiate coil steel contracts", "Dual-source aluminium profiles",
                       "Index-based pricing for copper", "Scrap rate reduction"],
    "Electronics": ["Consolidate PCB suppliers", "Design-to-cost for controllers",
                    "Long-term agreement for sensors"],
    "Facility Services": ["Re-tender cleaning services", "Energy management contract",
                          "Reduce leased office space"],
    "Site North": ["Move assembly line 3", "Close warehouse B", "Shared services for site admin",
                   "Automate end-of-line testing"],
    "List Price Increase": ["Price increase spare parts", "Surcharge for small orders",
                            "Discount governance", "Service contract upsell"],
}

#: the servicedesk improvement the demo leaves waiting for approval
AWAITING_APPROVAL = "Zero-touch laptop provisioning"

#: measures in the measure owner's program that the program manager owns instead
PROGRAM_MANAGER_MEASURES = {"Long-term agreement for sensors"}

SERVICEDESK_TREE: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("service_line", "Workplace Services", None, {"annual_budget": "3400000", "headcount": "42"}),
    ("service_line", "Business Applications", None, {"annual_budget": "5100000", "headcount": "57"}),
    ("service", "Service Desk", "Workplace Services", {"criticality": "gold", "sla_target_pct": "95",
                                                       "sla_actual_pct": "91.5", "tickets_per_month": "5200",
                                                       "planned_hours": "6400", "actual_hours": "7100"}),
    ("service", "Device Management", "Workplace Services", {"criticality": "silver", "sla_target_pct": "90",
                                                            "sla_actual_pct": "93"}),
    ("service", "ERP Support", "Business Applications", {"criticality": "gold", "sla_target_pct": "98",
                                                         "sla_actual_pct": "97.2"}),
    ("service", "CRM Support", "Business Applications", {"criticality": "bronze"}),
]

IMPROVEMENTS = {
    "Service Desk": [("Password reset self-service", "p2"), ("Chatbot for FAQ", "p3"),
                     ("Knowledge base clean-up", "p4")],
    "Device Management": [("Zero-touch laptop provisioning", "p2"), ("Automated patch reporting", "p3")],
    "ERP Support": [("Month-end close runbook", "p1"), ("Batch job monitoring", "p2")],
    "CRM Support": [("Duplicate account detection", "p3")],
}


def _form(values: dict[str, Any]) -> MultiDict:
    form = MultiDict()
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            form.add(key, str(item))
    return form


def _service(session: Session, tenant: Tenant, user: User) -> Records:
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)))


def _build_tree(records: Records, tree: list[tuple[str, str, str | None, dict[str, Any]]]) -> dict[str, Record]:
    """Create the records of ``tree`` in order; returns them by title."""
    by_title: dict[str, Record] = {}
    for level, title, parent_title, values in tree:
        parent = by_title.get(parent_title) if parent_title else None
        by_title[title] = records.create(level, parent, Submission(title, _form(values)))
    return by_title


def _measure_values(index: int, owner_id: int) -> dict[str, Any]:
    potential = (index % 7 + 1) * 85000
    values: dict[str, Any] = {
        "category": ["procurement", "personnel", "process", "footprint", "product", "logistics"][index % 6],
        "potential": str(potential), "baseline": str(potential * 4),
        "benefit_probability": str(50 + index % 5 * 10), "responsible": str(owner_id),
        "effect_type": "recurring" if index % 3 else "one_time",
        "has_capex": "1" if index % 4 == 0 else "0",
    }
    if index % 4 == 0:
        values["capex_amount"] = str(potential // 2)
    for month in range(1, 13):
        values[f"financials.plan.2026-{month:02d}"] = str(round(potential / 12, 2))
        if month <= 10:
            values[f"financials.actual.2026-{month:02d}"] = str(round(potential / 12 * (0.8 + index % 3 * 0.1), 2))
    return values


def _set_statuses(session: Session, records: Records, measure: Record, index: int) -> None:
    """Statuses change with a reason, as a person would change them, not through the form."""
    workflows = Workflows(session, records.tenant_id, records.config, records.access)
    implementation = ["on_track", "on_track", "delayed", "critical"][index % 4]
    potential = ["confirmed", "at_risk", "confirmed", "lost"][index % 4]
    workflows.set_status(measure, "implementation_status", implementation,
                         "" if implementation == "on_track" else "Supplier audit slipped by six weeks.")
    workflows.set_status(measure, "potential_status", potential,
                         "" if potential == "confirmed" else "Volumes fell short of the plan.")
    if potential in {"at_risk", "lost"}:
        records.update(measure, Submission(measure.title, _form({
            "risk_note": "Supplier has not confirmed the new terms yet."})), measure.version)


def load_demo(session: Session) -> list[Tenant]:
    """Load both demo tenants, their users and records (in the caller's transaction).

    The loader sets up several workspaces in one session, so it says so to the tenant
    tripwire for the time it runs; every query it makes names its tenant itself.
    """
    with scoping.across_tenants(session):
        return _load_demo(session)


def _load_demo(session: Session) -> list[Tenant]:
    loaded = [tenants.load_tenant_folder(session, str(RESOURCE_ROOT / "tenants" / slug))[0]
              for slug in ("acme", "servicedesk")]
    users = {u.email: create_user(session, u.email, u.name, DEMO_PASSWORD) for u in DEMO_USERS}
    users["consultant@steerco.example"].is_consultant = True  # may create workspaces from templates
    by_slug = {t.slug: t for t in loaded}
    admins = {"acme": users["admin@acme.example"], "servicedesk": users["admin@servicedesk.example"]}
    for slug, tenant in by_slug.items():
        tenants.add_member(session, tenant, admins[slug], [("tenant_admin" if slug == "acme" else "service_admin", None)])

    acme = _build_tree(_service(session, by_slug["acme"], admins["acme"]), ACME_TREE)
    desk = _build_tree(_service(session, by_slug["servicedesk"], admins["servicedesk"]), SERVICEDESK_TREE)
    nodes = {"acme": acme, "servicedesk": desk}
    for demo_user in DEMO_USERS:
        for slug, roles in demo_user.roles.items():
            if users[demo_user.email] is admins[slug]:
                continue
            tenants.add_member(session, by_slug[slug], users[demo_user.email],
                               [(role, nodes[slug][node].id if node else None) for role, node in roles])

    owner = users["owner@acme.example"]
    owner_records = _service(session, by_slug["acme"], owner)
    pm_records = _service(session, by_slug["acme"], users["pm@acme.example"])
    admin_records = _service(session, by_slug["acme"], admins["acme"])
    index = 0
    for package, titles in MEASURE_TITLES.items():
        parent = acme[package]
        # Measures in the owner's program belong to the owner, except one the program
        # manager took on; the others belong to the admin.
        in_program = parent.path.startswith(acme["Procurement 2027"].path)
        for title in titles:
            records = (pm_records if title in PROGRAM_MANAGER_MEASURES else owner_records) if in_program \
                else admin_records
            measure = records.create("measure", parent, Submission(title, _form(_measure_values(index, records.access.actor.user_id))))
            _set_statuses(session, records, measure, index)
            index += 1

    desk_records = _service(session, by_slug["servicedesk"], users["owner@servicedesk.example"])
    desk_admin = _service(session, by_slug["servicedesk"], admins["servicedesk"])
    improvements: dict[str, Record] = {}
    for service, items in IMPROVEMENTS.items():
        parent = desk[service]
        records = desk_records if parent.path.startswith(desk["Workplace Services"].path) else desk_admin
        for n, (title, priority) in enumerate(items):
            values = {"problem_statement": f"{title}: too many manual tickets.", "priority": priority,
                      "improvement_type": ["automation", "self_service"] if n % 2 else ["process"],
                      "expected_saving": str(25000 * (n + 1)), "ticket_reduction": str(120 * (n + 1)),
                      "savings.plan.2026-04": "5000", "savings.plan.2026-07": "7500"}
            if priority in {"p1", "p2"}:
                values["change_ticket"] = f"CHG-{4100 + n}"
            improvement = records.create("improvement", parent, Submission(title, _form(values)))
            improvements[title] = improvement
            if title == AWAITING_APPROVAL:
                _ask_for_approval(session, records, improvement, users["slm@servicedesk.example"].id)
    _kpis_and_capacity(desk_records, desk, improvements, users["analyst@servicedesk.example"].id)
    session.flush()
    return loaded


def _kpis_and_capacity(records: Records, desk: dict[str, Record], improvements: dict[str, Record],
                       analyst_id: int) -> None:
    """Service KPIs (one below target) and an analyst planned on two improvements for more
    hours in a quarter than the workspace's capacity: a resource conflict to look at."""
    for title, actuals in (("First-contact resolution", ("72", "74", "79")), ("Customer satisfaction", ("91", "93", "94"))):
        values = {"review_every": "quarter", "last_reviewed": "2026-10-15"}
        for period, actual in zip(("2026-04", "2026-07", "2026-10"), actuals):
            values[f"kpi_values.target.{period}"] = "80" if title.startswith("First") else "90"
            values[f"kpi_values.actual.{period}"] = actual
        records.create("service_kpi", desk["Service Desk"], Submission(title, _form(values)))
    for title, hours in (("Password reset self-service", "300"), ("Chatbot for FAQ", "250")):
        records.create("assignment", improvements[title], Submission("Analysis and rollout", _form({
            "assignee": str(analyst_id), "assigned_hours.plan.2027-01": hours})))


def _ask_for_approval(session: Session, records: Records, improvement: Record, lead_id: int) -> None:
    """One improvement assessed and waiting for a service line manager, so that the
    inboxes of slm@ and slm2@ show what an approval looks like."""
    records.update(improvement, Submission(improvement.title, _form({
        "improvement_lead": str(lead_id), "target_date": "2027-03-31"})), improvement.version)
    workflows = Workflows(session, records.tenant_id, records.config, records.access)
    workflows.request(improvement, "assess")
    workflows.request(improvement, "approve_improvement", "Pilot with 50 laptops went well.")


def demo_loaded(session: Session) -> bool:
    return session.scalar(select(Tenant.id).where(Tenant.slug == "acme")) is not None
