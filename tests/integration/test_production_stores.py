"""The production configuration against this machine's real Redis and PostgreSQL (no mocks):
Feast's SQL registry on PostgreSQL, its online store on Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.features.context import game_context
from gameline.tasks.features.store import TeamFeatureStore, latest_feature_time
from tests.builders import ingested
from tests.servers import (
    BIN,
    admin,
    database,
    free_port,
    need_services,
    postgres_url,
    process,
    quiet_env,
    wait_http,
)

pytestmark = pytest.mark.services


@pytest.fixture
def production(sim_config: Callable[..., GamelineConfig]) -> Iterator[GamelineConfig]:
    """The production config with its own PostgreSQL database and Feast project, dropped after."""
    need_services()
    project = f"gl_test_{uuid.uuid4().hex[:8]}"
    admin(f'create database "{project}"')
    yield sim_config(
        "production",
        source={"simulator": {"upcoming_days": 7}},
        feast={
            "project": project,
            "registry_url": postgres_url(project),
        },
        records={"url": postgres_url(project)},
    )
    admin(f'drop database "{project}" with (force)')


def test_feast_on_postgres_registry_and_redis_online_store(production: GamelineConfig) -> None:
    games = ingested(production)
    store = TeamFeatureStore.from_config(production)
    try:
        applied = store.apply()
        assert applied.project.startswith("gl_test_")
        # A second client reads the definitions from PostgreSQL, not from a local file.
        second = TeamFeatureStore.from_config(production)
        assert second.store.get_feature_service("game_features_v2").name
        assert not (state_paths(production).feast / "registry.db").exists()
        end = latest_feature_time(state_paths(production).team_states) + timedelta(seconds=1)
        assert not store.refresh_online(end=end).rebuilt
        upcoming = games[games["status"] == "scheduled"]
        context = game_context(games, production.features, production.league)
        now = upcoming["start_time"].min().to_pydatetime()
        online = store.online_features(upcoming, context, now=now)
        offline = store.training_set(upcoming, context)
        columns = [c for c in offline.columns if "__" in c]
        pd.testing.assert_frame_equal(online[columns], offline[columns], check_dtype=False)
        assert online["feature_time_matches_game"].all()
        # The rows really are in Redis.
        import redis

        keys = redis.Redis(host="127.0.0.1", port=6379).keys(f"*{production.feast.project}*")
        assert len(keys) == 8  # one hash per team
        # A team's latest state changes value but keeps its timestamp (a late result): Redis
        # skips a row with a timestamp it holds, so the check sees it and the view is rebuilt.
        path = state_paths(production).team_states
        states = pd.read_parquet(path)
        team = str(upcoming["home_team"].iloc[0])
        latest = states[states["team"] == team]["event_timestamp"].idxmax()
        states.loc[latest, "elo_post"] += 50.0
        states.to_parquet(path, index=False)
        assert store.refresh_online(end=end).rebuilt
        stamp, values = store.reader().read([team])[0]
        assert pd.Timestamp(stamp) == states.loc[latest, "event_timestamp"]
        position = store.states.index("elo_post")
        assert values[position] == pytest.approx(states.loc[latest, "elo_post"])
    finally:
        store.store.teardown()  # removes the project's keys from Redis


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_train_flow_tracks_and_registers_on_postgres(production: GamelineConfig) -> None:
    """MLflow's tracking store and model registry on PostgreSQL: the train flow's runs and the
    `challenger` alias are there for a second client. The database starts empty, as a new
    production store does, and the pipeline's first use migrates it (the other tests on
    PostgreSQL start from a migrated copy, `mlflow_postgres_db`)."""
    from gameline.flows.train import train_flow
    from gameline.tasks.registry.mlflow_registry import Registry

    database = f"{production.feast.project}_mlflow"
    admin(f'create database "{database}"')
    try:
        uri = postgres_url(database)
        config = production.model_copy(
            update={
                "mlflow": production.mlflow.model_copy(update={"tracking_uri": uri}),
                "train": production.train.model_copy(update={"min_train_seasons": 1}),
            }
        )
        ingested(config)
        record = train_flow(config)
        client = Registry.from_config(config).client
        assert client.get_run(record.run_id).data.tags["feast_view_version"] == "v0"
        version = client.get_model_version_by_alias(record.model_name, "challenger")
        assert str(version.version) == record.model_version
        assert not (state_paths(config).mlflow / "mlflow.db").exists()
    finally:
        admin(f'drop database "{database}" with (force)')


def test_registry_lock_on_postgres_serialises_holders(production: GamelineConfig) -> None:
    """With MLflow on PostgreSQL the promotion lock is a PostgreSQL advisory lock: a second
    holder (another connection, as another machine would have) waits for the first."""
    import threading
    import time

    from gameline.tasks.registry.mlflow_registry import Registry

    uri = postgres_url(production.feast.project)
    config = production.model_copy(
        update={"mlflow": production.mlflow.model_copy(update={"tracking_uri": uri})}
    )
    spans: list[tuple[str, float, float]] = []

    def hold(name: str) -> None:
        with Registry.from_config(config).lock():
            start = time.monotonic()
            time.sleep(0.5)
            spans.append((name, start, time.monotonic()))

    threads = [threading.Thread(target=hold, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(spans) == 2
    first, second = sorted(spans, key=lambda s: s[1])
    assert second[1] >= first[2]  # the second began only after the first let go


def test_doctor_on_the_production_stores(production: GamelineConfig) -> None:
    """Every production backend reachable (fresh databases are fine); a database that does not
    exist is one failed line that says how to create it."""
    from gameline.tasks.ops.doctor import doctor

    project = production.feast.project
    ready = production.model_copy(
        update={
            "mlflow": production.mlflow.model_copy(update={"tracking_uri": postgres_url(project)})
        }
    )
    checks = {c.name: c for c in doctor(ready)}
    for name in ("state folder", "mlflow", "feast registry", "online store"):
        assert checks[name].status == "ok", checks[name]
    assert "first run creates MLflow's tables" in checks["mlflow"].detail
    assert checks["online store"].detail.startswith("redis 127.0.0.1:6379")
    missing = ready.model_copy(
        update={
            "mlflow": ready.mlflow.model_copy(update={"tracking_uri": postgres_url("gl_absent")})
        }
    )
    failed = {c.name: c for c in doctor(missing)}["mlflow"]
    assert failed.status == "fail" and "createdb gl_absent" in failed.detail


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_harness")
def test_train_and_gate_through_an_mlflow_tracking_server_on_postgres(
    production: GamelineConfig, tmp_path: Path, mlflow_postgres_db: str
) -> None:
    """The README's production MLflow: `mlflow server` (lean: one worker, no job runner) on a
    PostgreSQL store with a local artifact root. The pipeline trains, registers and gates
    through its REST API; the model's files are in the server's artifact root, served back."""
    from gameline.flows.gate import gate_flow
    from gameline.flows.train import train_flow
    from gameline.tasks.registry.mlflow_registry import Registry

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    artifacts = tmp_path / "server-artifacts"
    with database(f"{production.feast.project}_srv", template=mlflow_postgres_db) as name:
        command = [
            str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--backend-store-uri",
            postgres_url(name),
            "--artifacts-destination", str(artifacts),
        ]  # fmt: skip
        log = tmp_path / "mlflow-server.log"
        env = quiet_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        with process(command, env, log) as server:
            wait_http(f"{url}/health", server, log)
            config = production.model_copy(
                update={
                    "mlflow": production.mlflow.model_copy(update={"tracking_uri": url}),
                    "train": production.train.model_copy(update={"min_train_seasons": 1}),
                    "gate": production.gate.model_copy(
                        update={"window_games": 60, "min_games": 30}
                    ),
                }
            )
            games = ingested(config)
            record = train_flow(config)
            outcome = gate_flow(config, record.model_version)
            registry = Registry.from_config(config)
            tags = registry.version_tags(record.model_version)
            assert tags["gate_decision"] in ("promote", "reject") and outcome.decision.reason
            model = registry.load_version(record.model_version)
            from gameline.tasks.model.inputs import model_example, selected_features

            frame = pd.read_parquet(next((state_paths(config).training).glob("*.parquet")))
            example = model_example(frame.tail(5), selected_features(config))
            assert len(model.predict(example)) == 5
            assert any(p.name == "model.lgb" for p in artifacts.rglob("*"))
            assert not (state_paths(config).mlflow / "artifacts").exists()
            assert len(games) > 0
