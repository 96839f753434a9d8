"""MLflow tracking: a real `mlflow server`, the embedded SQLite store, failures, secrets.

Two tiny 2-iteration training runs are shared by the module (and by the report test at the
end): ``tiny_seed0`` logs to a real ``mlflow server`` on 127.0.0.1, ``tiny_seed1`` to the
embedded store in its run folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from t2po.config import config_from_dict
from t2po.telemetry.loggers import JsonlLogger, MultiLogger, make_logger
from t2po.telemetry.mlflow_logger import (
    RUN_FILE,
    MlflowLogger,
    embedded_tracking_uri,
    flatten_params,
    is_secret_key,
    redact_secrets,
)
from t2po.telemetry.report import write_report

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

ITERATIONS = 2
TRANSCRIPTS_PER_ITER = 3


# ---------------------------------------------------------------------- fixtures


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real tracking server (SQLite backend, local artifacts), always stopped."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: uvicorn and the job runner go too
        # No background job runner (huey workers): not needed for tracking, and it triples
        # start-up time on a small machine.
        env={**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 120 s")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


# Credentials planted in the embedded run's config (issue 17): a token in the endpoint's
# user-info and query string, and a `Bearer` header in extra_body. No file the run writes may
# hold them, mlflow.db included.
PLANTED = ("pw-Planted-11", "QueryPlanted22", "BearerPlanted33xyz")
PLANTED_API = {
    "base_url": f"https://alice:{PLANTED[0]}@api.example.com/v1?api_key={PLANTED[1]}",
    "extra_body": {"authorization": f"Bearer {PLANTED[2]}", "headers": f"Bearer {PLANTED[2]}"},
}


def tiny_config(
    run_dir: Path, seed: int, loggers: list[str], api: dict[str, Any] | None = None
) -> Any:
    return config_from_dict(
        {
            "seed": seed,
            "run_dir": str(run_dir),
            "model": {"path": "tiny"},
            "env": {"family": "sokoban", "max_turns": 3},
            "rollout": {"tasks_per_iter": 2, "group_size": 2, "max_new_tokens": 16},
            "optim": {"lr": 1e-3, "mini_batch_size": 8, "micro_batch_size": 4},
            "train": {"iterations": ITERATIONS, "eval_every": 0, "eval_tasks": 2},
            "log": {
                "loggers": loggers,
                "transcripts_per_iter": TRANSCRIPTS_PER_ITER,
                "progress": False,
            },
            "api": api or {},
        }
    )


def train(
    run_dir: Path, seed: int, loggers: list[str], api: dict[str, Any] | None = None
) -> list[dict[str, float]]:
    from t2po.train.trainer import Trainer

    return Trainer(tiny_config(run_dir, seed, loggers, api)).fit()


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def server_run(mlflow_server: str, runs_root: Path) -> Path:
    run = runs_root / "tiny_seed0"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        train(run, 0, ["jsonl", "mlflow"])
    return run


@pytest.fixture(scope="module")
def embedded_run(runs_root: Path) -> Path:
    run = runs_root / "tiny_seed1"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        train(run, 1, ["jsonl", "mlflow"], api=PLANTED_API)
    return run


def run_info(run_dir: Path) -> dict[str, str]:
    return dict(json.loads((run_dir / RUN_FILE).read_text()))


def metric_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------- fast: no MLflow store


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("eval.api_key", True),
        ("api.api_key_env", True),
        ("hf_token", True),
        ("auth.authtoken", True),
        ("client-secret", True),
        ("db.password", True),
        ("rollout.max_new_tokens", False),
        ("train.keep_checkpoints", False),
        ("tti.l_max", False),
        ("algo.kl_estimator", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_flatten_params_drops_secrets_and_encodes_values() -> None:
    config = {
        "seed": 3,
        "rollout": {"max_new_tokens": 16, "temperature": 0.7},
        "log": {"loggers": ["jsonl", "mlflow"]},
        "api": {"api_key": "sk-live-123", "base_url": "http://x"},
        "credentials": {"user": "me"},
    }
    assert flatten_params(config) == {
        "seed": "3",
        "rollout.max_new_tokens": "16",
        "rollout.temperature": "0.7",
        "log.loggers": '["jsonl", "mlflow"]',
        "api.base_url": "http://x",
    }


def test_redact_secrets_keeps_shape() -> None:
    config = {"api": {"api_key": "sk-1", "model": "m"}, "hf_token": "hf_1", "seed": 0}
    assert redact_secrets(config) == {
        "api": {"api_key": "<redacted>", "model": "m"},
        "hf_token": "<redacted>",
        "seed": 0,
    }
    assert config["api"] == {"api_key": "sk-1", "model": "m"}  # the input is not changed


def test_tracking_uri_credentials_stay_out_of_warnings_and_files(tmp_path: Path) -> None:
    uri = f"http://bob:{PLANTED[0]}@127.0.0.1:{free_port()}"
    with pytest.warns(RuntimeWarning, match="MLflow tracking is off") as caught:
        logger = MlflowLogger(tmp_path, tracking_uri=uri)
    assert not logger.active
    assert PLANTED[0] not in str(caught[0].message) and "<redacted>@127.0.0.1" in str(
        caught[0].message
    )
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and PLANTED[0] in p.read_text()]


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an absent package looks like
    with pytest.raises(ImportError, match=r'pip install -e "\.\[mlflow\]"'):
        make_logger("mlflow", tmp_path)


# ---------------------------------------------------------------------- a real server


def search_traces(client: MlflowClient, info: dict[str, str]) -> list[Any]:
    return list(client.search_traces(locations=[info["experiment_id"]], run_id=info["run_id"]))


@pytest.mark.slow
def test_server_receives_params_metrics_and_traces(mlflow_server: str, server_run: Path) -> None:
    info = run_info(server_run)
    assert info["tracking_uri"] == mlflow_server
    assert not (server_run / "mlflow.db").exists()  # nothing embedded when a server is set

    # Parameters and tags through the REST API, as any client sees them.
    url = f"{mlflow_server}/api/2.0/mlflow/runs/get?run_id={info['run_id']}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        run = json.loads(reply.read())["run"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["seed"] == "0"
    assert params["rollout.max_new_tokens"] == "16"
    assert params["log.loggers"] == '["jsonl", "mlflow"]'
    assert not [k for k in params if is_secret_key(k)]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.runName"] == "tiny_seed0"
    assert tags["t2po.final_checkpoint"].endswith(f"checkpoints/iter_{ITERATIONS:06d}")
    assert Path(tags["t2po.final_checkpoint"]).is_dir()
    assert run["info"]["status"] == "FINISHED"

    # Every per-iteration value in metrics.jsonl reached the server at its step.
    client = MlflowClient(tracking_uri=mlflow_server)
    rows = [r for r in metric_rows(server_run) if "rollout/success" in r]
    history = client.get_metric_history(info["run_id"], "rollout/success")
    assert sorted((m.step, m.value) for m in history) == [
        (r["step"], r["rollout/success"]) for r in rows
    ]
    assert {m.step for m in client.get_metric_history(info["run_id"], "val/success")} == {
        0,
        ITERATIONS,
    }

    artifacts = {a.path for a in client.list_artifacts(info["run_id"])}
    assert {"config.yaml", "metrics.jsonl", "transcripts.jsonl"} <= artifacts

    # One trace per transcribed training episode, one span per turn, same content.
    traces = search_traces(client, info)
    assert len(traces) == ITERATIONS * TRANSCRIPTS_PER_ITER
    assert sorted(int(t.info.tags["t2po.iteration"]) for t in traces) == sorted(
        list(range(1, ITERATIONS + 1)) * TRANSCRIPTS_PER_ITER
    )
    episodes = [
        json.loads(x)
        for x in (server_run / "transcripts.jsonl").read_text().splitlines()
        if json.loads(x)["split"] == "train"
    ]
    by_key = {(e["iteration"], e["task_id"], e["group"], e["member"]): e for e in episodes}
    for trace in traces:
        spans = trace.data.spans
        root = next(s for s in spans if s.parent_id is None)
        key = (root.inputs["iteration"], root.inputs["task_id"])
        episode = by_key[(*key, root.inputs["group"], root.inputs["member"])]
        assert trace.info.tags["t2po.won"] == str(episode["won"]).lower()
        turns = sorted(
            (s for s in spans if s.parent_id == root.span_id),
            key=lambda s: int(s.get_attribute("turn")),
        )
        assert len(turns) == episode["n_turns"]
        for span, turn in zip(turns, episode["turns"], strict=True):
            assert span.inputs["prompt"] == turn["prompt"]
            assert span.outputs["response"] == turn["response"]
            assert span.outputs["action"] == turn["action"]
            for attribute in ("reward", "phi", "tti_fired_at", "tds_resamples"):
                assert span.get_attribute(attribute) == turn[attribute]


# ---------------------------------------------------------------------- embedded default


@pytest.mark.slow
def test_embedded_store_in_run_folder(embedded_run: Path) -> None:
    info = run_info(embedded_run)
    assert info["tracking_uri"] == embedded_tracking_uri(embedded_run)
    assert (embedded_run / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=info["tracking_uri"])
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "1"
    last = metric_rows(embedded_run)[-1]
    assert run.data.metrics["rollout/success"] == pytest.approx(last["rollout/success"])
    # Artifacts live under the run folder, not in ./mlruns of the working directory.
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(
        embedded_run.resolve()
    )
    assert (Path(run.info.artifact_uri.removeprefix("file://")) / "config.yaml").is_file()
    assert len(search_traces(client, info)) == ITERATIONS * TRANSCRIPTS_PER_ITER
    # The logger handed the process-wide tracking URI back.
    assert "MLFLOW_TRACKING_URI" not in os.environ


@pytest.mark.slow
def test_no_secret_reaches_the_store(embedded_run: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((embedded_run / "config.yaml").read_text())
    config["api"] = {"api_key": "sk-test-abc123", "base_url": "http://127.0.0.1:1"}
    config["hf_token"] = "hf_secretvalue"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    store = embedded_tracking_uri(embedded_run)
    logger = MlflowLogger(tmp_path, tracking_uri=store)
    logger.close()
    run = MlflowClient(tracking_uri=store).get_run(logger.run_id)
    assert run.data.params["api.base_url"] == "http://127.0.0.1:1"
    assert run.data.params["rollout.max_new_tokens"] == "16"
    client = MlflowClient(tracking_uri=store)
    download = tmp_path / "download"
    download.mkdir()
    config_artifact = Path(client.download_artifacts(logger.run_id, "config.yaml", str(download)))
    assert config_artifact.parent == download
    for logged in (json.dumps(run.data.params), config_artifact.read_text()):
        assert "sk-test-abc123" not in logged and "hf_secretvalue" not in logged
    assert yaml.safe_load(config_artifact.read_text())["api"]["base_url"] == "http://127.0.0.1:1"


@pytest.mark.slow
def test_no_planted_secret_in_any_file_the_run_wrote(embedded_run: Path) -> None:
    files = [p for p in embedded_run.rglob("*") if p.is_file()]
    assert {"config.yaml", "mlflow.db", "transcripts.jsonl"} <= {p.name for p in files}
    leaks = [(p, s) for p in files for s in PLANTED if s.encode() in p.read_bytes()]
    assert not leaks
    # What remains is still useful: the endpoint's host, the header's name.
    run = MlflowClient(tracking_uri=embedded_tracking_uri(embedded_run)).get_run(
        run_info(embedded_run)["run_id"]
    )
    assert run.data.params["api.base_url"] == (
        "https://<redacted>@api.example.com/v1?api_key=<redacted>"
    )
    assert run.data.params["api.extra_body.headers"] == "Bearer <redacted>"
    assert "api.extra_body.authorization" not in run.data.params


@pytest.mark.slow
def test_resumed_run_continues_its_mlflow_run(
    mlflow_server: str, embedded_run: Path, tmp_path: Path
) -> None:
    store = embedded_tracking_uri(embedded_run)
    first = MlflowLogger(tmp_path, tracking_uri=store)
    first.log(1, {"rollout/success": 0.25})
    first.close()
    again = MlflowLogger(tmp_path, tracking_uri=store)  # as after `train.resume`
    assert again.run_id == first.run_id
    again.log(2, {"rollout/success": 0.5})
    again.close()
    history = MlflowClient(tracking_uri=store).get_metric_history(first.run_id, "rollout/success")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.25), (2, 0.5)]
    # The same folder logged to another store starts a run there.
    elsewhere = MlflowLogger(tmp_path, tracking_uri=mlflow_server)
    elsewhere.close()
    assert elsewhere.run_id and elsewhere.run_id != first.run_id
    assert run_info(tmp_path)["tracking_uri"] == mlflow_server


# ---------------------------------------------------------------------- image turns


def image_run(run_dir: Path) -> list[dict[str, Any]]:
    """Transcript records of 2 scripted Sokoban episodes played on pictures (PNGs written
    under ``run_dir/images``), as the trainer hands them to ``log_episodes``."""
    from conftest import default_rollout, default_sampling

    from t2po.envs.registry import get_family
    from t2po.inference.scripted import ScriptedSampler
    from t2po.rollout.engine import Task, rollout
    from t2po.telemetry.transcripts import TranscriptWriter

    groups = rollout(
        ScriptedSampler(["<think>go</think><action>up</action>", "no tags"]),
        get_family("sokoban"),
        [Task("t", 2)],
        2,
        default_sampling(),
        default_rollout(max_turns=2, env_kwargs={"obs_mode": "image", "cell_size": 6}),
    )
    writer = TranscriptWriter(run_dir / "transcripts.jsonl")
    records = writer.records(1, groups)
    writer.write_records(records)
    return records


def turn_spans(trace: Any) -> list[Any]:
    root = next(s for s in trace.data.spans if s.parent_id is None)
    children = (s for s in trace.data.spans if s.parent_id == root.span_id)
    return sorted(children, key=lambda s: int(s.get_attribute("turn")))


def attachment_id(reference: str) -> str:
    from mlflow.tracing.attachments import Attachment

    parsed = Attachment.parse_ref(reference)
    assert parsed is not None and parsed["content_type"] == "image/png", reference
    return str(parsed["attachment_id"])


@pytest.mark.slow
def test_image_turns_attach_their_png_to_the_span_on_a_server(
    mlflow_server: str, tmp_path: Path
) -> None:
    records = image_run(tmp_path)
    logger = MlflowLogger(tmp_path, tracking_uri=mlflow_server)
    logger.log_episodes(1, records)
    logger.close()
    client = MlflowClient(tracking_uri=mlflow_server)
    traces = search_traces(client, run_info(tmp_path))
    assert len(traces) == len(records) == 2
    by_member = {r["member"]: r for r in records}
    for trace in traces:
        root = next(s for s in trace.data.spans if s.parent_id is None)
        record = by_member[root.inputs["member"]]
        spans = turn_spans(trace)
        assert len(spans) == len(record["turns"]) == 2
        for span, turn in zip(spans, record["turns"], strict=True):
            assert span.get_attribute("image_path") == turn["image"]
            # The bytes behind the span's reference, fetched as MLflow's trace view does.
            query = urllib.parse.urlencode(
                {"request_id": trace.info.trace_id, "path": attachment_id(span.inputs["image"])}
            )
            url = f"{mlflow_server}/ajax-api/2.0/mlflow/get-trace-artifact?{query}"
            with urllib.request.urlopen(url, timeout=10) as reply:
                assert reply.read() == (tmp_path / turn["image"]).read_bytes()
    # The run's artifacts keep transcripts.jsonl's pictures under the paths it names.
    pictures = {a.path for a in client.list_artifacts(logger.run_id, "images")}
    assert pictures == {t["image"] for r in records for t in r["turns"]}


@pytest.mark.slow
def test_image_turns_attach_their_png_in_the_embedded_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    records = image_run(tmp_path)
    logger = MlflowLogger(tmp_path)  # the embedded default: the run folder's store
    (tmp_path / records[0]["turns"][1]["image"]).unlink()  # a transcript without its picture
    logger.log_episodes(1, records)
    logger.close()
    client = MlflowClient(tracking_uri=embedded_tracking_uri(tmp_path))
    traces = search_traces(client, run_info(tmp_path))
    found = {}
    for trace in traces:
        # Attachments are artifacts of the trace, under its artifact location.
        location = trace.info.tags["mlflow.artifactLocation"].removeprefix("file://")
        assert Path(location).is_relative_to(tmp_path.resolve())  # in the run folder
        for span in turn_spans(trace):
            image = span.inputs.get("image")
            saved = None if image is None else Path(location, "attachments", attachment_id(image))
            found[span.get_attribute("image_path")] = None if saved is None else saved.read_bytes()
    missing = records[0]["turns"][1]["image"]
    assert found.pop(missing) is None  # the span stays, without a picture
    assert len(found) == 3
    assert all(data == (tmp_path / path).read_bytes() for path, data in found.items())


# ---------------------------------------------------------------------- failures


@pytest.mark.slow
def test_unreachable_server_warns_and_training_finishes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    run = tmp_path / "run"
    with pytest.warns(RuntimeWarning, match="MLflow tracking is off"):
        history = train(run, 2, ["jsonl", "mlflow"])
    assert len(history) == ITERATIONS
    assert [r["step"] for r in metric_rows(run)] == list(range(ITERATIONS + 1))
    assert not (run / RUN_FILE).exists()


@pytest.mark.slow
def test_failure_mid_run_is_warned_and_jsonl_kept(embedded_run: Path, tmp_path: Path) -> None:
    store = embedded_tracking_uri(embedded_run)
    tracker = MlflowLogger(tmp_path, tracking_uri=store)
    assert tracker.active
    loggers = MultiLogger([JsonlLogger(tmp_path / "metrics.jsonl"), tracker])
    loggers.log(1, {"rollout/success": 0.5})
    # The tracking store rejects a deleted run: every later call to it fails.
    MlflowClient(tracking_uri=store).delete_run(tracker.run_id)
    with pytest.warns(RuntimeWarning, match="MlflowLogger failed in log"):
        loggers.log(2, {"rollout/success": 0.75})
    episode = {"task_id": "t", "iteration": 2, "split": "train", "won": True, "turns": []}
    loggers.log_episodes(2, [episode])  # after a warning, failures are silent, never raised
    loggers.log(3, {"rollout/success": 1.0})
    loggers.close()
    rows = metric_rows(tmp_path)
    assert [(r["step"], r["rollout/success"]) for r in rows] == [(1, 0.5), (2, 0.75), (3, 1.0)]


# ---------------------------------------------------------------------- t2po report


@pytest.mark.slow
def test_report_on_two_tiny_runs(server_run: Path, embedded_run: Path, tmp_path: Path) -> None:
    from t2po.cli import main

    out = tmp_path / "report"
    assert main(["report", str(server_run), str(embedded_run), "--out", str(out)]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "success_vs_iterations.png" in pngs and "success_vs_env_steps.png" in pngs
    assert all((out / p).read_bytes().startswith(b"\x89PNG") for p in pngs)
    summary = (out / "summary.md").read_text()
    # The two seeds form one label.
    assert "| tiny | 2 |" in summary and "tiny_seed0, tiny_seed1" in summary
    # Cumulative env steps: the sum of per-iteration env steps, averaged over the seeds.
    totals = [
        sum(r.get("rollout/env_steps", 0) for r in metric_rows(d))
        for d in (server_run, embedded_run)
    ]
    assert f"{sum(totals) / 2:.0f} ± {abs(totals[0] - totals[1]) / 2:.0f}" in summary
    assert "actor/kl" in summary  # kl_coef is 0: noted as not logged, not an error
    page = (out / "summary.html").read_text()
    assert all(f"src='{p}'" in page for p in pngs)
    assert write_report([server_run], tmp_path / "single") == tmp_path / "single"
