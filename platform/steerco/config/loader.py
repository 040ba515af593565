"""Read a tenant folder (``tenants/<slug>/*.json``) into documents, and compile it.

A folder is read completely before anything is judged: unreadable JSON is a problem of
its file with the line and column, and schema and semantic problems of the other files
are still reported alongside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from steerco.config.compiler import compile_checked, compile_config, problems_of
from steerco.config import contract
from steerco.config.errors import ConfigInvalid, ConfigProblem, with_items
from steerco.config.model import TenantConfig
from steerco.config.schema import DOCUMENTS, MAX_DEPTH, depth


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
            documents[name] = parse_document(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(ConfigProblem(f"{name}.json", "", f"not valid JSON: {exc.msg} at line "
                                          f"{exc.lineno}, column {exc.colno}", "invalid_json"))
        except UnicodeDecodeError:
            problems.append(ConfigProblem(f"{name}.json", "", "not UTF-8 text", "invalid_encoding"))
        except DocumentTooLarge as exc:
            problems.append(ConfigProblem(f"{name}.json", "", str(exc), "document_too_large"))
    return documents, problems


#: Bounds of a configuration document: no tenant needs more, and beyond them parsing and
#: validating could exhaust the stack or the CPU (a 100,000-digit number, JSON nested
#: 100,000 deep), which would end ``steerco validate`` in a traceback.
MAX_NUMBER_DIGITS = 30
MAX_FILE_BYTES = 20 * 1024 * 1024


class DocumentTooLarge(ValueError):
    """A document beyond the bounds above; the message says which and where to look."""


def _number(text: str) -> int | float:
    digits = sum(c.isdigit() for c in text.split("e")[0].split("E")[0])
    if digits > MAX_NUMBER_DIGITS:
        raise DocumentTooLarge(f"the number {text[:20]}… has more than {MAX_NUMBER_DIGITS} digits")
    value = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise DocumentTooLarge(f"the number {text} is too large")
    return value


def _constant(name: str) -> None:
    raise DocumentTooLarge(f"{name} is not a number JSON allows")


def parse_document(text: str) -> Any:
    """A configuration document from JSON text, within the bounds above."""
    if len(text) > MAX_FILE_BYTES:
        raise DocumentTooLarge(f"the file is larger than {MAX_FILE_BYTES // 1048576} MB")
    too_deep = DocumentTooLarge(f"objects and lists are nested more than {MAX_DEPTH} deep")
    try:
        document = json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except RecursionError:
        raise too_deep from None
    if depth(document) > MAX_DEPTH:
        raise too_deep
    return document


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
            compile_checked(documents)
        except ConfigInvalid as exc:
            problems.extend(exc.problems)
    return problems


def folder_warnings(path: str | Path) -> list[ConfigProblem]:
    """Keys the tenant folder uses that are accepted but not in effect yet
    (``steerco.config.contract.NOT_IN_EFFECT``), one per key, at the first place it is used."""
    documents, _ = read_folder(path)
    return with_items(contract.warnings(documents), documents)


def load_folder(path: str | Path, version: int = 0) -> TenantConfig:
    """Compile a tenant folder; raise ConfigInvalid with every problem."""
    documents, problems = read_folder(path)
    if problems:
        raise ConfigInvalid(problems + [p for p in problems_of(documents) if p.code != "missing_file"])
    return compile_config(documents, version)
