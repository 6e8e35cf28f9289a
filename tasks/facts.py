"""A stage's result states its facts once: each summary (ingest, monitor, retrain decision,
training, gate, predict) has a `facts()` method that lists them, in order, as tables and lines.
The console (`flows/display.py`), the Prefect markdown artifact (`facts_markdown`) and the run's
log line (`Facts.line`) are thin formatters over it, so a new field is one change, not three."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FactTable:
    """Facts in rows: a header of `columns` (none: a list of name/value pairs)."""

    title: str | None
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    right: tuple[str, ...] = ()  # columns of numbers, aligned right on the console


@dataclass
class Facts:
    """A stage's facts: its one-line summary (the run's log line) and its blocks (tables and
    lines), in the order they are shown."""

    line: str
    blocks: list[FactTable | str] = field(default_factory=list)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: FactTable) -> str:
    """A fact table as a markdown table (a bold title line above it)."""
    columns = table.columns or ("", "")
    lines = [f"**{table.title}**", ""] if table.title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def facts_markdown(title: str, facts: Facts) -> str:
    """A stage's facts as a Prefect markdown artifact."""
    parts = [f"# {title}"]
    parts += [b if isinstance(b, str) else table_markdown(b) for b in facts.blocks]
    return "\n\n".join(parts) + "\n"
