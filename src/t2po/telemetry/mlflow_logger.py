"""MLflow tracking: a run's parameters, metrics, config, checkpoint and rollout traces.

:class:`MlflowLogger` is the ``mlflow`` entry of ``log.loggers``. For one training run it
records

- **parameters**: the run folder's ``config.yaml`` flattened to dotted keys
  (``rollout.temperature``), without any key that looks like a credential
  (:func:`is_secret_key`) and with credentials inside values (a token in a URL, a
  ``Bearer …`` string) redacted; the file itself as an artifact, through the same filter
  (:mod:`t2po.telemetry.redact`);
- **metrics**: every ``log(step, metrics)`` call, under the same names as ``metrics.jsonl``;
- **traces**: the episodes the trainer hands to ``log_episodes`` (the transcript records,
  redacted likewise; one MLflow trace per episode, one span per turn, an image turn's PNG
  attached to its span; see :mod:`t2po.telemetry.rollout_traces`);
- **artifacts** at the end: ``metrics.jsonl`` and ``transcripts.jsonl``
  (every episode written, validation included: the part traces do not cover) with the
  ``images/`` folder its image turns point into, and the tag ``t2po.final_checkpoint`` with
  the newest checkpoint's folder.

Where it goes: ``MLFLOW_TRACKING_URI`` when set (a server, ``http://host:5000``), otherwise
an embedded SQLite store in the run folder (``sqlite:///RUN/mlflow.db``, artifacts in
``RUN/mlartifacts``), which ``mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db`` shows.
The experiment is ``MLFLOW_EXPERIMENT_NAME`` or ``t2po``; the MLflow run is named after the
run folder, and a resumed training run continues the same MLflow run (``RUN/mlflow_run.json``).

Tracking never kills training: an unreachable server or a broken store at start-up is
warned about and the logger turns itself off (the JSONL keeps everything); a failure later
raises out of ``log``/``log_episodes``, which :class:`~t2po.telemetry.loggers.MultiLogger`
catches and warns about once. Trace *export* runs in MLflow's background queue, whose
failures MLflow itself logs and swallows. Two process-wide side effects: the logger sets
MLflow's tracking URI while the run is open and restores it on ``close`` (MLflow's tracer
exports to that URI, not to a client's), and it caps MLflow's HTTP retries at
:data:`DEFAULT_HTTP_RETRIES` unless ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` is set, so a server
that went away stalls an iteration for seconds rather than MLflow's default four minutes.

How many episodes are traced per iteration follows ``log.transcripts_per_iter`` (the trainer
hands over the episodes it writes to ``transcripts.jsonl``; 0 means no traces).
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from t2po.telemetry.redact import is_secret_key, redact, redact_text
from t2po.telemetry.rollout_traces import log_episode_trace
from t2po.telemetry.transcripts import IMAGES_DIR

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_HTTP_RETRIES",
    "MlflowLogger",
    "embedded_tracking_uri",
    "flatten_params",
    "is_secret_key",
    "redact_secrets",
]

DEFAULT_EXPERIMENT = "t2po"
DEFAULT_HTTP_RETRIES = 2
RUN_FILE = "mlflow_run.json"
"""Remembers the MLflow run of a run folder, so a resumed training continues it."""

# MLflow's limits (mlflow/utils/validation.py): params per batch, metrics per batch, param
# value length.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_MAX_PARAM_VALUE = 6000


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as err:
        raise ImportError(
            "the `mlflow` logger needs the optional MLflow dependency: "
            'pip install -e ".[mlflow]" (or drop `mlflow` from log.loggers)'
        ) from err
    return mlflow


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``{"section.field": "value"}``, credential-like keys left out.

    Lists and other non-scalars are written as JSON; values are cut to MLflow's limit.
    A secret-looking section (``api_keys: {...}``) is dropped whole; credentials inside
    the values that stay (``https://user:token@host``) are redacted.
    """
    flat: dict[str, str] = {}
    for name, value in config.items():
        key = f"{prefix}{name}"
        if is_secret_key(key):
            continue
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{key}."))
            continue
        value = redact(value, key)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        flat[key] = text[:_MAX_PARAM_VALUE]
    return flat


def redact_secrets(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a nested config without credentials (:func:`t2po.telemetry.redact.redact`):
    text under credential-like keys reads ``<redacted>``, tokens inside values likewise."""
    return dict(redact(config))


def embedded_tracking_uri(run_dir: str | os.PathLike[str]) -> str:
    """The SQLite store inside a run folder: ``sqlite:////abs/run/mlflow.db``."""
    return f"sqlite:///{Path(run_dir).resolve() / 'mlflow.db'}"


def _check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast on an HTTP tracking server nobody answers at (any HTTP reply is fine)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        pass  # it answered: auth or a proxy without /health, the client will tell
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(f"no MLflow tracking server answers at {uri}: {err}") from err


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MlflowLogger:
    """Logs one training run to MLflow (see the module docstring for what and where).

    ``tracking_uri`` overrides ``MLFLOW_TRACKING_URI`` and the embedded default;
    ``experiment`` overrides ``MLFLOW_EXPERIMENT_NAME``; ``run_name`` defaults to the run
    folder's name.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
    ) -> None:
        self.mlflow = _import_mlflow()  # a missing extra is a user error: say so and stop
        self.run_dir = Path(run_dir)
        self.embedded = not (tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
        self.tracking_uri = (
            tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or embedded_tracking_uri(self.run_dir)
        )
        self.experiment_name = (
            experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        )
        self.run_name = run_name or self.run_dir.resolve().name
        self.client: MlflowClient | None = None
        self.experiment_id = ""
        self.run_id = ""
        self._previous_uri = os.environ.get("MLFLOW_TRACKING_URI")
        try:
            self._start()
        except Exception as err:  # tracking must never stop training from starting
            self.client = None
            self._restore_tracking_uri()
            warnings.warn(
                redact_text(
                    f"MLflow tracking is off for this run ({type(err).__name__}: {err}); "
                    f"metrics still go to the other loggers (metrics.jsonl). "
                    f"Tracking URI: {self.tracking_uri}"
                ),
                RuntimeWarning,
                stacklevel=2,
            )

    # ------------------------------------------------------------------ start-up

    def _start(self) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(DEFAULT_HTTP_RETRIES))
        _check_reachable(self.tracking_uri)
        # The tracer exports traces to the process-wide URI, not to a client's.
        self.mlflow.set_tracking_uri(self.tracking_uri)
        client = self.mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        self.experiment_id = self._experiment(client)
        resumed = self._resumable_run(client)
        if resumed:
            self.run_id = resumed
            client.update_run(resumed, status="RUNNING")
        else:
            run = client.create_run(
                self.experiment_id,
                run_name=self.run_name,
                tags={"t2po.run_dir": str(self.run_dir.resolve())},
            )
            self.run_id = run.info.run_id
            self._log_params(client)
        (self.run_dir / RUN_FILE).write_text(
            json.dumps(
                {
                    # A server URI may carry user-info; the file keeps only the redacted form,
                    # which is also what a resume compares.
                    "tracking_uri": redact_text(self.tracking_uri),
                    "experiment_id": self.experiment_id,
                    "run_id": self.run_id,
                }
            )
        )
        self.client = client

    def _experiment(self, client: MlflowClient) -> str:
        found = client.get_experiment_by_name(self.experiment_name)
        if found is not None:
            return str(found.experiment_id)
        # Embedded: keep artifacts in the run folder (MLflow's default is ./mlruns of the cwd).
        location = (self.run_dir.resolve() / "mlartifacts").as_uri() if self.embedded else None
        return str(client.create_experiment(self.experiment_name, artifact_location=location))

    def _resumable_run(self, client: MlflowClient) -> str | None:
        """The MLflow run this folder logged to before, if it is on the same store."""
        path = self.run_dir / RUN_FILE
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text())
            if saved.get("tracking_uri") != redact_text(self.tracking_uri):
                return None
            run = client.get_run(str(saved["run_id"]))
        except Exception:  # unreadable file or a run that no longer exists: start afresh
            return None
        return None if run.info.lifecycle_stage == "deleted" else str(run.info.run_id)

    def _log_params(self, client: MlflowClient) -> None:
        from mlflow.entities import Param

        config_path = self.run_dir / "config.yaml"
        if not config_path.is_file():
            return
        config = yaml.safe_load(config_path.read_text()) or {}
        params = [Param(k, v) for k, v in flatten_params(config).items()]
        for chunk in _chunks(params, _PARAMS_PER_BATCH):
            client.log_batch(self.run_id, params=list(chunk))
        # The config file as an artifact, with the same keys kept out as from the params.
        client.log_text(
            self.run_id,
            yaml.safe_dump(redact_secrets(config), sort_keys=False),
            "config.yaml",
        )

    # ------------------------------------------------------------------ the logger contract

    @property
    def active(self) -> bool:
        """Whether tracking works for this run (False after a start-up failure)."""
        return self.client is not None

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        rows = []
        for key, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # MLflow metrics are numbers; the JSONL keeps anything else
            # NaN/inf are left out here too (the JSONL keeps them as the signal of a break).
            number = float(value)
            if math.isfinite(number):
                rows.append(Metric(key, number, now_ms, int(step)))
        for chunk in _chunks(rows, _METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=list(chunk))

    def log_episodes(self, step: int, episodes: Sequence[Mapping[str, Any]]) -> None:
        """One trace per episode record (the transcript schema), linked to this run."""
        if self.client is None:
            return
        for episode in episodes:
            record = redact(episode)
            # Image paths are relative to transcripts.jsonl's folder, the run folder.
            log_episode_trace(
                self.client, self.experiment_id, self.run_id, step, record, self.run_dir
            )

    def close(self) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        try:
            self.mlflow.flush_trace_async_logging()
            checkpoint = self._final_checkpoint()
            if checkpoint is not None:
                client.set_tag(self.run_id, "t2po.final_checkpoint", str(checkpoint.resolve()))
            for name in ("metrics.jsonl", "transcripts.jsonl"):
                if (self.run_dir / name).is_file():
                    client.log_artifact(self.run_id, str(self.run_dir / name))
            # The PNGs transcripts.jsonl's image turns point to, under the same relative path.
            images = self.run_dir / IMAGES_DIR
            if images.is_dir():
                client.log_artifacts(self.run_id, str(images), IMAGES_DIR)
            client.set_terminated(self.run_id, status="FINISHED")
        finally:
            self._restore_tracking_uri()

    def _restore_tracking_uri(self) -> None:
        # Hand the process-wide URI back (None unsets it), so a later run in this process
        # does not log into this run's store.
        self.mlflow.set_tracking_uri(self._previous_uri)

    def _final_checkpoint(self) -> Path | None:
        # The newest finished save (t2po.train.checkpoint's layout: iter_NNNNNN folders, a
        # manifest written last). Read here, not imported: telemetry sits below train.
        root = self.run_dir / "checkpoints"
        found = sorted(root.glob("iter_*/manifest.json")) if root.is_dir() else []
        return found[-1].parent if found else None
