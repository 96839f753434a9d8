"""Load a local model as a sampler, and ask what a sampler can give.

Building the sampler a ``Config`` asks for (``model.sampler``) is ``t2po.settings.make_sampler``:
this layer knows no configuration."""

from __future__ import annotations

from pathlib import Path

from t2po.inference.base import Sampler


def servable_model_path(path: str) -> str:
    """A training checkpoint (``.../checkpoints/iter_000010``) holds its model in ``model/``;
    any other path or name ('tiny', an HF folder) is returned as is."""
    inner = Path(path).expanduser() / "model"
    return str(inner) if (inner / "config.json").is_file() else path


def load_hf_sampler(
    path: str,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    seed: int = 0,
    decode_backend: str = "eager",
) -> Sampler:
    """An :class:`~t2po.inference.hf.HFSampler` over 'tiny', an HF folder or a checkpoint
    (a vision-language model's sampler gets its processor)."""
    from t2po.inference.hf import HFSampler
    from t2po.models.loading import load_model_and_tokenizer, load_model_processor

    folder = servable_model_path(path)
    model, tokenizer = load_model_and_tokenizer(folder, device=device, dtype=dtype)
    processor = load_model_processor(folder)  # None for a text model
    return HFSampler(
        model,
        tokenizer,
        device=device,
        seed=seed,
        processor=processor,
        decode_backend=decode_backend,
    )


def provides_token_signals(sampler: Sampler) -> bool:
    """False for samplers that cannot give per-token log-probs and ``M_t`` (remote APIs)."""
    return bool(getattr(sampler, "provides_token_signals", True))
