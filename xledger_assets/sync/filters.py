"""Fixed filters of catalog entries, with dates filled in at run time."""

from __future__ import annotations

from datetime import date, timedelta


def render_filter(template: str | None, today: date) -> str | None:
    """Fill ``{today}``, ``{first_day_of_month}`` and ``{first_day_of_previous_month}``."""
    if not template:
        return None
    first = today.replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return template.format(
        today=today.isoformat(),
        first_day_of_month=first.isoformat(),
        first_day_of_previous_month=previous.isoformat(),
    )
