"""vision_turns: the cost of pixels, text vs image turns on the tiny vision-language model.

The same tasks (the same seeds and sampling streams) of Sokoban and of a card game
(NumberLine) are played by ``tiny-vl`` three ways, ``env.kwargs.obs_mode`` ``text`` (the
baseline), ``image`` and ``text+image``, through the training path: the rollout engine and
:class:`t2po.inference.HFSampler` with the model's processor, then one PPO update
(``ppo_update``, forward + backward + optimizer step) on every turn with the pixels the sampler
saw (``encode_pictures``, as ``Trainer.advantages`` builds them). Settings are the vision
presets' (``configs/vision_sokoban_quickstart.yaml``, ``configs/vision_cards_quickstart.yaml``)
with smaller batches, TTI and TDS off (so no arm forces or resamples more tokens than another).

``tiny-vl`` is used as built (random weights): it writes no valid action, so every episode
runs to ``env.max_turns`` and every turn decodes ``max_new_tokens`` in every arm. What differs
between arms is only the prompt: its picture (vision tokens, the vision tower) against the
state written as text. Each arm starts from the same weights; arms alternate their order
between repeats; medians are reported. Per arm:

* rollout turns/s (turns played / seconds of ``rollout``; env steps and rendering included);
* prompt tokens per turn, of which vision tokens (``<|image_pad|>`` after expansion);
* update tokens/s: prompt + response tokens of the batch / seconds of one ``ppo_update``
  (one forward + backward per turn with the presets' one optimizer step), and update turns/s;
  the picture encoding for the update (``encode_s``) is timed apart.

The headline ratios are each picture arm's turns/s over the text arm's (below 1: pixels cost).
On CPU, rates are per *CPU* second of this process (``time.process_time``; wall seconds are in
the JSON too, with each arm's CPU share = CPU / wall): with one torch thread the CPU time is the
work done, while wall time on a shared machine also counts the time other processes held the
core. The committed run had a free core; one with ~9% of a core (2 cores shared with two
training jobs) gave the same ratios to within 0.05 and 15-30% lower rates.

Usage::

    python benchmarks/vision_turns.py           # 4 tasks x 4 episodes x 4 turns, 3 repeats
    python benchmarks/vision_turns.py --quick   # seconds, for tests

Last line: ``RESULT vision_turns sokoban_image_rollout=<x> sokoban_image_update=<x>
sokoban_text_image_rollout=<x> ... numberline_text_image_update=<x>`` (ratios to text).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import _common as common

common.set_offline()

import torch  # noqa: E402
import transformers  # noqa: E402

from t2po.config import Config, load_config  # noqa: E402
from t2po.envs.registry import get_family  # noqa: E402
from t2po.inference.hf import HFSampler  # noqa: E402
from t2po.inference.vision import encode_pictures  # noqa: E402
from t2po.models.loading import load_model_and_tokenizer, load_model_processor  # noqa: E402
from t2po.rollout.engine import rollout  # noqa: E402
from t2po.settings import RunSettings, train_tasks  # noqa: E402
from t2po.train.batch import trainable_mask  # noqa: E402
from t2po.train.update import Sample, ppo_update  # noqa: E402
from t2po.types import TrajectoryGroup  # noqa: E402

T = TypeVar("T")

NAME = "vision_turns"
DEFAULT_REPEATS = 3
MODEL = "tiny-vl"
# Game -> its preset; every arm of a game plays that preset's env with only obs_mode changed.
GAMES = {
    "sokoban": common.REPO / "configs" / "vision_sokoban_quickstart.yaml",
    "numberline": common.REPO / "configs" / "vision_cards_quickstart.yaml",
}
MODES = ("text", "image", "text+image")  # the first is the baseline
FULL = {"tasks": 4, "group_size": 4, "max_turns": 4}
QUICK = {"tasks": 1, "group_size": 2, "max_turns": 2, "max_new_tokens": 8}


def arm_config(game: str, mode: str, sizes: dict[str, int], seed: int) -> Config:
    """The game's preset with ``obs_mode`` = ``mode``, the benchmark's sizes, TTI/TDS off."""
    overrides = [
        f"seed={seed}",
        f"model.path={MODEL}",
        f"env.kwargs.obs_mode={mode}",
        f"env.max_turns={sizes['max_turns']}",
        f"rollout.tasks_per_iter={sizes['tasks']}",
        f"rollout.group_size={sizes['group_size']}",
        "tti.enabled=false",
        "tds.enabled=false",
    ]
    if "max_new_tokens" in sizes:
        overrides.append(f"rollout.max_new_tokens={sizes['max_new_tokens']}")
    return load_config(str(GAMES[game]), overrides)


@dataclass(frozen=True)
class Seconds:
    """Wall and CPU seconds of one timed call."""

    wall: float
    cpu: float

    def of(self, clock: str) -> float:
        """``cpu`` or ``wall`` seconds."""
        return self.cpu if clock == "cpu" else self.wall


def timed_cpu(fn: Callable[[], T], device: str = "cpu") -> tuple[Seconds, T]:
    """``fn()``'s wall seconds (``common.timed``) and this process's CPU seconds over it."""
    cpu0 = time.process_time()
    wall, out = common.timed(fn, device)
    return Seconds(wall, time.process_time() - cpu0), out


@dataclass
class ArmRun:
    """One timed pass of one arm: a rollout and one update on all its turns."""

    rollout_s: Seconds
    encode_s: Seconds
    update_s: Seconds
    turns: int
    prompt_tokens: int
    vision_tokens: int
    response_tokens: int


def play_and_update(
    model: Any,
    sampler: HFSampler,
    processor: Any,
    cfg: Config,
    start: dict[str, torch.Tensor],
    pad_id: int,
    seed: int,
    device: str,
) -> ArmRun:
    """From the ``start`` weights: one training rollout, then one PPO update on its turns."""
    model.load_state_dict(start)
    model.eval()
    settings = RunSettings.from_config(cfg)
    tasks = train_tasks(cfg, 0)  # no obs_mode in a task seed: every arm plays the same tasks
    family = get_family(cfg.env.family)

    def play() -> list[TrajectoryGroup]:
        return rollout(
            sampler,
            family,
            tasks,
            cfg.rollout.group_size,
            settings.train_sampling,
            settings.train_rollout,
            seed=seed,
        )

    rollout_s, groups = timed_cpu(play, device)
    turns = [t for g in groups for traj in g.trajectories for t in traj.turns]
    turns = [t for t in turns if t.response_token_ids]

    def encode() -> list[Any]:
        return [
            encode_pictures(processor, t.prompt_images) if t.prompt_images else None for t in turns
        ]

    encode_s, vision = timed_cpu(encode)
    advantages = torch.randn(len(turns), generator=torch.Generator().manual_seed(seed))
    samples = [
        Sample(
            prompt_ids=t.prompt_token_ids,
            response_ids=t.response_token_ids,
            trainable=trainable_mask(t, cfg.tti.train_on_forced),
            advantage=float(a),
            vision=v,
        )
        for t, a, v in zip(turns, advantages, vision, strict=True)
    ]
    o = cfg.optim
    optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=o.betas, eps=o.eps)
    model.train()
    update_s, _ = timed_cpu(
        lambda: ppo_update(
            model,
            optimizer,
            samples,
            settings.update,
            pad_id=pad_id,
            generator=torch.Generator().manual_seed(seed),
        ),
        device,
    )
    model.eval()
    image_token = int(processor.image_token_id)
    return ArmRun(
        rollout_s=rollout_s,
        encode_s=encode_s,
        update_s=update_s,
        turns=len(turns),
        prompt_tokens=sum(len(t.prompt_token_ids) for t in turns),
        vision_tokens=sum(t.prompt_token_ids.count(image_token) for t in turns),
        response_tokens=sum(len(t.response_token_ids) for t in turns),
    )


def summarize(runs: list[ArmRun], clock: str) -> dict[str, Any]:
    """Medians of the rates over repeats per ``clock`` second (``cpu`` or ``wall``), and the
    per-turn token counts (equal every repeat)."""
    last = runs[-1]
    tokens = last.prompt_tokens + last.response_tokens
    out: dict[str, Any] = {"turns": [r.turns for r in runs]}
    for stage in ("rollout_s", "encode_s", "update_s"):
        out[stage] = [getattr(r, stage).wall for r in runs]
        out[f"{stage[:-2]}_cpu_s"] = [getattr(r, stage).cpu for r in runs]
    return {
        **out,
        "rollout_turns_per_s": common.median([r.turns / r.rollout_s.of(clock) for r in runs]),
        "update_turns_per_s": common.median([r.turns / r.update_s.of(clock) for r in runs]),
        "update_tokens_per_s": common.median(
            [(r.prompt_tokens + r.response_tokens) / r.update_s.of(clock) for r in runs]
        ),
        "encode_ms_per_turn": 1e3 * common.median([r.encode_s.of(clock) / r.turns for r in runs]),
        "rollout_turns_per_wall_s": common.median([r.turns / r.rollout_s.wall for r in runs]),
        "update_turns_per_wall_s": common.median([r.turns / r.update_s.wall for r in runs]),
        "cpu_share": common.median(
            [
                (r.rollout_s.cpu + r.update_s.cpu) / (r.rollout_s.wall + r.update_s.wall)
                for r in runs
            ]
        ),
        "prompt_tokens_per_turn": last.prompt_tokens / last.turns,
        "vision_tokens_per_turn": last.vision_tokens / last.turns,
        "response_tokens_per_turn": last.response_tokens / last.turns,
        "update_tokens": tokens,
    }


def main(argv: list[str] | None = None) -> None:
    parser = common.base_parser(NAME, __doc__.splitlines()[0], DEFAULT_REPEATS)
    args = parser.parse_args(argv)
    device = args.device
    repeats, machine = common.start(args, NAME, DEFAULT_REPEATS, device)
    sizes = QUICK if args.quick else FULL
    transformers.logging.set_verbosity_error()

    model, tokenizer = load_model_and_tokenizer(MODEL, device=device)
    processor = load_model_processor(MODEL)
    if processor is None:
        raise RuntimeError(f"{MODEL} loaded without a processor: not a vision-language folder")
    sampler = HFSampler(model, tokenizer, device=device, processor=processor, seed=args.seed)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pad_id = int(tokenizer.pad_token_id)
    # One torch thread on CPU: CPU seconds are the work done (module docstring); on a GPU the
    # host's CPU time says little, so wall seconds there.
    clock = "cpu" if device == "cpu" else "wall"
    configs = {
        (game, mode): arm_config(game, mode, sizes, args.seed) for game in GAMES for mode in MODES
    }

    def run_arm(game: str, mode: str, cfg: Config) -> ArmRun:
        return play_and_update(model, sampler, processor, cfg, start, pad_id, args.seed, device)

    warm = {"tasks": 1, "group_size": 1, "max_turns": 1, "max_new_tokens": 4}
    for game in GAMES:  # warm-up: first-call costs (processor, kernels) out of the timings
        for mode in MODES:
            run_arm(game, mode, arm_config(game, mode, warm, args.seed))
    runs: dict[tuple[str, str], list[ArmRun]] = {arm: [] for arm in configs}
    for r in range(repeats):
        order = MODES[r % len(MODES) :] + MODES[: r % len(MODES)]  # rotate who runs first
        for game in GAMES:
            for mode in order:
                runs[game, mode].append(run_arm(game, mode, configs[game, mode]))

    results: dict[str, dict[str, dict[str, Any]]] = {game: {} for game in GAMES}
    result_line: dict[str, float] = {}
    rows = []
    for game in GAMES:
        for mode in MODES:
            results[game][mode] = summarize(runs[game, mode], clock)
        base = results[game]["text"]
        for mode in MODES:
            arm = results[game][mode]
            arm["rollout_vs_text"] = arm["rollout_turns_per_s"] / base["rollout_turns_per_s"]
            arm["update_vs_text"] = arm["update_turns_per_s"] / base["update_turns_per_s"]
            if mode != "text":
                key = f"{game}_{mode.replace('+', '_')}"
                result_line[f"{key}_rollout"] = arm["rollout_vs_text"]
                result_line[f"{key}_update"] = arm["update_vs_text"]
            rows.append(
                [
                    game,
                    mode,
                    arm["turns"][-1],
                    arm["rollout_turns_per_s"],
                    arm["rollout_vs_text"],
                    arm["prompt_tokens_per_turn"],
                    arm["vision_tokens_per_turn"],
                    arm["update_tokens_per_s"],
                    arm["update_turns_per_s"],
                    arm["update_vs_text"],
                    arm["encode_ms_per_turn"],
                    arm["cpu_share"],
                ]
            )
    common.print_table(
        f"{MODEL}, {sizes['tasks']} tasks x {sizes['group_size']} episodes x "
        f"{sizes['max_turns']} turns per arm, TTI/TDS off, medians of {repeats}; "
        f"rates per {clock} second",
        [
            "game",
            "obs_mode",
            "turns",
            "rollout turns/s",
            "x text",
            "prompt tok/turn",
            "vision tok/turn",
            "update tok/s",
            "update turns/s",
            "x text",
            "encode ms/turn",
            "CPU share",
        ],
        rows,
    )
    payload = {
        "quick": bool(args.quick),
        "repeats": repeats,
        "seed": args.seed,
        "machine": machine,
        "model": MODEL,
        "sizes": sizes,
        "clock": clock,
        "presets": {game: str(path.relative_to(common.REPO)) for game, path in GAMES.items()},
        "max_new_tokens": {game: configs[game, "text"].rollout.max_new_tokens for game in GAMES},
        "arms": results,
    }
    common.finish(NAME, args.out, payload, result_line)


if __name__ == "__main__":
    main()
