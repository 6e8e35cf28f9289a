"""The one adapter over MLflow: experiment runs (params, metrics, artifacts, the pyfunc) and
the model registry (versions, their tags, aliases, loading a version, the promotion lock).

Nothing else in Gameline imports mlflow (the registered pyfunc, `model.pyfunc`, is MLflow's
own "models from code" file). A flow builds one `Registry` per run and passes it in. MLflow's
fluent calls (a run, `log_model`, `load_model`) read a process-wide tracking URI; the adapter
sets it only around its own calls (`_active`), so two registries in one process do not mix.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gameline.tasks.backends import probe_tracking_store
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.records import PROMOTION, RecordStore, lock_key, records_for
from gameline.tasks.storage import store_lock

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


# Tags of every run: which host and process run it.
OWNER_HOST, OWNER_PID = "gameline.host", "gameline.pid"


def _alive(pid: int) -> bool:
    """Whether a process of this host exists (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


class RegistryError(RuntimeError):
    """The registry cannot give what was asked (no such model version)."""


def tracking_uri(config: GamelineConfig) -> str:
    """The configured tracking URI, else a SQLite store in the state folder."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    folder = state_paths(config).mlflow.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


# A tracking server that stops answering mid-run: a few retries, then a clear failure (MLflow's
# defaults: 7 retries with backoff and a 120 s timeout per request). The environment wins.
MLFLOW_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def requirement_mismatches(path: Path) -> list[str]:
    """The pinned requirements of a logged model (its requirements.txt) that this environment
    does not meet: `name (installed: X, model: spec)` each."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    from packaging.requirements import InvalidRequirement, Requirement

    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            requirement = Requirement(line.strip())
        except InvalidRequirement:  # blank, a comment, an option, a path
            continue
        if requirement.marker and not requirement.marker.evaluate():
            continue
        try:
            have: str | None = installed_version(requirement.name)
        except PackageNotFoundError:
            have = None
        if have is None or not requirement.specifier.contains(have, prereleases=True):
            found.append(f"{requirement.name} (installed: {have or 'none'}, model: {requirement})")
    return found


class Registry:
    """MLflow tracking and registry for one model of one config."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        experiment: str,
        artifact_location: str | None,
        lock_path: Path,
        shared_lock: RecordStore | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.experiment = experiment
        self.artifact_location = artifact_location
        self.lock_path = lock_path
        self.shared_lock = shared_lock
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._loaded: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: GamelineConfig) -> Registry:
        """The registry of a config: its tracking URI, model and experiment names. Artifacts go
        where the config says, else to a tracking server's own artifact store (it serves them
        to every client), else under the state folder."""
        paths = state_paths(config)
        uri = tracking_uri(config)
        local = None if uri.startswith(("http://", "https://")) else paths.mlflow / "artifacts"
        return cls(
            tracking_uri=uri,
            model_name=config.mlflow.model_name or f"gameline-{config.name}",
            experiment=config.mlflow.experiment or f"gameline-{config.name}",
            artifact_location=config.mlflow.artifact_location
            or (local.resolve().as_uri() if local else None),
            lock_path=paths.registry_lock,
            shared_lock=records_for(config) if config.records.url else None,
        )

    @property
    def client(self) -> MlflowClient:
        """One MlflowClient for this registry (built on first use)."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            # A store that is down fails here in seconds, naming it (MLflow's own retries on a
            # SQL store take about 100 s, on a tracking server about 2 min).
            probe_tracking_store(self.tracking_uri)
            for key, value in MLFLOW_HTTP_LIMITS.items():
                os.environ.setdefault(key, value)
            self._client = MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    @contextmanager
    def _active(self) -> Iterator[None]:
        """MLflow's fluent calls pointed at this registry, only for the block's duration."""
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri  # MLflow 3.17

        with _use_tracking_uri(self.tracking_uri):
            yield

    # --- registry ---------------------------------------------------------------------------

    def alias_version(self, alias: str) -> str | None:
        """The version an alias points at, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException:
            return None

    def version_tags(self, version: str) -> dict[str, str]:
        """A version's tags; RegistryError for an unknown version."""
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.client.get_model_version(self.model_name, version).tags)
        except MlflowException as error:
            raise RegistryError(f"{self.model_name} has no version {version}") from error

    def set_version_tags(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, value)

    def describe_version(self, version: str, description: str) -> None:
        """The text the registry's version page shows."""
        self.client.update_model_version(self.model_name, version, description=description)

    def set_alias(self, alias: str, version: str | None) -> None:
        """Point `alias` at `version` (None: remove the alias)."""
        if version is None:
            self.client.delete_registered_model_alias(self.model_name, alias)
        else:
            self.client.set_registered_model_alias(self.model_name, alias, version)

    def register_again(self, version: str) -> str:
        """A new version of the model logged for `version` (same run, same files); its
        number. MLflow resolves the logged model through the process-wide URI, hence
        `_active`."""
        source = self.client.get_model_version(self.model_name, version)
        with self._active():
            made = self.client.create_model_version(
                self.model_name, str(source.source), source.run_id
            )
        return str(made.version)

    def load_version(self, version: str) -> Any:
        """A registered version as its pyfunc (loaded once per registry)."""
        if version not in self._loaded:
            import mlflow

            with self._active():
                local = Path(
                    mlflow.artifacts.download_artifacts(f"models:/{self.model_name}/{version}")
                )
                # MLflow's own check of the model's requirements maps every installed
                # distribution to its modules first (about 2 s a process): the same check here.
                if mismatches := requirement_mismatches(local / "requirements.txt"):
                    logging.getLogger(__name__).warning(
                        "%s v%s was logged for other versions than installed here: %s",
                        self.model_name, version, "; ".join(mismatches),
                    )  # fmt: skip
                self._loaded[version] = mlflow.pyfunc.load_model(str(local), suppress_warnings=True)
        return self._loaded[version]

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise alias moves across every machine sharing the registry: the shared record
        store's lock when the config names one (whatever the tracking URI: a tracking server
        too), else a PostgreSQL advisory lock when the tracking store is on PostgreSQL, else a
        file lock in the state folder (one machine)."""
        if self.shared_lock is not None:
            with self.shared_lock.lock(PROMOTION):
                yield
            return
        if not self.tracking_uri.startswith("postgresql"):
            with store_lock(self.lock_path):
                yield
            return
        import psycopg

        url = self.tracking_uri.replace("postgresql+psycopg://", "postgresql://", 1)
        key = lock_key(self.model_name, PROMOTION)  # one lock per model, not per name prefix
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("select pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                db.execute("select pg_advisory_unlock(%s)", (key,))

    # --- tracking ---------------------------------------------------------------------------

    def experiment_id(self) -> str:
        """The experiment's id; created on first use with its artifact location."""
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            self._experiment_id = str(
                found.experiment_id
                if found is not None
                else self.client.create_experiment(
                    self.experiment,
                    artifact_location=self.artifact_location,
                    # The MLflow 3 UI then opens on its model-training pages, not GenAI's.
                    tags={"mlflow.experimentKind": "custom_model_development"},
                )
            )
        return self._experiment_id

    @contextmanager
    def run(self, name: str, nested: bool = False) -> Iterator[str]:
        """A run of the experiment (nested in the active one when `nested`); yields its id. It
        is tagged with the host and process that run it, so a run left RUNNING by a process
        that died can be told from one still going (`close_orphaned_runs`)."""
        import mlflow

        experiment_id = self.experiment_id()
        owner = {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid())}
        with (
            self._active(),
            mlflow.start_run(
                run_name=name, nested=nested, experiment_id=experiment_id, tags=owner
            ) as active,
        ):
            yield active.info.run_id

    def close_orphaned_runs(self) -> list[str]:
        """Mark FAILED the runs left RUNNING by a process of this host that no longer exists
        (a training killed mid-way), with a tag saying so; their ids. Runs of other hosts, or
        of a live process, are left alone."""
        runs = self.client.search_runs(
            [self.experiment_id()], filter_string="attributes.status = 'RUNNING'"
        )
        closed = []
        for run in runs:
            tags = run.data.tags
            if (
                tags.get(OWNER_HOST) != socket.gethostname()
                or not tags.get(OWNER_PID, "").isdigit()
            ):
                continue
            pid = int(tags[OWNER_PID])
            if pid == os.getpid() or _alive(pid):
                continue
            self.client.set_tag(
                run.info.run_id, "gameline.orphaned", f"process {pid} ended with the run open"
            )
            self.client.set_terminated(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
        return closed

    def versions(self) -> list[tuple[str, dict[str, str], list[str]]]:
        """Every version of the model: (number, tags, aliases)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{self.model_name}'")
        except MlflowException:
            return []
        return [(str(v.version), dict(v.tags), list(v.aliases or [])) for v in found]

    def log(
        self,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Params, metrics and tags of the active run."""
        import mlflow

        with self._active():
            if params:
                mlflow.log_params(params)
            if metrics:
                mlflow.log_metrics(metrics)
            if tags:
                mlflow.set_tags(tags)

    def log_file(self, path: Path) -> None:
        import mlflow

        with self._active():
            mlflow.log_artifact(str(path))

    def log_dataset(
        self,
        frame: pd.DataFrame,
        source: str,
        name: str,
        digest: str,
        target: str | None,
        context: str = "training",
    ) -> None:
        """The active run's training data as an MLflow dataset input (the runs table's Dataset
        column): its name, digest, source file and schema; the rows stay in the file."""
        import mlflow
        from mlflow.data.pandas_dataset import from_pandas

        with warnings.catch_warnings():  # MLflow 3.17 registers its local source class twice
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
            # Its schema inference warns about integer columns (game counts); they have none.
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            dataset = from_pandas(
                frame, source=Path(source).resolve().as_uri(), name=name, digest=digest,
                targets=target,
            )  # fmt: skip
        with self._active():
            mlflow.log_input(dataset, context=context)

    def log_figure(self, figure: Any, name: str) -> None:
        import mlflow

        with self._active():
            mlflow.log_figure(figure, name)

    def log_pyfunc(
        self,
        code: Path,
        artifacts: dict[str, str],
        example: pd.DataFrame,
        output: Any,
        pip_requirements: list[str],
        params: dict[str, Any] | None = None,
        optional: tuple[str, ...] = (),
    ) -> str:
        """Log a "models from code" pyfunc in the active run and register it; its version.
        `params`: the inference parameters it takes, with their defaults; `optional`: input
        columns a caller may leave out."""
        import mlflow
        from mlflow.models import infer_signature

        with self._active():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(code),
                artifacts=artifacts,
                signature=optional_inputs(
                    infer_signature(example, output, params=params), optional
                ),
                input_example=example.head(3),
                pip_requirements=pip_requirements,
                registered_model_name=self.model_name,
            )
        return str(info.registered_model_version)

    def search_runs(self) -> pd.DataFrame:
        """Every run of the experiment, newest first."""
        import mlflow

        with self._active():
            return mlflow.search_runs(
                experiment_ids=[self.experiment_id()], order_by=["attributes.start_time DESC"]
            )

    def run_data(self, run_id: str) -> Any:
        return self.client.get_run(run_id).data

    def download(self, run_id: str, artifact: str) -> Path:
        """A run's artifact, downloaded to a local temporary folder."""
        return Path(self.client.download_artifacts(run_id, artifact))


def optional_inputs(signature: Any, optional: tuple[str, ...]) -> Any:
    """The signature with the `optional` input columns marked not required."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = [
        ColSpec(c.type, c.name, required=False) if c.name in optional else c
        for c in signature.inputs.inputs
    ]
    return ModelSignature(Schema(columns), signature.outputs, signature.params)
