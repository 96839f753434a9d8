"""Sample episodes in ``t2po report``'s HTML: what the agent saw, pictures included, and did.

For every run folder with a ``transcripts.jsonl``, the page shows a few episodes of the last
iteration written (training episodes; validation ones when a run wrote none): per turn the
observation, the picture of an image turn, the response, the action and its reward.

Pictures are copied into the report folder (``episodes/<NN>_<run>/images/...``, the path
the transcript names under a folder per run) and referenced by that relative path, so the
page renders wherever the report folder is opened, copied or served from; a path back into
the run folder would break as soon as the report leaves the machine. A picture the
transcript names but the run folder lacks is said so on the page, not an error.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from t2po.telemetry.transcripts import read_transcripts

__all__ = ["DEFAULT_EPISODES_PER_RUN", "EPISODES_DIR", "episodes_html", "sample_episodes"]

EPISODES_DIR = "episodes"
DEFAULT_EPISODES_PER_RUN = 2

STYLE = (
    "details{margin:1em 0}pre{background:#f6f6f6;padding:6px;white-space:pre-wrap}"
    # Frames are a few pixels per cell: scale them up without blurring the tiles.
    "img.frame{image-rendering:pixelated;min-width:192px}"
)
"""CSS the episode section needs, added to the report's style sheet."""


def sample_episodes(records: Sequence[Mapping[str, Any]], per_run: int) -> list[Mapping[str, Any]]:
    """The first ``per_run`` episodes of the last iteration with training episodes (of the
    last iteration written when there are none), in file order."""
    if per_run <= 0 or not records:
        return []
    train = [r for r in records if r.get("split") == "train"]
    pool = train or list(records)
    last = max(int(r.get("iteration", 0)) for r in pool)
    return [r for r in pool if int(r.get("iteration", 0)) == last][:per_run]


def _copy_picture(run_dir: Path, relative: str, target_root: Path) -> bool:
    """Copy ``run_dir/relative`` to ``target_root/relative``; False when it is missing or
    the path leaves the run folder (a transcript must not reach other files)."""
    posix = PurePosixPath(relative)
    if posix.is_absolute() or ".." in posix.parts:
        return False
    source = run_dir / posix
    if not source.is_file():
        return False
    target = target_root / posix
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return True


def _turn_html(turn: Mapping[str, Any], k: int, picture: str | None, missing: bool) -> str:
    parts = [f"<h4>Turn {k}</h4>"]
    if picture is not None:
        src = html.escape(picture, quote=True)
        parts.append(f"<img class='frame' src='{src}' alt='turn {k}: what the agent saw'>")
    elif missing:
        parts.append(f"<p>picture {html.escape(str(turn['image']))} is missing from the run</p>")
    parts.append(f"<pre>{html.escape(str(turn.get('observation', '')))}</pre>")
    parts.append(f"<pre>{html.escape(str(turn.get('response', '')))}</pre>")
    valid = "valid" if turn.get("action_valid") else "invalid"
    reward = float(turn.get("reward") or 0.0)
    parts.append(
        f"<p>action <code>{html.escape(str(turn.get('action')))}</code> ({valid}), "
        f"reward {reward:.3f}</p>"
    )
    return "".join(parts)


def _episode_html(
    run_name: str, episode: Mapping[str, Any], run_dir: Path, out_dir: Path, folder: str
) -> str:
    outcome = "won" if episode.get("won") else "lost"
    turns = episode.get("turns") or []
    summary = (
        f"{run_name}: {episode.get('task_id')} (seed {episode.get('seed')}), iteration "
        f"{episode.get('iteration')} {episode.get('split')}, {outcome}, return "
        f"{float(episode.get('return') or 0.0):.3f}, {len(turns)} turns"
    )
    body = []
    for k, turn in enumerate(turns, start=1):
        picture, missing = None, False
        if turn.get("image"):
            if _copy_picture(run_dir, str(turn["image"]), out_dir / EPISODES_DIR / folder):
                picture = f"{EPISODES_DIR}/{folder}/{turn['image']}"
            else:
                missing = True
        body.append(_turn_html(turn, k, picture, missing))
    return f"<details><summary>{html.escape(summary)}</summary>{''.join(body)}</details>"


def episodes_html(
    run_dirs: Sequence[Path], out_dir: Path, per_run: int = DEFAULT_EPISODES_PER_RUN
) -> str:
    """The page's ``Sample episodes`` section ("" when no run has transcripts); copies the
    pictures it shows under ``out_dir/episodes/``."""
    sections = []
    for index, run_dir in enumerate(run_dirs):
        path = run_dir / "transcripts.jsonl"
        if not path.is_file():
            continue
        name = run_dir.resolve().name
        # A folder per run (numbered: two runs may share a folder name), so the pictures
        # of different runs, which share file names, do not overwrite each other.
        folder = f"{index:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}"
        for episode in sample_episodes(read_transcripts(path), per_run):
            sections.append(_episode_html(name, episode, run_dir, out_dir, folder))
    if not sections:
        return ""
    return "<h2>Sample episodes</h2>" + "".join(sections)
