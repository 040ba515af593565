"""Read a tenant folder (``tenants/<slug>/*.json``) into documents, and compile it.

A folder is read completely before anything is judged: unreadable JSON is a problem of
its file with the line and column, and schema and semantic problems of the other files
are still reported alongside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from steerco.config.compiler import compile_config, problems_of
from steerco.config.errors import ConfigInvalid, ConfigProblem
from steerco.config.model import TenantConfig
from steerco.config.schema import DOCUMENTS


def read_folder(path: str | Path) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The documents of a tenant folder, and the problems met reading them."""
    folder = Path(path)
    documents: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    if not folder.is_dir():
        return documents, [ConfigProblem("", "", "not a folder of tenant configuration", "no_folder")]
    for name in DOCUMENTS:
        file = folder / f"{name}.json"
        if not file.exists():
            continue
        try:
            documents[name] = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(ConfigProblem(f"{name}.json", "", f"not valid JSON: {exc.msg} at line "
                                          f"{exc.lineno}, column {exc.colno}", "invalid_json"))
        except UnicodeDecodeError:
            problems.append(ConfigProblem(f"{name}.json", "", "not UTF-8 text", "invalid_encoding"))
    return documents, problems


def validate_folder(path: str | Path) -> list[ConfigProblem]:
    """Every problem of a tenant folder; empty when it would compile."""
    documents, problems = read_folder(path)
    if any(p.code == "no_folder" for p in problems):
        return problems
    unreadable = {p.file for p in problems}
    checked = problems_of(documents)
    problems.extend(p for p in checked if not (p.code == "missing_file" and p.file in unreadable))
    if not problems:
        try:
            compile_config(documents)
        except ConfigInvalid as exc:
            problems.extend(exc.problems)
    return problems


def load_folder(path: str | Path, version: int = 0) -> TenantConfig:
    """Compile a tenant folder; raise ConfigInvalid with every problem."""
    documents, problems = read_folder(path)
    if problems:
        raise ConfigInvalid(problems + [p for p in problems_of(documents) if p.code != "missing_file"])
    return compile_config(documents, version)
