"""Pictures in chat requests: an ``image_url`` content part's data URL to RGB pixels.

The model server runs offline (it answers on 127.0.0.1 and fetches nothing), so a picture
must come inline, as OpenAI's API also accepts it: ``data:image/png;base64,...`` (any format
Pillow reads: PNG, JPEG, WebP, GIF's first frame). A remote ``http(s)://`` URL is refused
with a 400 that says to send a data URL instead, never fetched.

A picture is decoded to RGB uint8 ``(H, W, 3)``, what ``Message["images"]`` holds and the
model's processor reads (it resizes within its own pixel budget). The pixel count is checked
from the header before any pixel is decoded: the body limit bounds a PNG's bytes, not its
size once inflated.
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np

from t2po.serve.openai_api import RequestError

__all__ = ["MAX_IMAGE_PIXELS", "decode_image_url"]

MAX_IMAGE_PIXELS = 4096 * 4096
"""Larger pictures are refused (a 16-megapixel RGB array is 48 MB)."""

_DATA_URL_HELP = "send the picture inline as a data URL: data:image/png;base64,<the PNG's bytes>"


def decode_image_url(url: str) -> np.ndarray:
    """The pixels of an ``image_url`` part's URL; :class:`RequestError` (400) otherwise."""
    from PIL import Image, UnidentifiedImageError

    if url.startswith(("http://", "https://")):
        raise RequestError(
            f"image_url: this server is offline and does not fetch remote pictures "
            f"({url[:60]}); {_DATA_URL_HELP}",
            param="messages",
        )
    header, sep, payload = url.partition(",")
    if not url.startswith("data:") or not sep or not header.endswith(";base64"):
        raise RequestError(
            f"image_url: not a base64 data URL ({url[:40]!r}); {_DATA_URL_HELP}",
            param="messages",
        )
    mime = header.removeprefix("data:").removesuffix(";base64")
    if not mime.startswith("image/"):
        raise RequestError(f"image_url: {mime!r} is not an image type", param="messages")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            "image_url: the data URL's payload is not base64", param="messages"
        ) from None
    try:
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size  # read from the header; nothing decoded yet
            if width * height > MAX_IMAGE_PIXELS:
                raise RequestError(
                    f"image_url: a {width}x{height} picture is over this server's limit of "
                    f"{MAX_IMAGE_PIXELS} pixels; send a smaller one",
                    param="messages",
                )
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise RequestError(
            f"image_url: the data URL does not hold a picture Pillow can read ({exc})",
            param="messages",
        ) from None
