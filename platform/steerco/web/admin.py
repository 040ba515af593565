"""User administration for a tenant's admins: members, their roles, (de)activation.

Views stay thin: the engine (``steerco.engine.members``) checks the right, keeps every
lookup inside the tenant and writes the audit trail; a view parses the form, commits, and
answers 422 with the form when the engine reports bad input. Everything else (403 without
the right, 404 for ids of other tenants) goes to the app's error handlers.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import Response, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from steerco.engine import exceptions, members
from steerco.engine.errors import ValidationFailed
from steerco.fields.display import Formatter, NotANumber, read_number
from steerco.web import mailing
from steerco.web.extensions import db
from steerco.web.tenancy import tenant_blueprint

bp = tenant_blueprint("admin", __name__)


@bp.before_request
def _require_users_right() -> None:
    """Every route here needs the right; checked once, after the tenant resolved the actor."""
    members.require_users_right(g.config, g.actor)


@bp.after_request
def _no_store(response: Response) -> Response:
    """Pages with people's data are not kept in caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _user_page(user_id: int, errors: Mapping[str, str] | None = None,
               values: Mapping[str, Any] | None = None, message: str | None = None) -> str:
    member = members.member(db.session, g.tenant, user_id)
    number = Formatter(g.config.locale).number
    defaults = sorted({r.capacity.hours_per_period for r in exceptions.capacity_rules(g.config) if r.capacity})
    return render_template(
        "admin/user.html", member=member, nodes=members.node_choices(db.session, g.tenant, g.config),
        capacity_defaults=" / ".join(number(h) for h in defaults),
        capacity=number(member.capacity_hours) if member.capacity_hours is not None else "",
        errors=errors or {}, values=values or {}, message=message)


def _back_to(user_id: int) -> BaseResponse:
    return redirect(url_for("admin.user", user_id=user_id), code=303)


def _done(user_id: int, message: str) -> BaseResponse:
    """Keep the change, say what happened, and show the user's page again."""
    db.session.commit()
    flash(message)
    return _back_to(user_id)


@bp.get("/admin/users")
def users():  # type: ignore[no-untyped-def]
    query = request.args.get("q", "")
    found = members.members(db.session, g.tenant, query)
    # A history restore asks for the whole page even though it comes from htmx.
    if request.htmx and not request.htmx.history_restore_request:
        return render_template("admin/_users_table.html", found=found, q=query)
    return render_template("admin/users.html", found=found, q=query)


@bp.route("/admin/users/new", methods=["GET", "POST"])
def new_user():  # type: ignore[no-untyped-def]
    nodes = members.node_choices(db.session, g.tenant, g.config)
    if request.method == "GET":
        return render_template("admin/user_new.html", nodes=nodes, errors={}, values={}, message=None)
    form = request.form
    role, node = form.get("role", ""), form.get("node", "")
    try:
        invitation = members.invite(db.session, g.tenant, g.config, g.actor, form.get("email", ""),
                                    form.get("name", ""), [(role, node)] if role or node.strip() else [])
    except ValidationFailed as failed:
        db.session.rollback()
        values = {"email": form.get("email", ""), "name": form.get("name", ""), "role": role, "node": node}
        return render_template("admin/user_new.html", nodes=nodes, errors=failed.errors, values=values,
                               message=failed.message), 422
    _send(invitation)
    # The same words whether the address had an account elsewhere or not.
    flash(f"Invitation sent to {invitation.email}. {invitation.name} joins this workspace once they accept it.")
    return _back_to(invitation.user_id)


def _send(invitation: members.Invitation) -> None:
    """Keep the invitation, then mail its link (so the link works when the mail arrives)."""
    workspace, inviter = g.config.name, g.actor.name
    db.session.commit()
    mailing.send_invitation(invitation.email, invitation.name, invitation.token, workspace=workspace,
                            inviter=inviter, needs_password=invitation.needs_password)


@bp.post("/admin/users/<int:user_id>/invitation")
def resend_invitation(user_id: int):  # type: ignore[no-untyped-def]
    invitation = members.resend_invitation(db.session, g.tenant, g.config, g.actor, user_id)
    _send(invitation)
    flash(f"Invitation sent again to {invitation.email}; earlier links no longer work.")
    return _back_to(user_id)


@bp.post("/admin/users/<int:user_id>/invitation/withdraw")
def withdraw_invitation(user_id: int):  # type: ignore[no-untyped-def]
    members.withdraw_invitation(db.session, g.tenant, g.config, g.actor, user_id)
    db.session.commit()
    flash("Invitation withdrawn: its link no longer works.")
    return redirect(url_for("admin.users"), code=303)


@bp.get("/admin/users/<int:user_id>")
def user(user_id: int):  # type: ignore[no-untyped-def]
    return _user_page(user_id)


@bp.post("/admin/users/<int:user_id>/roles")
def grant(user_id: int):  # type: ignore[no-untyped-def]
    role, node = request.form.get("role", ""), request.form.get("node", "")
    try:
        members.grant_role(db.session, g.tenant, g.config, g.actor, user_id, role, node or None)
    except ValidationFailed as failed:
        db.session.rollback()
        return _user_page(user_id, failed.errors, {"role": role, "node": node}, failed.message), 422
    return _done(user_id, "Role granted.")


@bp.post("/admin/users/<int:user_id>/roles/<int:assignment_id>/delete")
def revoke(user_id: int, assignment_id: int):  # type: ignore[no-untyped-def]
    members.revoke_role(db.session, g.tenant, g.actor, assignment_id, user_id=user_id, config=g.config)
    return _done(user_id, "Role removed.")


@bp.post("/admin/users/<int:user_id>/capacity")
def capacity(user_id: int):  # type: ignore[no-untyped-def]
    """The hours the member can work per reporting period (empty: the capacity rules' default)."""
    hours = request.form.get("capacity_hours", "").strip()
    try:  # typed as the workspace's locale writes numbers ("37,5" in German)
        number: object = read_number(hours, g.config.locale) if hours else None
    except NotANumber:
        number = hours  # refused by the engine, in its words
    try:
        members.set_capacity(db.session, g.tenant, g.actor, user_id, number, config=g.config)
    except ValidationFailed as failed:
        db.session.rollback()
        return _user_page(user_id, failed.errors, {"capacity_hours": hours}, failed.message), 422
    return _done(user_id, "Capacity saved.")


@bp.post("/admin/users/<int:user_id>/deactivate")
def deactivate(user_id: int):  # type: ignore[no-untyped-def]
    members.deactivate(db.session, g.tenant, g.actor, user_id, config=g.config)
    return _done(user_id, "User deactivated in this workspace: it is closed to them from their next click on.")


@bp.post("/admin/users/<int:user_id>/reactivate")
def reactivate(user_id: int):  # type: ignore[no-untyped-def]
    members.reactivate(db.session, g.tenant, g.actor, user_id, config=g.config)
    return _done(user_id, "User reactivated in this workspace.")
