"""Configuration problems, written for the consultant who has to fix them.

Every problem names the file, the JSON Pointer inside it and what is wrong, carries a
stable ``code`` for tooling and, where a key is close to a known one, a "did you mean" hint.
The loader collects all problems of a configuration before it gives up.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a tenant configuration."""

    file: str
    pointer: str
    message: str
    code: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.pointer or '/'}" if self.file else "(folder)"
        text = f"{where}: {self.message} [{self.code}]"
        return f"{text} (did you mean {self.hint!r}?)" if self.hint else text


class ConfigInvalid(Exception):
    """Raised when a configuration has problems; never activated in that state."""

    def __init__(self, problems: Iterable[ConfigProblem]):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} configuration problem(s):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


def pointer(*parts: object) -> str:
    """Build a JSON Pointer (RFC 6901) from path parts."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/" + "/".join(escaped) if parts else ""


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The known key most like ``word``, if one is close enough to be a typo."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None
