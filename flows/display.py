"""What the `gameline` command prints: a stage's facts as rich tables and lines, the doctor's
checks, what `init` guessed, DataFrames (replay, compare, runs). One console for stdout, one
for errors; piped output (scripts, logs, tests) is one fixed width, wide enough that tables keep
whole lines, paths and run ids."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gameline.tasks.facts import Facts, FactTable

if TYPE_CHECKING:
    import pandas as pd

    from gameline.tasks.onboard import LeagueFile
    from gameline.tasks.onboard.feature_file import FeatureFileGuess
    from gameline.tasks.ops.doctor import Check
    from gameline.tasks.replay.summary import ReplaySummary

PIPED_WIDTH = 240
out = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
err = Console(stderr=True)


def line(text: str) -> None:
    """One line of plain text (no markup, no highlighting, never cut)."""
    out.print(escape(text), highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """An `error:` line on stderr."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)


def note(message: str) -> None:
    """A dim remark on stderr (what the command set up for itself)."""
    err.print(escape(message), style="dim", highlight=False, soft_wrap=True)


def fact_table(facts: FactTable) -> Table:
    """A fact table as a rich table (no header: a list of name/value pairs)."""
    table = Table(title=escape(facts.title) if facts.title else None)
    table.show_header = bool(facts.columns)
    for column in facts.columns or ("", ""):
        table.add_column(column, justify="right" if column in facts.right else "left")
    for row in facts.rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def show(facts: Facts) -> None:
    """A stage's facts, block by block."""
    for block in facts.blocks:
        if isinstance(block, str):
            line(block)
        else:
            out.print(fact_table(block))


def checks(found: list[Check]) -> None:
    """The doctor's checks, one line each."""
    colour = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    for check in found:
        out.print(
            f"[{colour[check.status]}]{check.status:<4}[/] {check.name:<14} {escape(check.detail)}",
            highlight=False,
            soft_wrap=True,
        )


def league_file(
    found: LeagueFile, target: str, rows: int, kept: int, broken: dict[str, int]
) -> None:
    """What `init` read, guessed, wants checked and wrote."""
    out.print(
        f"[bold]{escape(str(found.path))}[/]: {found.rows} rows, seasons {found.seasons[0]}-"
        f"{found.seasons[-1]}, {len(found.league['teams'])} teams, {found.sport.name}"
    )
    line("guessed:")
    for text in found.guesses:
        line(f"  {text}")
    odds = "opening and closing" if found.has_open_odds else "yes" if found.has_odds else "none"
    line(
        f"  {found.games_per_season} games per team a season; {found.ties} ties; "
        f"{found.doubleheaders} doubleheader games; moneylines: {odds}"
    )
    line("check:")
    for text in found.checks:
        line(f"  {text}")
    quarantined = ", ".join(f"{rule}: {n}" for rule, n in broken.items())
    line(f"the rules keep {kept} of {rows} rows" + (f" (broken: {quarantined})" if broken else ""))
    line(f"wrote {target}; next: gameline run --config {target}")


def frame(table: pd.DataFrame, title: str) -> None:
    """A DataFrame as a rich table, its index first."""
    shown = Table(title=escape(title))
    shown.add_column("")
    for column in table.columns:
        shown.add_column(str(column))
    for index, row in table.iterrows():
        shown.add_row(escape(str(index)), *(escape(str(v)) for v in row))
    out.print(shown)


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """A table for the console: its first column as the index, whole numbers without a
    decimal point, others to 4 significant digits, blanks for missing values."""

    def cell(value: Any) -> str:
        if value is None or value != value:  # NaN
            return ""
        if isinstance(value, float):
            return f"{value:.0f}" if value.is_integer() else f"{value:.4g}"
        return str(value)

    return table.set_index(table.columns[0]).map(cell)


class Steps:
    """One progress bar on stderr for a job of counted steps, with what it is doing now (nothing
    when stderr is not a terminal; shown from the first step, gone when the job ends)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            disable=not err.is_terminal,
            transient=True,
        )
        self.task = self.bar.add_task("", total=None, visible=False)

    def __enter__(self) -> Steps:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, what: str, done: int, total: int) -> None:
        self.bar.update(self.task, description=what, completed=done, total=total, visible=True)


class ReplayProgress:
    """A progress bar per policy on stderr while a replay runs: days replayed, retrains so far,
    time left (nothing when stderr is not a terminal)."""

    def __init__(self, policies: list[str]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days, {task.fields[retrains]} retrains"),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        self.tasks = {p: self.bar.add_task(p, total=None, retrains=0) for p in policies}

    def __enter__(self) -> ReplayProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, policy: str, done: int, total: int, retrains: int) -> None:
        self.bar.update(self.tasks[policy], completed=done, total=total, retrains=retrains)


def replay(summary: ReplaySummary) -> None:
    """A replay's tables: served predictions by policy and season, where the time went."""
    r = summary.result
    frame(rounded(summary.policies), f"Replay {r.start} .. {r.end}: served predictions by policy")
    frame(rounded(summary.seasons), "Served log loss by season")
    frame(rounded(summary.times), "Where the time went (seconds)")
    line(f"plot, tables and served predictions: {r.folder}")
    if summary.mlflow_run_id:
        line(f"MLflow run {summary.mlflow_run_id}")


def feature_file(guess: FeatureFileGuess, target: str) -> None:
    """What `add-source` guessed of a feature file and where the config went."""
    source = guess.source
    line(f"{source.kind} source {source.name!r} from {guess.path}")
    line("guessed:")
    for text in guess.notes:
        line(f"  {text}")
    line(f"  features: {', '.join(source.features)}")
    share = guess.matched / guess.rows if guess.rows else 0.0
    line(f"{guess.matched} of {guess.rows} rows ({share:.0%}) match a stored game or team")
    line(
        f"wrote {target}; next: gameline features --worth --config {target}, then a retrain "
        "(the gate decides whether the source reaches production)"
    )
