"""Feature sources without a store: the config's contract, typing each feature, the
simulator's hidden factor, the point-in-time tables, and the model's inputs from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import FeaturesConfig, FeatureSourceConfig, SimulatorConfig
from gameline.tasks.contracts import PARSE_ERROR
from gameline.tasks.data.simulator import simulate_games, simulate_sources, true_probabilities
from gameline.tasks.data.source_rows import moneyline_logit, parse_features
from gameline.tasks.features.sources import (
    add_source_features,
    frame_columns,
    rolling_stats_table,
    source_features,
)
from gameline.tasks.model.inputs import feature_frame_columns, model_inputs
from tests.builders import small_sim_config


def source(**fields: object) -> FeatureSourceConfig:
    base: dict[str, object] = {"name": "s", "kind": "game_facts", "features": {"x": {}}}
    return FeatureSourceConfig.model_validate(base | fields)


def test_the_config_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(ValueError, match="not keys of team_timeline"):
        source(kind="team_timeline", columns={"game_id": "id"})
    with pytest.raises(ValueError, match="lists its categories"):
        source(features={"x": {"type": "category"}})
    with pytest.raises(ValueError, match="lower-case"):
        source(features={"Bad Name": {}})
    with pytest.raises(ValueError, match="also given by"):
        FeaturesConfig(sources=[source(name="a"), source(name="b")])
    clash = source(kind="team_timeline", features={"win_pct_10": {}})
    with pytest.raises(ValueError, match="built-in feature"):
        source_features(FeaturesConfig(sources=[clash]))


def test_features_are_typed_by_their_contract_and_what_does_not_parse_is_named() -> None:
    spec = source(
        features={
            "ml": {"type": "moneyline"},
            "out": {"type": "flag"},
            "status": {"type": "category", "categories": ["in", "doubtful", "out"]},
            "rating": {},
        }
    )
    raw = pd.DataFrame(
        {
            "ml": ["-150", "+130", "50", ""],
            "out": ["1", "no", "1.0", "maybe"],
            "status": ["out", "in", "", "gone"],
            "rating": ["1.5", "x", "", "2"],
        }
    )
    typed = parse_features(raw, spec)
    assert typed["ml"].iloc[0] == pytest.approx(np.log(0.6 / 0.4))  # -150 implies 0.6
    assert typed["ml"].iloc[1] == pytest.approx(np.log((100 / 230) / (130 / 230)))
    assert typed["out"].tolist()[:3] == [1.0, 0.0, 1.0]
    assert typed["status"].tolist()[:2] == [2.0, 0.0]
    assert typed[["ml", "rating"]].iloc[3].tolist()[1] == 2.0
    errors = typed[PARSE_ERROR].tolist()
    assert errors[0] is pd.NA
    assert "rating=x is not a number" in errors[1]
    assert "ml=50 is not American odds" in errors[2]
    assert "out=maybe is not true/false" in errors[3] and "status=gone is not one of" in errors[3]
    assert np.isnan(typed["ml"].iloc[3])  # empty is missing, not an error


def test_moneyline_logit_of_even_odds_is_zero() -> None:
    assert moneyline_logit(pd.Series([100.0, -100.0])).tolist() == [0.0, 0.0]


def test_the_star_factor_moves_the_truth_and_leaves_other_draws_alone(tmp_path: Path) -> None:
    config = small_sim_config(tmp_path)
    plain = config.source.simulator
    starred = SimulatorConfig.model_validate(plain.model_dump() | {"star_pts": 6.0})
    before = simulate_games(plain, config.league)
    after = simulate_games(starred, config.league)
    pd.testing.assert_series_equal(before["start_time"], after["start_time"])
    star = simulate_sources(starred, config.league)["star"]
    assert set(star.columns) == {"team", "known_at", "star_out"}
    assert (pd.to_datetime(star["known_at"], utc=True) <= pd.Timestamp(plain.as_of)).all()
    assert 0.05 < star["star_out"].mean() < 0.5  # spells: out about 8 / (8 + 30) of the time
    truth = true_probabilities(starred, config.league)
    assert truth["p_true"].between(0, 1).all() and len(truth) == len(after)
    box = simulate_sources(starred, config.league)["box_score"]
    finals = after[after["status"] == "final"]
    assert len(box) == 2 * len(finals)  # both teams of every finished game, none of later ones


def test_box_scores_become_rolling_means_of_earlier_finished_games(tmp_path: Path) -> None:
    config = small_sim_config(tmp_path)
    games = pd.DataFrame(
        {
            "game_id": ["g1", "g2", "g3"],
            "start_time": pd.to_datetime(
                ["2026-01-01 00:00", "2026-01-03 00:00", "2026-01-05 00:00"], utc=True
            ),
            "status": ["final", "final", "scheduled"],
        }
    )
    facts = pd.DataFrame({"game_id": ["g1", "g2", "g3"], "team": "A", "reb": [10.0, 20.0, 99.0]})
    spec = source(kind="team_game_stats", features={"reb": {}}, windows=[2])
    table = rolling_stats_table(facts, spec, games, config.features, config.league)
    assert table["reb_2"].tolist() == [10.0, 15.0]  # the unfinished game's row never enters
    end = pd.Timestamp("2026-01-03 00:00", tz="UTC") + pd.Timedelta(hours=2.5)
    assert table["event_timestamp"].iloc[1] == end  # known when the game ended


def test_sourced_inputs_are_differences_and_facts_with_missing_indicators(tmp_path: Path) -> None:
    features = ["elo_pre", "team__star_out", "game__ml_home"]
    assert feature_frame_columns(features) == [
        "home__elo_pre",
        "away__elo_pre",
        "home__star_out",
        "away__star_out",
        "game__ml_home",
    ]
    assert frame_columns("team__star_out") == ["home__star_out", "away__star_out"]
    frame = pd.DataFrame(
        {
            "home__elo_pre": [1550.0, 1500.0],
            "away__elo_pre": [1500.0, 1500.0],
            "home__star_out": [1.0, np.nan],
            "away__star_out": [0.0, 0.0],
            "game__ml_home": [0.4, np.nan],
            "neutral": [False, False],
        }
    )
    inputs = model_inputs(frame, features)
    assert inputs["diff__star_out"].tolist()[0] == 1.0
    assert inputs["missing__team__star_out"].tolist() == [0.0, 1.0]
    assert inputs["game__ml_home"].tolist()[0] == 0.4
    assert inputs["missing__game__ml_home"].tolist() == [0.0, 1.0]


def test_a_timelines_age_is_from_when_it_was_known_to_the_start() -> None:
    cfg = FeaturesConfig(
        sources=[source(name="inj", kind="team_timeline", features={"out": {"type": "flag"}})]
    )
    start = pd.Timestamp("2026-01-10 00:00", tz="UTC")
    known = (start - pd.Timedelta(days=2)).value / 1e9
    joined = pd.DataFrame(
        {
            "event_timestamp": [start],
            "home__out": [1.0],
            "away__out": [np.nan],
            "home__inj_known_at": [known],
            "away__inj_known_at": [np.nan],
        }
    )
    out = add_source_features({}, joined, cfg)
    assert out["home__inj_age_days"][0] == pytest.approx(2.0)
    assert np.isnan(out["away__inj_age_days"][0]) and np.isnan(out["away__out"][0])


def test_a_spread_given_as_the_favourites_points_becomes_the_home_line() -> None:
    spec = source(features={"home_spread": {"column": "spread", "negate_when": {"fav": "home"}}})
    raw = pd.DataFrame({"home_spread": ["7.5", "3", ""], "fav": ["home", "away", "home"]})
    assert parse_features(raw, spec)["home_spread"].tolist()[:2] == [-7.5, 3.0]


def test_a_rare_missing_indicator_is_not_standardised_into_an_outlier() -> None:
    from gameline.tasks.model.train import fit_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-x))).astype(float)
    inputs = pd.DataFrame({"game__x": x, "missing__game__x": np.r_[1.0, np.zeros(1999)]})
    model = fit_logistic(inputs, y, c=0.05, seed=0)
    served = pd.DataFrame({"game__x": [np.nan] * 3, "missing__game__x": [1.0] * 3})
    # missing everywhere at serving: close to the base rate, not pushed 40 deviations away
    assert np.abs(model.predict(served) - y.mean()).max() < 0.1
