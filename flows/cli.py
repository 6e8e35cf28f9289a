"""The `gameline` command. Heavy libraries are imported inside commands, so --help is instant."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="Gameline: game results to calibrated win probabilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped (scripts, logs, tests): wide enough that tables keep whole lines and run ids.
out = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="YAML config", exists=True, dir_okay=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="ingest this file instead of the configured source"),
]
DEFAULT_CONFIG = Path("configs/default.yaml")
# Offline machines: no telemetry look-ups (these are defaults; the environment can override).
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}


# The flows that must write the online store: the others run with it down.
WRITE_ONLINE_STORE = {
    "gameline.flows.ingest:ingest_flow",
    "gameline.flows.ingest:feature_store_flow",
}

# -v: library warnings, Prefect's failure records and tracebacks on the console too.
VERBOSE = {"on": False}


@app.callback()
def _setup(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="show library warnings and Prefect's tracebacks as well"
        ),
    ] = False,
) -> None:
    VERBOSE["on"] = verbose
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if not verbose:
        # An expected failure is one `error:` line; the run in Prefect keeps every detail.
        warnings.simplefilter("ignore")
        # Libraries that reset the filters when imported mid-run (litestar's deprecations in a
        # replay) cannot bring the warnings back to the console.
        warnings.showwarning = _discard_warning
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # MLflow sets its logger's level when imported, from this variable (else INFO).
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        logging.getLogger("mlflow").setLevel(logging.WARNING)


def _discard_warning(*args: Any, **kwargs: Any) -> None:
    """`warnings.showwarning` without -v: nothing on the console."""


class QuietFailures(logging.Filter):
    """On the console (not in the run's logs in Prefect): no failure records or tracebacks from
    Prefect's engine; the command reports the failure itself, once (`error: ...`), and an
    unexpected one ends with Python's own traceback."""

    LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine", "prefect.flow_engine")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LOGGERS):
            return True
        failed = record.levelno >= logging.ERROR or record.exc_info is not None
        return not (failed or "Finished in state Failed" in record.getMessage())


def _quiet_console() -> None:
    """Install QuietFailures on Prefect's console handler (unless -v)."""
    if VERBOSE["on"]:
        return
    warnings.simplefilter("ignore")  # again: libraries imported since may have reset it
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # Prefect's handlers exist from here on
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, QuietFailures) for f in handler.filters
        ):
            handler.addFilter(QuietFailures())


def _load(config: Path) -> Any:
    """The config, or one `error:` line naming the file and what is wrong with it."""
    from gameline.tasks.config import load_config

    try:
        return load_config(config)
    except (ValueError, OSError) as exc:
        _fail(exc)


def _fail(exc: Exception) -> NoReturn:
    """One `error:` line and exit 1; a write the disk refused says which file and what to do."""
    from gameline.tasks.storage import disk_trouble

    message = disk_trouble(exc) or str(exc)
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code=1)


def print_ingest(summary: Any) -> None:
    """The ingest summary as rich tables."""
    m = summary.manifest
    counts = Table(
        title=f"Ingest {m.manifest_id} ({'skipped: seen before' if summary.skipped else 'stored'})"
    )
    for col in ("read", "new", "updated", "duplicate", "quarantined", "repaired"):
        counts.add_column(col, justify="right")
    counts.add_row(
        *(
            str(getattr(m, c))
            for c in ("read", "new", "updated", "duplicate", "quarantined", "repaired")
        )
    )
    out.print(counts)
    if summary.note:
        out.print(f"[yellow]note:[/] {escape(summary.note)}")
    if m.rules:
        rules = Table(title="Rules broken")
        rules.add_column("rule")
        rules.add_column("rows", justify="right")
        for rule, n in m.rules.items():
            rules.add_row(rule, str(n))
        out.print(rules)
    where = Table(title="Where things are", show_header=False)
    where.add_row("source", summary.source)
    st = summary.store
    seasons = f", seasons {st.first_season}-{st.last_season}" if st.first_season else ""
    where.add_row(
        "game store", f"{st.games} games ({st.final} final, {st.scheduled} scheduled{seasons})"
    )
    where.add_row("state folder", str(summary.state_dir.resolve()))
    if m.quarantine_file:
        where.add_row("quarantine", m.quarantine_file)
    if summary.report:
        where.add_row("validation report", str(summary.report))
    if summary.features:
        f = summary.features
        where.add_row(
            "team features",
            f"{f.path} ({f.rows} rows, {f.games} games, "
            f"{f.teams} teams, {len(f.features)} features)",
        )
    if summary.feast:
        where.add_row("feast", feast_line(summary.feast))
    out.print(where)


def feast_line(feast: Any) -> str:
    """One line on what Feast holds now."""
    m = feast.materialize
    if m is None:
        return f"project {feast.apply.project}: definitions applied; {feast.note}"
    return (
        f"project {feast.apply.project}: {len(feast.apply.objects)} objects applied; online "
        f"store loaded {m.start:%Y-%m-%d %H:%M} .. {m.end:%Y-%m-%d %H:%M} UTC "
        f"in {m.seconds:.2f} s"
    )


def _prefect_server() -> None:
    """The configured Prefect server (PREFECT_API_URL, or the active profile) answers
    (BackendUnavailable if not); with none, start one for this command only, which dies with it
    even when the command is killed (Prefect's own temporary server would outlive it). Not when
    Prefect is already imported (a test harness or a library caller has set up its own API)."""
    if "prefect" in sys.modules:
        return
    from gameline.tasks.backends import http_get
    from gameline.tasks.ops.doctor import prefect_api_url

    url = prefect_api_url()
    if url:  # a configured server that is down: one line in seconds (Prefect: a traceback)
        http_get(f"{url.rstrip('/')}/health", "the Prefect API")
        return
    from gameline.flows.server import start_temporary_server

    url = start_temporary_server()
    err.print(
        f"temporary Prefect server at {url}, stopped with this command (runs are not kept: "
        "start `prefect server start` and set PREFECT_API_URL to keep them)",
        style="dim",
        highlight=False,
        soft_wrap=True,
    )


def _run_flow(
    flow_path: str,
    config: Path,
    as_json: bool,
    show: Callable[[Any], None],
    *args: Any,
) -> None:
    """Run a flow on a config; print its result as JSON or through `show`; clear errors."""
    from gameline.tasks.backends import BackendUnavailable, preflight

    try:  # a bad config or a server that is down fails here, in a second, before any run
        preflight(_load(config), online=flow_path in WRITE_ONLINE_STORE)
        _prefect_server()
    except (BackendUnavailable, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    # Imported only now (Prefect, Feast, MLflow, Great Expectations: about 8 s).
    from gameline.tasks.data.validate import ValidationFailed
    from gameline.tasks.features.store import FeatureStoreError
    from gameline.tasks.registry.mlflow_registry import RegistryError

    expected = (
        ValidationFailed,
        FileNotFoundError,
        ValueError,
        RegistryError,
        FeatureStoreError,
        BackendUnavailable,
    )
    module, name = flow_path.split(":")
    flow_fn = getattr(importlib.import_module(module), name)
    _quiet_console()
    try:
        # The flow gets the file (Prefect stores and shows the path, never resolved secrets).
        result = flow_fn(config.resolve(), *args)
    except expected as exc:  # ContractError is a ValueError
        _fail(exc)
    except Exception as exc:  # a full or read-only disk is expected too; anything else is a bug
        from gameline.tasks.storage import disk_trouble

        if disk_trouble(exc) is None:
            raise
        _fail(exc)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        show(result)


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG,
    file: FileOpt = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="retrain (through the gate) whatever the monitor says")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The daily loop: ingest, features, monitor, retrain and gate only on a trigger, predict."""
    file = _input_file(file, config)
    _run_flow(
        "gameline.flows.pipeline:pipeline_flow", config, as_json, print_pipeline, file, retrain
    )


def print_pipeline(summary: Any) -> None:
    """Every stage of a daily run."""
    print_ingest(summary.ingest)
    print_monitor(summary.monitor)
    decision = summary.retrain
    verdict = f"retrain ({decision.trigger})" if decision.retrain else "no retrain"
    out.print(f"{verdict}: {escape(decision.detail)}")
    if summary.training is not None:
        print_training(summary.training)
    if summary.gate is not None:
        print_outcome(summary.gate)
    if summary.predictions is not None:
        print_predictions(summary.predictions)
    if summary.note:
        out.print(summary.note)


@app.command()
def monitor(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Drift of the champion's inputs and predictions, its live performance; alerts."""
    _run_flow("gameline.flows.monitor:monitor_flow", config, as_json, print_monitor)


def print_monitor(summary: Any) -> None:
    """A monitor run: drift, live performance, the alerts it opened or resolved."""
    from gameline.flows.monitor import drift_figures

    result = summary.result
    table = Table(title=f"Monitor: {result.model} champion v{result.champion_version or '-'}")
    for column in ("measure", "value", "threshold", "detail"):
        table.add_column(column)
    for drift in (result.data_drift, result.prediction_drift):
        if drift is None:
            continue
        value, threshold = drift_figures(drift)
        detail = str(drift.report) if drift.report else drift.detail
        table.add_row(f"{drift.kind} drift", value, threshold, detail)
    perf = result.performance
    if perf is not None and perf.status == "ok":
        table.add_row(
            "served log loss",
            f"{perf.served_log_loss:.4f}",
            f"promised {perf.promised_log_loss or float('nan'):.4f}",
            f"Elo {perf.elo_log_loss:.4f} on the same {perf.games} games; ECE {perf.ece:.3f}",
        )
    elif perf is not None:
        table.add_row("live performance", "-", "-", perf.detail)
    out.print(table if result.status == "ok" else f"monitor: {result.status}")
    for alert in summary.opened:
        out.print(f"[bold red]alert[/] {alert.kind}: {escape(alert.summary)}")
    for alert in summary.resolved:
        out.print(f"resolved {alert.kind} ({alert.alert_id})")
    if summary.continuing:
        out.print(f"ongoing alerts: {', '.join(a.kind for a in summary.continuing)}")


@app.command()
def predict(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Score the upcoming games with the champion (the challenger in shadow)."""
    _run_flow("gameline.flows.predict:predict_flow", config, as_json, print_predictions)


def predictions_view(rows: list[dict[str, Any]], title: str) -> Table:
    """Prediction rows as a table: served probability, both models' probabilities."""
    table = Table(title=title)
    labels = ("start (UTC)", "home", "away", "p_home", "served by", "p champion", "p challenger")
    for column in labels:
        table.add_column(column, justify="left" if column in labels[1:3] + labels[4:5] else "right")
    for row in rows:
        shadow = row["p_challenger"]
        table.add_row(
            str(row["start_time"])[:16],
            row["home_team"],
            row["away_team"],
            f"{row['p_home']:.3f}",
            f"{row['served_by']} v{row['model_version']}",
            f"{row['p_champion']:.3f}",
            "-" if shadow is None else f"{shadow:.3f}",
        )
    return table


def print_predictions(summary: Any) -> None:
    """A predict run's table: served probability, shadow probability, versions."""
    shadow = f", challenger v{summary.challenger_version} in shadow" * bool(
        summary.challenger_version
    )
    title = f"{summary.games} upcoming games: champion v{summary.champion_version}{shadow}"
    out.print(predictions_view(summary.predictions, title))
    if summary.note:
        out.print(f"nothing scored: {escape(summary.note)}")
    if summary.path:
        out.print(f"predictions table: {summary.path}")


@app.command()
def ingest(
    config: ConfigOpt = DEFAULT_CONFIG, file: FileOpt = None, as_json: JsonOpt = False
) -> None:
    """Ingest the configured source (or --file), validate it and rebuild team features."""
    file = _input_file(file, config)
    _run_flow("gameline.flows.ingest:ingest_flow", config, as_json, print_ingest, file)


def _input_file(file: Path | None, config: Path) -> Path | None:
    """--file as the user means it: relative to the current folder where it is there, else
    under the config's data_dir; a file in neither is one line, before any server starts."""
    if file is None or file.is_absolute():
        return file
    if file.exists():
        return file.resolve()
    under = _load(config).data_dir / file
    if not under.exists():
        _fail(
            FileNotFoundError(
                f"{file}: file not found here ({Path.cwd()}) or in data_dir ({under.parent})"
            )
        )
    return file


@app.command()
def features(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Rebuild the team features, register them in Feast and materialize the online store."""
    _run_flow(
        "gameline.flows.ingest:feature_store_flow",
        config,
        as_json,
        lambda summary: out.print(feast_line(summary)),
    )


@app.command()
def train(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Walk-forward training, MLflow tracking, registration as `challenger`."""
    _run_flow("gameline.flows.train:train_flow", config, as_json, print_training)


def print_training(record: Any) -> None:
    """A training record as a table of out-of-fold scores per model."""
    table = Table(
        title=f"Walk-forward {record.experiment}: {record.folds} folds, run {record.run_id}"
    )
    table.add_column("model")
    for metric in ("log_loss", "brier", "auc", "accuracy", "ece"):
        table.add_column(metric, justify="right")
    families = sorted({k.rsplit("_", 2)[0] for k in record.metrics if k.endswith("_log_loss")})
    for family in families:
        table.add_row(
            family,
            *(
                f"{record.metrics[f'{family}_{m}']:.4f}"
                for m in ("log_loss", "brier", "auc", "accuracy", "ece")
            ),
        )
    out.print(table)
    from gameline.flows.summaries import clv_text

    if clv := clv_text(record.metrics):
        out.print(clv)
    out.print(f"registered {record.model_name} version {record.model_version} as '{record.alias}'")


VersionOpt = Annotated[
    str | None, typer.Option("--version", help="model version (default: the challenger)")
]


@app.command()
def gate(
    config: ConfigOpt = DEFAULT_CONFIG, version: VersionOpt = None, as_json: JsonOpt = False
) -> None:
    """Judge the challenger (or --version) against the champion; promote it if it passes."""
    _run_flow("gameline.flows.gate:gate_flow", config, as_json, print_outcome, version)


def print_outcome(outcome: Any) -> None:
    """A gate outcome: the checks, the interval, what moved."""
    d = outcome.decision
    table = Table(title=f"Gate: v{d.challenger_version} vs champion {d.champion_version or '-'}")
    for column in ("check", "passed", "detail"):
        table.add_column(column)
    for check in d.checks:
        table.add_row(check.name, "yes" if check.passed else "[red]no[/]", escape(check.detail))
    out.print(table)
    out.print(f"{outcome.applied}: {escape(d.reason)}; champion now v{outcome.champion}")


@app.command()
def rollback(
    config: ConfigOpt = DEFAULT_CONFIG,
    to: Annotated[
        str | None, typer.Option("--to", help="version (default: previous-champion)")
    ] = None,
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "manual rollback",
    as_json: JsonOpt = False,
) -> None:
    """Point the champion back at the previous champion (or --to VERSION)."""
    _run_flow(
        "gameline.flows.gate:rollback_flow",
        config,
        as_json,
        lambda done: out.print(f"champion v{done.from_version} -> v{done.to_version}"),
        to,
        reason,
    )


@app.command()
def serve(
    config: ConfigOpt = DEFAULT_CONFIG,
    deployments: Annotated[
        Path, typer.Option(help="the deployments file", exists=True, dir_okay=False)
    ] = Path("deployments/prefect.yaml"),
) -> None:
    """Serve the deployments (daily, retrain, rollback, gate) for one config from this process,
    with their schedules and drift trigger: no work pool or worker needed."""
    from prefect.settings import PREFECT_API_URL

    from gameline.flows.deploy import serve as serve_deployments

    if not PREFECT_API_URL.value():
        _fail(
            ValueError(
                "serve needs a Prefect server for its schedules: start one (`prefect server "
                "start`) and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)"
            )
        )
    try:
        serve_deployments(_load(config), str(config.resolve()), deployments)
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc)


@app.command()
def doctor(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Check every backend the config names: state folder, MLflow, Prefect API, Feast registry
    and online store, alert target. One line each; exit 1 if one fails."""
    from gameline.tasks.ops.doctor import doctor as run_checks

    checks = run_checks(_load(config))
    if as_json:
        typer.echo(json.dumps([c.model_dump() for c in checks], indent=2))
    else:
        colour = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for check in checks:
            out.print(
                f"[{colour[check.status]}]{check.status:<4}[/] {check.name:<14} "
                f"{escape(check.detail)}",
                highlight=False,
                soft_wrap=True,
            )
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(code=1)


@app.command()
def status(
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="ask MLflow for the aliases (default: as the last change recorded)"
        ),
    ] = False,
) -> None:
    """Champion and challenger, the last gate decision, feature freshness, the latest
    predictions and A/B outcomes, open alerts."""
    from gameline.tasks.backends import BackendUnavailable
    from gameline.tasks.ops.status import status_report

    try:
        report = status_report(_load(config), live=live)
    except (BackendUnavailable, ValueError, OSError) as exc:
        _fail(exc)
    console = out if out.is_terminal else Console(width=200)  # piped: whole lines
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    asked = (
        f"as recorded {report.registry_recorded_at:%Y-%m-%d %H:%M} UTC by the last change; "
        "--live asks MLflow"
        if report.registry_recorded_at
        else "asked of MLflow now"
    )
    models = Table(title=f"{report.model}: registered models (scores out of fold; {asked})")
    columns = ("alias", "version", "family", "trained from", "trained until", "games")
    for column in (*columns, "log loss", "ECE", "Elo log loss"):
        models.add_column(column)
    for m in report.models:
        metric = m.metrics.get
        models.add_row(
            m.alias,
            m.version,
            m.family or "-",
            (m.trained_from or "-")[:16],
            (m.trained_until or "-")[:16],
            str(m.train_games or "-"),
            *(
                f"{v:.4f}" if (v := metric(k)) is not None else "-"
                for k in (f"{m.family}_log_loss", f"{m.family}_ece", "elo_log_loss")
            ),
        )
    console.print(models if report.models else "no registered model yet: run `gameline train`")
    d = report.last_decision
    if d:
        verdict = "promoted" if d.promote else "rejected"
        interval = (
            f", interval [{d.diff_low:+.5f}, {d.diff_high:+.5f}]"
            if d.promote and d.diff_low is not None
            else ""
        )
        console.print(
            f"last gate ({d.decided_at:%Y-%m-%d %H:%M} UTC): v{d.challenger_version} {verdict}: "
            f"{escape(d.reason)}{interval}"
        )
    f = report.freshness
    console.print(
        f"games {f.games} ({f.finished} final, {f.scheduled} scheduled); last result "
        f"{f.last_result_start}; feature rows until {f.feature_rows_until}; online store "
        f"materialized to {f.online_watermark}"
    )
    if report.predictions:
        console.print(predictions_view(report.predictions, "Latest predictions"))
    for arm in report.arms:
        console.print(
            f"arm {arm['arm']}: {arm['games']} finished games, served log loss "
            f"{arm['served_log_loss']:.4f}"
        )
    r = report.last_retrain_decision
    if r:
        verdict = f"retrain on {r.trigger}" if r.retrain else "no retrain"
        console.print(
            f"last daily run ({r.decided_at:%Y-%m-%d %H:%M} UTC): {verdict}: {escape(r.detail)}"
        )
    console.print(f"open alerts: {len(report.alerts)}")
    for alert in report.alerts:
        console.print(f"  {escape(json.dumps(alert))}")


def print_frame(frame: Any, title: str) -> None:
    """A DataFrame as a rich table."""
    table = Table(title=title)
    table.add_column("")
    for column in frame.columns:
        table.add_column(str(column))
    for index, row in frame.iterrows():
        table.add_row(str(index), *(str(v) for v in row))
    # In a terminal use its width; piped (scripts, tests) keep run ids whole.
    (out if out.is_terminal else Console(width=240)).print(table)


@app.command()
def init(
    source: Annotated[
        Path,
        typer.Option(
            "--from", help="the league's results file (CSV or parquet)", exists=True, dir_okay=False
        ),
    ],
    league: Annotated[
        str | None, typer.Option("--league", help="the league's name (default: from the file)")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="the file's column for a contract column where the guess is wrong or missing: "
            "home_team=HomeTeam,away_score=G",
        ),
    ] = None,
    sport: Annotated[
        str | None,
        typer.Option(help="basketball | football | baseball | hockey | soccer (default: guessed)"),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="the config to write (default: configs/<league>.yaml)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite the config")] = False,
) -> None:
    """Write a commented config for a league's results file in its own layout: the column
    mapping, teams, season window, ties, doubleheaders, Elo settings for the sport. Prints what
    it guessed and what to check."""
    import re

    from gameline.tasks.config import load_config
    from gameline.tasks.onboard import (
        SPORTS,
        check_config,
        parse_columns_option,
        read_league_file,
        write_config,
    )

    name = league or re.sub(r"[^A-Za-z0-9_]", "_", source.stem).upper()[:16]
    if not re.fullmatch(r"[A-Za-z0-9_]{1,16}", name):
        _fail(ValueError(f"--league {name!r}: 1 to 16 letters, digits or _ (it names ids)"))
    if sport is not None and sport not in SPORTS:
        _fail(ValueError(f"--sport {sport!r}: one of {', '.join(SPORTS)}"))
    target = out_path or (
        Path("configs") / f"{name.lower()}.yaml"
        if Path("configs").is_dir()
        else Path(f"{name.lower()}.yaml")
    )
    try:
        found = read_league_file(source, name, parse_columns_option(columns), sport)
        write_config(found, target, force)
        rows, kept, broken = check_config(load_config(target))
    except (ValueError, OSError) as exc:
        _fail(exc)
    out.print(
        f"[bold]{escape(str(source))}[/]: {found.rows} rows, seasons {found.seasons[0]}-"
        f"{found.seasons[-1]}, {len(found.league['teams'])} teams, {found.sport.name}"
    )
    out.print("guessed:")
    for line in found.guesses:
        out.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    out.print(
        f"  {found.games_per_season} games per team a season; {found.ties} ties; "
        f"{found.doubleheaders} doubleheader games; moneylines: "
        + ("opening and closing" if found.has_open_odds else "yes" if found.has_odds else "none"),
        highlight=False,
        soft_wrap=True,
    )
    out.print("check:")
    for line in found.checks:
        out.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    quarantined = ", ".join(f"{rule}: {n}" for rule, n in broken.items())
    out.print(
        f"the rules keep {kept} of {rows} rows"
        + (f" (broken: {escape(quarantined)})" if broken else ""),
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"wrote {target}; next: gameline run --config {target}", highlight=False, soft_wrap=True
    )


@app.command()
def replay(
    start: Annotated[str, typer.Option("--from", help="first day replayed (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="last day replayed (YYYY-MM-DD)")],
    config: ConfigOpt = DEFAULT_CONFIG,
    policy: Annotated[
        str,
        typer.Option(help="never | scheduled | drift | all, or a comma list; 'every' for all four"),
    ] = "every",
    monitor_every: Annotated[
        int | None,
        typer.Option(min=1, help="days between monitor runs (default: monitor.window_days)"),
    ] = None,
    schedule_days: Annotated[int, typer.Option(min=1, help="days between scheduled retrains")] = 7,
    log_mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="log to MLflow")] = True,
) -> None:
    """Replay the daily pipeline over past games, day by day, as if live, under each retraining
    policy; print what the served predictions scored, write the tables and a plot."""
    from datetime import date

    from gameline.tasks.replay.engine import POLICIES
    from gameline.tasks.replay.report import (
        policy_table,
        season_table,
        time_table,
        write_report,
    )
    from gameline.tasks.replay.run import ReplayError
    from gameline.tasks.replay.run import replay as run_replay

    cfg = _load(config)
    names = list(POLICIES) if policy == "every" else [p.strip() for p in policy.split(",")]
    unknown = [p for p in names if p not in POLICIES]
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        if unknown:
            raise ValueError(f"unknown policy {unknown}; known: {', '.join(POLICIES)}")
        result = run_replay(
            cfg, first, last, names, monitor_every_days=monitor_every, schedule_days=schedule_days
        )  # type: ignore[arg-type]
    except (ReplayError, ValueError) as exc:
        _fail(exc)
    policies, seasons, times = policy_table(result), season_table(result), time_table(result)
    files = write_report(result)
    print_frame(_shown(policies), f"Replay {first} .. {last}: served predictions by policy")
    print_frame(_shown(seasons), "Served log loss by season")
    print_frame(_shown(times), "Where the time went (seconds)")
    out.print(
        f"plot, tables and served predictions: {result.folder}", highlight=False, soft_wrap=True
    )
    if log_mlflow:
        from gameline.tasks.replay.tracking import log_replay, replay_registry

        every = monitor_every or cfg.monitor.window_days
        settings = {
            "policies": ",".join(names),
            "schedule_days": str(schedule_days),
            "monitor_every_days": str(every),
        }
        registry = replay_registry(cfg)
        with _library_chatter():  # MLflow's table set-up and registration lines
            run_id = log_replay(registry, cfg, result, policies, list(files.values()), settings)
        out.print(f"MLflow run {run_id}", highlight=False)


@contextlib.contextmanager
def _library_chatter() -> Iterator[None]:
    """Without -v, what libraries print or log on stderr inside the block stays off the
    console (an error still ends the command with its `error:` line or traceback)."""
    if VERBOSE["on"]:
        yield
        return
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def _shown(frame: Any) -> Any:
    """A table for the console: its first column as the index, whole numbers without a
    decimal point, others to 4 places, blanks for missing values."""

    def cell(value: Any) -> str:
        if value is None or value != value:  # NaN
            return ""
        if isinstance(value, float):
            return f"{value:.0f}" if value.is_integer() else f"{value:.4g}"
        return str(value)

    return frame.set_index(frame.columns[0]).map(cell)


@app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="MLflow run ids")],
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Show training runs side by side: params, metrics, features."""
    from gameline.tasks.registry.mlflow_registry import Registry
    from gameline.tasks.registry.tracking import compare_runs

    print_frame(compare_runs(Registry.from_config(_load(config)), run_ids), "Runs compared")


@app.command()
def runs(
    best: Annotated[str, typer.Option(help="metric to rank by, e.g. blend_log_loss")],
    config: ConfigOpt = DEFAULT_CONFIG,
    limit: Annotated[int, typer.Option(min=1)] = 10,
) -> None:
    """List the best training runs of the config's experiment by a metric."""
    from gameline.tasks.registry.mlflow_registry import Registry
    from gameline.tasks.registry.tracking import best_runs

    try:
        ranked = best_runs(Registry.from_config(_load(config)), best, limit)
    except ValueError as exc:
        _fail(exc)
    print_frame(ranked.reset_index(drop=True), f"Best runs by {best}")


if __name__ == "__main__":
    app()
