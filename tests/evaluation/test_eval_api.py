"""``t2po eval`` of an API model: flaky endpoints, kills, dead endpoints, secrets, the CLI,
image families (each frame sent as a PNG data URL)."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Fault, ScriptedOpenAI
from PIL import Image

from t2po.cli import main
from t2po.config import Config, load_config
from t2po.envs.cards.render import numberline_shape
from t2po.envs.sokoban.render import image_shape
from t2po.evaluation import EvalAborted, run_suite
from t2po.settings import make_sampler
from t2po.telemetry.jsonl import read_jsonl

SECRET = "sk-t2po-test-5ecr3t-do-not-write"
KEY_ENV = "T2PO_EVAL_TEST_KEY"


def _overrides(url: str, *extra: str) -> list[str]:
    return [
        "model.sampler=api",
        f"api.base_url={url}",
        "api.model=scripted",
        f"api.api_key_env={KEY_ENV}",
        "api.backoff_base=0.01",
        "api.timeout=2.0",
        "api.max_concurrency=4",
        "api.prices={scripted: {input: 1.0, output: 4.0}}",
        "env.max_turns=3",
        "eval.episodes=4",
        "eval.batch_size=2",
        *extra,
    ]


def _cfg(url: str, *extra: str) -> Config:
    return load_config(None, _overrides(url, *extra))


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


def _quiet(_: str) -> None:
    pass


def _episodes(out: Path) -> list[dict]:
    return read_jsonl(out / "episodes.jsonl")


def _dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_flaky_endpoint_finishes_with_every_episode(
    scripted_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    scripted_openai.faults.extend(
        [Fault(429, {"Retry-After": "0.2"}), Fault(500), Fault(stall=2.5), Fault(503), Fault(500)]
    )
    cfg = _cfg(scripted_openai.url)
    result = run_suite(cfg, make_sampler(cfg), tmp_path, log=_quiet)
    episodes = _episodes(tmp_path)
    assert sorted(e["key"] for e in episodes) == [f"sokoban/-/{10_000_000 + i}" for i in range(4)]
    turns = sum(e["n_turns"] for e in episodes)
    assert len(scripted_openai.requests) == turns + 5  # one request per turn, plus 5 retries
    usage = result.summary["usage"]
    assert (usage["requests"], usage["retries"]) == (turns, 5)
    # Cost from the price table and the endpoint's usage counts.
    expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 4.0) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected) and expected > 0
    row = result.summary["rows"][0]
    assert row["tokens_per_episode"] == pytest.approx(usage["completion_tokens"] / 4)
    assert result.summary["token_signals"] is False and result.summary["tti_in_eval"] is False
    assert all(e["tokens"] is None for e in episodes)  # per episode: not available remotely
    assert "not available (remote model)" in (tmp_path / "summary.md").read_text()


def test_killed_eval_resumes_without_redoing_episodes(
    scripted_openai: ScriptedOpenAI, tmp_path: Path
) -> None:
    cfg = _cfg(scripted_openai.url, "api.retries=0", "eval.episodes=6")
    scripted_openai.fail_after = 8  # chunk 1 (2 episodes x 3 turns) passes, chunk 2 dies
    with pytest.raises(EvalAborted, match=r"(?s)HTTP 503.*2 finished episode"):
        run_suite(cfg, make_sampler(cfg), tmp_path, log=_quiet)
    first = _episodes(tmp_path)
    assert len(first) == 2

    scripted_openai.fail_after = None
    before = len(scripted_openai.requests)
    result = run_suite(cfg, make_sampler(cfg), tmp_path, log=_quiet)
    episodes = _episodes(tmp_path)
    assert episodes[:2] == first and len({e["key"] for e in episodes}) == len(episodes) == 6
    assert (result.played, result.resumed) == (4, 2)
    assert len(scripted_openai.requests) - before == sum(e["n_turns"] for e in episodes[2:])
    # The lost chunk's spending is on record, so the summary's cost includes it.
    lost = [u for u in read_jsonl(tmp_path / "usage.jsonl") if u["episodes"] == 0]
    assert len(lost) == 1 and lost[0]["requests"] >= 1


def test_no_api_key_in_any_file_the_run_writes(
    scripted_openai: ScriptedOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted_openai.fail_after = 6  # also exercise the error path's writing
    out = tmp_path / "run"
    args = ["eval", *_overrides(scripted_openai.url, "api.retries=0"), "--out", str(out)]
    assert main(args) == 1
    scripted_openai.fail_after = None
    assert main(args) == 0
    assert set(scripted_openai.auth_headers) == {f"Bearer {SECRET}"}  # the key was used ...
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"episodes.jsonl", "usage.jsonl", "suite.json", "summary.md"}
    for path in files:
        assert SECRET not in path.read_text(encoding="utf-8"), path  # ... and written nowhere
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "success" in captured.out and "cost $" in captured.out


def test_dead_endpoint_is_a_clear_error_and_keeps_finished_episodes(
    scripted_openai: ScriptedOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = ["eval", *_overrides(scripted_openai.url, "eval.episodes=2"), "--out", str(tmp_path)]
    assert main(good) == 0
    kept = _episodes(tmp_path)
    assert len(kept) == 2
    capsys.readouterr()

    dead = ["eval", *_overrides(_dead_url(), "api.retries=1"), "--out", str(tmp_path)]
    assert main(dead) == 1
    err = capsys.readouterr().err
    assert "is unreachable after 2 attempt(s)" in err and "rerun the same command" in err
    assert _episodes(tmp_path) == kept


def test_missing_key_is_a_user_error(
    scripted_openai: ScriptedOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(KEY_ENV)
    args = ["eval", *_overrides(scripted_openai.url), "--out", str(tmp_path)]
    assert main(args) == 2
    assert f"{KEY_ENV} is not set" in capsys.readouterr().err
    assert scripted_openai.requests == []


def test_the_openai_preset_runs_against_any_endpoint(
    scripted_openai: ScriptedOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preset = Path(__file__).parents[2] / "configs" / "eval_openai.yaml"
    args = [
        "eval",
        str(preset),
        f"api.base_url={scripted_openai.url}",
        "api.model=gpt-4o-mini",
        f"api.api_key_env={KEY_ENV}",
        "env.max_turns=2",
        "--families",
        "sokoban",
        "--episodes",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert len(_episodes(tmp_path)) == 2
    body = scripted_openai.requests[0]
    assert body["model"] == "gpt-4o-mini" and body["max_completion_tokens"] == 512
    assert (body["temperature"], body["top_p"]) == (0.6, 0.95) and "top_k" not in body
    out = capsys.readouterr().out
    assert "gpt-4o-mini" in (tmp_path / "summary.md").read_text() and "cost $" in out


@pytest.mark.parametrize(
    ("family", "answer", "frame_hw"),
    [
        (
            ["env.family=sokoban", "env.kwargs.dim_room=[6,7]", "env.kwargs.cell_size=8"],
            "<think>push</think>\n<action>up",
            image_shape(6, 7, 8)[:2],
        ),
        (
            ["env.family=cards", "env.kwargs.game=numberline"],
            "<think>walk</think>\n<action>+",
            numberline_shape(5)[:2],  # NumberLine's default line, 0..5
        ),
    ],
    ids=["sokoban", "numberline"],
)
def test_an_image_family_sends_each_frame_as_a_png_data_url(
    scripted_openai: ScriptedOpenAI,
    tmp_path: Path,
    family: list[str],
    answer: str,
    frame_hw: tuple[int, int],
) -> None:
    """`t2po eval` of an API model on pictures: every turn's request carries the frame the
    agent saw, as a PNG data URL of the frame's size, the pixels the results folder keeps."""
    scripted_openai.answer = lambda body: answer
    extra = [*family, "env.kwargs.obs_mode=image", "eval.episodes=1", "env.max_turns=2"]
    args = ["eval", *_overrides(scripted_openai.url, *extra), "--out", str(tmp_path)]
    assert main(args) == 0
    (episode,) = _episodes(tmp_path)
    assert len(scripted_openai.requests) == episode["n_turns"] >= 1  # one episode: in order
    for body, turn in zip(scripted_openai.requests, episode["turns"], strict=True):
        parts = body["messages"][-1]["content"]
        assert parts[0]["type"] == "text"
        (url,) = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        header, _, payload = url.partition(",")
        assert header == "data:image/png;base64"
        png = base64.b64decode(payload, validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(png)) as sent, Image.open(tmp_path / turn["image"]) as kept:
            assert sent.format == "PNG" and (sent.height, sent.width) == frame_hw
            np.testing.assert_array_equal(np.asarray(sent), np.asarray(kept.convert("RGB")))


@pytest.mark.slow
def test_sigkilled_eval_process_resumes(scripted_openai: ScriptedOpenAI, tmp_path: Path) -> None:
    """Kill -9 the real command mid-suite; the rerun plays only what was not written."""
    scripted_openai.delay = 0.2  # ~0.6 s per chunk: time to kill it mid-suite
    args = ["eval", *_overrides(scripted_openai.url, "eval.episodes=6"), "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "t2po.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        path = tmp_path / "episodes.jsonl"
        while not (path.exists() and len(read_jsonl(path)) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, "eval ended early"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    first = _episodes(tmp_path)
    assert 2 <= len(first) < 6
    before = len(scripted_openai.requests)
    assert main(args) == 0
    episodes = _episodes(tmp_path)
    assert episodes[: len(first)] == first and len({e["key"] for e in episodes}) == 6
    redone = len(scripted_openai.requests) - before
    assert redone == sum(e["n_turns"] for e in episodes[len(first) :])
