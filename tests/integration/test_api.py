"""`gameline api` as a client meets it: a real uvicorn server on a free port (httpx), on a league
trained, gated and batch-predicted by the flows. Scored on request equals what batch predict
served; bad requests are clear statuses; an alias move is served within the poll interval."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from gameline.flows.gate import gate_flow
from gameline.flows.ingest import feature_store_flow
from gameline.flows.predict import predict_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.registry.aliases import CHAMPION
from gameline.tasks.registry.mlflow_registry import Registry
from gameline.tasks.serving.predictions import latest_predictions, read_predictions
from tests.builders import fatigue_league, write_config
from tests.servers import BIN, free_port, process, quiet_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

POLL_S = 0.5


@pytest.fixture
def served(
    sim_config: Callable[..., GamelineConfig], tmp_path: Path
) -> Iterator[tuple[GamelineConfig, httpx.Client]]:
    """A promoted champion and a batch predict run, then `gameline api` on a free port."""
    config = fatigue_league(sim_config)
    feature_store_flow(config)  # the online store the API reads
    train_flow(config)
    assert gate_flow(config).applied == "promoted"
    predict_flow(config)
    port = free_port()
    command = [
        str(BIN / "gameline"), "api", "--config", str(write_config(config, tmp_path / "c.yaml")),
        "--port", str(port), "--poll", str(POLL_S),
    ]  # fmt: skip
    log = tmp_path / "api.log"
    with (
        process(command, quiet_env(), log),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield config, client


def request_of(row: Any) -> dict[str, Any]:
    return {
        "home": row.home_team,
        "away": row.away_team,
        "start_time": pd.Timestamp(row.start_time).isoformat(),
    }


@pytest.mark.slow(seconds=25)
def test_the_api_scores_as_batch_predict_and_says_what_is_wrong(
    served: tuple[GamelineConfig, httpx.Client],
) -> None:
    config, client = served
    batch = latest_predictions(read_predictions(state_paths(config).predictions))
    assert len(batch) > 0

    # Scored on request: the probability batch predict served for the same game.
    upcoming = {g["game_id"]: g for g in client.get("/v1/games/upcoming").json()}
    assert set(upcoming) == set(batch["game_id"])
    for row in batch.itertuples():
        assert upcoming[row.game_id]["p_home"] == pytest.approx(row.p_champion, abs=1e-12)
    first = batch.iloc[0]
    one = client.post("/v1/predict", json=request_of(first)).json()
    assert one["stored_game"] and one["game_id"] == first["game_id"]
    assert one["p_home"] == pytest.approx(first["p_champion"], abs=1e-12)
    assert one["champion_version"] == "1" and one["feature_source"] == "online"
    assert one["features_age_hours"] is not None and one["features_age_hours"] >= 0
    many = client.post("/v1/predict/batch", json=[request_of(r) for r in batch.itertuples()])
    assert [g["game_id"] for g in many.json()] == list(batch["game_id"])

    # A game the schedule does not hold: scored from the same states, its own context.
    later = {**request_of(first), "start_time": "2027-01-05T00:30:00+00:00"}
    new = client.post("/v1/predict", json=later).json()
    assert not new["stored_game"] and 0 < new["p_home"] < 1

    # Bad requests: one clear status and message each.
    unknown = client.post("/v1/predict", json={**request_of(first), "home": "T1"})
    assert unknown.status_code == 404 and "unknown team 'T1'; closest known: T1" in unknown.text
    naive = client.post("/v1/predict", json={**request_of(first), "start_time": "2026-11-24"})
    assert naive.status_code == 422 and "timezone" in naive.text
    itself = client.post("/v1/predict", json={**request_of(first), "away": first["home_team"]})
    assert itself.status_code == 422 and "cannot play itself" in itself.text

    # The read side.
    models = client.get("/v1/models").json()
    assert models["champion"]["version"] == "1" and models["challenger"] is None
    assert models["gate_decisions"][0]["promote"] is True
    assert client.get("/v1/models/99").status_code == 404
    team = str(first["home_team"])
    mine = client.get("/v1/predictions", params={"team": team}).json()
    assert mine and all(team in (p["home_team"], p["away_team"]) for p in mine)
    assert client.get("/v1/predictions", params={"from": "2099-01-01"}).json() == []
    assert client.get("/v1/alerts").json() == []
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["failing"] == []
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/v1/predict", "/health"}
    docs = client.get("/docs").text  # Swagger UI's files from the package, not a CDN
    assert "cdn." not in docs and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200

    # An alias move (a promotion) is served within the poll interval, whole.
    train_flow(config)  # v2, the challenger: scored in shadow once the API has looked
    Registry.from_config(config).set_alias(CHAMPION, "2")
    deadline = time.monotonic() + 10 * POLL_S + 5
    while client.get("/ready").json()["champion_version"] != "2":
        assert time.monotonic() < deadline, "the API did not serve the new champion"
        time.sleep(POLL_S / 2)
    swapped = client.post("/v1/predict", json=request_of(first)).json()
    assert swapped["champion_version"] == "2"
