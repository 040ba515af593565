"""The architecture's one hard rule: configuration, fields, engine, store and reports know no Flask.

Checked twice: statically (no import statement in those packages names a web module) and
dynamically (importing every one of their modules in a fresh interpreter leaves Flask and
its extensions out of ``sys.modules``, so no transitive import drags them in either).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "steerco"
FLASK_FREE = ("config", "engine", "fields", "store", "reports")
FORBIDDEN = ("flask", "flask_login", "flask_sqlalchemy", "flask_wtf", "flask_migrate", "htmx_flask")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in FLASK_FREE:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def _imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append((node.lineno, target))
            names += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return names


def test_the_flask_free_packages_exist() -> None:
    modules = dict(_modules())
    for expected in ("steerco.config", "steerco.engine.records", "steerco.engine.access",
                     "steerco.fields", "steerco.store.models", "steerco.reports.data", "steerco.reports.jobs"):
        assert expected in modules, expected


@pytest.mark.parametrize("module, path", _modules(), ids=[name for name, _ in _modules()])
def test_no_web_import_statement(module: str, path: Path) -> None:
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {name}"
        for line, name in _imported_names(path, module)
        if name.split(".")[0] in FORBIDDEN or name == "steerco.web" or name.startswith("steerco.web.")
        or name == "steerco.cli"
    ]
    assert not offending, "\n".join(offending)


def test_importing_every_module_loads_no_flask() -> None:
    modules = [name for name, _ in _modules()]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "import steerco\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in forbidden or m.startswith('steerco.web'))\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=str(PACKAGE.parents[1]))
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing the engine pulled in: {loaded}"


def test_the_engine_works_end_to_end_without_flask(tmp_path: Path) -> None:
    """Compile a configuration, store it, create a record, all in an interpreter without Flask."""
    tests = PACKAGE.parents[1] / "tests"
    script = f"""
import sys
sys.path.insert(0, {str(tests)!r})
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.users import create_user
from steerco.store import scoping
from steerco.store.models import Base
engine = create_engine("sqlite:///{tmp_path / 'engine.db'}")
Base.metadata.create_all(engine)
with Session(engine) as session:
    tenant, _ = tenants.store_config(session, minimal_documents())
    scoping.bind_to_tenant(session, tenant.id)  # the tenant tripwire: this script works in one tenant
    user = create_user(session, "solo@example.com", "Solo", "long-enough-pw")
    tenants.add_member(session, tenant, user, [("admin", None)])
    config = tenants.active_config(session, tenant)
    records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)))
    program = records.create("program", None, Submission("P", MultiDict()))
    measure = records.create("measure", program, Submission("M", MultiDict({{"potential": "10"}})))
    session.commit()
    assert measure.values["weighted"] == 5, measure.values
forbidden = {FORBIDDEN!r}
assert not [m for m in sys.modules if m.split('.')[0] in forbidden], sorted(sys.modules)
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
