"""The reporting-period filter of a report: one period, or a range of them.

A reader narrows a report to some of the tenant's reporting periods
(``TenantConfig.periods``, keys ``YYYY-MM``): ``?period=2026-01`` or
``?period=2026-01..2026-06`` (a form may send the end as ``period_to``). Only sections
whose numbers come from time-phased values depend on it (:func:`depends_on_period`):
their sums and charts count the chosen periods only. Every other section reads values
that have no period and stays as it is, so the dashboard re-renders only the former.
"""

from __future__ import annotations

from dataclasses import dataclass

from steerco.config.model import Period, ReportSection, TenantConfig
from steerco.engine.errors import SteercoError


class BadPeriod(SteercoError):
    """A period filter that names no reporting period of the workspace (400)."""


@dataclass(frozen=True)
class PeriodRange:
    """The first and last chosen period (inclusive), both keys of the tenant's periods."""

    first: str
    last: str

    @property
    def param(self) -> str:
        """As a URL parameter says it (what the PDF link and the JSON API take)."""
        return self.first if self.first == self.last else f"{self.first}..{self.last}"

    def periods(self, config: TenantConfig) -> tuple[Period, ...]:
        return tuple(p for p in config.periods if self.first <= p.key <= self.last)

    def label(self, config: TenantConfig) -> str:
        chosen = self.periods(config)
        return chosen[0].label if len(chosen) == 1 else f"{chosen[0].label} – {chosen[-1].label}"


def parse_period(config: TenantConfig, text: str | None, last: str | None = None) -> PeriodRange | None:
    """The range ``text`` names (``A`` or ``A..B``; ``last`` the end when sent apart),
    None for no filter; BadPeriod with the allowed keys for anything else."""
    text, last = (text or "").strip(), (last or "").strip()
    if not text and not last:
        return None
    first, _, end = text.partition("..")
    first, end = first or last, end or last or first
    keys = [p.key for p in config.periods]
    for key in (first, end):
        if key not in keys:
            span = f"{keys[0]} to {keys[-1]}" if keys else "none are configured"
            raise BadPeriod(f"{key!r} is not a reporting period of this workspace ({span}); "
                            "write YYYY-MM or YYYY-MM..YYYY-MM.")
    if end < first:
        first, end = end, first
    return PeriodRange(first, end)


def depends_on_period(config: TenantConfig, section: ReportSection) -> bool:
    """Whether the section's numbers come from time-phased values (and so change with the
    period filter): a measure of it reads a field stored per period."""
    level = config.levels.get(section.level)
    if level is None:
        return False
    for measure in (*section.tiles, *section.series, *section.steps):
        fld = level.field(measure.field)
        if fld is not None and fld.kind.storage == "periods":
            return True
    return False
