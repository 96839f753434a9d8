"""Redaction by key and by value (issue 17): what tracking, transcripts and eval files keep."""

from __future__ import annotations

import json

import pytest

from t2po.telemetry.redact import REDACTED, is_secret_key, redact, redact_text

# Planted secrets: none of these strings may survive redaction.
USERINFO = "alice:pw-Planted-11"
QUERY = "QueryPlanted22"
BEARER = "BearerPlanted33xyz"
OPENAI = "sk-proj-Planted44abcdefghij"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api.extra_body.authorization", True),
        ("headers.Proxy-Authorization", True),
        ("session_cookie", True),
        ("oauth", True),
        ("bearer", True),
        ("db.password", True),
        ("aws.signature", True),
        ("authenticator", True),
        ("author", False),
        ("key", False),  # a record's key (episodes.jsonl), not a credential
        ("ssh.private_key", True),
        ("authority_score", False),
        ("tti_forced_token_ids", True),  # a credential-like name; its numbers stay (below)
        ("rollout.max_new_tokens", False),
        ("completion_tokens", False),
        ("api.token_limit_param", False),  # names a request field; its value is a word
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"https://{USERINFO}@api.example.com/v1", f"https://{REDACTED}@api.example.com/v1"),
        (
            f"http://h/v1?model=m&api_key={QUERY}&X-Amz-Signature={QUERY}&sig={QUERY}",
            f"http://h/v1?model=m&api_key={REDACTED}&X-Amz-Signature={REDACTED}&sig={REDACTED}",
        ),
        (f"http://h/?accessToken={QUERY}#x", f"http://h/?accessToken={REDACTED}#x"),
        (f"Bearer {BEARER}", f"Bearer {REDACTED}"),
        (f"authorization: bearer {BEARER}", f"authorization: {REDACTED}"),
        (f'curl -H "Authorization: Basic {BEARER}" u', f'curl -H "Authorization: {REDACTED}" u'),
        (f"key {OPENAI} leaked", f"key {REDACTED} leaked"),
        ("token hf_abcdefghijklmnopqrstuvwxyz1", f"token {REDACTED}"),
        # Not credentials: prose, local URLs, product titles, ordinary queries.
        ("the bearer of the key opens the safe 1", "the bearer of the key opens the safe 1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("Chocolate Chip Cookie: 12 pack", "Chocolate Chip Cookie: 12 pack"),
        ("search?q=red+shoes&page=2", "search?q=red+shoes&page=2"),
        ("put the apple in the fridge 1", "put the apple in the fridge 1"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_by_key_and_value_keeps_data() -> None:
    config = {
        "api": {
            "base_url": f"https://{USERINFO}@h/v1?token={QUERY}",
            "extra_body": {"authorization": f"Bearer {BEARER}", "n": 3, "Cookie": "c=1"},
            "api_key_env": "OPENAI_API_KEY",
        },
        "tti_forced_token_ids": [7, 9],
        "token_signals": True,
        "credentials": {"user": "me", "ids": [1, 2]},
        "notes": (f"Bearer {BEARER}", 5),
    }
    out = redact(config)
    assert out == {
        "api": {
            "base_url": f"https://{REDACTED}@h/v1?token={REDACTED}",
            "extra_body": {"authorization": REDACTED, "n": 3, "Cookie": REDACTED},
            "api_key_env": REDACTED,
        },
        "tti_forced_token_ids": [7, 9],
        "token_signals": True,
        "credentials": {"user": REDACTED, "ids": [1, 2]},
        "notes": (f"Bearer {REDACTED}", 5),
    }
    assert config["api"]["extra_body"]["authorization"] == f"Bearer {BEARER}"  # not changed
    assert all(s not in json.dumps(out) for s in (USERINFO, QUERY, BEARER))


def test_transcripts_are_redacted_on_write(tmp_path) -> None:
    from t2po.telemetry.transcripts import TranscriptWriter, read_transcripts

    writer = TranscriptWriter(tmp_path / "transcripts.jsonl")
    record = {
        "iteration": 1,
        "turns": [{"observation": f"visit https://{USERINFO}@shop/?sig={QUERY}", "reward": 1.0}],
        "info": {"authorization": f"Bearer {BEARER}", "tti_forced_token_ids": [3]},
    }
    assert writer.write_records([record]) == 1
    text = (tmp_path / "transcripts.jsonl").read_text()
    assert all(s not in text for s in (USERINFO, QUERY, BEARER))
    (back,) = read_transcripts(tmp_path / "transcripts.jsonl")
    assert back["turns"][0]["reward"] == 1.0 and back["info"]["tti_forced_token_ids"] == [3]


def test_eval_store_files_are_redacted_and_resume(tmp_path) -> None:
    from t2po.evaluation.store import ResultStore

    fingerprint = {"model": f"m @ https://{USERINFO}@h/v1", "env_kwargs": {"api_key": QUERY}}
    store = ResultStore(tmp_path)
    store.open(fingerprint)
    store.add_episodes([{"key": "a", "response": f"use Bearer {BEARER}"}])
    ResultStore(tmp_path).open(dict(fingerprint))  # the same evaluation resumes (no mismatch)
    for file in tmp_path.iterdir():
        text = file.read_text()
        assert all(s not in text for s in (USERINFO, QUERY, BEARER)), file.name


def test_eval_summary_files_are_redacted(tmp_path) -> None:
    from t2po.evaluation.summary import summarise, write_summary

    label = f"m @ https://{USERINFO}@h/v1?api_key={QUERY}"
    summary = summarise([], [], {"model": label, "sampler": "api", "token_signals": False})
    assert label in json.dumps(summary)  # the label reaches the summary...
    paths = write_summary(summary, tmp_path)
    for path in paths:  # ...but neither file
        text = path.read_text()
        assert USERINFO not in text and QUERY not in text and "h/v1" in text


def test_a_redacted_config_record_loads_back(tmp_path) -> None:
    """A run's config.yaml (written redacted) is a config `t2po train` accepts again."""
    import yaml

    from t2po.config import Config, load_config, to_dict

    record = redact(to_dict(Config()))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    loaded, default = to_dict(load_config(str(path), [])), to_dict(Config())
    # the variable's name is redacted too (a key pasted there by mistake must not leak)
    assert loaded["api"].pop("api_key_env") == REDACTED
    default["api"].pop("api_key_env")
    assert loaded == default
