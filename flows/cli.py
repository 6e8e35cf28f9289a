"""The `gameline` command: each command parses its options, calls one function (a flow, a
report, onboarding) and hands the result to `display`. Heavy libraries are imported inside
commands, so --help is instant."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from gameline.flows import display, quiet
from gameline.flows.cli_support import (
    DEFAULT_CONFIG,
    ApiHostOpt,
    ApiPortOpt,
    ColumnsOpt,
    ConfigOpt,
    FileOpt,
    ForceOpt,
    JsonOpt,
    LeagueFileOpt,
    LeagueOpt,
    LeagueOutOpt,
    MlflowOpt,
    MonitorEveryOpt,
    PolicyOpt,
    PollOpt,
    ScheduleDaysOpt,
    SportOpt,
    VerboseOpt,
    VersionOpt,
    WorthOpt,
    call_flow,
    exit_now,
    fail,
    input_file,
    load_or_fail,
    prepare,
    show_result,
)

app = typer.Typer(
    help="Gameline: game results to calibrated win probabilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings as markdown: a paragraph's line breaks are not kept, so help text reflows to
    # the terminal's width instead of breaking mid-sentence.
    rich_markup_mode="markdown",
)


@app.callback()
def _setup(verbose: VerboseOpt = False) -> None:
    quiet.setup(verbose)


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
    file = input_file(file, config)
    prepare(config, "daily")
    from gameline.flows.pipeline import pipeline_flow

    show_result(call_flow(pipeline_flow, config, file, retrain), as_json)


@app.command()
def ingest(
    config: ConfigOpt = DEFAULT_CONFIG, file: FileOpt = None, as_json: JsonOpt = False
) -> None:
    """Ingest the configured source (or --file), validate it and rebuild team features."""
    file = input_file(file, config)
    prepare(config, "ingest")
    from gameline.flows.ingest import ingest_flow

    show_result(call_flow(ingest_flow, config, file), as_json)


@app.command()
def features(
    config: ConfigOpt = DEFAULT_CONFIG, worth: WorthOpt = False, as_json: JsonOpt = False
) -> None:
    """Rebuild the team features, register them in Feast and materialize the online store."""
    prepare(config, "features")
    if worth:  # the train flow's module imports MLflow: only when asked
        from gameline.flows.train import feature_worth_flow as chosen
    else:
        from gameline.flows.ingest import feature_store_flow as chosen
    show_result(call_flow(chosen, config), as_json)


@app.command()
def monitor(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Drift of the champion's inputs and predictions, its live performance; alerts."""
    prepare(config, "monitor")
    from gameline.flows.monitor import monitor_flow

    show_result(call_flow(monitor_flow, config), as_json)


@app.command()
def predict(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Score the upcoming games with the champion (the challenger in shadow)."""
    prepare(config, "predict")
    from gameline.flows.predict import predict_flow

    show_result(call_flow(predict_flow, config), as_json)


@app.command()
def train(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Walk-forward training, MLflow tracking, registration as `challenger`."""
    prepare(config, "train")
    from gameline.flows.train import train_flow

    show_result(call_flow(train_flow, config), as_json)


@app.command()
def gate(
    config: ConfigOpt = DEFAULT_CONFIG, version: VersionOpt = None, as_json: JsonOpt = False
) -> None:
    """Judge the challenger (or --version) against the champion; promote it if it passes."""
    prepare(config, "gate")
    from gameline.flows.gate import gate_flow

    show_result(call_flow(gate_flow, config, version), as_json)


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
    prepare(config, "rollback")
    from gameline.flows.gate import rollback_flow

    show_result(call_flow(rollback_flow, config, to, reason), as_json)


@app.command()
def serve(
    config: ConfigOpt = DEFAULT_CONFIG,
    deployments: Annotated[
        Path, typer.Option(help="the deployments file", exists=True, dir_okay=False)
    ] = Path("deployments/prefect.yaml"),
    with_api: Annotated[bool, typer.Option("--api", help="serve the HTTP API too")] = False,
    host: ApiHostOpt = "127.0.0.1",
    port: ApiPortOpt = 8000,
    poll: PollOpt = 5.0,
) -> None:
    """Serve the deployments of one config from this process, with their schedules.

    The daily, retrain, rollback and gate deployments, their schedules and the drift trigger,
    from this one process: no work pool or worker needed. With --api, the HTTP API as well
    (its retrain and rollback start runs of these deployments)."""
    from gameline.flows.deploy import serve as serve_deployments

    cfg = load_or_fail(config)
    try:
        if with_api:
            from gameline.flows.api import serve_api_in_thread

            serve_api_in_thread(cfg, host, port, poll)
            display.note(f"Gameline API for {cfg.name} at http://{host}:{port} (docs: /docs)")
        serve_deployments(cfg, str(config.resolve()), deployments)
    except (FileNotFoundError, ValueError) as exc:
        fail(exc)


@app.command()
def api(
    config: ConfigOpt = DEFAULT_CONFIG,
    host: ApiHostOpt = "127.0.0.1",
    port: ApiPortOpt = 8000,
    poll: PollOpt = 5.0,
) -> None:
    """Serve the HTTP API: games scored on request, the served predictions, the models, live
    performance, alerts and retrains, remote retrain and rollback with a token, /metrics and
    a status page at / (OpenAPI docs at /docs)."""
    from gameline.flows.api import api_server

    cfg = load_or_fail(config)
    try:
        server = api_server(cfg, host, port, poll)  # a bad token list fails before it listens
    except ValueError as exc:
        fail(exc)
    display.note(f"Gameline API for {cfg.name} at http://{host}:{port} (docs: /docs)")
    server.run()


@app.command()
def doctor(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Check every backend the config names: one line each; exit 1 if one fails.

    The state folder, MLflow, the Prefect API, Feast's registry and online store, the alert
    target."""
    from gameline.tasks.ops.doctor import doctor as run_checks

    checks = run_checks(load_or_fail(config))
    if as_json:
        typer.echo(json.dumps([c.model_dump() for c in checks], indent=2))
    else:
        display.checks(checks)
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
    """Champion and challenger, last gate decision, freshness, predictions, alerts.

    The models behind the aliases and their out-of-fold scores, the last gate and daily
    decisions, how fresh each store is, the latest predictions and A/B outcomes, open alerts."""
    from gameline.tasks.backends import BackendUnavailable
    from gameline.tasks.ops.status import status_report

    try:
        report = status_report(load_or_fail(config), live=live)
    except (BackendUnavailable, ValueError, OSError) as exc:
        fail(exc)
    show_result(report, as_json)


@app.command()
def init(
    source: LeagueFileOpt,
    league: LeagueOpt = None,
    columns: ColumnsOpt = None,
    sport: SportOpt = None,
    out_path: LeagueOutOpt = None,
    force: ForceOpt = False,
) -> None:
    """Write a commented config for a league's results file in its own layout.

    The column mapping, teams, season window, ties, doubleheaders and the sport's Elo settings,
    guessed from the file; prints what it guessed and what to check."""
    from gameline.tasks.onboard import onboard

    try:
        with display.Steps() as progress:
            done = onboard(source, league, columns, sport, out_path, force, progress)
    except (ValueError, OSError) as exc:
        fail(exc)
    display.league_file(done.found, str(done.target), done.rows, done.kept, done.broken)


@app.command("add-source")
def add_source(
    source: Annotated[
        Path,
        typer.Option("--from", help="a feature file (CSV or parquet)", exists=True, dir_okay=False),
    ],
    config: ConfigOpt = DEFAULT_CONFIG,
    name: Annotated[
        str | None, typer.Option(help="the source's name (default: the file's)")
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="the config to write (default: CONFIG-NAME.yaml)")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Onboard a feature file onto an existing config: guess its kind, keys and features, match
    its rows against the stored games, and write a config that extends CONFIG with it."""
    from gameline.tasks.onboard.feature_file import add_feature_file

    try:
        guess, out = add_feature_file(source, load_or_fail(config), config, name, out_path, force)
    except (ValueError, OSError) as exc:
        fail(exc)
    display.feature_file(guess, str(out))


@app.command("backup")
def backup_state(
    config: ConfigOpt = DEFAULT_CONFIG,
    to: Annotated[
        Path | None, typer.Option("--to", help="a new folder (default: beside the state)")
    ] = None,
) -> None:
    """Copy what cannot be rebuilt (games, manifests, logs, sources' facts, MLflow) to a new
    folder; safe while a run is going."""
    from gameline.tasks.ops.backup import backup

    try:
        display.line(backup(load_or_fail(config), to).line())
    except (ValueError, OSError) as exc:
        fail(exc)


@app.command("restore")
def restore_state(
    source: Annotated[
        Path, typer.Option("--from", help="a backup folder", exists=True, file_okay=False)
    ],
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Put a backup back into the config's empty state folder and rebuild what derives from it."""
    from gameline.tasks.ops.backup import restore

    try:
        display.line(restore(load_or_fail(config), source).line())
    except (ValueError, OSError) as exc:
        fail(exc)


@app.command()
def replay(
    start: Annotated[str, typer.Option("--from", help="first day replayed (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="last day replayed (YYYY-MM-DD)")],
    config: ConfigOpt = DEFAULT_CONFIG,
    policy: PolicyOpt = "every",
    monitor_every: MonitorEveryOpt = None,
    schedule_days: ScheduleDaysOpt = 7,
    log_mlflow: MlflowOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Replay the daily pipeline over past games, day by day, under each retraining policy.

    As if live: prints what the served predictions scored under each policy, and writes the
    tables, the served predictions and a plot."""
    from gameline.tasks.backends import BackendUnavailable, probe_mlflow
    from gameline.tasks.replay.engine import policies_named
    from gameline.tasks.replay.run import ReplayError
    from gameline.tasks.replay.summary import replay_summary

    cfg = load_or_fail(config)
    try:
        if log_mlflow:  # before minutes of replaying, not after
            probe_mlflow(cfg)
        days, names = (date.fromisoformat(start), date.fromisoformat(end)), policies_named(policy)
        with display.ReplayProgress(names) as progress:
            summary = replay_summary(cfg, *days, names, monitor_every, schedule_days, progress)
    except (ReplayError, ValueError, BackendUnavailable) as exc:
        fail(exc)
    if log_mlflow:
        with quiet.library_chatter():  # MLflow's table set-up and registration lines
            summary.log_to_mlflow(cfg)
    if as_json:
        typer.echo(summary.to_json())
    else:
        display.replay(summary)


@app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="MLflow run ids")],
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Show training runs side by side: params, metrics, features."""
    from gameline.tasks.registry.mlflow_registry import Registry
    from gameline.tasks.registry.tracking import compare_runs

    registry = Registry.from_config(load_or_fail(config))
    display.frame(compare_runs(registry, run_ids), "Runs compared")


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
        ranked = best_runs(Registry.from_config(load_or_fail(config)), best, limit)
    except ValueError as exc:
        fail(exc)
    display.frame(ranked.reset_index(drop=True), f"Best runs by {best}")


def main() -> None:
    """The `gameline` command: the app, then `exit_now` (no 1-2 s of interpreter teardown)."""
    try:
        app()
    except SystemExit as done:
        exit_now(done.code)
    exit_now(0)


if __name__ == "__main__":
    main()
