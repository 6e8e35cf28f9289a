"""The gate's decision as a pure function of an evaluation and the gate config."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gameline.tasks.config import GateConfig
from gameline.tasks.registry.evaluation import Evaluation
from gameline.tasks.registry.gate import decide, decision_markdown, paired_bootstrap

NOW = datetime(2026, 11, 23, tzinfo=UTC)
CFG = GateConfig(window_games=2000, min_games=500, max_ece=0.06)


def evaluation(
    n: int = 2000,
    champion_shift: float | None = 0.0,
    challenger_noise: float = 0.0,
    elo_shrink: float = 0.5,
    seed: int = 0,
) -> Evaluation:
    """Games drawn from true probabilities: the challenger knows them (plus noise); the
    champion is the truth pushed toward 0.5 by `champion_shift`; Elo is shrunk further."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.25, 0.85, n)
    y = (rng.random(n) < truth).astype(float)
    challenger = np.clip(truth + rng.normal(0, challenger_noise, n), 0.02, 0.98)
    champion = None
    if champion_shift is not None:
        champion = (truth + champion_shift * (0.5 - truth)).tolist()
    elo = (truth + elo_shrink * (0.5 - truth)).tolist()
    return judged(y.tolist(), challenger.tolist(), elo, champion)


def judged(
    y: list[float],
    p: list[float],
    elo: list[float],
    champion: list[float] | None = None,
    refresh: bool = False,
) -> Evaluation:
    """An evaluation of challenger v2 (against champion v1 when `champion` is given)."""
    return Evaluation(
        challenger_version="2",
        champion_version=None if champion is None else "1",
        champion_source="none" if champion is None else "registered",
        window_start=NOW,
        window_end=NOW,
        game_ids=[f"g{i}" for i in range(len(y))],
        y=y,
        p_challenger=p,
        p_champion=champion,
        p_elo=elo,
        refresh=refresh,
    )


def test_no_champion_absolute_criteria_promote() -> None:
    decision = decide(evaluation(champion_shift=None), CFG, NOW)
    assert decision.promote and decision.reason.startswith("no champion yet")
    assert [c.name for c in decision.checks] == ["games", "calibration", "beats Elo"]
    assert decision.diff_high is None


def test_identical_models_are_rejected_with_a_zero_interval() -> None:
    """The same model again: the difference is exactly 0, its upper bound is not below 0."""
    same = evaluation()
    same = same.model_copy(update={"p_champion": same.p_challenger})
    decision = decide(same, CFG, NOW)
    assert not decision.promote
    assert (decision.diff_low, decision.diff_mean, decision.diff_high) == (0.0, 0.0, 0.0)
    assert "beats champion failed" in decision.reason


def test_a_clearly_better_challenger_is_promoted_and_a_worse_one_rejected() -> None:
    better = decide(evaluation(champion_shift=0.4), CFG, NOW)
    assert better.promote and better.diff_high is not None and better.diff_high < 0
    assert better.reason == "better than the champion with evidence"
    worse = decide(evaluation(champion_shift=0.0, challenger_noise=0.15), CFG, NOW)
    assert not worse.promote and worse.diff_low is not None and worse.diff_low > 0


def test_noise_alone_does_not_promote() -> None:
    """Two equally good models that differ by noise: rejected at a 0 margin on most seeds."""
    promoted = 0
    for seed in range(20):
        noisy = evaluation(seed=seed, challenger_noise=0.01)
        noisy = noisy.model_copy(
            update={
                "p_champion": np.clip(
                    np.asarray(noisy.p_challenger)
                    + np.random.default_rng(100 + seed).normal(0, 0.01, len(noisy.y)),
                    0.02,
                    0.98,
                ).tolist()
            }
        )
        promoted += decide(noisy, CFG, NOW).promote
    assert promoted <= 3  # a 90% two-sided interval: about 5% expected by chance


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"n": 100}, "games"),
        ({"elo_shrink": 0.0}, "beats Elo"),  # Elo is the truth: the challenger cannot beat it
    ],
)
def test_each_absolute_criterion_can_reject(change: dict[str, float], failed: str) -> None:
    decision = decide(evaluation(champion_shift=None, **change), CFG, NOW)  # type: ignore[arg-type]
    assert not decision.promote
    assert failed in [c.name for c in decision.checks if not c.passed]
    assert f"{failed} failed" in decision.reason


def test_miscalibrated_challenger_is_rejected() -> None:
    base = evaluation(champion_shift=None)
    overconfident = np.clip(np.asarray(base.p_challenger) * 1.5 - 0.25, 0.01, 0.99)
    decision = decide(base.model_copy(update={"p_challenger": overconfident.tolist()}), CFG, NOW)
    assert "calibration" in [c.name for c in decision.checks if not c.passed]


def test_bootstrap_interval_is_reproducible_and_covers_the_mean() -> None:
    diff = np.random.default_rng(1).normal(-0.01, 0.2, 3000)
    first = paired_bootstrap(diff, 2000, 0.9, seed=5)
    assert first == paired_bootstrap(diff, 2000, 0.9, seed=5)
    mean, low, high = first
    assert low < mean < high
    assert high - low == pytest.approx(2 * 1.645 * 0.2 / np.sqrt(3000), rel=0.15)


def test_decision_markdown_lists_every_check() -> None:
    decision = decide(evaluation(champion_shift=0.4), CFG, NOW)
    text = decision_markdown(decision, "gameline-default")
    assert "v2 PROMOTED" in text and text.count("| yes |") == 4


def test_a_window_holding_every_game_is_judged_on_nothing_and_says_why() -> None:
    """With fewer finished games than the window, no game is left to train on before it: the
    gate rejects, naming that, instead of scoring mismatched arrays."""
    import pandas as pd

    from gameline.tasks.config import TrainConfig
    from gameline.tasks.contracts import LABEL
    from gameline.tasks.registry.evaluation import Recipe, evaluate

    frame = pd.DataFrame(
        {
            "game_id": [f"g{i}" for i in range(50)],
            "event_timestamp": pd.date_range("2026-01-01", periods=50, freq="D", tz="UTC"),
            LABEL: [float(i % 2) for i in range(50)],
        }
    )
    challenger = Recipe("2", TrainConfig(), ["elo_pre"], "blend", pd.Timestamp("2026-03-01"))
    evaluated = evaluate(
        None, frame, CFG.model_copy(update={"window_games": 400}), challenger, None
    )  # type: ignore[arg-type]
    assert evaluated.y == [] and evaluated.p_challenger == []
    assert evaluated.note and "all 50 finished games fall in the gate window" in evaluated.note
    decision = decide(evaluated, CFG, NOW)
    assert not decision.promote
    assert decision.checks[0].detail == evaluated.note


def test_a_refresh_goes_in_unless_worse_with_evidence() -> None:
    """A refresh (the champion's recipe on newer games) no better than the champion still goes
    in; one worse with evidence does not; with promote_refresh off it needs evidence."""
    same = evaluation(challenger_noise=0.01)
    same = same.model_copy(update={"p_champion": same.p_challenger, "refresh": True})
    kept = decide(same, CFG, NOW)
    assert kept.promote and kept.reason.startswith("a refresh of the champion's recipe")
    assert "refresh not worse" in [c.name for c in kept.checks]
    strict = decide(same, CFG.model_copy(update={"promote_refresh": False}), NOW)
    assert not strict.promote and "beats champion" in strict.reason
    worse = evaluation(champion_shift=0.0, challenger_noise=0.15).model_copy(
        update={"refresh": True}
    )
    rejected = decide(worse, CFG, NOW)
    assert not rejected.promote and "worse with evidence" in rejected.reason


def test_a_challenger_above_the_ece_bound_passes_when_better_calibrated_than_the_champion() -> None:
    """After a shift the champion is out of bounds too: a better calibrated challenger is not
    kept out by the bound, a worse calibrated one is."""
    base = evaluation(n=3000, champion_shift=None, seed=3)
    truth = np.asarray(base.p_challenger)
    off = np.clip(truth + 0.08, 0.01, 0.99)  # 8 points too high: ECE about 0.08
    further = np.clip(truth + 0.16, 0.01, 0.99)
    better = base.model_copy(
        update={"p_challenger": off.tolist(), "p_champion": further.tolist(),
                "champion_version": "1", "champion_source": "registered"}
    )  # fmt: skip
    calibration = next(c for c in decide(better, CFG, NOW).checks if c.name == "calibration")
    assert calibration.passed and "at or below the champion's" in calibration.detail
    worse = better.model_copy(update={"p_challenger": further.tolist(), "p_champion": off.tolist()})
    calibration = next(c for c in decide(worse, CFG, NOW).checks if c.name == "calibration")
    assert not calibration.passed and "above the champion's" in calibration.detail


def test_the_refresh_check_explains_its_interval_and_verdict() -> None:
    """The check's text is the evidence a person reads in the Prefect artifact and `status`:
    the interval, which side of the margin its lower end lies, and the verdict."""
    from gameline.tasks.registry.gate import refresh_check

    judged = evaluation().model_copy(update={"champion_version": "7", "refresh": True})
    kept = refresh_check(0.001, -0.002, 0.004, judged, CFG)
    assert kept.passed and kept.name == "refresh not worse"
    assert kept.detail == (
        "a refresh of champion v7 (its recipe on newer games), judged on the newer half of the "
        "games since its training: refresh minus champion log loss per game +0.00100, 90% "
        "interval [-0.00200, +0.00400]: its lower end is not above the margin +0.00000, not "
        "worse with evidence"
    )
    worse = refresh_check(0.004, 0.001, 0.007, judged, CFG)
    assert not worse.passed
    assert worse.detail.endswith("its lower end is above the margin +0.00000, worse with evidence")


def test_the_decision_states_its_reason_champion_window_and_checks() -> None:
    decision = decide(evaluation(champion_shift=0.4), CFG, NOW)
    facts = decision.facts()
    reason, champion, table = facts.blocks
    assert reason == f"{decision.reason}." and facts.line == f"gate v2: {decision.reason}"
    assert champion == f"Champion: v1 (registered); 2000 games {NOW} .. {NOW}."
    assert not isinstance(table, str) and table.title == "Gate: v2 vs champion 1"
    assert table.columns == ("check", "passed", "detail")
    assert [row[:2] for row in table.rows] == [(c.name, "yes") for c in decision.checks]
    text = decision_markdown(decision, "gameline-default")
    assert text.startswith("# Gate: gameline-default v2 PROMOTED\n")
    assert f"| {decision.checks[0].name} | yes | {decision.checks[0].detail} |" in text


def with_lines(
    base: Evaluation, new: np.ndarray, old: np.ndarray | None, y: np.ndarray
) -> Evaluation:
    """`base` with P(cover) judged too: the challenger's `new`, the champion's `old`."""
    lines = {"line_y": {"cover": y.tolist()}, "line_challenger": {"cover": new.tolist()}}
    if old is not None:
        lines["line_champion"] = {"cover": old.tolist()}
    return base.model_copy(update=lines)


def test_p_cover_is_judged_on_the_games_with_a_line() -> None:
    rng = np.random.default_rng(9)
    truth = rng.uniform(0.4, 0.6, 2000)
    y = (rng.random(2000) < truth).astype(float)
    y[:100] = np.nan  # pushes and games without a line are not judged
    honest, coin = truth, np.full(2000, 0.5)
    base = evaluation(champion_shift=0.5)  # the winner's checks pass
    passed = decide(with_lines(base, honest, coin, y), CFG, NOW)
    names = [c.name for c in passed.checks]
    assert names[-2:] == ["P(cover) calibration", "P(cover) not worse"] and passed.promote
    assert "1900 games with a line" in passed.checks[-2].detail
    # Overconfident at the line: miscalibrated, and worse than the champion with evidence.
    wild = np.clip(0.5 + 4 * (truth - 0.5) + rng.normal(0, 0.2, 2000), 0.02, 0.98)
    rejected = decide(with_lines(base, wild, coin, y), CFG, NOW)
    failed = {c.name for c in rejected.checks if not c.passed}
    assert failed == {"P(cover) calibration", "P(cover) not worse"} and not rejected.promote
    # Too few games with a line: said, not held against the challenger.
    few = np.full(2000, np.nan)
    few[:50] = y[100:150]
    unjudged = decide(with_lines(base, honest, None, few), CFG, NOW)
    assert unjudged.checks[-1].passed and "not judged: 50 games" in unjudged.checks[-1].detail
