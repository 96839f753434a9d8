"""Shared test helpers: offline mode, random tiny Qwen3 models, default runtime settings,
and a scripted OpenAI-compatible server on 127.0.0.1 (stdlib only).

Every test runs offline: nothing is fetched from a model hub (set here, once, before any
test module imports transformers).

``scripted_openai`` answers ``POST /v1/chat/completions`` like a chat API that plays
Sokoban badly but validly, after injecting the faults a test queues: HTTP 429 with
``Retry-After``, 5xx, stalls longer than the client's timeout, or an outage after N
answers. It records every request (body and Authorization header) so tests can count them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The default run has 2 pytest-xdist workers (pyproject.toml): one thread each, and for the
# processes their tests start, since 2 workers x 2 threads on 2 cores fight for the cores.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

if TYPE_CHECKING:
    from transformers import Qwen3ForCausalLM

    from t2po.algo.advantages import AdvantageParams
    from t2po.exploration.tti import TTIParams
    from t2po.inference.base import SamplingParams
    from t2po.inference.openai_compat import ApiSettings
    from t2po.rollout.engine import RolloutSettings
    from t2po.settings import UpdateParams


@dataclass
class Fault:
    """One injected failure: ``status`` (429, 500, ...) with headers, or a ``stall`` in s."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0


def default_answer(body: dict[str, Any]) -> str:
    """A well-formed Sokoban answer without the stop string (servers strip it)."""
    return "<think>push toward the target</think>\n<action>up"


@dataclass
class ScriptedOpenAI:
    url: str = ""
    faults: deque[Fault] = field(default_factory=deque)
    answer: Callable[[dict[str, Any]], str] = default_answer
    fail_after: int | None = None  # answer this many requests, then 503 for every later one
    delay: float = 0.0  # seconds each answer takes (to observe concurrency)
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    answered: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: dict[str, Any], auth: str) -> tuple[int, dict[str, str], dict | None]:
        with self.lock:
            self.requests.append(body)
            self.auth_headers.append(auth)
            fault = self.faults.popleft() if self.faults else None
            down = self.fail_after is not None and self.answered >= self.fail_after
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault is not None and fault.stall:
                time.sleep(fault.stall)
            if fault is not None and fault.status:
                return fault.status, fault.headers, _error(f"injected {fault.status}")
            if down:
                return 503, {}, _error("the endpoint is down")
            if self.delay:
                time.sleep(self.delay)
            content = self.answer(body)
            with self.lock:
                self.answered += 1
            prompt_chars = sum(len(str(m.get("content", ""))) for m in body["messages"])
            return (
                200,
                {},
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_chars // 4,
                        "completion_tokens": len(content) // 4,
                        "total_tokens": prompt_chars // 4 + len(content) // 4,
                    },
                },
            )
        finally:
            with self.lock:
                self.in_flight -= 1


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "code": None}}


def _handler(state: ScriptedOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, payload = state.handle(
                json.loads(raw), self.headers.get("Authorization", "")
            )
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a stalled request

    return Handler


@pytest.fixture
def scripted_openai() -> Iterator[ScriptedOpenAI]:
    state = ScriptedOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------
# Runtime parameter objects as a default-config run builds them (t2po.settings). They have
# no defaults of their own for what the config owns (those live in t2po.config only), so a
# test takes one of these and changes only what it is about.


def default_sampling(**changes: Any) -> SamplingParams:
    """A default-config training rollout's sampling with TTI off, then ``changes``."""
    from t2po.config import Config
    from t2po.settings import sampling_params

    return dataclasses.replace(
        sampling_params(Config(), evaluation=False), **{"tti": None, **changes}
    )


def default_tti(**changes: Any) -> TTIParams:
    """The default ``tti`` section's controller settings, then ``changes``."""
    from t2po.config import TTIConfig
    from t2po.settings import tti_params

    return dataclasses.replace(tti_params(TTIConfig()), **changes)


def default_rollout(**changes: Any) -> RolloutSettings:
    """A default-config (Sokoban) evaluation rollout, so TDS off, then ``changes``."""
    from t2po.config import Config
    from t2po.settings import rollout_settings

    return dataclasses.replace(rollout_settings(Config(), evaluation=True), **changes)


def default_update(**changes: Any) -> UpdateParams:
    """The default config's PPO update settings, then ``changes``."""
    from t2po.config import Config
    from t2po.settings import update_params

    return dataclasses.replace(update_params(Config()), **changes)


def default_api(**changes: Any) -> ApiSettings:
    """The default ``api`` section's settings, then ``changes``."""
    from t2po.config import ApiConfig
    from t2po.settings import api_settings

    return dataclasses.replace(api_settings(ApiConfig()), **changes)


def default_advantage(**changes: Any) -> AdvantageParams:
    """The default ``algo`` section's advantage settings, then ``changes``."""
    from t2po.config import Config
    from t2po.settings import advantage_params

    return dataclasses.replace(advantage_params(Config()), **changes)


def random_qwen3(
    seed: int = 0, *, layers: int = 1, vocab_size: int = 50, max_positions: int = 64
) -> Qwen3ForCausalLM:
    """A randomly initialised Qwen3 small enough for unit tests (hidden 32, 2 heads).

    For tests of the update, checkpoints and losses, which need real weights and a real
    forward pass but no tokenizer or task knowledge (those use ``model.path=tiny``).
    """
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(cfg)


def small_tiny(folder: Path, corpus: list[str]) -> tuple[Any, Any]:
    """The sampler tests' model and tokenizer: ``build_tiny`` shrunk to 2 layers of width 64
    with a 300-token tokenizer trained on ``corpus``, saved to ``folder`` and loaded back.
    ``initializer_range`` 0.2 makes it peaked enough that greedy decoding does not loop."""
    from t2po.models import build_tiny, load_model_and_tokenizer

    built = build_tiny(
        folder,
        corpus=corpus,
        vocab_size=300,
        seed=0,
        hidden_size=64,
        num_hidden_layers=2,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
        initializer_range=0.2,
    )
    return load_model_and_tokenizer(Path(built))


def ignored_by_git(path: Path) -> bool:
    """Whether git ignores ``path`` in this checkout (where benchmarks and studies write).

    Skipped outside a git checkout (an unpacked source archive, or no git on PATH): there is
    no ignore file to check; CI runs from a clone, so it always checks.
    """
    import shutil
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip(
            "needs a git checkout and git on PATH: this checks .gitignore, which an unpacked "
            "source archive does not use (CI runs from a clone, so it checks)"
        )
    proc = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=repo, check=False)
    return proc.returncode == 0


def run_quick_study(
    script: str, out: Path, *extra: str, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """``studies/<script>.py --quick ... --out OUT`` in a fresh process, offline and on one
    thread (quick modes must stay fast on a busy machine); its exit status is the caller's."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    study = Path(__file__).resolve().parents[1] / "studies" / f"{script}.py"
    return subprocess.run(
        [sys.executable, str(study), "--quick", *extra, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
