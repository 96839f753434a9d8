"""``t2po serve model``: an OpenAI-compatible chat API for a local checkpoint.

FastAPI on uvicorn (the ``serve`` extra), on 127.0.0.1 by default, so a trained agent is
evaluated by the same path as any API model (``t2po eval model.sampler=api
api.base_url=http://127.0.0.1:8000/v1``) and works from any OpenAI client.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``
(``stream``, ``n``, ``logprobs``/``top_logprobs``, ``seed``, ``stop``, ``top_k``, and the
opt-in ``t2po`` field: see :mod:`t2po.serve.openai_api`), ``GET /health``, and the OpenAPI
page at ``/docs`` (schema at ``/openapi.json``). The paths also answer without ``/v1``.
A vision-language model folder (Qwen2-VL / Qwen2.5-VL, ``tiny-vl``) also reads pictures:
``image_url`` parts of user messages as data URLs, never fetched from remote URLs (see
:mod:`t2po.serve.model_service`), so ``t2po eval`` of an image family works against it.

Concurrent requests are decoded together (:mod:`t2po.serve.batcher`); each keeps its own
seed. Every refusal uses the OpenAI error shape (``{"error": {"message", "type", "param",
"code"}}``) with a 4xx status, so the SDK raises its usual exceptions; a 5xx means a bug.
``--api-key-env NAME`` requires ``Authorization: Bearer $NAME`` (scheme in any case),
checked from the headers before the body is read; the key is compared, never logged.
Bodies are limited in size and in the time they may take to arrive. SIGTERM or Ctrl-C lets
the requests in flight finish (``--grace`` seconds), then the command exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2po.config import RolloutConfig, load_config
from t2po.inference.base import SamplingParams
from t2po.serve.asgi import (
    SERVE_EXTRA_HINT,
    BackgroundServer,
    RequestLimits,
    ServerOptions,
    openai_error_body,
    serve_forever,
    start_in_thread,
)
from t2po.serve.batcher import Cancelled, ServerBusy
from t2po.serve.model_service import (
    ModelService,
    Prepared,
    cut_at_stop,
    finish_reason,
    request_sampling,
    t2po_report,
    usage,
)
from t2po.serve.openai_api import (
    ChatCompletionRequest,
    RequestError,
    error_payload,
    validation_message,
)
from t2po.types import Message

MAX_BODY_BYTES = 4 * 1024 * 1024
READ_TIMEOUT_S = 30.0
OPEN_PATHS = ("/docs", "/openapi.json", "/health", "/docs/oauth2-redirect")


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(f"{SERVE_EXTRA_HINT} ({exc})") from exc
    return fastapi


def parse_chat_request(
    body: dict[str, Any], max_new_tokens_cap: int, rollout: RolloutConfig | None = None
) -> tuple[list[Message], SamplingParams]:
    """Messages and sampling parameters of a chat-completions body, or :class:`RequestError`.

    ``M_t``'s ``alpha`` and ``top_j`` are not OpenAI fields; they come from ``rollout`` (the
    server's ``rollout.alpha`` and ``rollout.top_j``). ``params.seed`` is the request's.
    """
    from pydantic import ValidationError

    try:
        request = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise RequestError(validation_message(exc.errors())[0]) from None
    messages, params = request_sampling(request, max_new_tokens_cap, rollout or RolloutConfig())
    return messages, dataclasses.replace(params, seed=request.seed)


# ---------------------------------------------------------------------- the app


def create_app(
    service: ModelService,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_timeout_s: float = READ_TIMEOUT_S,
    grace_s: float = 10.0,
) -> Any:
    """The ASGI app: FastAPI routes behind :class:`~t2po.serve.asgi.RequestLimits`."""
    fastapi = _fastapi()
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        # After uvicorn has let the requests in flight finish: stop the decode worker.
        await asyncio.to_thread(service.stop, grace_s)

    app = fastapi.FastAPI(
        title="t2po model server",
        summary=f"OpenAI-compatible chat completions for {service.name!r}",
        version="1",
        lifespan=lifespan,
    )

    def error(status: int, message: str, code: str, param: str | None = None) -> Any:
        kind = json.loads(openai_error_body(status, message, code)[0])["error"]["type"]
        return JSONResponse(error_payload(message, kind, code, param), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> Any:
        message, field = validation_message(list(exc.errors()))
        return error(400, message, "invalid_request", field or None)

    @app.exception_handler(RequestError)
    async def refused(request: Any, exc: RequestError) -> Any:
        return error(exc.status, str(exc), exc.code, exc.param or None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, exc: HTTPException) -> Any:
        if exc.status_code == 404:
            return error(404, f"no route {request.url.path}", "not_found")
        return error(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(Exception)
    async def crashed(request: Any, exc: Exception) -> Any:  # a bug: say so, keep serving
        return error(500, f"internal error: {type(exc).__name__}: {exc}", "server_error")

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        batcher = service.batcher
        return {"status": "ok", "batches": batcher.batches, "rows": batcher.rows}

    @app.get("/v1/models", summary="The served model")
    @app.get("/models", include_in_schema=False)
    async def models() -> dict[str, Any]:
        return service.models()

    @app.get("/v1/models/{model_id:path}", summary="One model by id")
    @app.get("/models/{model_id:path}", include_in_schema=False)
    async def model(model_id: str) -> dict[str, Any]:
        if model_id != service.name:
            raise RequestError(
                f"model {model_id!r} is not served here; this server has {service.name!r}",
                status=404,
                code="model_not_found",
                param="model",
            )
        return service.model_card()

    @app.post("/v1/chat/completions", summary="Chat completion (OpenAI API)")
    @app.post("/chat/completions", include_in_schema=False)
    async def chat_completions(request: ChatCompletionRequest) -> Any:
        # Tokenizing a long prompt takes a while: not on the event loop.
        prepared = await asyncio.to_thread(service.prepare, request)
        if request.stream:
            queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def on_token(row: int, token: int) -> None:  # the worker thread
                loop.call_soon_threadsafe(queue.put_nowait, (row, token))

            future = _submit(service, prepared, on_token)
            return StreamingResponse(
                _stream(service, prepared, future, queue),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        result = await asyncio.wrap_future(_submit(service, prepared))
        return service.reply(prepared, result)

    async def busy(request: Any, exc: Exception) -> Any:
        return error(503, str(exc), "server_busy")

    app.add_exception_handler(ServerBusy, busy)
    app.add_exception_handler(Cancelled, busy)

    return RequestLimits(
        app,
        max_body_bytes=max_body_bytes,
        read_timeout_s=read_timeout_s,
        error_body=openai_error_body,
        api_key=service.api_key,
        open_paths=OPEN_PATHS,
    )


def _submit(service: ModelService, prepared: Prepared, on_token: Any = None) -> Any:
    return service.batcher.submit(service.job(prepared, on_token))


# ---------------------------------------------------------------------- streaming


class _TextStream:
    """One choice's text as tokens arrive: the new part that is safe to send.

    Incremental detokenization (decode a short window, not the whole text, each token);
    text that may still become a stop string, or an incomplete UTF-8 character, is held
    back until it is decided.
    """

    def __init__(self, tokenizer: Any, skip_ids: set[int], stops: Sequence[str]) -> None:
        self.tokenizer, self.skip_ids, self.stops = tokenizer, skip_ids, stops
        self.ids: list[int] = []
        self.prefix_offset = self.read_offset = 0
        self.text = ""  # decoded so far
        self.sent = 0  # characters of self.text already sent
        self.hold = max((len(s) for s in stops), default=1) - 1

    def push(self, token: int) -> str:
        if token in self.skip_ids:
            return ""
        self.ids.append(token)
        decode = self.tokenizer.decode
        before = decode(self.ids[self.prefix_offset : self.read_offset])
        after = decode(self.ids[self.prefix_offset :])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self.text += after[len(before) :]
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        found = [self.text.find(s) for s in self.stops if s in self.text]
        limit = min(found) if found else len(self.text) - self.hold
        if limit <= self.sent:
            return ""
        piece, self.sent = self.text[self.sent : limit], limit
        return piece

    def rest(self, final: str) -> str:
        """What is left to send of the final text (after the last token)."""
        sent = self.text[: self.sent]
        return final[len(sent) :] if final.startswith(sent) else ""


async def _stream(
    service: ModelService, prepared: Prepared, future: Any, queue: asyncio.Queue[tuple[int, int]]
) -> AsyncIterator[str]:
    """Server-sent events as OpenAI sends them: role, content deltas, finish, [DONE]."""
    request, params = prepared.request, prepared.params
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": service.name,
    }

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n"

    def delta(row: int, content: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": row, "delta": content, "logprobs": None, "finish_reason": finish}

    tokenizer = getattr(service.sampler, "tokenizer", None)
    skip = set(getattr(service.sampler, "eos_ids", []))
    streams = [_TextStream(tokenizer, skip, params.stop) for _ in range(request.n)]
    yield event([delta(row, {"role": "assistant", "content": ""}) for row in range(request.n)])
    done = asyncio.wrap_future(future)
    while True:
        getter = asyncio.ensure_future(queue.get())
        finished, _ = await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in finished:
            getter.cancel()
            break
        row, token = getter.result()
        if tokenizer is not None and (piece := streams[row].push(token)):
            yield event([delta(row, {"content": piece})])
    try:
        result = await done
    except (Cancelled, ServerBusy) as exc:
        yield f"data: {json.dumps(error_payload(str(exc), 'server_error', 'server_busy'))}\n\n"
        return
    except Exception as exc:  # noqa: BLE001 - the headers are sent: report in the stream
        message = f"{type(exc).__name__}: {exc}"
        yield f"data: {json.dumps(error_payload(message, 'server_error', 'server_error'))}\n\n"
        return
    outputs = result[0] if isinstance(result, tuple) else result
    for row, out in enumerate(outputs):
        final = cut_at_stop(out.text, params.stop)
        if rest := streams[row].rest(final):
            yield event([delta(row, {"content": rest})])
        last = delta(row, {}, finish_reason(out, final))
        if request.t2po is not None:
            last["t2po"] = t2po_report(out, params.tti is not None)
        yield event([last])
    if request.stream_options is not None and request.stream_options.include_usage:
        completion = sum(len(out.token_ids) for out in outputs)
        yield event([], usage=usage(prepared.prompt_tokens, completion))
    yield "data: [DONE]\n\n"


# ---------------------------------------------------------------------- running it


@dataclass
class RunningServer:
    """A model server in a background thread; ``url`` ends in ``/v1``."""

    url: str
    background: BackgroundServer

    def close(self) -> None:
        self.background.close()


def start_model_server(
    service: ModelService,
    host: str = "127.0.0.1",
    port: int = 0,
    grace_s: float = 10.0,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> RunningServer:
    """Start the server in a daemon thread; returns it with its bound ``/v1`` URL."""
    app = create_app(service, grace_s=grace_s, read_timeout_s=read_timeout_s)
    background = start_in_thread(app, ServerOptions(host=host, port=port, grace_s=grace_s))
    return RunningServer(f"{background.url}/v1", background)


def load_service(
    path: str,
    *,
    name: str | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    api_key_env: str = "",
    seed: int = 0,
    rollout: RolloutConfig | None = None,
    tti: Any = None,
    max_batch_rows: int = 32,
    batch_wait_s: float = 0.005,
    max_new_tokens_cap: int = 4096,
) -> ModelService:
    """Load ``path`` ('tiny', an HF folder or a checkpoint) into a :class:`ModelService`."""
    from t2po.inference.factory import load_hf_sampler

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ValueError(f"--api-key-env {api_key_env}: that environment variable is not set")
    sampler = load_hf_sampler(path, device=device, dtype=dtype, seed=seed)
    served_name = name or (path if path in ("tiny", "smollm2-135m") else Path(path).name)
    return ModelService(
        name=served_name,
        sampler=sampler,
        api_key=api_key,
        rollout=rollout or RolloutConfig(),
        tti=tti,
        max_batch_rows=max_batch_rows,
        batch_wait_s=batch_wait_s,
        max_new_tokens_cap=max_new_tokens_cap,
    )


def serve_model(args: argparse.Namespace) -> int:
    """``t2po serve model PATH [--host --port --name --device --dtype --api-key-env
    --max-batch --batch-wait-ms --grace --max-tokens-cap --quiet] [KEY=VALUE ...]``
    (config overrides: ``rollout.alpha``, ``rollout.top_j``, ``tti.*`` for requests that
    turn TTI on)."""
    from t2po.settings import tti_params

    _fastapi()  # a missing extra is reported before the model loads
    cfg = load_config(None, list(getattr(args, "overrides", None) or []))
    max_batch = int(getattr(args, "max_batch", 32))
    if max_batch < 1:
        raise ValueError(f"--max-batch must be >= 1, got {max_batch}")
    cap = int(getattr(args, "max_tokens_cap", 4096))
    if cap < 1:
        raise ValueError(f"--max-tokens-cap must be >= 1, got {cap}")
    service = load_service(
        args.path,
        name=getattr(args, "name", None),
        device=getattr(args, "device", "cpu"),
        dtype=getattr(args, "dtype", "float32"),
        api_key_env=getattr(args, "api_key_env", "") or "",
        rollout=cfg.rollout,
        tti=tti_params(cfg.tti),
        max_batch_rows=max_batch,
        batch_wait_s=float(getattr(args, "batch_wait_ms", 5.0)) / 1000,
        max_new_tokens_cap=cap,
    )
    grace = float(getattr(args, "grace", 10.0))
    app = create_app(service, grace_s=grace)
    options = ServerOptions(
        host=args.host, port=args.port, grace_s=grace, log_requests=not args.quiet
    )

    def ready(url: str) -> None:
        print(
            f"serving {service.name!r} at {url}/v1 (GET /v1/models, POST /v1/chat/completions, "
            f"OpenAPI page {url}/docs); Ctrl-C stops",
            flush=True,
        )
        if args.host not in ("127.0.0.1", "localhost", "::1") and service.api_key is None:
            print("warning: listening beyond this machine with no --api-key-env", file=sys.stderr)

    code = serve_forever(app, options, ready)
    print("stopped", flush=True)
    return code


__all__: Sequence[str] = [
    "ModelService",
    "RunningServer",
    "create_app",
    "load_service",
    "parse_chat_request",
    "serve_model",
    "start_model_server",
]
