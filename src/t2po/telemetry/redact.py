"""Keep credentials out of everything a run writes: tracking, config copies, transcripts.

Two filters, used together by :func:`redact`:

- **by key**: a mapping entry whose key names a credential (:func:`is_secret_key`: one of its
  words is or ends in key, token, secret, password, auth, cookie, bearer, signature, ... or
  starts with ``authoriz``/``authent``) has its text replaced by ``<redacted>``. Only text:
  ``tti_forced_token_ids: [7, 9]`` or ``token_signals: true`` are data, not secrets.
- **by value**: inside any text, URL user-info (``https://user:pw@host``), URL query
  parameters named like a credential (``?api_key=…&sig=…``), ``Bearer …`` and
  ``Authorization: …`` / ``Cookie: …`` header values, and tokens of well-known shapes
  (``sk-…``, ``hf_…``, ``ghp_…``, AWS access key ids, JWTs) are replaced.

Judged by name as well as by value because neither alone is enough: a token pasted into
``api.base_url`` has an innocent key, and ``extra_body.authorization`` may hold any text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_text"]

REDACTED = "<redacted>"

# A key word is a credential when it is, or ends in, one of these: word-wise so that
# `max_new_tokens` or `keep_checkpoints` stay, while `api_key`, `hf_token`, `authtoken`,
# `oauth` and `client_secret` go.
_SECRET_SUFFIXES = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "credentials",
    "auth",
    "bearer",
    "cookie",
    "cookies",
    "signature",
)
_SECRET_PREFIXES = ("authoriz", "authent")  # authorization, authentication, authenticator
# URL query parameters also go by these short names (Azure SAS `sig`, `X-Amz-Signature`).
_SECRET_QUERY_WORDS = ("sig", "code", "session", "sessionid", "jwt")

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


def _secret_words(words: list[str], extra: tuple[str, ...] = ()) -> bool:
    return any(
        w.endswith(_SECRET_SUFFIXES) or w.startswith(_SECRET_PREFIXES) or w in extra
        for w in words
        if w
    )


# Names that identify records or settings rather than hold credentials: an evaluation
# episode's `key` (family/split/seed) must survive, or resume and `t2po compare` lose every
# episode; `api.token_limit_param` names a request field, and redacting it made a run's
# config.yaml fail to load again.
_NOT_SECRET = frozenset({"key", "keys", "token_limit_param"})


def is_secret_key(key: str) -> bool:
    """Whether a (dotted) key names a credential, judged word by word (see module doc)."""
    if key.lower().rsplit(".", 1)[-1] in _NOT_SECRET:
        return False
    return _secret_words(_WORD_SPLIT.split(key.lower()))


# scheme://user:password@host  ->  scheme://<redacted>@host
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@?#\"'<>]+)@")
# ?name=value / &name=value / ;name=value with a credential-like name
_QUERY = re.compile(r"([?&;])([^=&#\s\"'<>]+)=([^&#\s\"'<>]*)")
# `Bearer abc...` (any case); short words after "bearer" are prose, not tokens
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)(?!<redacted>)[A-Za-z0-9\-._~+/]{8,}=*")
# header-like `Authorization: Basic xyz`, `"x-api-key": "abc"`, `api_key=abc` (not a bare
# `cookie:`, which shop product titles use)
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|set-cookie|x-api-key|api[-_]?key)"
    r"(\"?\s*[:=]\s*\"?)(?!<redacted>)((?:(?:basic|bearer|token|digest)\s+)?[^\s\",;}]+)"
)
# Well-known credential shapes, redacted wherever they appear.
_TOKEN_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{16,}"  # OpenAI and compatible
    r"|hf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+)"  # JWT
)


def _query_param(match: re.Match[str]) -> str:
    sep, name, value = match.group(1), match.group(2), match.group(3)
    words = _WORD_SPLIT.split(name.lower())
    if value and _secret_words(words, _SECRET_QUERY_WORDS):
        return f"{sep}{name}={REDACTED}"
    return match.group(0)


def redact_text(text: str) -> str:
    """``text`` with credentials found by their shape replaced by ``<redacted>``."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    if "=" in text:
        text = _QUERY.sub(_query_param, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def redact(value: Any, key: str = "", _secret: bool = False) -> Any:
    """A copy of ``value`` (mappings, lists, tuples, text, numbers) without credentials.

    ``key`` is the dotted path of ``value`` (a mapping's entries extend it). Text under a
    credential key is replaced whole; other text goes through :func:`redact_text`. Numbers,
    booleans and None are kept. The input is not changed.
    """
    secret = _secret or (bool(key) and is_secret_key(key.rsplit(".", 1)[-1]))
    if isinstance(value, Mapping):
        return {
            name: redact(item, f"{key}.{name}" if key else str(name), secret)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        items = [redact(item, key, secret) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, str):
        return REDACTED if secret and value else redact_text(value)
    if isinstance(value, bytes):
        return REDACTED if secret else value
    return value
