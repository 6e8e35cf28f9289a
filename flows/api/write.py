"""The API's write side: a retrain or a rollback asked remotely starts a run of the config's
Prefect deployment (served by `gameline serve` or a worker), never the work in the API's
process. Each needs a token; who asked (the token's name) goes to the run's parameters and tags,
the audit log of the alias moves it makes, and the API's request log."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from gameline.flows.api.access import Access
from gameline.flows.deploy import StartedRun, run_state, start_run
from gameline.tasks.backends import BackendUnavailable
from gameline.tasks.config import GamelineConfig
from gameline.tasks.records import API_REQUESTS, records_for


class RetrainRequest(BaseModel):
    """A manual retrain: always trains a challenger, then the gate judges it."""

    reason: str = Field(default="requested over the API", min_length=1, max_length=500)


class RollbackRequest(BaseModel):
    """Point the champion back at `to` (default: the previous champion)."""

    to: str | None = Field(default=None, pattern=r"^[0-9]+$")
    reason: str = Field(default="rollback requested over the API", min_length=1, max_length=500)


class ApiRequest(BaseModel):
    """One line of the API's request log: who asked for which run, and why."""

    time: datetime
    requested_by: str
    action: str
    reason: str
    flow_run_id: str
    deployment: str


def write_router(config: GamelineConfig, access: Access) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["operations"])
    records = records_for(config)
    writer = Depends(access.writer)  # a default, not an annotation: it names a local

    def start(flow: str, parameters: dict[str, object], who: str, reason: str) -> StartedRun:
        tags = ["gameline", f"config:{config.name}", "via:api", f"requested-by:{who}"]
        try:
            run = start_run(flow, config, {**parameters, "requested_by": who}, tags)
        except BackendUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        except LookupError as exc:
            raise HTTPException(409, str(exc)) from exc
        entry = ApiRequest(
            time=datetime.now(UTC),
            requested_by=who,
            action=flow,
            reason=reason,
            flow_run_id=run.flow_run_id,
            deployment=run.deployment,
        )
        records.append_line(API_REQUESTS, entry.model_dump_json())
        return run

    @router.post("/retrain", status_code=202)
    def retrain(body: RetrainRequest, who: str = writer) -> StartedRun:
        """Start a manual retrain (the `retrain` deployment): a challenger is trained and
        gated; returns the flow run and its link in the Prefect UI."""
        return start("retrain", {"trigger": "manual", "reason": body.reason}, who, body.reason)

    @router.post("/rollback", status_code=202)
    def rollback(body: RollbackRequest, who: str = writer) -> StartedRun:
        """Start a rollback (the `rollback` deployment): the champion goes back to the previous
        champion, or to `to`; written to the audit log with who asked."""
        return start("rollback", {"to": body.to, "reason": body.reason}, who, body.reason)

    @router.get("/runs/{flow_run_id}")
    def run(flow_run_id: str, _who: str = writer) -> StartedRun:
        """The state of a run started here (or any flow run of the server)."""
        try:
            return run_state(flow_run_id)
        except BackendUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        except (LookupError, ValueError) as exc:
            raise HTTPException(404, f"no flow run {flow_run_id!r}") from exc

    return router
