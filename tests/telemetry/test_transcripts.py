"""Transcripts: round trip, TTI/TDS fields, sampling cap, resume, Markdown."""

from __future__ import annotations

from pathlib import Path

from t2po.telemetry.transcripts import (
    TranscriptWriter,
    forced_spans,
    read_transcripts,
    render_transcript_markdown,
)
from t2po.types import StopReason, Trajectory, TrajectoryGroup, Turn


def decode(ids: list[int]) -> str:
    return "".join(chr(i) for i in ids)


def encode(text: str) -> list[int]:
    return [ord(c) for c in text]


def make_turn(response: str, forced: str = "", **kw: object) -> Turn:
    """A turn whose response contains ``forced`` (if any), marked as TTI-forced tokens."""
    ids = encode(response)
    mask = [False] * len(ids)
    fired: int | None = None
    if forced:
        fired = response.index(forced)
        for i in range(fired, fired + len(forced)):
            mask[i] = True
    fields: dict[str, object] = {
        "observation": "You are in a room.",
        "anchor": "room",
        "prompt_text": "<prompt> You are in a room.",
        "response_text": response,
        "prompt_token_ids": [1, 2, 3],
        "response_token_ids": ids,
        "logprobs": [-0.5] * len(ids),
        "uncertainty": [0.1] * len(ids),
        "forced_mask": mask,
        "tti_fired_at": fired,
        "phi": 0.25,
        "tds_resamples": 0,
        "action": "look",
        "action_valid": True,
        "reward": 0.0,
        "done": False,
    }
    fields.update(kw)
    return Turn(**fields)  # type: ignore[arg-type]


def make_groups() -> list[TrajectoryGroup]:
    t1 = make_turn("hmm wait, <action>look</action>", forced="wait,", phi=0.3)
    t2 = make_turn(
        "``` <action>bad",
        action=None,
        action_valid=False,
        reward=-0.1,
        tds_resamples=2,
        parse_error="missing </action>",
        done=True,
    )
    won = Trajectory(
        "task-a", 7, [t1], StopReason.success, True, {"task_type": "pick", "score": 1.0}
    )
    lost = Trajectory("task-a", 7, [t1, t2], StopReason.parse_error, False, {})
    other = Trajectory("task-b", 8, [t1], StopReason.success, True, {})
    return [TrajectoryGroup("task-a", 7, [won, lost]), TrajectoryGroup("task-b", 8, [other])]


def test_forced_spans() -> None:
    assert forced_spans([]) == []
    assert forced_spans([False, True, True, False, True]) == [(1, 3), (4, 5)]
    assert forced_spans([True, True]) == [(0, 2)]


def test_round_trip_with_tti_and_tds_fields(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.jsonl"
    writer = TranscriptWriter(path, decode=decode)
    assert writer.write(3, make_groups(), split="eval") == 3
    rows = read_transcripts(path)
    assert [(r["task_id"], r["group"], r["member"]) for r in rows] == [
        ("task-a", 0, 0),
        ("task-a", 0, 1),
        ("task-b", 1, 0),
    ]
    first, second = rows[0], rows[1]
    assert first["iteration"] == 3 and first["split"] == "eval" and first["seed"] == 7
    assert first["stop_reason"] == "success" and first["won"] is True
    assert first["info"] == {"task_type": "pick", "score": 1.0}
    assert second["return"] == -0.1 and second["stop_reason"] == "parse_error"

    turn = first["turns"][0]
    assert turn["observation"] == "You are in a room."
    assert turn["prompt"] == "<prompt> You are in a room."
    assert turn["response"] == "hmm wait, <action>look</action>"
    assert turn["action"] == "look" and turn["action_valid"] is True
    assert turn["phi"] == 0.3 and turn["reward"] == 0.0
    assert turn["tti_fired_at"] == 4
    assert turn["tti_forced_spans"] == [[4, 9]]
    assert turn["tti_forced_text"] == ["wait,"]
    assert turn["n_forced"] == 5 and turn["n_tokens"] == len(turn["response"])

    bad = second["turns"][1]
    assert bad["tti_fired_at"] is None and bad["tti_forced_text"] is None
    assert bad["tds_resamples"] == 2
    assert bad["parse_error"] == "missing </action>"
    assert bad["action"] is None and bad["action_valid"] is False


def test_without_decode_and_prompt(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    TranscriptWriter(path, include_prompt=False).write(0, make_groups())
    turn = read_transcripts(path)[0]["turns"][0]
    assert turn["prompt"] is None
    assert turn["tti_forced_text"] is None
    assert turn["tti_forced_token_ids"] == [encode("wait,")]


def test_max_episodes_round_robin_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(path)
    assert writer.write(0, make_groups(), max_episodes=2) == 2
    # One episode from each group before a second one from any group.
    assert [r["task_id"] for r in read_transcripts(path)] == ["task-a", "task-b"]
    writer.write(1, make_groups())
    writer.write(2, make_groups())
    resumed = TranscriptWriter(path, resume_from=1)
    resumed.write(2, make_groups(), max_episodes=1)
    assert [r["iteration"] for r in read_transcripts(path)] == [0, 0, 1, 1, 1, 2]


def test_markdown(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    TranscriptWriter(path, decode=decode).write(5, make_groups())
    rows = read_transcripts(path)
    page = render_transcript_markdown(rows[0])
    assert page.startswith("## task-a (seed 7)")
    assert "won, stop reason `success`" in page
    assert "TTI fired at token 4 (5 forced tokens): forced 'wait,'" in page
    lost = render_transcript_markdown(rows[1])
    assert "### Turn 2" in lost
    assert "TDS resampled this turn 2 time(s)" in lost
    assert "parse error: missing </action>" in lost
    # The response holds ``` so its fence must be longer.
    assert "````\n``` <action>bad\n````" in lost
    assert "<prompt>" not in lost
    assert "<prompt>" in render_transcript_markdown(rows[1], include_prompt=True)
