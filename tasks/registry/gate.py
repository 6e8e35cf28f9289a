"""The promotion gate: a pure function from an evaluation to a decision.

`decide` requires at least `min_games` games, a calibration error within the bound, a lower log
loss than the Elo baseline on the same games, and, when there is a champion, the upper bound of
a seeded paired bootstrap interval of the per-game log-loss difference (challenger minus
champion) below the margin. With no champion, the absolute criteria alone decide. Where the
challenger prices the spread and the total, P(cover) and P(over) are judged on the same games
(those with a line): calibrated, and not worse than the champion's with evidence.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
from pydantic import BaseModel

from gameline.tasks.config import GateConfig
from gameline.tasks.facts import Facts, FactTable, facts_markdown
from gameline.tasks.model.metrics import (
    expected_calibration_error,
    log_loss,
    paired_bootstrap,
    per_game_log_loss,
)
from gameline.tasks.registry.evaluation import Evaluation


class Check(BaseModel):
    """One gate criterion."""

    name: str
    passed: bool
    detail: str


class Decision(BaseModel):
    """A gate decision and its evidence. `decision_id` keys everything done for it (the alias
    moves and their audit lines), so applying the same decision twice moves nothing twice."""

    decision_id: str = ""
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

    def facts(self) -> Facts:
        """The reason, the champion and the games judged on, every check."""
        champion = f"v{self.champion_version}" if self.champion_version else "none"
        return Facts(
            line=f"gate v{self.challenger_version}: {self.reason}",
            blocks=[
                f"{self.reason}.",
                f"Champion: {champion} ({self.champion_source}); {self.games} games "
                f"{self.window_start} .. {self.window_end}.",
                FactTable(
                    f"Gate: v{self.challenger_version} vs champion {self.champion_version or '-'}",
                    ("check", "passed", "detail"),
                    [(c.name, "yes" if c.passed else "no", c.detail) for c in self.checks],
                ),
            ],
        )


def decide(evaluation: Evaluation, cfg: GateConfig, now: datetime) -> Decision:
    """The gate: pure, deterministic (seeded bootstrap) and explained check by check."""
    y = np.asarray(evaluation.y, dtype=float)
    p_new = np.asarray(evaluation.p_challenger, dtype=float)
    n = int(y.size)
    enough = n >= cfg.min_games
    checks = [
        Check(
            name="games",
            passed=enough,
            detail=evaluation.note
            or f"{n} games in the window, {'at least' if enough else 'fewer than'} the "
            f"{cfg.min_games} needed",
        )
    ]
    new_ll = log_loss(y, p_new) if n else None
    elo_ll = log_loss(y, np.asarray(evaluation.p_elo)) if n else None
    ece = expected_calibration_error(y, p_new) if n else None
    old_ll = diff_mean = low = high = None
    if n:
        champion_ece = (
            expected_calibration_error(y, np.asarray(evaluation.p_champion, dtype=float))
            if evaluation.p_champion is not None
            else None
        )
        checks.append(calibration_check(float(ece or 0.0), champion_ece, cfg))
        lower = bool(new_ll is not None and elo_ll is not None and new_ll < elo_ll)
        checks.append(
            Check(
                name="beats Elo",
                passed=lower,
                detail=f"log loss {new_ll:.4f} against Elo's {elo_ll:.4f} on the same games: "
                f"{'lower' if lower else 'not lower'}",
            )
        )
        if evaluation.p_champion is not None:
            p_old = np.asarray(evaluation.p_champion, dtype=float)
            old_ll = log_loss(y, p_old)
            diff = per_game_log_loss(y, p_new) - per_game_log_loss(y, p_old)
            diff_mean, low, high = paired_bootstrap(
                diff, cfg.bootstrap_samples, cfg.confidence, cfg.seed
            )
            lenient = evaluation.refresh and cfg.promote_refresh
            checks.append(
                refresh_check(diff_mean, low, high, evaluation, cfg)
                if lenient
                else champion_check(diff_mean, low, high, cfg)
            )
    if n:
        for side, labels in evaluation.line_y.items():
            checks += line_checks(
                side,
                np.asarray(labels, dtype=float),
                np.asarray(evaluation.line_challenger[side], dtype=float),
                evaluation.line_champion.get(side),
                cfg,
            )
    failed = [c for c in checks if not c.passed]
    promote = not failed
    if promote:
        if evaluation.champion_version is None:
            reason = "no champion yet: absolute criteria met"
        elif evaluation.refresh and cfg.promote_refresh and high is not None and high >= 0:
            reason = "a refresh of the champion's recipe on newer games, not worse than it"
        elif high is not None and high < 0:
            reason = "better than the champion with evidence"
        else:
            reason = f"not worse than the champion by more than the margin {cfg.margin:+.5f}"
    else:
        reason = "; ".join(f"{c.name} failed ({c.detail})" for c in failed)
    key = f"{evaluation.challenger_version}|{evaluation.champion_version}|{now.isoformat()}"
    return Decision(
        decision_id=hashlib.sha256(key.encode()).hexdigest()[:16],
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


def line_checks(
    side: str, y: np.ndarray, p_new: np.ndarray, champion: list[float] | None, cfg: GateConfig
) -> list[Check]:
    """P(cover) or P(over) on the window's games with a line that did not push: calibrated
    (as the winner's probability is), and not worse than the champion's with evidence (near a
    closing line both sit close to a coin, so better with evidence is not asked for)."""
    name = f"P({side})"
    judged = ~(np.isnan(y) | np.isnan(p_new))
    if champion is not None:
        p_old = np.asarray(champion, dtype=float)
        judged &= ~np.isnan(p_old)
    games = int(judged.sum())
    if games < cfg.min_games:
        return [
            Check(
                name=name,
                passed=True,
                detail=f"not judged: {games} games with a line in the window, fewer than "
                f"{cfg.min_games}",
            )
        ]
    ece = expected_calibration_error(y[judged], p_new[judged])
    old_ece = None if champion is None else expected_calibration_error(y[judged], p_old[judged])
    calibration = calibration_check(ece, old_ece, cfg)
    checks = [
        calibration.model_copy(
            update={
                "name": f"{name} calibration",
                "detail": f"{calibration.detail} ({games} games with a line)",
            }
        )
    ]
    if champion is not None:
        diff = per_game_log_loss(y[judged], p_new[judged]) - per_game_log_loss(
            y[judged], p_old[judged]
        )
        mean, low, high = paired_bootstrap(diff, cfg.bootstrap_samples, cfg.confidence, cfg.seed)
        passed = low <= cfg.line_margin
        checks.append(
            Check(
                name=f"{name} not worse",
                passed=passed,
                detail=f"challenger minus champion log loss per game {mean:+.5f}, "
                f"{cfg.confidence:.0%} interval [{low:+.5f}, {high:+.5f}] on {games} games: "
                f"{'not worse' if passed else 'worse'} by more than {cfg.line_margin:g} with "
                "evidence",
            )
        )
    return checks


def calibration_check(ece: float, champion_ece: float | None, cfg: GateConfig) -> Check:
    """ECE within the bound, or, when there is a champion, no higher than the champion's on the
    same games: after a shift (a new home edge) the champion is out of bounds too, and a bound
    that kept out a better calibrated challenger would keep the worse model serving."""
    within = ece <= cfg.max_ece
    better = champion_ece is not None and ece <= champion_ece
    detail = f"ECE {ece:.4f}, {'within' if within else 'above'} the bound {cfg.max_ece}"
    if not within and champion_ece is not None:
        detail += (
            f", {'at or below' if better else 'above'} the champion's {champion_ece:.4f} on the "
            "same games"
        )
    return Check(name="calibration", passed=within or better, detail=detail)


def champion_check(mean: float, low: float, high: float, cfg: GateConfig) -> Check:
    """A challenger goes in when the interval's upper end of challenger minus champion log
    loss is below the margin."""
    below = high < cfg.margin
    verdict = (
        "the challenger is better with evidence"
        if below and high < 0
        else "within the margin"
        if below
        else "the challenger is worse with evidence"
        if low > 0
        else "no evidence the challenger is better"
    )
    return Check(
        name="beats champion",
        passed=below,
        detail=(
            f"challenger minus champion log loss per game {mean:+.5f}, "
            f"{cfg.confidence:.0%} interval [{low:+.5f}, {high:+.5f}]: its upper end "
            f"is {'below' if below else 'not below'} the margin {cfg.margin:+.5f}, {verdict}"
        ),
    )


def refresh_check(
    mean: float, low: float, high: float, evaluation: Evaluation, cfg: GateConfig
) -> Check:
    """A refresh (the champion's recipe on newer games) goes in unless it is worse than the
    champion with evidence: the interval's lower end above the margin (`gate.promote_refresh`)."""
    passed = low <= cfg.margin
    return Check(
        name="refresh not worse",
        passed=passed,
        detail=(
            f"a refresh of champion v{evaluation.champion_version} (its recipe on newer games), "
            "judged on the newer half of the games since its training: refresh minus champion "
            f"log loss per game {mean:+.5f}, {cfg.confidence:.0%} interval [{low:+.5f}, "
            f"{high:+.5f}]: its lower end is {'not above' if passed else 'above'} the margin "
            f"{cfg.margin:+.5f}, {'not worse with evidence' if passed else 'worse with evidence'}"
        ),
    )


def decision_markdown(decision: Decision, name: str) -> str:
    """The decision as a markdown report (Prefect artifact)."""
    verdict = "PROMOTED" if decision.promote else "REJECTED"
    return facts_markdown(
        f"Gate: {name} v{decision.challenger_version} {verdict}", decision.facts()
    )
