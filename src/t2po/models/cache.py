"""Where prepared models live, and how a folder gets there without anyone seeing it half-built.

The cache root is ``$T2PO_CACHE`` when set, else ``~/.cache/t2po``; models go under
``<root>/models/<name>``. A folder is built in a hidden temporary sibling and renamed into
place, so a folder that exists is complete (``rename`` is atomic on one filesystem). A file
lock next to it keeps concurrent processes (pytest-xdist workers, several ``t2po`` runs)
from doing the same work twice; if two builds race anyway, the first rename wins and the
loser throws its copy away.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock  # a dependency of torch itself, so always present
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

CACHE_ENV_VAR = "T2PO_CACHE"


def cache_root() -> Path:
    """The cache root: ``$T2PO_CACHE`` or ``~/.cache/t2po``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "t2po"


def models_dir() -> Path:
    """Folder holding prepared models (``<cache root>/models``)."""
    return cache_root() / "models"


def is_model_folder(path: Path) -> bool:
    """True when ``path`` is a folder with a Hugging Face ``config.json``."""
    return path.is_dir() and (path / "config.json").is_file()


def build_once(target: Path, build: Callable[[Path], object]) -> Path:
    """Return ``target``, first calling ``build(tmp_dir)`` and renaming it there if missing.

    ``build`` writes a complete model folder into the empty directory it is given.
    """
    if is_model_folder(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if is_model_folder(target):  # another process finished while we waited
            return target
        if target.exists():  # not ours to trust: no config.json, e.g. a manual leftover
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private; a cache folder is for every reader
            try:
                tmp.rename(target)
            except OSError:
                # Lost a race with a process that did not take the lock (e.g. another
                # filesystem view); its folder is as good as ours.
                if not is_model_folder(target):
                    raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
    return target


def save_model_folder(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path
) -> None:
    """``save_pretrained`` both, quietly, in a form older transformers and vLLM also read.

    The chat template goes into ``tokenizer_config.json`` (not only ``chat_template.jinja``),
    and the tokenizer class is recorded as ``PreTrainedTokenizerFast``: transformers 5 writes
    its own name ``TokenizersBackend``, which 4.x does not know; both load ``tokenizer.json``
    unchanged.
    """
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):  # a stale copy would shadow the new template
        (out / "chat_template.jinja").unlink()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out, save_jinja_files=False)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("is_local", "local_files_only"):  # load-time flags, not tokenizer settings
        cfg.pop(key, None)
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
