"""The OpenAI chat-completions request, validated by pydantic; what we answer about it.

Every field a request may carry is declared here with its range, so a bad body is a 400
that names the field, never a 500 or a silent default: ``max_tokens: Infinity`` or
``temperature: NaN`` (JSON extensions Python's parser accepts) fail ``allow_inf_nan``,
``stop: 123`` fails the type. Fields OpenAI has and this server cannot honour (tools,
response_format, logit_bias, penalties, ...) are refused by name; unknown fields are refused
too, as OpenAI does, rather than ignored.

Content parts may be ``text`` and, in user messages, ``image_url`` (whether the served
model reads pictures is the service's call: a text model refuses them; the URL's pixels are
decoded by :mod:`t2po.serve.image_parts`).

Beyond OpenAI: ``top_k`` (as vLLM), and ``t2po: {"tti": true}``, which turns the paper's
thinking intervention on for this request (the server's ``tti.*`` settings) and reports
where it fired in each choice's ``t2po`` field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_N = 16
MAX_TOP_LOGPROBS = 20
MAX_STOPS = 4
SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed takes

# Fields OpenAI defines that this server does not implement: refused when set, with why.
UNSUPPORTED = {
    "tools": "tool calls are not supported by this server",
    "tool_choice": "tool calls are not supported by this server",
    "functions": "function calls are not supported by this server",
    "function_call": "function calls are not supported by this server",
    "parallel_tool_calls": "tool calls are not supported by this server",
    "response_format": "structured output (response_format) is not supported by this server",
    "audio": "audio output is not supported by this server",
    "modalities": "only text output is supported by this server",
    "prediction": "predicted outputs are not supported by this server",
    "reasoning_effort": "reasoning_effort is not supported by this server",
    "web_search_options": "web search is not supported by this server",
}
# Supported only at their neutral value.
NEUTRAL = {"presence_penalty": 0.0, "frequency_penalty": 0.0, "logit_bias": {}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=False)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ImageURL(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None  # accepted; the processor decides


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _known_parts(cls, content: Any) -> Any:
        if isinstance(content, list):
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    TextPart.model_validate(part)
                elif kind == "image_url":
                    ImagePart.model_validate(part)
                else:
                    raise ValueError(
                        f"content parts may be 'text' or 'image_url', got a {kind!r} part"
                    )
        return content

    @model_validator(mode="after")
    def _pictures_from_the_user(self) -> ChatMessage:
        if self.image_urls() and self.role != "user":
            raise ValueError(f"image_url parts belong in user messages, not {self.role!r} ones")
        return self

    def text(self) -> str:
        """The text parts, joined (a message's pictures are :meth:`image_urls`)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part["text"]) for part in self.content if part["type"] == "text")

    def image_urls(self) -> list[str]:
        """The URLs of the message's ``image_url`` parts, in order."""
        if not isinstance(self.content, list):
            return []
        return [
            str(part["image_url"]["url"]) for part in self.content if part["type"] == "image_url"
        ]


class StreamOptions(_Strict):
    include_usage: bool = False


class T2POOptions(_Strict):
    tti: bool = False
    """Run TTI (method.md §3) while sampling this request; each choice reports where."""


PositiveInt = Annotated[int, Field(ge=1)]


class ChatCompletionRequest(_Strict):
    model: str | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    top_k: Annotated[int, Field(ge=0)] = 0
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 1
    seed: Annotated[int, Field(ge=SEED_RANGE[0], le=SEED_RANGE[1])] | None = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOPS)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: bool = False
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    t2po: T2POOptions | None = None
    # Defined by OpenAI, refused here when set (see UNSUPPORTED / NEUTRAL).
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    parallel_tool_calls: Any = None
    response_format: Any = None
    audio: Any = None
    modalities: Any = None
    prediction: Any = None
    reasoning_effort: Any = None
    web_search_options: Any = None
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] = 0.0
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] = 0.0
    logit_bias: dict[str, float] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        for name, why in UNSUPPORTED.items():
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: {why}")
        for name, neutral in NEUTRAL.items():
            value = getattr(self, name)
            if value is not None and value != neutral:
                raise ValueError(f"{name}: only {neutral!r} is supported by this server")
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs: needs logprobs=true")
        if self.stream and self.logprobs:
            raise ValueError("logprobs: not supported with stream=true; send stream=false")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: only allowed with stream=true")
        return self

    def has_images(self) -> bool:
        """Whether any message shows a picture."""
        return any(m.image_urls() for m in self.messages)

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        return tuple(s for s in stops if s)

    def token_limit(self, default: int) -> int:
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return default if self.max_tokens is None else self.max_tokens


class RequestError(ValueError):
    """A request the server refuses: HTTP ``status``, an OpenAI error ``code``, and ``param``."""

    def __init__(
        self, message: str, status: int = 400, code: str = "invalid_request", param: str = ""
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


def error_payload(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def validation_message(errors: Sequence[Any]) -> tuple[str, str]:
    """One readable sentence (and the first field) from pydantic's validation errors.

    One message per field (a union such as ``stop`` fails once per member; the first says
    enough), at most five fields.
    """
    parts: dict[str, str] = {}
    for error in errors:
        if error.get("type") == "json_invalid":
            detail = (error.get("ctx") or {}).get("error", "")
            return f"the body is not valid JSON ({detail})", ""
        loc = [str(x) for x in error.get("loc", ()) if x != "body"]
        # Union members and validator names are noise in a message meant for a user.
        loc = [x for x in loc if x not in _UNION_TAGS and not x.startswith(_TAG_PREFIXES)]
        where = ".".join(loc) or "body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown field (not an OpenAI chat-completions field this server knows)"
        parts.setdefault(where, message)
    fields = list(parts.items())[:5]
    first = fields[0][0].split(".")[0] if fields and fields[0][0] != "body" else ""
    return "; ".join(f"{where}: {message}" for where, message in fields), first


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})
_TAG_PREFIXES = ("function-", "constrained-", "list[", "dict[", "nullable[")
