"""The replay of one retraining policy: day by day, the daily pipeline's own steps on what was
known that day.

Each run time: the monitor (every `monitor_every_days`) measures the champion's drift and live
performance and keeps the alert episodes (`monitor`, `update_alerts`); the policy's retrain
decision (`decide_from_history`, the daily run's); a retrain fits the final model on every game
finished by then (`fit_models`, no walk-forward) and goes through the gate (`evaluate`,
`decide`); then the champion predicts the games that start before the next run
(`predict_models`, what the registered pyfunc runs). Nothing here knows of MLflow or Prefect:
the replay's models live in memory (`ReplayVersions`).
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from gameline.tasks.config import GamelineConfig, RetrainConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.model.inputs import selected_features
from gameline.tasks.model.metrics import log_loss, market_probability
from gameline.tasks.model.train import FoldModels, fit_models, predict_models, walk_forward
from gameline.tasks.monitoring.alerts import Alert, update_alerts
from gameline.tasks.monitoring.monitor import Champion, MonitorResult, monitor
from gameline.tasks.monitoring.performance import elo_probability
from gameline.tasks.monitoring.triggers import RetrainDecision, decide_from_history
from gameline.tasks.registry.evaluation import Recipe, evaluate
from gameline.tasks.registry.gate import decide
from gameline.tasks.replay.timeline import known_frame, known_games

Policy = Literal["never", "scheduled", "drift", "all"]
POLICIES: tuple[Policy, ...] = ("never", "scheduled", "drift", "all")


def policies_named(text: str) -> list[Policy]:
    """The policies a `--policy` option names: one, a comma list, or 'every' for all four."""
    if text == "every":
        return list(POLICIES)
    names = [p.strip() for p in text.split(",")]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {unknown}; known: {', '.join(POLICIES)}")
    return names  # type: ignore[return-value]


# The model name the replay's alerts carry.
REPLAY_MODEL = "replay"


def policy_retrain(policy: Policy, cfg: RetrainConfig) -> RetrainConfig | None:
    """The retrain settings a policy decides with (None: never retrains). `scheduled`: only
    the schedule; `drift`: only the monitor's triggers (drift, degradation); `all`: the
    config's settings plus the schedule, what the deployments run."""
    if policy == "never":
        return None
    if policy == "scheduled":
        return cfg.model_copy(
            update={"on_drift": False, "on_degradation": False, "max_champion_age_days": None}
        )
    if policy == "drift":
        return cfg.model_copy(
            update={"on_drift": True, "on_degradation": True, "max_champion_age_days": None}
        )
    return cfg


def scheduled(policy: Policy) -> bool:
    return policy in ("scheduled", "all")


@dataclass
class ReplayModel:
    """A model the replay trained: its fitted models and recipe, and the recipe's out-of-sample
    predictions and log loss so far (what the monitor compares the served ones with)."""

    version: str
    models: FoldModels
    recipe: Recipe
    oof: pd.DataFrame  # game_id, p
    promised: float | None

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """P(home win) as the registered pyfunc computes it."""
        return np.asarray(
            predict_models(self.models, rows, self.recipe.features)[f"p_{self.recipe.family}"],
            dtype=float,
        )

    def champion(self) -> Champion:
        return Champion(
            version=self.version,
            features=self.recipe.features,
            trained_until=self.recipe.trained_until.to_pydatetime(),
            promised_log_loss=self.promised,
            oof=self.oof,
        )


class ReplayVersions(dict[str, ReplayModel]):
    """The replay's model versions, loadable by the gate as the registry's are."""

    def load_version(self, version: str) -> ReplayModel:
        return self[version]


@dataclass
class Timeline:
    """What every policy replays: the store, the training set of every game, the run times,
    and per run time the features its prediction saw (empty when no game starts before the
    next run) and whether new results came in since the previous run."""

    config: GamelineConfig
    games: pd.DataFrame
    game_ends: pd.Series
    frame: pd.DataFrame
    frame_ends: pd.Series
    times: list[datetime]
    rows: list[pd.DataFrame]
    new_results: list[int]
    initial: ReplayModel
    monitor_every_days: int = 14
    schedule_days: int = 7


@dataclass
class PolicyRun:
    """One policy's replay: every served prediction, every retrain decision that retrained,
    every alert opened."""

    policy: Policy
    served: pd.DataFrame
    retrains: list[dict[str, object]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    monitored: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def train_model(
    config: GamelineConfig, known: pd.DataFrame, version: str, walk: bool = False
) -> ReplayModel:
    """The final model on every game finished in `known`; with `walk`, also the walk-forward
    (the initial model's out-of-fold predictions and promised log loss, as the train flow
    logs them)."""
    played = known[known[LABEL].notna()]
    features = selected_features(config)
    family = config.mlflow.final_family
    recipe = Recipe(
        version=version,
        train=config.train,
        features=features,
        family=family,
        trained_until=played["event_timestamp"].max(),
    )
    oof = pd.DataFrame({"game_id": pd.Series(dtype=str), "p": pd.Series(dtype=float)})
    promised = None
    if walk:
        folds = walk_forward(played, features, config.train)
        if len(folds):
            oof = pd.DataFrame({"game_id": folds["game_id"].astype(str), "p": folds[f"p_{family}"]})
            promised = log_loss(folds[LABEL].to_numpy(), folds[f"p_{family}"].to_numpy())
    models = fit_models(played, features, config.train)
    return ReplayModel(version, models, recipe, oof, promised)


def served_rows(
    rows: pd.DataFrame, model: ReplayModel, config: GamelineConfig, policy: Policy, now: datetime
) -> pd.DataFrame:
    """The day's served predictions, with the Elo baseline's and the market's beside them."""
    home_ml = rows["home_ml"].to_numpy(dtype=float)
    away_ml = rows["away_ml"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "policy": policy,
            "game_id": rows["game_id"].astype(str).to_numpy(),
            "start_time": rows["event_timestamp"].array,
            "season": rows["season"].to_numpy(),
            "predicted_at": pd.Timestamp(now),
            "model_version": model.version,
            "p_home": model.predict(rows),
            "p_elo": elo_probability(rows, config.features.elo),
            "p_market": market_probability(home_ml, away_ml),
        }
    )


def replay_policy(
    timeline: Timeline,
    policy: Policy,
    cache: dict[datetime, MonitorResult],
    progress: Callable[[int, int], None] | None = None,
) -> PolicyRun:
    """Replay one policy over the timeline. `cache`: monitor results of the initial champion by
    run time, shared by the policies (every policy that still serves it has served exactly the
    same predictions, so it measures the same). `progress(days done, retrains so far)` is
    called after each run time."""
    config = timeline.config
    retrain_cfg = policy_retrain(policy, config.retrain)
    champion = timeline.initial
    versions = ReplayVersions({champion.version: champion})
    alerts: list[Alert] = []
    active: set[str] = set()  # what the last monitor run of this champion found
    previous: RetrainDecision | None = None
    served: list[pd.DataFrame] = []
    run = PolicyRun(policy=policy, served=pd.DataFrame())
    seconds = {"monitor": 0.0, "retrain": 0.0, "predict": 0.0, "state": 0.0}
    for i, now in enumerate(timeline.times):
        if progress is not None:
            progress(i, len(run.retrains))
        rows = timeline.rows[i]
        if rows.empty and not timeline.new_results[i]:
            continue  # nothing happened since the last run (the off-season)
        started = clock.perf_counter()
        games = known_games(timeline.games, timeline.game_ends, now)
        frame = known_frame(timeline.frame, timeline.frame_ends, now)
        seconds["state"] += clock.perf_counter() - started
        started = clock.perf_counter()
        if i % timeline.monitor_every_days == 0:
            shared = champion is timeline.initial
            result = cache.get(now) if shared else None
            if result is None:
                predictions = pd.concat(served, ignore_index=True) if served else pd.DataFrame()
                result = monitor(
                    frame, games, predictions, champion.champion(), REPLAY_MODEL,
                    config.monitor, config.features.elo, now, None,
                )  # fmt: skip
                if shared:
                    cache[now] = result
            run.monitored += 1
            changes = update_alerts(
                alerts, result.findings, set(result.checked), REPLAY_MODEL, champion.version, now
            )
            alerts = changes.alerts
            active = {a.kind for a in [*changes.opened, *changes.continuing]}
            run.alerts.extend(changes.opened)
        seconds["monitor"] += clock.perf_counter() - started
        started = clock.perf_counter()
        if retrain_cfg is not None:
            request = "schedule" if scheduled(policy) and i % timeline.schedule_days == 0 else None
            decision = decide_from_history(
                request=request,
                champion=champion.version,
                trained_until=champion.recipe.trained_until.to_pydatetime(),
                previous=previous,
                games=games,
                active_kinds=active,
                now=now,
                cfg=retrain_cfg,
                min_new_games=config.retrain_min_new_games,
            )
            if decision.retrain:
                previous = decision
                promoted = retrain(timeline, frame, versions, champion, decision, now, run)
                if promoted is not champion:  # findings about the old champion are moot
                    champion, active = promoted, set()
        seconds["retrain"] += clock.perf_counter() - started
        started = clock.perf_counter()
        if not rows.empty:
            served.append(served_rows(rows, champion, config, policy, now))
        seconds["predict"] += clock.perf_counter() - started
    run.served = pd.concat(served, ignore_index=True) if served else pd.DataFrame()
    run.seconds = seconds
    if progress is not None:
        progress(len(timeline.times), len(run.retrains))
    return run


def retrain(
    timeline: Timeline,
    frame: pd.DataFrame,
    versions: ReplayVersions,
    champion: ReplayModel,
    decision: RetrainDecision,
    now: datetime,
    run: PolicyRun,
) -> ReplayModel:
    """Fit a challenger on every game finished by `now`, judge it with the gate against the
    champion; the new champion (the challenger if promoted)."""
    config = timeline.config
    challenger = train_model(config, frame, str(len(versions) + 1))
    versions[challenger.version] = challenger
    evaluation = evaluate(versions, frame, config.gate, challenger.recipe, champion.recipe)
    verdict = decide(evaluation, config.gate, now)
    run.retrains.append(
        {
            "at": now,
            "trigger": decision.trigger,
            "detail": decision.detail,
            "version": challenger.version,
            "promoted": verdict.promote,
            "reason": verdict.reason,
        }
    )
    if not verdict.promote:
        return champion
    window = pd.DataFrame({"game_id": evaluation.game_ids, "p": evaluation.p_challenger})
    earlier = champion.oof[~champion.oof["game_id"].isin(window["game_id"])]
    challenger.oof = pd.concat([earlier, window], ignore_index=True)
    challenger.promised = verdict.challenger_log_loss
    return challenger
