import pytest

from t2po.config import Config, ConfigError, config_from_dict, describe, load_config


def test_defaults_match_method_md():
    cfg = Config()
    assert cfg.rollout.alpha == 0.4 and cfg.rollout.top_j == 20
    assert (cfg.tti.l_min, cfg.tti.window, cfg.tti.eps, cfg.tti.l_max) == (32, 20, 1e-4, 450)
    assert cfg.tti.forced_text == "</think>\n<action>" and not cfg.tti.train_on_forced
    assert (cfg.tds.eta, cfg.tds.max_resamples) == (1e-3, 2)
    assert (cfg.algo.gamma, cfg.algo.omega, cfg.algo.adv_estimator) == (0.95, 1.0, "gigpo")
    assert (cfg.algo.clip_low, cfg.algo.clip_high, cfg.algo.dual_clip_c) == (0.2, 0.2, 3.0)
    assert cfg.algo.entropy_coef == 0.001 and cfg.optim.grad_clip == 1.0
    assert (cfg.eval.temperature, cfg.eval.top_p, cfg.eval.top_k) == (0.6, 0.95, 20)
    assert cfg.env.invalid_penalty == 0.1 and cfg.rft.min_score == 0.8


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\nalgo:\n  kl_coef: 0.01\nenv:\n  kwargs: {num_boxes: 2}\n")
    cfg = load_config(path, ["algo.kl_coef=0.02", "tti.enabled=false", "optim.betas=0.8,0.9"])
    assert cfg.seed == 3
    assert cfg.algo.kl_coef == 0.02
    assert cfg.tti.enabled is False
    assert cfg.env.kwargs == {"num_boxes": 2}
    assert cfg.optim.betas == (0.8, 0.9)


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"algo": {"kl_coeff": 0.1}})
    msg = str(err.value)
    assert "kl_coeff" in msg and "kl_coef" in msg and "Did you mean 'kl_coef'" in msg
    assert "adv_estimator" in msg  # lists the valid keys of the section


def test_unknown_section_and_override():
    with pytest.raises(ConfigError, match="Valid keys: .*algo"):
        load_config(None, ["algoo.gamma=0.9"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["algo.gamma"])


def test_bad_types_and_values():
    with pytest.raises(ConfigError, match="expected an integer"):
        config_from_dict({"rollout": {"group_size": "many"}})
    with pytest.raises(ConfigError, match="expected true/false"):
        config_from_dict({"tti": {"enabled": "maybe"}})
    with pytest.raises(ConfigError, match="top_j must be >= 2"):
        config_from_dict({"rollout": {"top_j": 1}})
    with pytest.raises(ConfigError, match=r"top_entropy_frac must be in \(0, 1\]"):
        config_from_dict({"algo": {"top_entropy_frac": 0.0}})
    with pytest.raises(ConfigError, match=r"expert_slip must be in \[0, 1\]"):
        config_from_dict({"rft": {"expert_slip": 1.5}})
    with pytest.raises(ConfigError, match="expert_slip applies to rft.teacher 'expert' only"):
        config_from_dict({"rft": {"expert_slip": 0.2, "teacher": "policy"}})


def test_lora_keys_are_checked_and_off_by_default():
    assert Config().model.lora.r == 0  # LoRA off unless asked for
    cfg = load_config(None, ["model.lora.r=8", "model.lora.target_modules=q_proj,v_proj"])
    assert (cfg.model.lora.r, cfg.model.lora.target_modules) == (8, ["q_proj", "v_proj"])
    assert config_from_dict({"model": {"lora": None}}).model.lora.r == 0
    with pytest.raises(ConfigError) as err:
        load_config(None, ["model.lora.rank=8"])
    msg = str(err.value)
    assert "'model.lora'" in msg and "Valid keys: alpha, dropout, r, target_modules." in msg
    with pytest.raises(ConfigError, match=r"model.lora.dropout must be in \[0, 1\)"):
        config_from_dict({"model": {"lora": {"r": 4, "dropout": 1.0}}})
    with pytest.raises(ConfigError, match="model.lora.r must be >= 0"):
        config_from_dict({"model": {"lora": {"r": -1}}})
    with pytest.raises(ConfigError, match="target_modules must name modules"):
        config_from_dict({"model": {"lora": {"r": 4, "target_modules": []}}})


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent.yaml")


def test_every_field_documented():
    rows = describe()
    assert len(rows) > 50
    undocumented = [key for key, _, doc in rows if not doc]
    assert undocumented == []


def test_every_preset_loads_and_says_how_to_run_it():
    from pathlib import Path

    presets = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
    assert presets
    for preset in presets:
        load_config(preset)
        head = preset.read_text().splitlines()[:6]
        assert head[0].startswith("# "), preset
        assert any(line.startswith("# Run:") and "t2po " in line for line in head), preset
