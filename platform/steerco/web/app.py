"""The app factory: settings, extensions, blueprints and the one mapping of errors to answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from steerco import settings
from steerco.engine.errors import SteercoError
from steerco.store.blobs import BlobStore
from steerco.web.extensions import csrf, db, htmx, login_manager, migrate

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Create a Steerco app; ``overrides`` replace settings (tests, benchmarks)."""
    app = Flask(
        "steerco",
        template_folder=str(settings.RESOURCE_ROOT / "templates"),
        static_folder=str(Path(__file__).resolve().parents[1] / "static"),
        instance_path=str(settings.INSTANCE_DIR),
    )
    app.config.update(settings.from_environment())
    app.config.update(overrides or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    app.extensions["steerco.blobs"] = BlobStore(app.config["UPLOAD_DIR"])

    from steerco.web import auth, records, workspace

    app.register_blueprint(auth.bp)
    app.register_blueprint(workspace.bp)
    app.register_blueprint(records.bp)
    _register_error_handlers(app)

    @app.context_processor
    def _csrf() -> dict[str, Any]:
        return {"csrf_token": generate_csrf}

    @app.after_request
    def _vary(response):  # type: ignore[no-untyped-def]
        response.headers.add("Vary", "HX-Request")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _register_error_handlers(app: Flask) -> None:
    """Each error class gets one answer here; views do not catch them one by one."""

    @app.errorhandler(SteercoError)
    def _domain(error: SteercoError):  # type: ignore[no-untyped-def]
        return render_template("error.html", status=error.status, message=error.message), error.status

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):  # type: ignore[no-untyped-def]
        message = "Your form expired or was sent from elsewhere. Go back, reload the page and try again."
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge):  # type: ignore[no-untyped-def]
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        message = f"The upload is larger than {limit} MB in total and was not accepted."
        return render_template("error.html", status=413, message=message), 413

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):  # type: ignore[no-untyped-def]
        return render_template("error.html", status=error.code, message=error.description), error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unexpected error on %s", request.path)
        db.session.rollback()
        return render_template("error.html", status=500,
                               message="Something went wrong on our side; nothing was saved."), 500
