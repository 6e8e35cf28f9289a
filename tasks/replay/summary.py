"""What `gameline replay` reports: the served predictions scored by policy and season, where
the time went, the files written and the MLflow run; as tables or as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from gameline.tasks.config import GamelineConfig
from gameline.tasks.replay.engine import Policy
from gameline.tasks.replay.parallel import Progress
from gameline.tasks.replay.report import policy_table, season_table, time_table, write_report
from gameline.tasks.replay.run import ReplayResult, replay


@dataclass
class ReplaySummary:
    """A replay, its tables and files, and (once logged) its MLflow run."""

    result: ReplayResult
    policies: pd.DataFrame
    seasons: pd.DataFrame
    times: pd.DataFrame
    files: dict[str, Path]
    settings: dict[str, str]
    mlflow_run_id: str | None = None

    def log_to_mlflow(self, config: GamelineConfig) -> str:
        """Log the replay to the config's tracking store (`<experiment>-replay`)."""
        from gameline.tasks.replay.tracking import log_replay, replay_registry

        self.mlflow_run_id = log_replay(
            replay_registry(config),
            config,
            self.result,
            self.policies,
            list(self.files.values()),
            self.settings,
        )
        return self.mlflow_run_id

    def to_json(self) -> str:
        """The tables as records, the files, the settings and the MLflow run, as JSON."""
        records = {
            name: json.loads(table.to_json(orient="records", date_format="iso"))
            for name, table in (
                ("policies", self.policies),
                ("seasons", self.seasons),
                ("seconds", self.times),
            )
        }
        return json.dumps(
            {
                "start": self.result.start.isoformat(),
                "end": self.result.end.isoformat(),
                **records,
                "folder": str(self.result.folder),
                "files": {name: str(path) for name, path in self.files.items()},
                "settings": self.settings,
                "mlflow_run_id": self.mlflow_run_id,
            },
            indent=2,
        )


def replay_summary(
    config: GamelineConfig,
    start: date,
    end: date,
    policies: list[Policy],
    monitor_every_days: int | None,
    schedule_days: int,
    progress: Progress | None = None,
) -> ReplaySummary:
    """Replay the policies from `start` to `end`, write the report files, build the tables
    (`progress`: see `parallel.Progress`)."""
    result = replay(
        config, start, end, policies, monitor_every_days=monitor_every_days,
        schedule_days=schedule_days, progress=progress,
    )  # fmt: skip
    every = monitor_every_days or config.monitor.window_days
    return ReplaySummary(
        result=result,
        policies=policy_table(result),
        seasons=season_table(result),
        times=time_table(result),
        files=write_report(result),
        settings={
            "policies": ",".join(policies),
            "schedule_days": str(schedule_days),
            "monitor_every_days": str(every),
        },
    )
