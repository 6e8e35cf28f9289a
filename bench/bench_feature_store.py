"""Benchmark: Feast on the NBA file. Training set (our exact as-of join vs Feast's DuckDB
offline store), materialization, and online lookup of one game (both teams, every model
feature) p50/p99 on SQLite and Redis, next to a raw read of the same keys from the same store.

    python bench/bench_feature_store.py [--calls 2000] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import DATA_DIR, bench_config, ingest, percentiles_ms, print_table


def load_nba(state: Path, data_dir: Path, production: dict[str, Any] | None) -> Any:
    return bench_config("nba", state, data_dir, **({"feast": production} if production else {}))


def raw_reader(config: Any, store: Any, home: str, away: str) -> Callable[[], Any]:
    """A raw read of the two teams' rows from the online store Feast wrote (the floor)."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    keys = [
        EntityKey(join_keys=["team"], entity_values=[Value(string_val=t)]) for t in (home, away)
    ]
    if config.feast.online_store == "redis":
        import redis

        host, port = config.feast.redis_connection.split(",")[0].split(":")
        client = redis.Redis(host=host, port=int(port))
        names = [_redis_key(config.feast.project, k, 3) for k in keys]

        def read_redis() -> Any:
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(name)
            return pipe.execute()

        return read_redis
    db = Path(store.config.online_store.path)
    conn = sqlite3.connect(db, check_same_thread=False)
    table = conn.execute(
        "select name from sqlite_master where type='table' and name like ?",
        (f"{config.feast.project}%team_state%",),
    ).fetchone()[0]
    blobs = [serialize_entity_key(k, entity_key_serialization_version=3) for k in keys]
    sql = (
        f'SELECT entity_key, feature_name, value, event_ts FROM "{table}" '
        "WHERE entity_key IN (?, ?)"
    )
    return lambda: conn.execute(sql, blobs).fetchall()


def run_store(label: str, config: Any, calls: int, rows: list[list[str]]) -> None:
    from gameline.tasks.config import state_paths
    from gameline.tasks.data.ingest import read_store
    from gameline.tasks.features.context import game_context
    from gameline.tasks.features.service import FEATURE_SERVICE
    from gameline.tasks.features.store import TeamFeatureStore, latest_feature_time

    adapter = TeamFeatureStore.from_config(config)
    store = adapter.store
    try:
        adapter.apply()
        games = read_store(state_paths(config).raw_games)
        context = game_context(games, config.features, config.league)
        if label == "SQLite":
            for engine in ("asof", "feast"):
                start = time.perf_counter()
                frame = adapter.training_set(games, context, engine=engine)
                rows.append(
                    [
                        f"training set ({engine})",
                        f"{time.perf_counter() - start:.2f} s",
                        f"{len(frame):,} games x {frame.shape[1]} columns",
                    ]
                )
        end = latest_feature_time(state_paths(config).team_states) + timedelta(seconds=1)
        done = adapter.refresh_online(end=end)
        rows.append(
            [
                f"materialize ({label})",
                f"{done.seconds:.2f} s",
                f"{done.start:%Y-%m-%d} .. {done.end:%Y-%m-%d} (TTL window)",
            ]
        )
        service = store.get_feature_service(FEATURE_SERVICE)
        last = games.tail(1)
        home, away = str(last["home_team"].iloc[0]), str(last["away_team"].iloc[0])
        n_features = 2 * len(service.feature_view_projections[0].features)

        def feast_lookup() -> Any:
            return store.get_online_features(
                features=service,
                entity_rows=[{"home_team": home, "away_team": away}],
                full_feature_names=True,
            ).to_dict()

        floor = percentiles_ms(raw_reader(config, store, home, away), calls)
        plain = percentiles_ms(feast_lookup, calls)
        reader = adapter.reader()
        lean = percentiles_ms(lambda: reader.game(home, away), calls)
        batch = percentiles_ms(
            lambda: adapter.online_features(last, context, datetime.now(UTC)), calls
        )
        for name, (p50, p99) in (
            ("raw read of the 2 keys (floor)", floor),
            (f"Feast get_online_features, {n_features} features", plain),
            (f"gameline OnlineReader.game, {n_features} features", lean),
            ("gameline online_features (+ ages, checks, DataFrame)", batch),
        ):
            ratio = f"{p99 / floor[1]:.1f}x floor p99" if "floor" not in name else ""
            rows.append(
                [f"online, 1 game, {label}: {name}", f"p50 {p50:.3f} / p99 {p99:.3f} ms", ratio]
            )
    finally:
        if config.feast.online_store == "redis":
            store.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    if not (args.data_dir / "nba_games_2008_2025.csv").exists():
        sys.exit(f"needs {args.data_dir / 'nba_games_2008_2025.csv'}")
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        embedded = load_nba(Path(tmp) / "state", args.data_dir, None)
        ingest(embedded)
        run_store("SQLite", embedded, args.calls, rows)
        project = f"gl_bench_{uuid.uuid4().hex[:8]}"
        import psycopg

        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'create database "{project}"')
        try:
            production = load_nba(
                Path(tmp) / "state",
                args.data_dir,
                {
                    "project": project,
                    "registry": "sql",
                    "online_store": "redis",
                    "registry_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{project}",
                },
            )
            run_store("Redis", production, args.calls, rows)
        finally:
            with psycopg.connect(admin, autocommit=True) as db:
                db.execute(f'drop database "{project}" with (force)')
    title = f"Feast on the NBA file ({args.calls} online calls per line)"
    print_table(title, ["measure", "time", "detail"], rows)


if __name__ == "__main__":
    main()
