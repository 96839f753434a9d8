import dataclasses

from t2po.config import ApiConfig, config_from_dict
from t2po.settings import eval_tasks, rollout_settings, sampling_params, train_tasks


def test_task_draws_are_seeded_and_held_out():
    cfg = config_from_dict({"seed": 3, "rollout": {"tasks_per_iter": 4}})
    a, b = train_tasks(cfg, 0), train_tasks(cfg, 0)
    assert a == b and train_tasks(cfg, 1) != a
    held_out = {t.seed for t in eval_tasks(cfg, 100)}
    seen = {t.seed for k in range(50) for t in train_tasks(cfg, k)}
    assert not held_out & seen


def test_task_pool_reuses_a_fixed_set():
    cfg = config_from_dict({"rollout": {"tasks_per_iter": 3, "task_pool": 5}})
    seeds = {t.seed for k in range(20) for t in train_tasks(cfg, k)}
    assert len(seeds) == 5
    assert all(len({t.seed for t in train_tasks(cfg, k)}) == 3 for k in range(5))


def test_training_vs_evaluation_settings():
    cfg = config_from_dict({})
    train, ev = sampling_params(cfg, evaluation=False), sampling_params(cfg, evaluation=True)
    assert (train.temperature, train.top_p, train.top_k) == (1.0, 1.0, 0)
    assert (ev.temperature, ev.top_p, ev.top_k) == (0.6, 0.95, 20)
    assert train.tti is not None and ev.tti is not None  # TTI on in both by default
    assert rollout_settings(cfg, evaluation=False).tds is not None
    assert rollout_settings(cfg, evaluation=True).tds is None  # TDS only in training
    off = config_from_dict({"tti": {"enabled_in_eval": False}})
    assert sampling_params(off, evaluation=True).tti is None
    assert rollout_settings(cfg, evaluation=False).memory_window == 2  # family default


def test_named_splits_reach_the_tasks_and_unknown_splits_are_errors():
    import dataclasses

    import pytest

    from t2po.envs import registry
    from t2po.envs.sokoban.family import SOKOBAN

    split_family = dataclasses.replace(
        SOKOBAN,
        name="split-sokoban",
        splits=("train", "held"),
        train_split="train",
        eval_split="held",
    )
    registry._FAMILIES[split_family.name] = split_family
    try:
        cfg = config_from_dict({"env": {"family": "split-sokoban"}})
        assert {t.split for t in train_tasks(cfg, 0)} == {"train"}
        held = eval_tasks(cfg, 3)
        assert [t.reset_options() for t in held] == [{"split": "held"}] * 3
        cfg.eval.split = "nope"
        with pytest.raises(ValueError, match="valid: train, held"):
            eval_tasks(cfg, 1)
    finally:
        del registry._FAMILIES[split_family.name]
    # Families without splits reset from the seed alone.
    assert eval_tasks(config_from_dict({}), 1)[0].reset_options() is None


def test_run_settings_hold_each_layer_s_parameters_built_once():
    from t2po.settings import RunSettings, api_settings, update_params

    cfg = config_from_dict({"tds": {"max_resamples": 5}, "api": {"model": "m"}})
    run = RunSettings.from_config(cfg)
    assert run.train_sampling == sampling_params(cfg, evaluation=False)
    assert run.eval_sampling == sampling_params(cfg, evaluation=True)
    assert run.train_rollout == rollout_settings(cfg, evaluation=False)
    assert run.eval_rollout.tds is None and run.train_rollout.tds is not None
    assert run.train_rollout.tds.max_resamples == 5
    assert run.update == update_params(cfg) and run.api == api_settings(cfg.api)
    assert run.api.model == "m"


# Each config field a runtime parameter object carries -> where its value must arrive in a
# run's settings (``RunSettings`` attribute paths). The test below changes one field at a time.
REACHES: dict[str, tuple[str, ...]] = {
    "rollout.temperature": ("train_sampling.temperature", "update.temperature"),
    "rollout.top_p": ("train_sampling.top_p",),
    "rollout.top_k": ("train_sampling.top_k",),
    "rollout.max_new_tokens": ("train_sampling.max_new_tokens", "eval_sampling.max_new_tokens"),
    "rollout.alpha": ("train_sampling.alpha", "eval_sampling.alpha"),
    "rollout.top_j": ("train_sampling.top_j", "eval_sampling.top_j"),
    "eval.temperature": ("eval_sampling.temperature",),
    "eval.top_p": ("eval_sampling.top_p",),
    "eval.top_k": ("eval_sampling.top_k",),
    **{
        f"tti.{f}": (f"train_sampling.tti.{f}", f"eval_sampling.tti.{f}")
        for f in ("l_min", "window", "eps", "l_max", "forced_text")
    },
    "tds.eta": ("train_rollout.tds.eta",),
    "tds.max_resamples": ("train_rollout.tds.max_resamples",),
    "env.max_turns": ("train_rollout.max_turns", "eval_rollout.max_turns"),
    "env.memory_window": ("train_rollout.memory_window", "eval_rollout.memory_window"),
    "env.invalid_penalty": ("train_rollout.invalid_penalty", "eval_rollout.invalid_penalty"),
    "env.image_history": ("train_rollout.image_history", "eval_rollout.image_history"),
    "env.kwargs": ("train_rollout.env_kwargs", "eval_rollout.env_kwargs"),
    "algo.gamma": ("advantage.gamma",),
    "algo.omega": ("advantage.omega",),
    "algo.norm": ("advantage.norm",),
    "algo.episode_stats": ("advantage.episode_stats",),
    "algo.gae_lambda": ("advantage.lam",),
    **{
        f"algo.{f}": (f"update.{f}",)
        for f in (
            "clip_low",
            "clip_high",
            "dual_clip_c",
            "loss_agg",
            "kl_coef",
            "kl_estimator",
            "entropy_coef",
            "top_entropy_frac",
        )
    },
    **{
        f"optim.{f}": (f"update.{f}",)
        for f in ("grad_clip", "ppo_epochs", "mini_batch_size", "micro_batch_size")
    },
    **{f"api.{f.name}": (f"api.{f.name}",) for f in dataclasses.fields(ApiConfig)},
}

# Values that no config field sets: the response format's markers, per-call seeds, the TTI and
# TDS objects themselves (their fields are checked one by one above), the normalisation's
# numerical epsilon.
NOT_FROM_CONFIG = {
    "SamplingParams": {"stop", "seed", "tti"},
    "TTIParams": {"think_open", "think_close"},
    "RolloutSettings": {"tds"},
    "AdvantageParams": {"eps"},
}

# A valid non-default value for fields whose type alone does not give one.
CHANGED = {
    "algo.norm": "mean_norm",
    "algo.episode_stats": "turn",
    "algo.loss_agg": "seq-mean-token-sum",
    "algo.kl_estimator": "k2",
    "algo.top_entropy_frac": 0.5,
    "api.token_limit_param": "max_tokens",
    "tti.forced_text": "</think><action>",
}


def _changed(key: str, default: object) -> object:
    if key in CHANGED:
        return CHANGED[key]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 5
    if isinstance(default, float):
        return default * 1.7 + 0.123
    if isinstance(default, str):
        return default + "-changed"
    if isinstance(default, dict):
        return {"changed": {"nested": 1}}
    raise AssertionError(f"no changed value for {key}={default!r}")


def _get(obj: object, path: str) -> object:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_config_field_reaches_the_settings_that_use_it():
    from t2po.settings import RunSettings

    defaults = config_from_dict({})
    for key, targets in REACHES.items():
        section, name = key.split(".")
        value = _changed(key, getattr(getattr(defaults, section), name))
        run = RunSettings.from_config(config_from_dict({section: {name: value}}))
        for target in targets:
            assert _get(run, target) == value, f"{key}={value!r} did not reach {target}"


def test_every_runtime_field_comes_from_one_config_field():
    """Both directions: each field of each runtime object is fed by REACHES (or is named in
    NOT_FROM_CONFIG), and each field of the sections built whole is in REACHES."""
    from t2po.settings import RunSettings

    run = RunSettings.from_config(config_from_dict({}))
    objects = {
        "train_sampling": run.train_sampling,
        "train_sampling.tti": run.train_sampling.tti,
        "train_rollout": run.train_rollout,
        "train_rollout.tds": run.train_rollout.tds,
        "advantage": run.advantage,
        "update": run.update,
        "api": run.api,
    }
    reached = {t.replace("eval_", "train_") for ts in REACHES.values() for t in ts}
    for prefix, obj in objects.items():
        skip = NOT_FROM_CONFIG.get(type(obj).__name__, set())
        for f in dataclasses.fields(obj):
            if f.name not in skip:
                assert f"{prefix}.{f.name}" in reached, f"{prefix}.{f.name} is fed by no field"
    switches = {"tti.enabled", "tti.enabled_in_eval", "tti.train_on_forced", "tds.enabled"}
    for section in ("tti", "tds", "api"):
        for f in dataclasses.fields(getattr(run_cfg := config_from_dict({}), section)):
            key = f"{section}.{f.name}"
            assert key in REACHES or key in switches, f"{key} reaches no runtime object"
    assert run_cfg.tti.enabled and run.train_sampling.tti is not None


def test_runtime_objects_have_no_defaults_for_config_owned_values():
    """A default lives in t2po.config only: building one without a config value is an error."""
    from t2po.algo.advantages import AdvantageParams
    from t2po.exploration.tds import TDSParams
    from t2po.exploration.tti import TTIParams
    from t2po.inference.base import SamplingParams
    from t2po.inference.openai_compat import ApiSettings
    from t2po.rollout.engine import RolloutSettings
    from t2po.settings import UpdateParams

    classes = (SamplingParams, TTIParams, TDSParams, RolloutSettings, AdvantageParams)
    for cls in (*classes, UpdateParams, ApiSettings):
        # env_kwargs defaults to no extra constructor arguments (the identity, not a setting);
        # image_history to 1, which changes nothing for text observations (the identity too).
        skip = NOT_FROM_CONFIG.get(cls.__name__, set()) | {"env_kwargs", "image_history"}
        for f in dataclasses.fields(cls):
            if f.name not in skip:
                assert f.default is dataclasses.MISSING, f"{cls.__name__}.{f.name} has a default"
                assert f.default_factory is dataclasses.MISSING, f"{cls.__name__}.{f.name}"
