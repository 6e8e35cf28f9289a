"""The user's feature sources end to end on a simulated league with all three kinds (a star
timeline, box scores, a lines file): point in time by construction, the same values offline,
online and in Feast's own join, and each bad input refused or quarantined with its rule."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.contracts import ContractError
from gameline.tasks.data.feature_sources import ingest_source
from gameline.tasks.data.validate import ValidationFailed
from gameline.tasks.features.context import game_context
from gameline.tasks.features.sources import write_source_tables
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.serving.predict import upcoming_games
from tests.builders import AS_OF, all_sources_config, ingested_with_sources, small_sim_config

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path) -> GamelineConfig:
    return all_sources_config(tmp_path / "state")


def model_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(("home__", "away__", "game__"))]


def applied(config: GamelineConfig) -> TeamFeatureStore:
    store = TeamFeatureStore.from_config(config)
    store.apply()
    return store


@pytest.mark.slow(seconds=15)
def test_online_features_equal_the_training_rows_of_a_simulated_week(
    config: GamelineConfig,
) -> None:
    games = ingested_with_sources(config)
    store = applied(config)
    assert store.service.startswith("game_features_v3_")  # named by the set of features
    store.refresh_online(AS_OF)
    context = game_context(games, config.features, config.league)
    week = upcoming_games(games, AS_OF, horizon_hours=24 * 7)
    assert len(week) >= 8
    online = store.online_features(week, context, AS_OF).set_index("game_id")
    offline = store.offline_features(week, context, AS_OF).set_index("game_id")
    training = store.training_set(week, context, as_of=AS_OF).set_index("game_id")
    columns = model_columns(training)
    for kind in ("home__star_out", "home__net_rating_5", "home__star_age_days", "game__ml_home"):
        assert kind in columns
    assert online[["home__star_out", "home__net_rating_5"]].notna().all().all()
    for other in (offline, training):
        np.testing.assert_allclose(
            online[columns].to_numpy(float),
            other.loc[online.index, columns].to_numpy(float),
            equal_nan=True,
        )
    # Feast's own join gives the training set's values for every kind of source.
    played = games.head(200)
    feast = store.training_set(played, context, engine="feast")
    asof = store.training_set(played, context)
    np.testing.assert_allclose(
        feast[columns].to_numpy(float), asof[columns].to_numpy(float), equal_nan=True
    )


def test_a_box_score_changed_after_a_game_leaves_that_games_features_unchanged(
    config: GamelineConfig,
) -> None:
    games = ingested_with_sources(config)
    store = applied(config)
    context = game_context(games, config.features, config.league)
    before = store.training_set(games, context).set_index("game_id")
    finals = games[games["status"] == "final"].sort_values("start_time")
    target = finals.iloc[len(finals) // 2]
    facts_path = state_paths(config).source_facts("box_score")
    facts = pd.read_parquet(facts_path)
    facts.loc[facts["game_id"] == target["game_id"], ["net_rating", "pace"]] = [70.0, 139.0]
    facts.to_parquet(facts_path)
    write_source_tables(config, games)
    after = store.training_set(games, context).set_index("game_id")
    ends = target["start_time"] + pd.Timedelta(hours=config.league.game_duration_hours)
    earlier = games.loc[games["start_time"] < ends, "game_id"]
    columns = model_columns(before)
    np.testing.assert_allclose(  # the game itself and every game that started before it ended
        before.loc[earlier, columns].to_numpy(float),
        after.loc[earlier, columns].to_numpy(float),
        equal_nan=True,
    )
    later = games.loc[games["start_time"] >= ends, "game_id"]
    changed = ~np.isclose(
        before.loc[later, "home__net_rating_5"], after.loc[later, "home__net_rating_5"]
    )
    assert changed.any()  # the change does reach the teams' later games


def test_a_timeline_value_stamped_one_second_after_the_start_is_not_seen(
    tmp_path: Path,
) -> None:
    base = small_sim_config(tmp_path / "state")
    games = ingested_with_sources(base)
    game = games[games["status"] == "final"].iloc[40]
    start = game["start_time"]
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    timeline = pd.DataFrame(
        {
            "team": [game["home_team"]] * 2,
            "reported": [
                stamp(start - pd.Timedelta(hours=3)),
                stamp(start + pd.Timedelta(seconds=1)),
            ],
            "rating": [1.0, 99.0],
        }
    )
    path = tmp_path / "ratings.csv"
    timeline.to_csv(path, index=False)
    source = {
        "name": "ratings",
        "kind": "team_timeline",
        "path": str(path),
        "columns": {"known_at": "reported"},
        "features": {"rating": {}},
    }
    config = small_sim_config(tmp_path / "state", features={"sources": [source]})
    ingest_source(config, config.features.sources[0], AS_OF)
    write_source_tables(config, games)
    store = applied(config)
    context = game_context(games, config.features, config.league)
    row = store.training_set(games, context).set_index("game_id").loc[game["game_id"]]
    assert row["home__rating"] == 1.0
    assert row["home__ratings_age_days"] == pytest.approx(3 / 24)
    later = games[(games["start_time"] > start) & (games["home_team"] == game["home_team"])]
    after = store.training_set(later.head(1), context).iloc[0]
    assert after["home__rating"] == 99.0  # seen by the team's next game


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def rewritten(path: Path, change: str) -> Path:
    """The lines file with one kind of damage."""
    frame = pd.read_csv(path, dtype=str)
    out = path.with_name(f"lines-{change}.csv")
    if change == "text in a number":
        frame.loc[3, "ml_home"] = "minus one ten"
    elif change == "conflicting duplicate":
        extra = frame.iloc[[5]].copy()
        extra["ml_home"] = "999"
        frame = pd.concat([frame, extra])
    elif change == "known after the start":
        frame.loc[7, "posted"] = "2030-01-01T00:00:00Z"
    elif change == "unknown game":
        frame.loc[9, "home"] = "ZZZ"
    elif change == "wrong key column":
        frame = frame.rename(columns={"home": "home_side"})
    elif change == "empty":
        frame = frame.iloc[:0]
    frame.to_csv(out, index=False)
    return out


@pytest.mark.parametrize(
    ("change", "rule", "rows"),
    [
        ("text in a number", "every field parses", 1),
        ("conflicting duplicate", "one fact per key (conflicting rows)", 2),  # both: which is true?
        ("known after the start", "known_at not after the game's start (leakage)", 1),
        ("unknown game", "matches a stored game", 1),
    ],
)
def test_a_bad_fact_is_quarantined_with_its_rule(
    config: GamelineConfig, change: str, rule: str, rows: int
) -> None:
    ingested_with_sources(config)
    lines = config.features.sources[2]
    stored = state_paths(config).source_facts("lines")
    facts_before = pd.read_parquet(stored)
    path = rewritten(Path(str(lines.path)), change)
    bad = lines.model_copy(update={"name": "lines", "path": path})
    result = ingest_source(config, bad, AS_OF)
    assert result.manifest.quarantined == rows
    assert result.manifest.rules == {rule: rows}
    quarantine = pd.read_parquet(str(result.manifest.quarantine_file))
    assert quarantine["rules"].tolist() == [rule] * rows
    assert quarantine["source_line"].notna().all()  # the file's line is named
    assert len(pd.read_parquet(stored)) == len(facts_before)  # nothing new, nothing changed


@pytest.mark.parametrize(
    ("change", "message"),
    [("wrong key column", "missing column(s) ['home']"), ("empty", "no rows")],
)
def test_an_unreadable_feature_file_is_one_message_and_changes_nothing(
    config: GamelineConfig, change: str, message: str
) -> None:
    ingested_with_sources(config)
    stored = state_paths(config).source_facts("lines")
    before = digest(stored)
    lines = config.features.sources[2]
    path = rewritten(Path(str(lines.path)), change)
    with pytest.raises(ContractError, match="lines") as error:
        ingest_source(config, lines.model_copy(update={"path": path}), AS_OF)
    assert message in str(error.value)
    assert digest(stored) == before


def test_an_unknown_team_in_a_timeline_is_quarantined_and_too_many_refuse_the_file(
    config: GamelineConfig, tmp_path: Path
) -> None:
    games = ingested_with_sources(config)
    stamps = games["start_time"].head(50).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    timeline = pd.DataFrame({"team": games["home_team"].head(50), "known_at": stamps, "x": "1"})
    timeline.loc[0, "team"] = "NOPE"
    source = {"name": "ratings", "kind": "team_timeline", "features": {"x": {}}}
    path = tmp_path / "ratings.csv"
    timeline.to_csv(path, index=False)
    lenient = small_sim_config(
        config.state_dir,
        features={"sources": [{**source, "path": str(path), "max_bad_share": 0.05}]},
    )
    result = ingest_source(lenient, lenient.features.sources[0], AS_OF)
    assert result.manifest.rules == {"team is a league team": 1}
    strict = small_sim_config(
        config.state_dir, features={"sources": [{**source, "path": str(path)}]}
    )
    timeline.loc[:5, "team"] = "NOPE"  # 6 of 50: past 2%
    timeline.to_csv(path, index=False)
    facts = state_paths(strict).source_facts("ratings")
    before = digest(facts)
    with pytest.raises(ValidationFailed, match=r"ratings .*6 of 50 rows.*team is a league team"):
        ingest_source(strict, strict.features.sources[0], AS_OF)
    assert digest(facts) == before


def test_the_same_source_file_twice_adds_nothing(config: GamelineConfig) -> None:
    ingested_with_sources(config)
    again = [ingest_source(config, s, AS_OF) for s in config.features.sources]
    assert all(r.skipped for r in again)
    assert all(r.manifest.new > 0 for r in again)  # the first ingest's manifest, as recorded


def test_a_game_fact_without_known_at_must_say_it_was_known_before_the_start(
    config: GamelineConfig,
) -> None:
    ingested_with_sources(config)
    lines = config.features.sources[2]
    unstamped = lines.model_copy(update={"columns": {"home_team": "home", "away_team": "away"}})
    path = Path(str(lines.path))
    frame = pd.read_csv(path).drop(columns="posted")
    frame.to_csv(path.with_name("unstamped.csv"), index=False)
    unstamped = unstamped.model_copy(update={"path": path.with_name("unstamped.csv")})
    with pytest.raises(ContractError, match="known_before_start: true"):
        ingest_source(config, unstamped, AS_OF)
    stated = unstamped.model_copy(update={"known_before_start": True, "name": "lines2"})
    result = ingest_source(config, stated, AS_OF)
    assert result.stored == len(frame)


@pytest.mark.slow(seconds=55)
@pytest.mark.usefixtures("prefect_harness")
def test_a_daily_run_trains_serves_and_logs_every_source(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gameline.flows.cli import app
    from gameline.flows.gate import gate_flow
    from gameline.flows.pipeline import pipeline_flow
    from gameline.flows.predict import predict_flow
    from gameline.flows.train import train_flow
    from gameline.tasks.registry.aliases import CHAMPION
    from gameline.tasks.registry.mlflow_registry import Registry
    from tests.builders import write_config

    config = all_sources_config(
        tmp_path / "state",
        source={"simulator": {"n_seasons": 3, "games_per_team": 28}},
        # The lines file's moneylines are a market: the family registered starts from it.
        train={"min_train_seasons": 2, "market": ["ml_home", "ml_away"]},
        mlflow={"final_family": "anchored"},
        gate={"window_games": 100, "min_games": 40},
    )
    summary = asyncio.run(pipeline_flow(config, now=AS_OF))
    assert [s.source for s in summary.ingest.sources] == ["star", "box_score", "lines"]
    assert summary.training is not None
    registry = Registry.from_config(config)
    # A league this small rarely passes the gate; what it decides is not this test's subject.
    registry.set_alias(CHAMPION, summary.training.model_version)
    second = train_flow(config)  # a challenger judged against a champion with sources
    judged = gate_flow(config, second.model_version)
    assert judged.decision.champion_version == summary.training.model_version
    predicted = predict_flow(config, now=AS_OF)
    tags = registry.version_tags(summary.training.model_version)
    features = tags["features"].split(",")
    for name in ("team__star_out", "team__net_rating_5", "game__ml_home"):
        assert name in features  # the recipe lists every source's features
    run = registry.client.get_run(summary.training.run_id)
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert {"source-star", "source-box_score", "source-lines"} <= set(inputs)
    assert run.data.tags["feature_service"].startswith("game_features_v3_")
    assert run.data.tags["source.lines.manifests"]
    assert tags["family"] == "anchored"
    served = predicted.predictions
    assert served and all("missing_features" in row for row in served)
    # Lines are posted 20 hours ahead: the week's later games have none yet, and say so; the
    # anchored family serves them its results-only prediction.
    unpriced = [r for r in served if r["missing_features"] == "game__ml_home, game__ml_away"]
    assert unpriced and all(0 < r["p_champion"] < 1 for r in served)
    path = write_config(config, tmp_path / "sources.yaml")
    done = CliRunner().invoke(app, ["features", "--worth", "--json", "--config", str(path)])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert [s["source"] for s in report["sources"]] == ["star", "box_score", "lines"]
    for row in report["sources"]:
        assert row["low"] <= row["change"] <= row["high"]
        assert row["change"] == pytest.approx(row["log_loss_with"] - row["log_loss_without"])


def test_init_proposes_the_unused_numeric_columns_commented_out(tmp_path: Path) -> None:
    import yaml

    from gameline.tasks.onboard import read_league_file
    from gameline.tasks.onboard.config_file import config_text
    from tests import leagues

    path = tmp_path / "hockey.csv"
    leagues.hockey(path)
    frame = pd.read_csv(path, dtype=str)
    frame["Puck Line"] = "1.5"
    frame["Referee"] = "Smith"
    frame.to_csv(path, index=False)
    found = read_league_file(path, "NHL", {})
    assert any("enable only those known before a game starts" in g for g in found.guesses)
    text = config_text(found, tmp_path, "today")
    assert "#       puck_line: {column: Puck Line, min: 1.5, max: 1.5}" in text
    assert "referee" not in text.lower().split("columns not used")[0].split("sources:")[-1]
    assert "KNOWN BEFORE THE GAME STARTED" in text
    assert "sources" not in yaml.safe_load(text)["features"]  # proposed, never enabled


def test_add_source_onboards_a_feature_file_onto_a_config(
    config: GamelineConfig, tmp_path: Path
) -> None:
    from gameline.tasks.config import load_config
    from gameline.tasks.onboard.feature_file import add_feature_file
    from tests.builders import write_config

    games = ingested_with_sources(config)
    finals = games[games["status"] == "final"].head(60)
    injuries = pd.DataFrame(
        {
            "Club": finals["home_team"].to_numpy(),
            "Reported At": (finals["start_time"] - pd.Timedelta(hours=2)).dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "star_out": np.arange(60) % 2,
            "minutes": np.linspace(10, 40, 60).round(1),
        }
    )
    path = tmp_path / "injuries.csv"
    injuries.to_csv(path, index=False)
    base = write_config(config, tmp_path / "league.yaml")
    guess, written = add_feature_file(path, config, base, None, None, force=False)
    assert written == tmp_path / "league-injuries.yaml"
    assert guess.source.kind == "team_timeline" and guess.matched == guess.rows == 60
    assert guess.source.columns == {"team": "Club", "known_at": "Reported At"}
    # the star source already has star_out: the new one is named after its source
    assert set(guess.source.features) == {"injuries_star_out", "minutes"}
    assert guess.source.features["injuries_star_out"].type == "flag"
    extended = load_config(written, environ={})
    assert [s.name for s in extended.features.sources] == ["star", "box_score", "lines", "injuries"]
    assert extended.name == config.name and extended.state_dir == config.state_dir
    with pytest.raises(FileExistsError, match="--force"):
        add_feature_file(path, config, base, None, None, force=False)
    result = ingest_source(extended, extended.features.sources[3], AS_OF)
    assert result.stored == 60 and result.manifest.quarantined == 0


def test_a_source_whose_features_change_is_rebuilt_and_says_so(config: GamelineConfig) -> None:
    ingested_with_sources(config)
    box = config.features.sources[1]
    fewer = box.model_copy(update={"features": {"net_rating": box.features["net_rating"]}})
    result = ingest_source(config, fewer, AS_OF)
    assert result.note is not None and "rebuilt from this input" in result.note
    stored = pd.read_parquet(state_paths(config).source_facts("box_score"))
    assert "pace" not in stored and result.stored == len(stored) > 0
    assert ingest_source(config, fewer, AS_OF).skipped  # and the same again is a no-op


def test_no_fact_known_after_a_replay_run_reaches_what_it_sees(
    config: GamelineConfig, tmp_path: Path
) -> None:
    """The replay's features of a day's games are the same when every source fact that became
    known after the run (box scores of games that ended later, timeline values and lines
    stamped later) is scrambled."""
    from gameline.tasks.replay.run import replay_store
    from gameline.tasks.replay.timeline import day_features, day_games, end_times, known_games

    games = ingested_with_sources(config)
    ends = end_times(games["start_time"], config)
    finals = games[games["status"] == "final"].sort_values("start_time")
    now = (finals["start_time"].iloc[len(finals) // 2] - pd.Timedelta(hours=3)).to_pydatetime()
    known = known_games(games, ends, now)
    day = day_games(known, now, now + pd.Timedelta(days=2))
    assert len(day) >= 2
    seen = day_features(replay_store(config, games, tmp_path / "true"), known, day, config, now)
    paths = state_paths(config)
    stamp = pd.Timestamp(now)
    box = pd.read_parquet(paths.source_facts("box_score"))
    later = box["game_id"].isin(games.loc[(ends > stamp).to_numpy(), "game_id"])
    box.loc[later, "net_rating"] = 75.0
    star = pd.read_parquet(paths.source_facts("star"))
    star.loc[star["known_at"] > stamp, "star_out"] = 1.0 - star["star_out"]
    lines = pd.read_parquet(paths.source_facts("lines"))
    lines.loc[lines["known_at"] > stamp, "ml_home"] = 3.0
    assert later.any() and (star["known_at"] > stamp).any() and (lines["known_at"] > stamp).any()
    for name, facts in (("box_score", box), ("star", star), ("lines", lines)):
        facts.to_parquet(paths.source_facts(name))
    write_source_tables(config, games)
    fake = day_features(replay_store(config, games, tmp_path / "fake"), known, day, config, now)
    columns = model_columns(seen)
    assert any(c.startswith("game__") for c in columns) and "home__star_out" in columns
    np.testing.assert_allclose(
        seen[columns].to_numpy(float), fake[columns].to_numpy(float), equal_nan=True
    )


def test_a_lead_trains_on_what_a_prediction_made_that_early_saw(config: GamelineConfig) -> None:
    """A fact known only at the start (a closing line) is in a game's training row at lead 0,
    and missing with a lead, as it is for a prediction served hours before the start."""
    from tests.builders import training_frame, with_changes

    games = ingested_with_sources(config)
    lines = config.features.sources[2]
    stamped_at_start = lines.model_copy(
        update={
            "name": "closing",
            "columns": {"home_team": "home", "away_team": "away"},
            "known_before_start": True,
        }
    )
    sources = [*config.features.sources[:2], stamped_at_start]
    at_start = with_changes(config, features={"sources": sources})
    ingest_source(at_start, stamped_at_start, AS_OF)
    write_source_tables(at_start, games)
    rows = training_frame(at_start).set_index("game_id")
    ahead = training_frame(with_changes(at_start, train={"feature_lead_hours": 1.0}))
    ahead = ahead.set_index("game_id")
    priced = rows["game__ml_home"].notna()
    assert priced.sum() > 100 and ahead.loc[priced[priced].index, "game__ml_home"].isna().all()
    # the team states a game sees do not change with a one-hour lead (results end earlier)
    np.testing.assert_allclose(rows["home__elo_pre"], ahead["home__elo_pre"])


def test_a_feature_file_matching_no_game_is_one_message(
    config: GamelineConfig, tmp_path: Path
) -> None:
    ingested_with_sources(config)
    path = tmp_path / "nothing.csv"
    path.write_text(
        "date,home,away,ml_home,ml_away,posted\n2030-01-01,ZZZ,YYY,-110,-110,2030-01-01T00:00:00Z\n"
    )
    lines = config.features.sources[2].model_copy(update={"path": path})
    with pytest.raises(ValidationFailed, match=r"1 of 1 rows .*matches a stored game \(1\)"):
        ingest_source(config, lines, AS_OF)
