"""The file's values as the reader takes them: the date format, status codes, flag markers,
season labels that span two years."""

from __future__ import annotations

import re

import pandas as pd

from gameline.tasks.data.sources import FALSE_WORDS, TRUE_WORDS

# Date formats tried in order when the values are not ISO (a non-ISO time is local time).
DATE_FORMATS = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%Y%m%d",
    "%Y/%m/%d",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d-%m-%Y",
    "%b %d, %Y",
    "%a, %b %d, %Y",
]
FINAL_CODES = re.compile(r"^(f|ft|fin|final|finished|full.?time|completed?|played|closed|aet)\b")
SCHEDULED_CODES = re.compile(r"^(s|sched|scheduled|upcoming|pre|not.?started|ns|tbd|tba)\b")
REGULAR_CODES = {"r", "reg", "regular", "regular season", "rs", "home", "h"}


def guess_date_format(values: pd.Series) -> tuple[str | None, str]:
    """(strftime format, or None when the values are ISO dates/times the reader takes as they
    are; what was seen). A time without an offset is local time, so it gets a format."""
    sample = values[values.fillna("") != ""].head(2000)
    if sample.empty:
        raise ValueError("the date column is empty")
    if sample.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        return None, "ISO dates (YYYY-MM-DD)"
    zoned = sample.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    if zoned.all() and pd.to_datetime(sample, format="ISO8601", errors="coerce").notna().all():
        return None, "ISO date-times with a UTC offset"
    for fmt in DATE_FORMATS:
        if pd.to_datetime(sample, format=fmt, errors="coerce").notna().all():
            if (
                fmt.startswith("%m/%d")
                and pd.to_datetime(sample, format="%d" + fmt[2:3] + "%m" + fmt[5:], errors="coerce")
                .notna()
                .all()
            ):
                return fmt, f"{fmt} (day and month are both <= 12 throughout: check the order)"
            return fmt, fmt
    shown = ", ".join(sample.head(3))
    raise ValueError(
        f"cannot tell the date format of values like {shown}: give source.date_format "
        "in the config (a strftime format)"
    )


def guess_values(raw: pd.DataFrame) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Value maps for status and flag columns whose codes the reader does not take as they are,
    and a line for each."""
    maps: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    if "status" in raw:
        codes = sorted(set(raw["status"].fillna("")) - {"", "final", "scheduled"})
        mapping = {}
        for code in codes:
            low = code.lower()
            if FINAL_CODES.match(low):
                mapping[code] = "final"
            elif SCHEDULED_CODES.match(low):
                mapping[code] = "scheduled"
        unknown = [c for c in codes if c not in mapping]
        if mapping:
            maps["status"] = mapping
            notes.append(f"status codes read as: {mapping}")
        if unknown:
            notes.append(f"status codes not understood (rows quarantined): {unknown}: map them")
    for flag in ("neutral", "playoff"):
        if flag not in raw:
            continue
        codes = sorted(set(raw[flag].fillna("").str.lower()))
        if all(c in TRUE_WORDS | FALSE_WORDS for c in codes):
            continue
        originals = sorted(set(raw[flag].fillna("")) - {""})
        # A marker column: empty (or a word for "regular"/"no") is false, any other code true.
        mapping = {
            c: "false" if c.lower() in FALSE_WORDS | REGULAR_CODES else "true" for c in originals
        }
        maps[flag] = mapping
        notes.append(f"{flag} codes read as: {mapping} (empty: false)")
    return maps, notes


def season_labels(raw: pd.Series) -> dict[str, str]:
    """{'2021-22': '2021', ...} where every season label spans two years (2021-22, 2021/2022,
    20212022); {} when they are numbers already."""
    labels = sorted(set(raw.dropna()) - {""})
    spans = [re.fullmatch(r"(\d{4})[-/]?(\d{2}|\d{4})", label) for label in labels]
    if not labels or not all(spans):
        return {}
    return {label: m.group(1) for label, m in zip(labels, spans, strict=True) if m}
