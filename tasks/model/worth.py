"""What each feature source is worth: walk-forward with every feature against walk-forward
without one source's features, on the same out-of-fold games, with a paired bootstrap
interval of the per-game log-loss change. A source worth something still reaches production
only through the gate."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.config import GamelineConfig
from gameline.tasks.contracts import LABEL
from gameline.tasks.facts import Facts, FactTable
from gameline.tasks.features.sources import GAME, TEAM
from gameline.tasks.model.metrics import paired_bootstrap, per_game_log_loss
from gameline.tasks.model.train import walk_forward


class SourceWorth(BaseModel):
    """One source: out-of-fold log loss with every feature, without its own, and the change."""

    source: str
    kind: str
    features: list[str]
    games: int
    log_loss_with: float
    log_loss_without: float
    change: float  # with minus without: negative, the source helps
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if self.high < 0:
            return "helps (with evidence)"
        if self.low > 0:
            return "hurts (with evidence)"
        return "no evidence either way"


class WorthReport(BaseModel):
    """Every source's worth, for one model family, on the same out-of-fold games."""

    config: str
    family: str
    games: int
    log_loss_all: float
    log_loss_results_only: float
    confidence: float
    sources: list[SourceWorth]

    def facts(self) -> Facts:
        line = (
            f"feature worth ({self.family}, {self.games} out-of-fold games): every source "
            f"{self.log_loss_all:.4f}, results only {self.log_loss_results_only:.4f}"
        )
        columns = ("source", "kind", "features", "without it", "with it", "change", "interval", "")
        rows = [
            (
                s.source,
                s.kind,
                str(len(s.features)),
                f"{s.log_loss_without:.4f}",
                f"{s.log_loss_with:.4f}",
                f"{s.change:+.4f}",
                f"[{s.low:+.4f}, {s.high:+.4f}]",
                s.verdict,
            )
            for s in self.sources
        ]
        title = (
            f"What each source is worth: out-of-fold log loss with every feature and without the "
            f"source's ({self.confidence:.0%} paired bootstrap interval of the change)"
        )
        right = ("features", "without it", "with it", "change")
        return Facts(line=line, blocks=[FactTable(title, columns, rows, right=right), line])


def source_worth(
    frame: pd.DataFrame, features: list[str], config: GamelineConfig, samples: int = 2000
) -> WorthReport:
    """Walk forward with `features`, then without each source's, and once with no source; the
    per-game log-loss changes on the games both scored, with their bootstrap interval."""
    family = config.mlflow.final_family
    cfg = config.train.model_copy(update={"market_variant": False})

    def per_game(names: list[str]) -> pd.Series:
        oof = walk_forward(frame, names, cfg)
        loss = per_game_log_loss(oof[LABEL].to_numpy(), oof[f"p_{family}"].to_numpy())
        return pd.Series(loss, index=oof["game_id"].astype(str).to_numpy())

    full = per_game(features)
    sourced = [f for f in features if f.startswith((GAME, TEAM))]
    bare = per_game([f for f in features if f not in sourced])
    worth = []
    for source in config.features.sources:
        prefix = GAME if source.kind == "game_facts" else TEAM
        own = [prefix + f for f in source.feature_names(config.features.windows)]
        own = [f for f in own if f in features]
        without = per_game([f for f in features if f not in own])
        both = full.index.intersection(without.index)
        diff = (full[both] - without[both]).to_numpy()
        mean, low, high = paired_bootstrap(diff, samples, config.gate.confidence, config.gate.seed)
        worth.append(
            SourceWorth(
                source=source.name,
                kind=source.kind,
                features=own,
                games=len(both),
                log_loss_with=float(full[both].mean()),
                log_loss_without=float(without[both].mean()),
                change=mean,
                low=low,
                high=high,
            )
        )
    return WorthReport(
        config=config.name,
        family=family,
        games=len(full),
        log_loss_all=float(full.mean()),
        log_loss_results_only=float(bare.reindex(full.index).mean()),
        confidence=config.gate.confidence,
        sources=worth,
    )
