"""Observation images as PNG files (``t2po play --image``, transcripts of image turns).

Pillow encodes; the pixels come from the environment (``obs["image"]``, uint8 ``(H, W, 3)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Save ``image`` (uint8 ``(H, W, 3)``) as a PNG at ``path``; returns the path."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"an observation image is uint8 (H, W, 3), got {array.dtype} {array.shape}"
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(out, format="PNG")
    return out
