"""Gated promotion: challenger vs champion on the same recent games neither trained on.

- `gate_window` picks the latest finished games; only games that started at least `BLOCK_GAP`
  before the window may train a model judged on it.
- `evaluate` scores the challenger (its recipe retrained up to the window) and the champion (as
  registered when its training ended before the window, else its recipe retrained up to it) and
  the Elo baseline on those games.
- `decide` is a pure function from that evaluation and the gate config to a decision: minimum
  games, a paired bootstrap interval of the per-game log-loss difference, a calibration bound,
  and beating Elo. With no champion, the absolute criteria alone decide.
- `apply_decision` and `rollback` move the aliases (`champion`, `challenger`,
  `previous-champion`) under one registry lock, so two promotions never interleave, and append
  every move to the audit log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig, GateConfig, TrainConfig, state_paths
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.metrics import expected_calibration_error, log_loss
from gameline.tasks.model.train import BLOCK_GAP, fit_models, predict_models
from gameline.tasks.registry.tracking import CHALLENGER, model_example, model_name, tracking_uri
from gameline.tasks.storage import store_lock, write_json

CHAMPION = "champion"
PREVIOUS = "previous-champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)


class PromotionError(RuntimeError):
    """A promotion or rollback cannot be done (no such version, nothing to roll back to)."""


@dataclass(frozen=True)
class Recipe:
    """How a registered version was trained: enough to retrain it on other games."""

    version: str
    train: TrainConfig
    features: list[str]
    family: str
    trained_until: pd.Timestamp


def recipe(tags: dict[str, str], version: str) -> Recipe:
    """The recipe recorded in a model version's tags (see `tracking.recipe_tags`)."""
    missing = [k for k in ("train_config", "features", "family", "trained_until") if k not in tags]
    if missing:
        raise PromotionError(f"model version {version} has no recipe tags {missing}")
    return Recipe(
        version=version,
        train=TrainConfig.model_validate_json(tags["train_config"]),
        features=tags["features"].split(","),
        family=tags["family"],
        trained_until=pd.Timestamp(tags["trained_until"]),
    )


def gate_window(frame: pd.DataFrame, cfg: GateConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(games a model may train on, the window of latest finished games it is judged on)."""
    played = frame[frame[LABEL].notna()].sort_values("event_timestamp", kind="stable")
    window = played.tail(cfg.window_games)
    if window.empty:
        return played, window
    start = window["event_timestamp"].min()
    return played[played["event_timestamp"] <= start - BLOCK_GAP], window


class Evaluation(BaseModel):
    """Per-game probabilities of the challenger, the champion and Elo on the same window."""

    challenger_version: str
    champion_version: str | None
    champion_source: Literal["registered", "retrained", "none"]
    window_start: datetime | None
    window_end: datetime | None
    game_ids: list[str]
    y: list[float]
    p_challenger: list[float]
    p_champion: list[float] | None
    p_elo: list[float]


def _retrained(
    recipe_: Recipe, train: pd.DataFrame, window: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(family, Elo) probabilities for the window from the recipe retrained on `train`."""
    models = fit_models(train, recipe_.features, recipe_.train)
    predicted = predict_models(models, window, recipe_.features)
    return predicted[f"p_{recipe_.family}"].to_numpy(), predicted["p_elo"].to_numpy()


def _registered(config: GamelineConfig, recipe_: Recipe, window: pd.DataFrame) -> np.ndarray:
    """The registered version's own probabilities for the window (its pyfunc, as served)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(config))
    model = mlflow.pyfunc.load_model(f"models:/{model_name(config)}/{recipe_.version}")
    return np.asarray(model.predict(model_example(window, recipe_.features)), dtype=float)


def evaluate(
    config: GamelineConfig,
    frame: pd.DataFrame,
    challenger: Recipe,
    champion: Recipe | None,
) -> Evaluation:
    """Score challenger, champion and Elo on the gate window of `frame` (the training set)."""
    train, window = gate_window(frame, config.gate)
    if window.empty or train.empty:
        p_challenger = p_elo = np.array([])
        p_champion = None if champion is None else np.array([])
        source: Literal["registered", "retrained", "none"] = "none"
    else:
        p_challenger, p_elo = _retrained(challenger, train, window)
        p_champion, source = None, "none"
        if champion is not None:
            missing = [f for f in champion.features if f"home__{f}" not in window]
            if missing:
                raise PromotionError(
                    f"champion v{champion.version} needs features {missing} that the feature "
                    "store no longer has"
                )
            if champion.trained_until <= window["event_timestamp"].min() - BLOCK_GAP:
                p_champion, source = _registered(config, champion, window), "registered"
            else:
                p_champion, source = _retrained(champion, train, window)[0], "retrained"
    starts = window["event_timestamp"]
    return Evaluation(
        challenger_version=challenger.version,
        champion_version=champion.version if champion else None,
        champion_source=source,
        window_start=starts.min().to_pydatetime() if len(window) else None,
        window_end=starts.max().to_pydatetime() if len(window) else None,
        game_ids=window["game_id"].astype(str).tolist(),
        y=window[LABEL].astype(float).tolist(),
        p_challenger=[float(v) for v in p_challenger],
        p_champion=None if p_champion is None else [float(v) for v in p_champion],
        p_elo=[float(v) for v in p_elo],
    )


def per_game_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def paired_bootstrap(
    diff: np.ndarray, samples: int, confidence: float, seed: int
) -> tuple[float, float, float]:
    """Mean of the per-game differences and its percentile bootstrap interval (games resampled
    with replacement, the same games for both models in every resample)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, diff.size, size=(samples, diff.size))
    means = diff[index].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(diff.mean()), float(low), float(high)


class Check(BaseModel):
    """One gate criterion."""

    name: str
    passed: bool
    detail: str


class Decision(BaseModel):
    """A gate decision and its evidence."""

    promote: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    champion_source: str
    games: int
    window_start: datetime | None
    window_end: datetime | None
    challenger_log_loss: float | None
    champion_log_loss: float | None
    elo_log_loss: float | None
    challenger_ece: float | None
    diff_mean: float | None
    diff_low: float | None
    diff_high: float | None
    confidence: float
    margin: float
    checks: list[Check]
    decided_at: datetime


def decide(evaluation: Evaluation, cfg: GateConfig, now: datetime) -> Decision:
    """The gate: pure, deterministic (seeded bootstrap) and explained check by check."""
    y = np.asarray(evaluation.y, dtype=float)
    p_new = np.asarray(evaluation.p_challenger, dtype=float)
    n = int(y.size)
    checks = [Check(name="games", passed=n >= cfg.min_games, detail=f"{n} >= {cfg.min_games}")]
    new_ll = log_loss(y, p_new) if n else None
    elo_ll = log_loss(y, np.asarray(evaluation.p_elo)) if n else None
    ece = expected_calibration_error(y, p_new) if n else None
    old_ll = diff_mean = low = high = None
    if n:
        checks.append(
            Check(
                name="calibration",
                passed=bool(ece is not None and ece <= cfg.max_ece),
                detail=f"ECE {ece:.4f} <= {cfg.max_ece}",
            )
        )
        checks.append(
            Check(
                name="beats Elo",
                passed=bool(new_ll is not None and elo_ll is not None and new_ll < elo_ll),
                detail=f"log loss {new_ll:.4f} < Elo {elo_ll:.4f}",
            )
        )
        if evaluation.p_champion is not None:
            p_old = np.asarray(evaluation.p_champion, dtype=float)
            old_ll = log_loss(y, p_old)
            diff = per_game_log_loss(y, p_new) - per_game_log_loss(y, p_old)
            diff_mean, low, high = paired_bootstrap(
                diff, cfg.bootstrap_samples, cfg.confidence, cfg.seed
            )
            checks.append(
                Check(
                    name="beats champion",
                    passed=high < cfg.margin,
                    detail=(
                        f"challenger - champion log loss per game {diff_mean:+.5f}, "
                        f"{cfg.confidence:.0%} interval [{low:+.5f}, {high:+.5f}]; "
                        f"upper bound < {cfg.margin:+.5f}"
                    ),
                )
            )
    failed = [c for c in checks if not c.passed]
    promote = not failed
    if promote:
        if evaluation.champion_version is None:
            reason = "no champion yet: absolute criteria met"
        elif high is not None and high < 0:
            reason = "better than the champion with evidence"
        else:
            reason = f"not worse than the champion by more than the margin {cfg.margin:+.5f}"
    else:
        reason = "; ".join(f"{c.name} failed ({c.detail})" for c in failed)
    return Decision(
        promote=promote,
        reason=reason,
        challenger_version=evaluation.challenger_version,
        champion_version=evaluation.champion_version,
        champion_source=evaluation.champion_source,
        games=n,
        window_start=evaluation.window_start,
        window_end=evaluation.window_end,
        challenger_log_loss=new_ll,
        champion_log_loss=old_ll,
        elo_log_loss=elo_ll,
        challenger_ece=ece,
        diff_mean=diff_mean,
        diff_low=low,
        diff_high=high,
        confidence=cfg.confidence,
        margin=cfg.margin,
        checks=checks,
        decided_at=now,
    )


def decision_markdown(decision: Decision, name: str) -> str:
    """The decision as a markdown report (Prefect artifact, status)."""
    verdict = "PROMOTED" if decision.promote else "REJECTED"
    lines = [
        f"# Gate: {name} v{decision.challenger_version} {verdict}",
        "",
        f"{decision.reason}.",
        "",
        f"Champion: {('v' + decision.champion_version) if decision.champion_version else 'none'}"
        f" ({decision.champion_source}); {decision.games} games "
        f"{decision.window_start} .. {decision.window_end}.",
        "",
        "| check | passed | detail |",
        "|---|---|---|",
        *(f"| {c.name} | {'yes' if c.passed else 'no'} | {c.detail} |" for c in decision.checks),
    ]
    return "\n".join(lines) + "\n"


# --- the registry: aliases, lock, audit log -------------------------------------------------


def client(config: GamelineConfig) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri(config))


def alias_version(config: GamelineConfig, alias: str) -> str | None:
    """The version an alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client(config).get_model_version_by_alias(model_name(config), alias).version)
    except MlflowException:
        return None


def version_tags(config: GamelineConfig, version: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        return dict(client(config).get_model_version(model_name(config), version).tags)
    except MlflowException as error:
        raise PromotionError(f"{model_name(config)} has no version {version}") from error


def version_recipe(config: GamelineConfig, version: str) -> Recipe:
    return recipe(version_tags(config, version), version)


@contextmanager
def registry_lock(config: GamelineConfig) -> Iterator[None]:
    """Serialise alias moves: a PostgreSQL advisory lock when the tracking store is on
    PostgreSQL (every machine sharing the registry), else a file lock in the state folder."""
    uri = tracking_uri(config)
    if uri.startswith("postgresql"):
        import psycopg

        url = uri.replace("postgresql+psycopg://", "postgresql://", 1)
        key = int.from_bytes(model_name(config).encode()[:8].ljust(8, b"\0"), "big") >> 1
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("select pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                db.execute("select pg_advisory_unlock(%s)", (key,))
        return
    with store_lock(state_paths(config).registry_lock):
        yield


class AliasMove(BaseModel):
    """One line of the audit log."""

    time: datetime
    model: str
    alias: str
    from_version: str | None
    to_version: str | None
    reason: str
    run_id: str | None
    flow_run_id: str | None


def _flow_run_id() -> str | None:
    try:
        from prefect.runtime import flow_run

        value = flow_run.id
        return str(value) if value else None
    except Exception:  # outside a flow run: no id
        return None


def _move(
    config: GamelineConfig, alias: str, to: str | None, reason: str, now: datetime
) -> AliasMove | None:
    """Point `alias` at version `to` (None: remove it) and append the move to the audit log;
    call only under `registry_lock`. No move, no log line."""
    name = model_name(config)
    before = alias_version(config, alias)
    if before == to:
        return None
    registry = client(config)
    if to is None:
        registry.delete_registered_model_alias(name, alias)
    else:
        registry.set_registered_model_alias(name, alias, to)
    run_id = version_tags(config, to).get("run_id") if to else None
    move = AliasMove(
        time=now,
        model=name,
        alias=alias,
        from_version=before,
        to_version=to,
        reason=reason,
        run_id=run_id,
        flow_run_id=_flow_run_id(),
    )
    path = state_paths(config).audit_log
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(move.model_dump_json() + "\n")
        log.flush()
        os.fsync(log.fileno())
    return move


def read_audit_log(config: GamelineConfig) -> list[AliasMove]:
    path = state_paths(config).audit_log
    if not path.exists():
        return []
    return [AliasMove.model_validate_json(line) for line in path.read_text().splitlines() if line]


class Outcome(BaseModel):
    """What applying a decision did."""

    decision: Decision
    applied: Literal["promoted", "rejected", "superseded"]
    champion: str | None
    moves: list[AliasMove]


def record_decision(config: GamelineConfig, decision: Decision) -> str:
    """Store the decision as tags on the challenger's version and a JSON file; returns its
    path."""
    registry = client(config)
    name, version = model_name(config), decision.challenger_version
    tags = {
        "gate_decision": "promote" if decision.promote else "reject",
        "gate_reason": decision.reason[:4000],
        "gate_games": str(decision.games),
        "gate_decided_at": decision.decided_at.isoformat(),
        "gate_champion_version": decision.champion_version or "",
        "gate_diff_mean": "" if decision.diff_mean is None else f"{decision.diff_mean:.6f}",
        "gate_interval": ""
        if decision.diff_low is None
        else f"[{decision.diff_low:.6f}, {decision.diff_high:.6f}]",
        "gate_challenger_log_loss": f"{decision.challenger_log_loss or float('nan'):.6f}",
    }
    for key, value in tags.items():
        registry.set_model_version_tag(name, version, key, value)
    stamp = decision.decided_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = state_paths(config).decisions / f"{stamp}-v{version}.json"
    write_json(json.loads(decision.model_dump_json()), path)
    return str(path)


def latest_decision(config: GamelineConfig) -> Decision | None:
    folder = state_paths(config).decisions
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    return Decision.model_validate_json(files[-1].read_text()) if files else None


def apply_decision(config: GamelineConfig, decision: Decision, now: datetime) -> Outcome:
    """Move the aliases for a decision, under the registry lock. A promotion judged against a
    champion that changed since (another retrain promoted first) is not applied."""
    with registry_lock(config):
        current = alias_version(config, CHAMPION)
        if current != decision.champion_version:
            return Outcome(decision=decision, applied="superseded", champion=current, moves=[])
        if not decision.promote:
            return Outcome(decision=decision, applied="rejected", champion=current, moves=[])
        new = decision.challenger_version
        reason = f"gate: {decision.reason}"
        moves = [
            _move(config, PREVIOUS, current, reason, now) if current else None,
            _move(config, CHAMPION, new, reason, now),
        ]
        if alias_version(config, CHALLENGER) == new:  # it is the champion now, not a challenger
            moves.append(_move(config, CHALLENGER, None, f"promoted to {CHAMPION}", now))
        return Outcome(
            decision=decision,
            applied="promoted",
            champion=new,
            moves=[m for m in moves if m is not None],
        )


class Rollback(BaseModel):
    """What a rollback did."""

    from_version: str
    to_version: str
    moves: list[AliasMove]


def rollback(config: GamelineConfig, to: str | None, reason: str, now: datetime) -> Rollback:
    """Point `champion` back at `to` (default: the `previous-champion`); the replaced champion
    becomes `previous-champion`, so a second rollback undoes the first."""
    with registry_lock(config):
        current = alias_version(config, CHAMPION)
        if current is None:
            raise PromotionError(f"{model_name(config)} has no champion to roll back")
        target = to or alias_version(config, PREVIOUS)
        if target is None:
            raise PromotionError(
                f"{model_name(config)} has no {PREVIOUS}; pass --to VERSION to choose one"
            )
        version_tags(config, target)  # raises for an unknown version
        if target == current:
            raise PromotionError(f"v{target} is already the champion")
        text = f"rollback: {reason}"
        moves = [
            _move(config, CHAMPION, target, text, now),
            _move(config, PREVIOUS, current, text, now),
        ]
        return Rollback(
            from_version=current, to_version=target, moves=[m for m in moves if m is not None]
        )
