"""Flask extensions, created unbound and initialised in the app factory."""

from __future__ import annotations

from typing import Any

from flask import g, has_app_context
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf import CSRFProtect
from htmx_flask import Htmx

from steerco.store.models import Base
from steerco.store.scoping import TenantGuard, bind_to_tenant


class TenantGuardedSession(TenantGuard, FlaskSession):
    """Flask-SQLAlchemy's session with the tenant tripwire's guard on ``get``.

    A session opened after the request resolved its tenant is bound to it at once: the
    session is removed when the view returns, so a streamed response (a CSV export's
    generator) gets a new one, which would otherwise be bound to no tenant.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant_id = g.get("tenant_id") if has_app_context() else None
        if tenant_id is not None:
            bind_to_tenant(self, tenant_id)


db = SQLAlchemy(model_class=Base, session_options={"class_": TenantGuardedSession})
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
htmx = Htmx()
