"""The app factory: settings, extensions, blueprints and the one mapping of errors to answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from flask import Flask, Response, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from steerco import settings
from steerco.engine.errors import GateNotMet, SteercoError, StaleRecord, ValidationFailed
from steerco.engine.mail import mailer_from_settings
from steerco.store.blobs import blob_store
from steerco.store.statistics import keep_sqlite_statistics
from steerco.web.extensions import csrf, db, htmx, login_manager, migrate
from steerco.web.inputs import BoundedJSONProvider, refuse_unstorable_input
from steerco.web.formatting import day, moment
from steerco.web.params import IdConverter

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Create a Steerco app; ``overrides`` replace settings (tests, benchmarks)."""
    app = Flask(
        "steerco",
        template_folder=str(settings.RESOURCE_ROOT / "templates"),
        static_folder=str(Path(__file__).resolve().parents[1] / "static"),
        instance_path=str(settings.INSTANCE_DIR),
    )
    # Before any blueprint adds a rule: every <int:...> in a path is an object id, and one
    # outside 1..2**63-1 cannot exist (and would overflow the database driver), so 404.
    app.url_map.converters["int"] = IdConverter
    # Templates are a fixed set: a plain dict instead of Jinja's locked LRU of 400, looked
    # up ~100 times per form page (a field's include and its type's template).
    app.jinja_options = {**app.jinja_options, "cache_size": -1}
    app.json = BoundedJSONProvider(app)
    app.config.update(settings.from_environment())
    app.config.update(overrides or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    db.init_app(app)
    with app.app_context():
        keep_sqlite_statistics(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    app.extensions["steerco.blobs"] = blob_store(app.config.get("BLOB_URL"), app.config["UPLOAD_DIR"])
    app.extensions["steerco.mailer"] = mailer_from_settings(
        app.config["OUTBOX_DIR"], app.config["SMTP_URL"], app.config["MAIL_FROM"],
        background=app.config.get("MAIL_IN_BACKGROUND", True))
    if app.config.get("REDIS_URL"):
        import redis  # only when configured: the database is the default store

        app.extensions["steerco.redis"] = redis.Redis.from_url(app.config["REDIS_URL"])

    from steerco.web import (
        account, admin, api, auth, config_admin, headers, imports, mailing, notifications, records, reports, workflow,
        workspace,
    )
    from steerco.web import api_files, api_people, openapi, recycle  # noqa: F401 - api_*: routes of api.bp

    mailing.send_notifications_after_commit()

    app.register_blueprint(auth.bp)
    app.register_blueprint(workspace.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(workflow.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(config_admin.bp)
    app.register_blueprint(config_admin.workspaces_bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.problems_bp)
    app.register_blueprint(openapi.docs_bp)
    app.register_blueprint(recycle.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(reports.api)
    app.register_blueprint(imports.bp)
    app.register_blueprint(imports.api)
    app.register_blueprint(headers.bp)
    app.jinja_env.filters["color_class"] = headers.color_class
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.filters["day"] = day
    _register_error_handlers(app)

    @app.before_request
    def _storable_input() -> None:
        refuse_unstorable_input(request)

    @app.context_processor
    def _csrf() -> dict[str, Any]:
        return {"csrf_token": generate_csrf}

    @app.after_request
    def _vary(response):  # type: ignore[no-untyped-def]
        response.headers.add("Vary", "HX-Request")
        return headers.add_security_headers(app, response)

    return app


def is_api_request() -> bool:
    """Requests to the JSON API are answered in JSON whatever failed: routing, the token,
    the engine or a bug; a script must never have to parse an HTML error page."""
    return request.path.startswith("/api/")


#: the media type of every API error (RFC 9457, "Problem Details for HTTP APIs")
PROBLEM_JSON = "application/problem+json"


def problem_type(kind: str | None) -> str:
    """The ``type`` URI of a problem: for the engine's own kinds of refusal the page that
    explains them (``/api/problems#stale-record``), so a client can branch on it without
    parsing words; for plain HTTP failures ``about:blank`` (the title is the status)."""
    if kind is None:
        return "about:blank"
    return url_for("api_problems.problems", _external=True) + "#" + kind


def json_error(status: int, message: str, *, fields: Mapping[str, str] | None = None,
               headers: Iterable[tuple[str, str]] = (), kind: str | None = None,
               **extra: Any) -> Response:
    """The API's one error shape: RFC 9457 problem details (``application/problem+json``).

    ``type``, ``title``, ``status``, ``detail`` and ``instance`` as the RFC has them; the
    field messages of a refused write are ``errors`` (field key -> message), and whatever
    else the problem carries (``current_version`` of a stale write, a gate's ``missing``)
    are extension members beside them. ``error`` repeats the earlier shape
    (``{"status", "message", "fields"?, ...}``) for clients written before.
    """
    legacy: dict[str, Any] = {"status": status, "message": message}
    if fields:
        legacy["fields"] = dict(fields)
    legacy.update(extra)
    body: dict[str, Any] = {
        "type": problem_type(kind), "title": _status_title(status), "status": status,
        "detail": message, "instance": request.path,
        **({"errors": dict(fields)} if fields else {}), **extra, "error": legacy,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for name, value in headers:
        response.headers.add(name, value)
    return response


def _status_title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _answer(status: int, message: str, **json_details: Any):  # type: ignore[no-untyped-def]
    if is_api_request():
        return json_error(status, message, **json_details)
    return render_template("error.html", status=status, message=message), status


def _domain_json(error: SteercoError) -> Response:
    """A domain error for an API client: field messages, the current version and a gate's
    unmet criteria (``missing``) travel along; ``type`` names the kind of refusal."""
    db.session.rollback()
    kind = problem_kind(error)
    if isinstance(error, ValidationFailed):
        return json_error(error.status, error.message, fields=error.errors, kind=kind)
    if isinstance(error, StaleRecord):
        return json_error(error.status, "The record was changed after the version you sent; nothing "
                          "was saved. Read it again and re-apply your change.",
                          current_version=error.current_version, kind=kind)
    if isinstance(error, GateNotMet):
        return json_error(error.status, error.message, kind=kind, missing=[
            {"field": getattr(m, "field", None), "label": getattr(m, "label", ""),
             "message": getattr(m, "message", str(m))} for m in error.missing])
    return json_error(error.status, error.message, kind=kind)


def problem_kind(error: SteercoError) -> str:
    """``StaleRecord`` -> ``stale-record``: the class of a domain error names its problem type."""
    name = type(error).__name__
    return "".join("-" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _register_error_handlers(app: Flask) -> None:
    """Each error class gets one answer here; views do not catch them one by one."""

    @app.errorhandler(SteercoError)
    def _domain(error: SteercoError):  # type: ignore[no-untyped-def]
        if is_api_request():
            return _domain_json(error)
        return render_template("error.html", status=error.status, message=error.message), error.status

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):  # type: ignore[no-untyped-def]
        message = "Your form expired or was sent from elsewhere. Go back, reload the page and try again."
        return _answer(400, message)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge):  # type: ignore[no-untyped-def]
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        message = f"The upload is larger than {limit} MB in total and was not accepted."
        return _answer(413, message)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):  # type: ignore[no-untyped-def]
        # Allow (405) and WWW-Authenticate (401) tell an API client what to do next.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return _answer(error.code or 500, error.description or "", headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unexpected error on %s", request.path)
        db.session.rollback()
        return _answer(500, "Something went wrong on our side; nothing was saved.")
