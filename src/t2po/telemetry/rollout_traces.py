"""Rollout episodes as MLflow traces: one trace per episode, one span per turn.

The input is an episode record in the transcript schema
(:func:`t2po.telemetry.transcripts.episode_record`), so traces and ``transcripts.jsonl``
show the same thing. Why traces rather than artifacts: an agent episode *is* a call tree
(episode → turns, each a prompt answered by a response and an action), which is what
MLflow's trace view renders, searches by tag and links to its run; a JSONL artifact would
need downloading to read. What does not fit a trace view (every episode of every
iteration, validation included) stays in ``transcripts.jsonl``, which the logger attaches
as an artifact when the run ends.

Layout of a trace:

- root span ``episode`` (type ``AGENT``): inputs task, seed, iteration, split, group and
  member; outputs won, return, stop reason, turns and the final env info. Trace tags
  ``t2po.iteration``, ``t2po.split``, ``t2po.task_id`` and ``t2po.won`` make the traces of
  one iteration or the won ones easy to filter in the UI.
- child span ``turn k`` (type ``LLM``) per turn: inputs the observation and the full
  prompt text; outputs the response text and the parsed action; attributes reward, ``Φ``,
  where TTI fired and the text it forced, TDS resamples, action validity, parse error and
  the response's token count. An image turn (its record's ``image``: a PNG path relative to
  the transcript's folder, ``image_root``) also gets the picture: the PNG's bytes as an
  MLflow trace attachment (``mlflow.tracing.attachments.Attachment``) in the inputs'
  ``image``, which MLflow stores as an artifact beside the trace data, replaces by an
  ``mlflow-attachment://`` reference in the span, and shows inline in the trace view; the
  attribute ``image_path`` keeps the transcript's relative path. A PNG that is missing
  (a transcript copied without its ``images/`` folder) leaves ``image`` out, not the span.

Spans are created after the episode ran (the trainer hands finished episodes over), so
their timestamps mark when they were logged, not how long each turn took.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["TURN_ATTRIBUTES", "log_episode_trace"]

TURN_ATTRIBUTES = (
    "reward",
    "phi",
    "done",
    "action_valid",
    "tti_fired_at",
    "tti_forced_text",
    "n_forced",
    "tds_resamples",
    "parse_error",
    "n_tokens",
)
"""Turn fields recorded as span attributes (the rest are the span's inputs and outputs)."""


def log_episode_trace(
    client: MlflowClient,
    experiment_id: str,
    run_id: str,
    step: int,
    episode: Mapping[str, Any],
    image_root: str | os.PathLike[str] | None = None,
) -> str:
    """Log one episode record as a trace linked to ``run_id``; returns the trace id.

    ``image_root``: the folder the turns' ``image`` paths are relative to (the transcript
    file's); None attaches no pictures.
    """
    won = bool(episode.get("won"))
    root = client.start_trace(
        name="episode",
        span_type="AGENT",
        inputs={
            key: episode.get(key)
            for key in ("task_id", "seed", "iteration", "split", "group", "member")
        },
        tags={
            "t2po.iteration": str(step),
            "t2po.split": str(episode.get("split")),
            "t2po.task_id": str(episode.get("task_id")),
            "t2po.won": str(won).lower(),
        },
        experiment_id=experiment_id,
        run_id=run_id,
    )
    trace_id = root.trace_id
    try:
        for k, turn in enumerate(episode.get("turns", []), start=1):
            inputs: dict[str, Any] = {
                "observation": turn.get("observation"),
                "prompt": turn.get("prompt"),
            }
            attributes: dict[str, Any] = {"turn": k, **{a: turn.get(a) for a in TURN_ATTRIBUTES}}
            if turn.get("image"):
                attributes["image_path"] = turn["image"]
                picture = _png_attachment(image_root, str(turn["image"]))
                if picture is not None:
                    inputs["image"] = picture
            span = client.start_span(
                name=f"turn {k}",
                trace_id=trace_id,
                parent_id=root.span_id,
                span_type="LLM",
                inputs=inputs,
                attributes=attributes,
            )
            client.end_span(
                trace_id=trace_id,
                span_id=span.span_id,
                outputs={"response": turn.get("response"), "action": turn.get("action")},
            )
    finally:
        # Always end the trace, so a failed span does not leave it open in MLflow's
        # in-memory trace manager.
        client.end_trace(
            trace_id,
            outputs={
                "won": won,
                "return": episode.get("return"),
                "stop_reason": episode.get("stop_reason"),
                "n_turns": episode.get("n_turns"),
                "info": episode.get("info"),
            },
        )
    return str(trace_id)


def _png_attachment(root: str | os.PathLike[str] | None, relative: str) -> Any | None:
    """The PNG at ``root/relative`` as an MLflow trace attachment; None when it is not there
    (or would lie outside ``root``: a transcript path must not reach other files)."""
    if root is None:
        return None
    try:
        from mlflow.tracing.attachments import Attachment
    except ImportError:  # an MLflow without trace attachments: the span keeps image_path
        return None
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return Attachment(content_type="image/png", content_bytes=path.read_bytes())
