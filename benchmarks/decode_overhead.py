"""decode_overhead: what the T2PO controls (the TTI controller) add to a decode step.

Same model, same batch, same seed, T2PO controls on vs off; ratio = median(on) / median(off)
of the whole ``HFSampler.generate`` call (goal: <= 1.05). ``M_t`` is computed in both arms:
the sampler always returns it (architecture.md, Decision 3), so "on" means the TTI
controller runs every step on top of that.

Equal work in both arms:

* the chat template is the tiny model's ChatML with ``<think>`` opened in the generation
  prompt (as DeepSeek-R1-style templates do), so every row is inside a thinking block from
  its first token and TTI tracks ``Δ_t`` at every step;
* TTI settings that check every step but can never fire (``eps = 0``: a mean of ``|Δ|``
  is never ``< 0``; ``L_max`` above ``max_new_tokens``), no stop strings, a fixed
  ``max_new_tokens`` and the same ``seed`` — so both arms emit *identical* tokens, which
  the script verifies (and reports) before trusting a ratio.

Two models:

1. the offline ``tiny`` model (~1M parameters, vocabulary ~1k);
2. a random tiny Qwen3 with the real Qwen3 vocabulary width, 151,936 (hidden 64,
   2 layers), with the tiny tokenizer (its ids are < 151,936; only the logits width
   matters here).

Extra columns: one sampling step alone (choice + ``H_t`` + ``C_t``) at B x 151,936 with
:func:`t2po.inference.sampling.sample_step` vs a naive ``softmax`` + ``torch.multinomial``
(sampling only), and the naive path with the uncertainty inputs added.

Usage::

    python benchmarks/decode_overhead.py            # full: batch 32, 64 tokens, 5 repeats
    python benchmarks/decode_overhead.py --quick    # seconds, for tests

Last line: ``RESULT decode_overhead ratio=<on/off> ratio_v152k=<on/off>``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import _common as common

common.set_offline()

import torch  # noqa: E402
from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM  # noqa: E402

from t2po.algo.uncertainty import confidence_from_top_logprobs  # noqa: E402
from t2po.config import Config, TTIConfig  # noqa: E402
from t2po.exploration.tti import TTIParams  # noqa: E402
from t2po.inference import HFSampler, SamplingParams  # noqa: E402
from t2po.inference.sampling import SamplingWorkspace, sample_step  # noqa: E402
from t2po.models import load_model_and_tokenizer  # noqa: E402
from t2po.models.tiny import CHAT_TEMPLATE  # noqa: E402
from t2po.response_format import THINK_OPEN  # noqa: E402
from t2po.settings import sampling_params, tti_params  # noqa: E402
from t2po.types import Message  # noqa: E402

NAME = "decode_overhead"
DEFAULT_REPEATS = 5
QWEN3_VOCAB = 151_936
FULL = {"batch": 32, "max_new_tokens": 64, "micro_batch": 32, "micro_iters": 20}
QUICK = {"batch": 4, "max_new_tokens": 8, "micro_batch": 4, "micro_iters": 2}
TOP_J = 20

_GEN_PROMPT = "{{ '<|im_start|>assistant\\n' }}"
THINK_TEMPLATE = CHAT_TEMPLATE.replace(_GEN_PROMPT, "{{ '<|im_start|>assistant\\n<think>' }}")


def think_tokenizer(tokenizer: Any) -> Any:
    """The tiny tokenizer with ``<think>`` opened by the generation prompt (in place)."""
    if THINK_TEMPLATE == CHAT_TEMPLATE:
        raise RuntimeError("the tiny chat template changed; update THINK_TEMPLATE")
    tokenizer.chat_template = THINK_TEMPLATE
    return tokenizer


def random_qwen3(tokenizer: Any, vocab_size: int, device: str, seed: int) -> Any:
    """A random tiny Qwen3 whose logits are ``vocab_size`` wide."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        intermediate_size=192,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=pad, eos_token_id=[eos, pad], pad_token_id=pad
    )
    model.to(device)  # type: ignore[arg-type]  # transformers' wrapper on .to() is mis-typed
    return model.eval()


def arm_params(max_new_tokens: int, seed: int) -> dict[str, SamplingParams]:
    # A default-config training rollout's sampling (alpha from the config), changed where the
    # benchmark needs it.
    off = dataclasses.replace(
        sampling_params(Config(), evaluation=False),
        temperature=1.0,
        max_new_tokens=max_new_tokens,
        stop=(),
        tti=None,
        top_j=TOP_J,
        seed=seed,
    )
    return {"off": off, "on": dataclasses.replace(off, tti=never_fires(max_new_tokens))}


def never_fires(max_new_tokens: int) -> TTIParams:
    """TTI that checks every step and never fires (mean ``|Δ|`` < 0 is impossible; no L_max)."""
    return dataclasses.replace(tti_params(TTIConfig()), l_min=0, eps=0.0, l_max=max_new_tokens + 1)


def measure_overhead(
    label: str,
    sampler: HFSampler,
    prompts: list[list[Message]],
    max_new_tokens: int,
    repeats: int,
    seed: int,
    device: str,
) -> dict[str, Any]:
    """Interleaved on/off timings of ``sampler.generate`` and the equal-work check."""
    params = arm_params(max_new_tokens, seed)
    for arm in ("on", "off"):  # warm-up: workspace buffers, allocator, lazy inits
        sampler.generate(prompts, params[arm])
    times: dict[str, list[float]] = {"on": [], "off": []}
    outputs: dict[str, Any] = {}
    for r in range(repeats):
        for arm in ("on", "off") if r % 2 == 0 else ("off", "on"):
            seconds, outputs[arm] = common.timed(
                functools.partial(sampler.generate, prompts, params[arm]), device
            )
            times[arm].append(seconds)

    tokens = {arm: sum(len(o.token_ids) for o in outs) for arm, outs in outputs.items()}
    steps = {arm: max(len(o.token_ids) for o in outs) for arm, outs in outputs.items()}
    identical = [o.token_ids for o in outputs["on"]] == [o.token_ids for o in outputs["off"]]
    fired = sum(o.tti_fired_at is not None for o in outputs["on"])
    if tokens["on"] != tokens["off"] or not identical or fired:
        raise RuntimeError(
            f"[{label}] the arms did unequal work (tokens {tokens}, identical={identical}, "
            f"TTI fired in {fired} rows); the ratio would be meaningless"
        )
    med = {arm: common.median(times[arm]) for arm in times}
    return {
        "label": label,
        "batch": len(prompts),
        "vocab_size": int(sampler.model.config.vocab_size),
        "max_new_tokens": max_new_tokens,
        "decode_steps": steps["on"],
        "generated_tokens_on": tokens["on"],
        "generated_tokens_off": tokens["off"],
        "identical_tokens": identical,
        "tti_fired_rows": fired,
        "prompt_tokens_max": max(len(o.prompt_token_ids) for o in outputs["on"]),
        "seconds_on": times["on"],
        "seconds_off": times["off"],
        "median_s_on": med["on"],
        "median_s_off": med["off"],
        "ms_per_step_on": 1e3 * med["on"] / steps["on"],
        "ms_per_step_off": 1e3 * med["off"] / steps["off"],
        "ratio": med["on"] / med["off"],
    }


def sampling_step_microbench(
    batch: int, vocab: int, iters: int, device: str, seed: int
) -> dict[str, Any]:
    """ms per step at ``(batch, vocab)``: ours (choice + H + C) vs naive multinomial paths."""
    gen = torch.Generator(device=device).manual_seed(seed)
    logits = 2.0 * torch.randn(batch, vocab, generator=gen, device=device)
    temperature = 1.0
    workspace = SamplingWorkspace()

    def ours() -> Any:
        return sample_step(
            logits,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            top_j=TOP_J,
            generator=gen,
            workspace=workspace,
        )

    def naive_sample() -> Any:
        probs = torch.softmax(logits / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=gen)

    def naive_with_uncertainty() -> Any:
        logprobs = torch.log_softmax(logits / temperature, dim=-1)
        probs = logprobs.exp()
        entropy = -(probs * logprobs).sum(dim=-1)
        confidence = confidence_from_top_logprobs(torch.topk(logprobs, TOP_J, dim=-1).values)
        return torch.multinomial(probs, 1, generator=gen), entropy, confidence

    fns = {
        "ours": ours,
        "naive_multinomial": naive_sample,
        "naive_multinomial_plus_h_c": naive_with_uncertainty,
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.inference_mode():
        for fn in fns.values():
            fn()
        for _ in range(max(1, iters)):
            for key, fn in fns.items():
                times[key].append(common.timed(fn, device)[0])
    ms = {k: 1e3 * common.median(v) for k, v in times.items()}
    return {
        "batch": batch,
        "vocab_size": vocab,
        "iters": iters,
        "ms_ours": ms["ours"],
        "ms_naive_multinomial": ms["naive_multinomial"],
        "ms_naive_multinomial_plus_h_c": ms["naive_multinomial_plus_h_c"],
        "speedup_vs_naive_multinomial": ms["naive_multinomial"] / ms["ours"],
        "speedup_vs_naive_plus_h_c": ms["naive_multinomial_plus_h_c"] / ms["ours"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args(argv)
    device = args.device
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS, device)
    sizes = QUICK if args.quick else FULL

    model, tokenizer = load_model_and_tokenizer("tiny", device=device)
    tokenizer = think_tokenizer(tokenizer)
    prompts = common.sokoban_prompts(sizes["batch"])
    rendered = tokenizer.apply_chat_template(prompts[0], add_generation_prompt=True, tokenize=False)
    if not rendered.rstrip().endswith(THINK_OPEN):
        raise RuntimeError("the generation prompt does not open <think>; TTI would sit idle")
    n_new = sizes["max_new_tokens"]

    tiny = measure_overhead(
        "tiny",
        HFSampler(model, tokenizer, device=device, seed=args.seed),
        prompts,
        n_new,
        repeats,
        args.seed,
        device,
    )
    big_model = random_qwen3(tokenizer, QWEN3_VOCAB, device, args.seed)
    big = measure_overhead(
        "random-qwen3-v152k",
        HFSampler(big_model, tokenizer, device=device, seed=args.seed),
        prompts,
        n_new,
        repeats,
        args.seed,
        device,
    )
    del big_model
    micro = sampling_step_microbench(
        sizes["micro_batch"], QWEN3_VOCAB, sizes["micro_iters"], device, args.seed
    )

    common.print_table(
        "HFSampler.generate, T2PO controls (TTI) on vs off, identical tokens in both arms "
        "(s = median whole call; ms/step = that / steps, prefill included)",
        [
            "model",
            "vocab",
            "batch",
            "steps",
            "tokens",
            "off s",
            "on s",
            "off ms/step",
            "on ms/step",
            "on/off",
        ],
        [
            [
                r["label"],
                r["vocab_size"],
                r["batch"],
                r["decode_steps"],
                r["generated_tokens_on"],
                r["median_s_off"],
                r["median_s_on"],
                r["ms_per_step_off"],
                r["ms_per_step_on"],
                r["ratio"],
            ]
            for r in (tiny, big)
        ],
    )
    common.print_table(
        f"One sampling step at B={micro['batch']} x V={micro['vocab_size']} (ms, median)",
        [
            "ours (choice+H+C)",
            "naive softmax+multinomial",
            "naive + H + C",
            "naive/ours",
            "(naive+H+C)/ours",
        ],
        [
            [
                micro["ms_ours"],
                micro["ms_naive_multinomial"],
                micro["ms_naive_multinomial_plus_h_c"],
                micro["speedup_vs_naive_multinomial"],
                micro["speedup_vs_naive_plus_h_c"],
            ]
        ],
    )
    payload = {
        "quick": bool(args.quick),
        "repeats": repeats,
        "seed": args.seed,
        "machine": machine,
        "goal": "ratio <= 1.05 (both models)",
        "tti_params_on": dataclasses.asdict(never_fires(n_new)),
        "tiny": tiny,
        "v152k": big,
        "sampling_step_v152k": micro,
    }
    common.finish(NAME, args.out, payload, {"ratio": tiny["ratio"], "ratio_v152k": big["ratio"]})


if __name__ == "__main__":
    main()
