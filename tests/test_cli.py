"""The command line: user errors are one clear message, commands do what they say."""

from __future__ import annotations

from t2po.cli import main


def test_bad_key_is_a_clear_error(capsys, tmp_path):
    code = main(["config", "algo.kl_coeff=0.1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Unknown config key 'kl_coeff'" in err and "kl_coef" in err and "Traceback" not in err


def test_unknown_family_lists_known(capsys):
    assert main(["check-env", "nosuchfamily"]) == 2
    assert "sokoban" in capsys.readouterr().err


def test_check_env_sokoban_ok(capsys):
    assert main(["check-env", "sokoban"]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_prints_resolved_values(capsys):
    assert main(["config", "configs/quickstart.yaml", "seed=5"]) == 0
    out = capsys.readouterr().out
    assert "seed: 5" in out and "family: cards" in out and "game: numberline" in out


def test_describe_lists_documented_fields(capsys):
    assert main(["config", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "tti.l_min" in out and "No intervention before" in out


def test_missing_model_path_is_clear(capsys, tmp_path):
    code = main(["eval", "model.path=/nonexistent/model", "--episodes", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "/nonexistent/model" in err and "tiny" in err


def test_play_with_scripted_input(monkeypatch, capsys):
    answers = iter(["hint", "quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["play", "sokoban", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "hint:" in out and "total reward" in out


def test_overrides_may_follow_flags_and_stray_arguments_are_errors(capsys):
    import pytest

    from t2po.cli import build_parser, main

    with pytest.raises(SystemExit):
        main(["config", "--describe", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    parser = build_parser()
    argv = ["config", "configs/quickstart.yaml", "--describe", "seed=3"]
    assert parser.parse_known_args(argv)[1] == ["seed=3"]  # argparse alone leaves it over
    assert main(["config", "configs/quickstart.yaml", "--describe", "seed=3"]) == 0
    assert main(["config", "configs/quickstart.yaml", "seed=3"]) == 0
    assert "seed: 3" in capsys.readouterr().out


def test_train_refuses_an_api_sampler(capsys):
    from t2po.cli import main

    code = main(["train", "model.sampler=api", "api.model=gpt-x", "run_dir=/nonexistent/x"])
    assert code == 2
    assert "model.sampler=hf" in capsys.readouterr().err


def test_train_summary_shows_held_out_success_along_the_run():
    from t2po.cli import _held_out_path

    rows = [
        {"step": 0, "val/success": 0.5, "val/success_before_cold_start": 0.0},
        {"step": 1, "rollout/success": 0.4},
        {"step": 2, "rollout/success": 0.6, "val/success": 0.625},
    ]
    assert _held_out_path(rows) == (
        "held-out success: 0.000 before the cold start -> 0.500 at step 0 -> 0.625 at step 2"
    )
    # a run from train.init_from (no cold start in it), validated once
    assert _held_out_path([{"step": 0, "val/success": 0.5}]) == (
        "held-out success: 0.500 at step 0"
    )
    assert "not measured" in _held_out_path([{"step": 1, "rollout/success": 0.4}])
