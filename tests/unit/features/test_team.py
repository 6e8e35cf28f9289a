"""Point-in-time team features: a hand-computed example and the leakage guarantee."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import EloConfig, FeaturesConfig, LeagueConfig
from gameline.tasks.contracts import conform
from gameline.tasks.data.simulator import simulate_games
from gameline.tasks.features.context import ContextAsOf, game_context
from gameline.tasks.features.team import (
    feature_columns,
    pregame,
    state_columns,
    states_table,
    team_features,
)

LEAGUE = LeagueConfig(name="T", games_per_season=4, game_duration_hours=2.0)
FEATURES = FeaturesConfig(
    windows=[2],
    split_window=2,
    max_rest_days=7,
    elo=EloConfig(k=20, home_advantage=100, initial=1500, mov_multiplier="none"),
)


def six_games() -> pd.DataFrame:
    """Three teams, five finished games and one scheduled, one per day at 19:00 UTC."""
    rows = [  # day, home, away, home score, away score
        (1, "A", "B", 100, 90),
        (2, "C", "A", 95, 105),
        (3, "B", "C", 110, 100),
        (4, "A", "C", 90, 99),
        (5, "B", "A", 101, 99),
        (7, "C", "B", None, None),
    ]
    frame = pd.DataFrame(
        rows, columns=["day", "home_team", "away_team", "home_score", "away_score"]
    )
    frame["start_time"] = pd.Timestamp("2025-01-01 19:00", tz="UTC") + pd.to_timedelta(
        frame.pop("day") - 1, unit="D"
    )
    frame["season"] = 2025
    return conform(frame, LEAGUE, source="test")


def expected_elo() -> list[tuple[float, float]]:
    """Pre-game (home, away) Elo of the five finals, by the textbook formula."""
    rating = {"A": 1500.0, "B": 1500.0, "C": 1500.0}
    pre = []
    for home, away, hs, as_ in [
        ("A", "B", 100, 90),
        ("C", "A", 95, 105),
        ("B", "C", 110, 100),
        ("A", "C", 90, 99),
        ("B", "A", 101, 99),
    ]:
        pre.append((rating[home], rating[away]))
        expected_home = 1 / (1 + 10 ** (-(rating[home] + 100 - rating[away]) / 400))
        delta = 20 * ((1.0 if hs > as_ else 0.0) - expected_home)
        rating[home] += delta
        rating[away] -= delta
    pre.append((rating["C"], rating["B"]))
    return pre


@pytest.fixture(scope="module")
def hand_features() -> pd.DataFrame:
    games = six_games()
    feats = team_features(games, FEATURES, LEAGUE)
    return feats.set_index(["game_id", "team"])


def row(features: pd.DataFrame, day: int, team: str) -> pd.Series:
    game_id = six_games()["game_id"].iloc[day]
    return features.loc[(game_id, team)]


def test_one_row_per_team_and_game(hand_features: pd.DataFrame) -> None:
    assert len(hand_features) == 12
    assert list(hand_features.columns[-len(feature_columns(FEATURES)) :]) == feature_columns(
        FEATURES
    )


def test_elo_matches_the_formula(hand_features: pd.DataFrame) -> None:
    games = six_games()
    for i, (home_pre, away_pre) in enumerate(expected_elo()):
        got = hand_features.loc[games["game_id"].iloc[i]]
        assert got.loc[games["home_team"].iloc[i], "elo_pre"] == pytest.approx(home_pre)
        assert got.loc[games["away_team"].iloc[i], "elo_pre"] == pytest.approx(away_pre)


def test_first_game_has_no_history(hand_features: pd.DataFrame) -> None:
    first = row(hand_features, 0, "A")
    assert first["games_played"] == 0
    assert np.isnan(first["win_pct_2"]) and np.isnan(first["win_pct_season"])
    assert first["rest_days"] == 7 and first["back_to_back"] == 0


def test_rolling_and_split_form_for_game_five(hand_features: pd.DataFrame) -> None:
    a = row(hand_features, 4, "A")  # A: W +10 (home), W +10 (away), L -9 (home)
    assert a["games_played"] == 3
    assert a["win_pct_season"] == pytest.approx(2 / 3)
    assert a["margin_season"] == pytest.approx(11 / 3)
    assert a["win_pct_2"] == pytest.approx(0.5)
    assert a["margin_2"] == pytest.approx(0.5)
    assert a["home_win_pct_2"] == pytest.approx(0.5)
    assert a["away_win_pct_2"] == pytest.approx(1.0)
    assert a["rest_days"] == 0 and a["back_to_back"] == 1  # played the day before
    assert a["season_progress"] == pytest.approx(3 / 4)
    b = row(hand_features, 4, "B")  # B: L -10 (away), W +10 (home)
    assert (b["win_pct_2"], b["margin_2"], b["rest_days"]) == (0.5, 0.0, 1)


def test_a_result_known_only_by_who_won_leaves_the_margins_of_the_known_scores() -> None:
    """A's games: +10 (100-90), a win without its score, -9 (90-99), -2 (99-101). Its margin and
    points forms are means of the scores known among its last two games; its win form counts
    every game. (Counting the unknown game as 0 drew the mean towards 0, and two games after
    it the window took the team's whole history: -0.5 after the last game instead of -5.5.)"""
    games = six_games()
    games.loc[1, ["home_score", "away_score"]] = np.nan  # day 2, C-A: A won, score unknown
    games.loc[1, "home_won"] = False
    states = states_table(games, FEATURES, LEAGUE)
    a = states[states["team"] == "A"].reset_index(drop=True)
    assert a["win_pct_2"].tolist() == [1.0, 1.0, 0.5, 0.0]
    assert a["margin_2"].tolist() == [10.0, 10.0, -9.0, -5.5]
    assert a["points_for_2"].tolist() == [100.0, 100.0, 90.0, 94.5]
    assert a["margin_season"].tolist() == pytest.approx([10.0, 10.0, 0.5, -1 / 3])
    assert a["games_played"].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize("window", [1, 2, 5])
def test_a_window_sum_is_the_rolling_sum_of_the_teams_known_values(window: int) -> None:
    """Teams' rows together (as `in_team_order` puts them), whole numbers and halves with gaps:
    the sums equal pandas' grouped rolling sums of the values with each gap as 0."""
    from gameline.tasks.features.team_order import TeamWindows, team_starts

    rng = np.random.default_rng(window)
    team = pd.Series(np.sort(rng.integers(0, 7, 300)), index=rng.permutation(300) + 1000)
    values = pd.Series(rng.integers(-30, 30, 300) / 2, index=team.index)
    values[rng.random(300) < 0.2] = np.nan
    expected = (
        values.fillna(0.0)
        .groupby(team.to_numpy(), sort=False)
        .rolling(window, min_periods=1)
        .sum()
        .reset_index(level=0, drop=True)
    )
    windows = TeamWindows(team_starts(team.to_numpy()))
    got = windows.sums(values, window)
    pd.testing.assert_series_equal(got, expected, check_names=False, check_exact=True)
    counts = values.notna().groupby(team.to_numpy(), sort=False).rolling(window, min_periods=1)
    known = counts.sum().reset_index(level=0, drop=True)
    means = (expected / known.where(known > 0)).rename(None)
    pd.testing.assert_series_equal(windows.means(values, window), means, check_exact=True)
    whole = values.fillna(1.0)  # no gap: the counts are the windows' lengths
    rolled = whole.groupby(team.to_numpy(), sort=False).rolling(window, min_periods=1).mean()
    pd.testing.assert_series_equal(
        windows.means(whole, window),
        rolled.reset_index(level=0, drop=True),
        check_names=False,
        check_exact=True,
    )


def test_scheduled_game_gets_features_from_finished_games(hand_features: pd.DataFrame) -> None:
    b = row(hand_features, 5, "B")  # B: L -10, W +10, W +2 before day 7
    assert b["win_pct_2"] == pytest.approx(1.0)
    assert b["margin_2"] == pytest.approx(6.0)
    c = row(hand_features, 5, "C")  # C: L -10, L -10, W +9
    assert c["win_pct_2"] == pytest.approx(0.5)
    assert c["rest_days"] == 2


def test_a_game_still_in_progress_is_not_seen() -> None:
    games = six_games()
    # A's day-4 game runs 19:00-21:00; move A's next game to 20:00 the same day.
    games.loc[4, "start_time"] = games.loc[3, "start_time"] + pd.Timedelta(hours=1)
    feats = team_features(games, FEATURES, LEAGUE).set_index(["game_id", "team"])
    a = feats.loc[(games["game_id"].iloc[4], "A")]
    assert a["games_played"] == 2  # the day-4 game had started but not ended
    assert a["elo_pre"] == pytest.approx(expected_elo()[3][0])  # A's rating before day 4


def test_new_season_regresses_elo() -> None:
    games = six_games()
    games.loc[5, "season"] = 2026
    feats = team_features(games, FEATURES, LEAGUE).set_index(["game_id", "team"])
    end_of_season = expected_elo()[5][1]
    carried = 1500 + 0.75 * (end_of_season - 1500)
    assert feats.loc[(games["game_id"].iloc[5], "B"), "elo_pre"] == pytest.approx(carried)
    assert feats.loc[(games["game_id"].iloc[5], "B"), "games_played"] == 0


def simulated(seed: int = 3, n_teams: int = 8) -> tuple[pd.DataFrame, LeagueConfig]:
    from datetime import datetime

    from gameline.tasks.config import SimulatorConfig

    league = LeagueConfig(name="SIM")
    cfg = SimulatorConfig(
        seed=seed,
        n_teams=n_teams,
        n_seasons=2,
        games_per_team=24,
        as_of=datetime.fromisoformat("2026-11-23T00:00:00+00:00"),
    )
    return simulate_games(cfg, league), league


@pytest.mark.parametrize("mode", ["fixed", "point_in_time"])
@pytest.mark.parametrize("pick", [0, 5, 40, 77, 120, 181])
def test_no_leakage_changing_a_result_changes_nothing_before_it_ended(pick: int, mode: str) -> None:
    games, league = simulated()
    cfg = FeaturesConfig(elo=EloConfig(home_advantage_mode=mode))
    before = team_features(games, cfg, league)
    finals = games.index[games["status"] == "final"]
    target = finals[pick % len(finals)]
    changed = games.copy()
    home, away = changed.loc[target, ["home_score", "away_score"]]
    changed.loc[target, ["home_score", "away_score"]] = [away, home + 17]  # flip and widen
    after = team_features(changed, cfg, league)
    ended = games.loc[target, "start_time"] + pd.Timedelta(hours=league.game_duration_hours)
    early = before["event_timestamp"] < ended
    pd.testing.assert_frame_equal(before[early], after[early])
    teams = set(games.loc[target, ["home_team", "away_team"]])
    later = ~early & before["team"].isin(teams)
    # The test can see leakage: later games of the same teams do change.
    if later.any():
        assert not before[later].equals(after[later])


def test_features_are_stamped_at_game_start() -> None:
    games, league = simulated()
    feats = team_features(games, FeaturesConfig(), league)
    starts = games.set_index("game_id")["start_time"]
    assert (feats["event_timestamp"].to_numpy() == starts[feats["game_id"]].to_numpy()).all()
    assert str(feats["event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert not feats.duplicated(["team", "event_timestamp"]).any()


@pytest.mark.parametrize("text", ["object", "string[python]", "string[pyarrow]"])
def test_the_features_do_not_depend_on_how_the_team_names_are_held(text: str) -> None:
    """The store reads its text as Arrow, a user's frame may hold Python strings: teams are
    numbered in order of first appearance either way, so the features and states are the same
    (the team and opponent columns Python strings)."""
    games, league = simulated()
    games.loc[games.index[::7], ["home_score", "away_score"]] = np.nan  # results not known
    games["neutral"] = np.arange(len(games)) % 11 == 0
    expected = team_features(games, FeaturesConfig(), league)
    held = games.astype({"home_team": text, "away_team": text})
    found = team_features(held, FeaturesConfig(), league)
    pd.testing.assert_frame_equal(found, expected, check_exact=True)
    assert found["team"].dtype == object and found["opponent"].dtype == object
    pd.testing.assert_frame_equal(
        states_table(held, FeaturesConfig(), league),
        states_table(games, FeaturesConfig(), league),
        check_exact=True,
    )


def test_feast_definitions_take_the_state_columns_from_the_code() -> None:
    from gameline.feature_repo.definitions import team_state_fv

    assert sorted(f.name for f in team_state_fv.schema) == sorted(state_columns(FeaturesConfig()))


@pytest.mark.parametrize("which", ["hand", "simulated"])
def test_latest_state_plus_context_gives_the_team_features(which: str) -> None:
    """What serving does (a team's latest state before the game, from the states table, turned
    pregame with the game's context) equals every training row of the team features."""
    if which == "hand":
        games, cfg, league = six_games(), FEATURES, LEAGUE
    else:
        (games, league), cfg = simulated(), FeaturesConfig()
    expected = team_features(games, cfg, league).set_index(["game_id", "team"])
    context = game_context(games, cfg, league)
    states = states_table(games, cfg, league).sort_values("event_timestamp", kind="stable")
    starts = games.set_index("game_id")["start_time"].astype("datetime64[us, UTC]")
    rows = context.reset_index()
    rows["start"] = starts.loc[rows["game_id"]].array
    joined = pd.merge_asof(
        rows.sort_values("start", kind="stable"),
        states,
        left_on="start",
        right_on="event_timestamp",
        by="team",
        allow_exact_matches=True,
    )
    # The state a game takes is its team's latest final game before it, per the schedule.
    stamped = joined["event_timestamp"].astype("datetime64[us, UTC]")
    expected_end = joined["state_end"].astype("datetime64[us, UTC]")
    assert (stamped.isna() == expected_end.isna()).all()
    assert (stamped.dropna() == expected_end.dropna()).all()
    served = pregame(joined, cfg).set_index(pd.MultiIndex.from_frame(joined[["game_id", "team"]]))
    pd.testing.assert_frame_equal(
        served.loc[expected.index], expected[feature_columns(cfg)], check_dtype=False
    )


def test_states_are_stamped_at_the_end_of_final_games_only() -> None:
    games = six_games()
    states = states_table(games, FEATURES, LEAGUE)
    assert len(states) == 2 * 5  # two teams per final game; the scheduled one has none
    ends = games["start_time"] + pd.Timedelta(hours=LEAGUE.game_duration_hours)
    assert set(states["event_timestamp"]) <= set(ends)
    assert list(states.columns) == ["team", "event_timestamp", *state_columns(FEATURES)]


def test_league_home_margin_uses_only_finished_home_games() -> None:
    games = six_games()
    feats = team_features(games, FEATURES, LEAGUE).set_index(["game_id", "team"])
    first = feats.loc[(games["game_id"].iloc[0], "A"), "league_home_margin"]
    assert first == FEATURES.league_home.prior_points  # nothing finished yet
    second = feats.loc[(games["game_id"].iloc[1], "C"), "league_home_margin"]
    assert second == pytest.approx(10.0)  # only A's 100-90 home win had ended


def test_a_game_gets_the_same_context_from_the_store_of_its_day_as_from_the_whole_store() -> None:
    """A game's context is the same whether the store holds only what had ended by the day's
    run (serving, a replay's day) or every later result too (training): the league's home
    margin is an average over games in order of their end, and games that end at the same time
    (a day's slate starting together) are taken in the store's order, not in whatever order a
    sort of that store happened to leave them."""
    from gameline.tasks.replay.timeline import known_games

    games, league = simulated(seed=5, n_teams=20)
    games = games.assign(start_time=games["start_time"].dt.floor("D"))  # each day's games tie
    cfg = FeaturesConfig()
    whole = game_context(games, cfg, league)
    ends = games["start_time"] + pd.Timedelta(hours=league.game_duration_hours)
    finals = games[games["status"] == "final"]
    days = finals["start_time"].drop_duplicates().sort_values().iloc[5::7]
    assert len(days) >= 10 and ends.duplicated().sum() > 0.75 * len(games)
    for day in days:
        slate = games[games["start_time"] == day]
        known = game_context(known_games(games, ends, day.to_pydatetime()), cfg, league)
        keys = [(g, t) for g, h, a in slate[["game_id", "home_team", "away_team"]].to_numpy()
                for t in (h, a)]  # fmt: skip
        pd.testing.assert_frame_equal(known.loc[keys], whole.loc[keys])


@pytest.mark.parametrize("slates", [False, True])
def test_the_context_as_of_a_run_is_the_context_of_the_store_at_that_run(slates: bool) -> None:
    """`ContextAsOf` (a replay's days from one pass over the whole store) gives every game that
    starts at or after a run the context that `game_context` gives it from the store as of that
    run: runs at several hours of a day, at a game's start and at a game's end, with neutral
    games, results known only by who won, and (`slates`) every day's games starting together."""
    from gameline.tasks.replay.timeline import known_games

    games, league = simulated(seed=7, n_teams=12)
    if slates:
        games = games.assign(start_time=games["start_time"].dt.floor("D"))
    finals = games.index[games["status"] == "final"]
    games.loc[finals[::9], "neutral"] = True
    games.loc[finals[4::11], ["home_score", "away_score"]] = np.nan  # a winner-only result
    games.loc[finals[4::11], "home_won"] = True
    cfg = FeaturesConfig()
    as_of = ContextAsOf(games, cfg, league)
    ends = games["start_time"] + pd.Timedelta(hours=league.game_duration_hours)
    days = games["start_time"].dt.floor("D").drop_duplicates().sort_values().iloc[3::6]
    runs = [day + pd.Timedelta(hours=h) for day in days for h in (0, 10, 19)]
    runs += list(games["start_time"].iloc[5::40]) + list(ends.iloc[7::40])
    checked = 0
    for now in runs:
        start = games["start_time"]
        day = games[(start >= now) & (start < now + pd.Timedelta(days=1))]
        if day.empty:
            continue
        seen = as_of.at(day, now.to_pydatetime())
        store = game_context(known_games(games, ends, now.to_pydatetime()), cfg, league)
        assert len(seen) == 2 * len(day)
        pd.testing.assert_frame_equal(seen, store.loc[seen.index])
        checked += 1
    assert checked >= 20
    with pytest.raises(ValueError, match="starts before"):
        as_of.at(games.iloc[:1], games["start_time"].iloc[0].to_pydatetime() + pd.Timedelta(1, "s"))
