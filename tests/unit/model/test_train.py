"""Walk-forward folds, calibration and fitted models on small simulated leagues."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, TrainConfig
from gameline.tasks.features.team import feature_columns
from gameline.tasks.model.folds import BLOCK_GAP, fold_frames, inner_split, season_folds
from gameline.tasks.model.metrics import expected_calibration_error
from gameline.tasks.model.train import (
    fit_calibration,
    fit_models,
    predict_models,
    season_weights,
    walk_forward,
)
from tests.builders import ingested, training_frame


@pytest.mark.parametrize(
    ("first", "minimum", "expected"),
    [
        (None, 2, [2012, 2013, 2014]),
        (2013, 2, [2013, 2014]),
        (None, 4, [2014]),
    ],
)
def test_folds_expand_by_season(first: int | None, minimum: int, expected: list[int]) -> None:
    seasons = np.repeat([2010, 2011, 2012, 2013, 2014], 3)
    folds = season_folds(seasons, TrainConfig(first_test_season=first, min_train_seasons=minimum))
    assert [f.test_season for f in folds] == expected
    for fold in folds:
        assert fold.train_seasons == tuple(range(2010, fold.test_season))


def test_season_weights_fall_with_age() -> None:
    weights = season_weights(np.array([2018, 2020, 2020, 2019]), 0.9)
    assert weights.tolist() == pytest.approx([0.81, 1.0, 1.0, 0.9])
    assert season_weights(np.array([2018, 2020]), 1.0).tolist() == [1.0, 1.0]


def test_inner_split_holds_out_the_latest_games() -> None:
    starts = pd.Series(pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC"))
    fit, valid = inner_split(starts, 0.2)
    assert valid.tolist() == [False] * 8 + [True] * 2 and (fit == ~valid).all()


@pytest.fixture(scope="module")
def league(tmp_path_factory: pytest.TempPathFactory) -> tuple[GamelineConfig, pd.DataFrame]:
    """Four seasons of a 12-team league with its training set."""
    from gameline.tasks.config import load_config
    from tests.builders import AS_OF, CONFIGS

    config = load_config(
        CONFIGS / "default.yaml",
        environ={},
        overrides={
            "state_dir": str(tmp_path_factory.mktemp("league") / "state"),
            "source": {
                "simulator": {
                    "n_teams": 12,
                    "n_seasons": 5,
                    "games_per_team": 60,
                    "neutral_share": 0.15,
                    "as_of": AS_OF.isoformat(),
                }
            },
            # The winner's models only: the margin and total models are tests/unit/model/
            # test_targets.py's subject.
            "train": {
                "min_train_seasons": 2,
                "lightgbm": {"min_child_samples": 30},
                "line_targets": False,
            },
        },
    )
    ingested(config)
    return config, training_frame(config)


def test_no_test_season_game_reaches_training(
    league: tuple[GamelineConfig, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gameline.tasks.model.train as train

    config, frame = league
    seen: list[tuple[set[int], int]] = []
    original = train.fit_models

    def spy(train_frame: pd.DataFrame, features: list[str], cfg: TrainConfig) -> object:
        seen.append((set(train_frame["season"]), int(train_frame["event_timestamp"].max().year)))
        return original(train_frame, features, cfg)

    monkeypatch.setattr(train, "fit_models", spy)
    oof = walk_forward(frame, feature_columns(config.features), config.train)
    folds = sorted(oof["season"].unique())
    assert len(seen) == len(folds) >= 2
    for (train_seasons, _), test_season in zip(seen, folds, strict=True):
        assert max(train_seasons) < test_season
    test_ids = set(oof["game_id"])
    assert len(test_ids) == len(oof)  # every test game predicted exactly once


def test_walk_forward_beats_the_home_rate(league: tuple[GamelineConfig, pd.DataFrame]) -> None:
    from gameline.tasks.model.metrics import log_loss

    config, frame = league
    oof = walk_forward(frame, feature_columns(config.features), config.train)
    y = oof["home_win"].to_numpy()
    assert log_loss(y, oof["p_elo"]) < log_loss(y, oof["p_home_rate"])
    assert log_loss(y, oof["p_blend"]) < log_loss(y, oof["p_home_rate"])
    assert oof[[c for c in oof.columns if c.startswith("p_")]].stack().between(0, 1).all()


def test_calibration_keeps_or_improves_ece() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.2, 0.8, 4000)
    y = (rng.random(4000) < truth).astype(float)
    overconfident = 1 / (1 + np.exp(-3 * np.log(truth / (1 - truth))))
    fit, check = slice(0, 2000), slice(2000, None)
    before = expected_calibration_error(y[check], overconfident[check])
    for method in ("platt", "isotonic"):
        calibration = fit_calibration(overconfident[fit], y[fit], method)
        after = expected_calibration_error(y[check], calibration.apply(overconfident[check]))
        assert after <= before
        assert after < 0.03


def test_behaviour_of_the_fitted_models(league: tuple[GamelineConfig, pd.DataFrame]) -> None:
    config, frame = league
    names = feature_columns(config.features)
    played = frame[frame["home_win"].notna()]
    models = fit_models(played, names, config.train)
    base = played.iloc[[len(played) // 2]].copy()
    stronger = base.copy()
    stronger["home__elo_pre"] = base["home__elo_pre"] + 150
    p_base = predict_models(models, base, names)
    p_strong = predict_models(models, stronger, names)
    for column in ("p_elo", "p_logistic"):
        assert p_strong[column].iloc[0] > p_base[column].iloc[0]  # stronger team: higher p
    home_edge = base.assign(neutral=False)
    at_neutral = base.assign(neutral=True)
    assert (
        predict_models(models, home_edge, names)["p_logistic"].iloc[0]
        > predict_models(models, at_neutral, names)["p_logistic"].iloc[0]
    )
    # Swapping sides at a neutral site mirrors the probability of the symmetric models.
    swapped = at_neutral.copy()
    for name in names:
        swapped[f"home__{name}"] = at_neutral[f"away__{name}"].to_numpy()
        swapped[f"away__{name}"] = at_neutral[f"home__{name}"].to_numpy()
    p = predict_models(models, at_neutral, names)["p_elo"].iloc[0]
    q = predict_models(models, swapped, names)["p_elo"].iloc[0]
    assert abs(p + q - 1) < 0.05


def test_home_edge_follows_the_leagues_recent_home_margin(
    league: tuple[GamelineConfig, pd.DataFrame],
) -> None:
    """No intercept when the league's home edge is an input: the same game gets a smaller home
    edge when the league's recent home margin has shrunk, and none at a neutral site."""
    config, frame = league
    names = feature_columns(config.features)
    played = frame[frame["home_win"].notna()]
    models = fit_models(played, names, config.train)
    assert models.logistic.intercept == 0.0 and models.elo.intercept == 0.0
    game = played.iloc[[len(played) // 2]].assign(neutral=False)
    p = {
        margin: predict_models(models, game.assign(home__league_home_margin=margin), names).iloc[0]
        for margin in (0.0, 1.5, 3.0)
    }
    for column in ("p_elo", "p_logistic"):
        assert p[0.0][column] < p[1.5][column] < p[3.0][column]


def test_date_blocks_train_only_on_games_that_had_ended(
    league: tuple[GamelineConfig, pd.DataFrame],
) -> None:
    """With date blocks, a block trains on earlier seasons plus the test season's games that
    started at least BLOCK_GAP before the block; each test game is predicted exactly once."""
    config, frame = league
    played = frame[frame["home_win"].notna()]
    cfg = config.train.model_copy(update={"date_blocks": 3})
    folds = season_folds(played["season"].to_numpy(), cfg, played["event_timestamp"])
    assert len(folds) == 3 * len({f.test_season for f in folds})
    tested: list[str] = []
    for fold in folds:
        train, test = fold_frames(played, fold)
        assert len(test) > 0 and len(train) > 0
        assert train["event_timestamp"].max() <= test["event_timestamp"].min() - BLOCK_GAP
        assert train["season"].max() <= fold.test_season
        if fold.block > 0:  # later blocks learn from the season's earlier games
            assert (train["season"] == fold.test_season).any()
        tested.extend(test["game_id"])
    season_games = played[played["season"].isin({f.test_season for f in folds})]
    assert sorted(tested) == sorted(season_games["game_id"])
    oof = walk_forward(frame, feature_columns(config.features), cfg)
    assert len(oof) == len(season_games) and oof["block"].nunique() == 3


def test_market_variant_is_scored_only_where_there_is_a_price(
    league: tuple[GamelineConfig, pd.DataFrame],
) -> None:
    from gameline.tasks.model.metrics import market_probability

    config, frame = league
    frame = frame.copy()
    unpriced = frame.index[::4]
    frame.loc[unpriced, ["home_ml", "away_ml"]] = np.nan
    oof = walk_forward(frame, feature_columns(config.features), config.train)
    priced = oof["home_ml"].notna()
    assert oof.loc[priced, ["p_market", "p_with_market"]].notna().all().all()
    assert oof.loc[~priced, ["p_market", "p_with_market"]].isna().all().all()
    expected = market_probability(oof["home_ml"].to_numpy(float), oof["away_ml"].to_numpy(float))
    np.testing.assert_allclose(oof.loc[priced, "p_market"], expected[priced.to_numpy()])
    without = walk_forward(
        frame,
        feature_columns(config.features),
        config.train.model_copy(update={"market_variant": False}),
    )
    assert "p_with_market" not in without and "p_market" not in without
