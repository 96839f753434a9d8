"""rollout_throughput: our batched KV-cached decode vs Hugging Face ``generate()`` per episode.

One rollout turn's worth of prompts (the first-turn chat prompts of ``N`` Sokoban episodes)
is answered three ways with the offline ``tiny`` model, the same sampling (temperature 1.0,
no top-k, no top-p), the same ``max_new_tokens`` and no stop string (a response ends at an
EOS id or at the budget, in every arm):

1. ``ours``: :class:`t2po.inference.HFSampler`, all ``N`` prompts in one batch (it also
   computes ``M_t`` and the log-probs every step);
2. ``hf_generate_per_episode``: ``model.generate(do_sample=True)`` called once per prompt
   (batch 1) — the baseline of the goal;
3. ``hf_generate_batched``: one ``model.generate`` over all ``N`` prompts with left
   padding, for honesty (it returns no ``M_t``).

Tokens are the real generated tokens of each response (up to and including its EOS), so
tokens/s stays fair if an arm stops some rows early. speedup = tokens/s of ``ours`` /
tokens/s of ``hf_generate_per_episode`` (goal: >= 5). Chat rendering and tokenisation are
inside the timed region for every arm.

Usage::

    python benchmarks/rollout_throughput.py           # full: 32 prompts, 48 tokens, 3 repeats
    python benchmarks/rollout_throughput.py --quick   # seconds, for tests

Last line: ``RESULT rollout_throughput speedup=<x>``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import _common as common

common.set_offline()

import torch  # noqa: E402
import transformers  # noqa: E402

from t2po.config import RolloutConfig  # noqa: E402
from t2po.inference import HFSampler, SamplingParams  # noqa: E402
from t2po.models import load_model_and_tokenizer  # noqa: E402
from t2po.types import Message  # noqa: E402

NAME = "rollout_throughput"
DEFAULT_REPEATS = 3
FULL = {"episodes": 32, "max_new_tokens": 48}
QUICK = {"episodes": 4, "max_new_tokens": 8}
TEMPERATURE = 1.0
_ROLLOUT = RolloutConfig()
ARMS = ("ours", "hf_generate_per_episode", "hf_generate_batched")


def _render(tokenizer: Any, messages: list[Message]) -> str:
    return tokenizer.apply_chat_template(
        [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
    )


def _hf_kwargs(model: Any, tokenizer: Any, max_new_tokens: int) -> dict[str, Any]:
    return {
        "do_sample": True,
        "temperature": TEMPERATURE,
        "top_k": 0,  # HF's default is 50; 0 = off, as in our arm
        "top_p": 1.0,
        "max_new_tokens": max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": _eos_ids(model, tokenizer),
    }


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The same EOS set ``HFSampler`` uses: the tokenizer's plus the generation config's."""
    ids = [] if tokenizer.eos_token_id is None else [int(tokenizer.eos_token_id)]
    gen_eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.append(gen_eos)
    elif isinstance(gen_eos, list | tuple):
        ids += [int(i) for i in gen_eos]
    return sorted(set(ids))


def _response_lengths(generated_B_T: torch.Tensor, eos_ids: list[int]) -> list[int]:
    """Tokens up to and including the first EOS of each row (``T`` when none)."""
    lengths = []
    eos = torch.tensor(eos_ids, dtype=generated_B_T.dtype, device=generated_B_T.device)
    is_eos_B_T = torch.isin(generated_B_T, eos)
    for row in is_eos_B_T:
        hits = row.nonzero()
        lengths.append(int(hits[0, 0]) + 1 if len(hits) else int(row.shape[0]))
    return lengths


def make_arms(
    model: Any, tokenizer: Any, device: str, seed: int
) -> dict[str, Callable[[list[list[Message]], int, int], int]]:
    """Each arm: ``(prompts, max_new_tokens, seed) -> generated tokens``."""
    sampler = HFSampler(model, tokenizer, device=device, seed=seed)
    eos_ids = _eos_ids(model, tokenizer)

    def ours(prompts: list[list[Message]], max_new: int, seed: int) -> int:
        params = SamplingParams(
            temperature=TEMPERATURE,
            top_p=1.0,
            top_k=0,
            max_new_tokens=max_new,
            alpha=_ROLLOUT.alpha,  # M_t as a default-config run computes it
            top_j=_ROLLOUT.top_j,
            stop=(),
            seed=seed,
        )
        return sum(len(o.token_ids) for o in sampler.generate(prompts, params))

    @torch.inference_mode()
    def per_episode(prompts: list[list[Message]], max_new: int, seed: int) -> int:
        torch.manual_seed(seed)
        kwargs = _hf_kwargs(model, tokenizer, max_new)
        total = 0
        for messages in prompts:
            enc = tokenizer(
                _render(tokenizer, messages), add_special_tokens=False, return_tensors="pt"
            ).to(device)
            out = model.generate(**enc, **kwargs)
            total += sum(_response_lengths(out[:, enc["input_ids"].shape[1] :], eos_ids))
        return total

    @torch.inference_mode()
    def batched(prompts: list[list[Message]], max_new: int, seed: int) -> int:
        torch.manual_seed(seed)
        texts = [_render(tokenizer, messages) for messages in prompts]
        enc = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt").to(
            device
        )  # the loaded tokenizer pads on the left
        out = model.generate(**enc, **_hf_kwargs(model, tokenizer, max_new))
        return sum(_response_lengths(out[:, enc["input_ids"].shape[1] :], eos_ids))

    return {"ours": ours, "hf_generate_per_episode": per_episode, "hf_generate_batched": batched}


def main(argv: list[str] | None = None) -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args(argv)
    device = args.device
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS, device)
    sizes = QUICK if args.quick else FULL
    transformers.logging.set_verbosity_error()

    model, tokenizer = load_model_and_tokenizer("tiny", device=device)
    if tokenizer.padding_side != "left":
        raise RuntimeError("batched generate needs a left-padding tokenizer")
    prompts = common.sokoban_prompts(sizes["episodes"])
    n_new = sizes["max_new_tokens"]
    arms = make_arms(model, tokenizer, device, args.seed)

    for fn in arms.values():  # warm-up
        fn(prompts[:2], min(4, n_new), args.seed)
    seconds: dict[str, list[float]] = {a: [] for a in ARMS}
    tokens: dict[str, list[int]] = {a: [] for a in ARMS}
    for r in range(repeats):
        order = ARMS[r % len(ARMS) :] + ARMS[: r % len(ARMS)]  # rotate who runs first
        for arm in order:
            run = functools.partial(arms[arm], prompts, n_new, args.seed + r)
            s, n = common.timed(run, device)
            seconds[arm].append(s)
            tokens[arm].append(n)

    results: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        tps = [n / s for n, s in zip(tokens[arm], seconds[arm], strict=True)]
        results[arm] = {
            "seconds": seconds[arm],
            "generated_tokens": tokens[arm],
            "tokens_per_s": tps,
            "median_s": common.median(seconds[arm]),
            "median_tokens_per_s": common.median(tps),
            "mean_tokens_per_episode": sum(tokens[arm]) / (len(tokens[arm]) * len(prompts)),
        }
    base = results["hf_generate_per_episode"]["median_tokens_per_s"]
    for arm in ARMS:
        results[arm]["speedup_vs_per_episode"] = results[arm]["median_tokens_per_s"] / base
    speedup = results["ours"]["speedup_vs_per_episode"]
    vs_batched = (
        results["ours"]["median_tokens_per_s"]
        / (results["hf_generate_batched"]["median_tokens_per_s"])
    )

    common.print_table(
        f"{len(prompts)} Sokoban first-turn prompts, max_new_tokens {n_new}, T={TEMPERATURE}, "
        "tiny model",
        ["arm", "median s", "tokens/episode", "tokens/s", "x per-episode generate"],
        [
            [
                arm,
                results[arm]["median_s"],
                results[arm]["mean_tokens_per_episode"],
                results[arm]["median_tokens_per_s"],
                results[arm]["speedup_vs_per_episode"],
            ]
            for arm in ARMS
        ],
    )
    print(f"ours vs batched generate: {vs_batched:.2f}x")
    payload = {
        "quick": bool(args.quick),
        "repeats": repeats,
        "seed": args.seed,
        "machine": machine,
        "goal": "speedup >= 5 (ours vs generate() once per episode)",
        "model": "tiny",
        "episodes": len(prompts),
        "max_new_tokens": n_new,
        "temperature": TEMPERATURE,
        "prompt_tokens": [
            len(tokenizer(_render(tokenizer, p), add_special_tokens=False)["input_ids"])
            for p in prompts
        ],
        "arms": results,
        "speedup_vs_batched_generate": vs_batched,
    }
    common.finish(NAME, args.out, payload, {"speedup": speedup})


if __name__ == "__main__":
    main()
