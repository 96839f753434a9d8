"""Per-episode transcripts: what the agent saw, said and did, one JSON line per episode.

Each line carries the episode (iteration, split, task, seed, stop reason, win, return, final
env info) and every turn: observation, prompt, response, parsed action, validity, reward,
turn signal ``Φ``, where TTI fired and the text it forced, TDS resamples, parse error and
token count (architecture.md, Decision 10). :func:`render_transcript_markdown` turns one
line into a page a human can read.

The forced text is recovered from the turn's ``forced_mask`` over its response tokens. A
turn keeps token ids, not per-token strings, so the text needs the tokenizer's ``decode``:
pass it as ``decode=`` to :class:`TranscriptWriter`. Without it the forced spans are still
written as token index ranges and ids, and ``tti_forced_text`` is ``None``.

Lines go through :func:`t2po.telemetry.redact.redact` on their way to the file: a credential
echoed by an environment or a model (a URL with a token) is not kept.

Image turns (``Turn.image``, env.kwargs.obs_mode image or text+image) are never inlined: each
is written as a PNG under ``images/`` beside the JSONL file (:func:`save_turn_images`) and the
turn's record holds its path relative to that file's folder as ``image``. Text turns have no
``image`` key, so text transcripts are as before.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from t2po.telemetry.jsonl import read_jsonl
from t2po.telemetry.loggers import truncate_jsonl
from t2po.telemetry.redact import redact
from t2po.types import Trajectory, TrajectoryGroup, Turn

__all__ = [
    "IMAGES_DIR",
    "TranscriptWriter",
    "episode_record",
    "forced_spans",
    "read_transcripts",
    "render_transcript_markdown",
    "save_turn_images",
]

IMAGES_DIR = "images"  # beside the JSONL file: one PNG per image turn

Decode = Callable[[list[int]], str]


def forced_spans(forced_mask: Sequence[bool]) -> list[tuple[int, int]]:
    """Maximal runs of True in ``forced_mask`` as half-open ``(start, end)`` index pairs."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, forced in enumerate(forced_mask):
        if forced and start is None:
            start = i
        elif not forced and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(forced_mask)))
    return spans


def save_turn_images(
    trajectory: Trajectory, root: str | os.PathLike[str], stem: str
) -> list[str | None]:
    """Write each image turn's picture to ``root/images/<stem>_t<k>.png`` (k from 1).

    Returns one entry per turn: the PNG's path relative to ``root`` (POSIX separators), or
    None for a turn without an image. Characters of ``stem`` unsafe in a file name become ``_``.
    """
    from t2po.envs.frames import write_png

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    paths: list[str | None] = []
    for k, turn in enumerate(trajectory.turns, start=1):
        if turn.image is None:
            paths.append(None)
            continue
        relative = f"{IMAGES_DIR}/{safe}_t{k:02d}.png"
        write_png(turn.image, Path(root) / relative)
        paths.append(relative)
    return paths


def _turn_record(
    turn: Turn, decode: Decode | None, include_prompt: bool, image: str | None = None
) -> dict[str, Any]:
    spans = forced_spans(turn.forced_mask)
    ids = turn.response_token_ids
    forced_ids = [[ids[i] for i in range(a, b) if i < len(ids)] for a, b in spans]
    record: dict[str, Any] = {
        "observation": turn.observation,
        "prompt": turn.prompt_text if include_prompt else None,
        "response": turn.response_text,
        "action": turn.action,
        "action_valid": turn.action_valid,
        "reward": turn.reward,
        "done": turn.done,
        "phi": turn.phi,
        "tti_fired_at": turn.tti_fired_at,
        "tti_forced_spans": [list(s) for s in spans],
        "tti_forced_token_ids": forced_ids,
        "tti_forced_text": [decode(x) for x in forced_ids] if decode and spans else None,
        "n_forced": sum(turn.forced_mask),
        "tds_resamples": turn.tds_resamples,
        "parse_error": turn.parse_error,
        "n_tokens": len(ids),
    }
    if image is not None:
        record["image"] = image  # a PNG path relative to the transcript's folder
    return record


def episode_record(
    traj: Trajectory,
    iteration: int,
    split: str = "train",
    group_index: int | None = None,
    member_index: int | None = None,
    decode: Decode | None = None,
    include_prompt: bool = True,
    image_paths: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """One episode as a JSON-ready dict (the schema of a transcript line).

    ``image_paths`` (from :func:`save_turn_images`) gives each turn's PNG, if any.
    """
    paths = list(image_paths) if image_paths is not None else [None] * len(traj.turns)
    return {
        "iteration": iteration,
        "split": split,
        "task_id": traj.task_id,
        "seed": traj.seed,
        "group": group_index,
        "member": member_index,
        "stop_reason": None if traj.stop_reason is None else str(traj.stop_reason),
        "won": traj.won,
        "return": traj.episode_return,
        "n_turns": len(traj.turns),
        "info": traj.info,
        "turns": [
            _turn_record(t, decode, include_prompt, path)
            for t, path in zip(traj.turns, paths, strict=True)
        ],
    }


def _select(
    groups: Sequence[TrajectoryGroup], max_episodes: int | None
) -> list[tuple[int, int, Trajectory]]:
    """Episodes to write, as ``(group index, member index, trajectory)``.

    With a cap, members are taken round-robin across groups (member 0 of every group, then
    member 1, ...) so a small sample covers as many tasks as possible.
    """
    if max_episodes is None:
        return [(gi, mi, t) for gi, g in enumerate(groups) for mi, t in enumerate(g.trajectories)]
    chosen: list[tuple[int, int, Trajectory]] = []
    depth = max((len(g.trajectories) for g in groups), default=0)
    for mi in range(depth):
        for gi, g in enumerate(groups):
            if len(chosen) >= max_episodes:
                return chosen
            if mi < len(g.trajectories):
                chosen.append((gi, mi, g.trajectories[mi]))
    return chosen


class TranscriptWriter:
    """Appends episode transcripts to a JSONL file, one line per episode.

    ``decode`` (token ids to text, e.g. ``tokenizer.decode``) fills ``tti_forced_text``;
    ``include_prompt=False`` leaves the full prompt out to keep files small. Pass
    ``resume_from=k`` when resuming from iteration ``k`` to drop lines written after it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        decode: Decode | None = None,
        include_prompt: bool = True,
        resume_from: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.decode = decode
        self.include_prompt = include_prompt
        if resume_from is not None:
            self.truncate_after(resume_from)

    def truncate_after(self, iteration: int) -> int:
        """Drop the episodes of iterations after ``iteration``; returns how many."""
        return truncate_jsonl(self.path, iteration, key="iteration")

    def records(
        self,
        iteration: int,
        groups: Sequence[TrajectoryGroup],
        split: str = "train",
        max_episodes: int | None = None,
    ) -> list[dict[str, Any]]:
        """The episode dicts :meth:`write` would append (for other consumers, e.g. traces).

        The images of image turns are saved here (``images/`` beside the file), so every
        record's ``image`` path exists once it is returned.
        """
        records = []
        for gi, mi, traj in _select(groups, max_episodes):
            paths = None
            if any(t.image is not None for t in traj.turns):
                stem = f"{self.path.stem}_it{iteration:06d}_{split}_g{gi}_m{mi}"
                paths = save_turn_images(traj, self.path.parent, stem)
            records.append(
                episode_record(
                    traj, iteration, split, gi, mi, self.decode, self.include_prompt, paths
                )
            )
        return records

    def write(
        self,
        iteration: int,
        groups: Sequence[TrajectoryGroup],
        split: str = "train",
        max_episodes: int | None = None,
    ) -> int:
        """Append the episodes of ``groups`` (at most ``max_episodes``); returns the count."""
        return self.write_records(self.records(iteration, groups, split, max_episodes))

    def write_records(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Append already built episode dicts; returns the count."""
        lines = [
            json.dumps(
                redact(record),
                default=str,  # env info may hold enums, paths, numpy scalars
                ensure_ascii=False,
            )
            for record in records
        ]
        # One open per call: nothing is held open between iterations, and each call's lines
        # land together.
        with self.path.open("a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        return len(lines)

    def close(self) -> None:
        """Nothing to release (the file is opened per write); kept for symmetry."""


def read_transcripts(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All episode dicts from a transcript file, in order; a truncated last line is skipped."""
    return read_jsonl(path)


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside the text, so model output cannot close it.
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def render_transcript_markdown(episode: Mapping[str, Any], include_prompt: bool = False) -> str:
    """A Markdown page for one episode dict (as read by :func:`read_transcripts`).

    An image turn links its PNG by the record's relative path: keep the page in the
    transcript file's folder for the links to resolve.
    """
    won = "won" if episode.get("won") else "lost"
    lines = [
        f"## {episode.get('task_id')} (seed {episode.get('seed')})",
        "",
        f"- iteration {episode.get('iteration')}, split `{episode.get('split')}`",
        f"- {won}, stop reason `{episode.get('stop_reason')}`, "
        f"return {float(episode.get('return', 0.0)):.3f}, "
        f"{len(episode.get('turns', []))} turns",
    ]
    info = episode.get("info") or {}
    if info:
        lines.append(f"- info: `{json.dumps(info, default=str, ensure_ascii=False)}`")
    for k, turn in enumerate(episode.get("turns", []), start=1):
        lines += ["", f"### Turn {k}", "", "**Observation**", "", _fence(str(turn["observation"]))]
        if turn.get("image"):
            lines += ["", f"![turn {k} image]({turn['image']})"]
        if include_prompt and turn.get("prompt"):
            lines += ["", "**Prompt**", "", _fence(str(turn["prompt"]))]
        lines += ["", "**Response**", "", _fence(str(turn["response"])), ""]
        valid = "valid" if turn.get("action_valid") else "invalid"
        lines.append(
            f"- action `{turn.get('action')}` ({valid}), reward {float(turn['reward']):.3f}, "
            f"Φ {float(turn['phi']):.4f}, {turn.get('n_tokens')} tokens"
        )
        if turn.get("tti_fired_at") is not None:
            forced = turn.get("tti_forced_text")
            what = f": forced {', '.join(repr(t) for t in forced)}" if forced else ""
            lines.append(
                f"- TTI fired at token {turn['tti_fired_at']} "
                f"({turn.get('n_forced', 0)} forced tokens){what}"
            )
        if turn.get("tds_resamples"):
            lines.append(f"- TDS resampled this turn {turn['tds_resamples']} time(s)")
        if turn.get("parse_error"):
            lines.append(f"- parse error: {turn['parse_error']}")
    return "\n".join(lines) + "\n"
