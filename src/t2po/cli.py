"""The ``t2po`` command line: train, rft, eval, play, serve, index, report, check-env, models,
config.

Errors a user can cause (a bad config key, a missing model, an unknown family) print one
clear message and exit with status 2; set ``T2PO_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from t2po.config import Config, ConfigError, describe, load_config

_USER_ERRORS = (ConfigError, FileNotFoundError, ValueError, ImportError, KeyError)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="YAML preset (see configs/); defaults when omitted")
    p.add_argument(
        "overrides", nargs="*", help="section.key=value overrides, e.g. train.iterations=5"
    )


def _config(args: argparse.Namespace) -> Config:
    path, overrides = args.config, list(args.overrides)
    # `t2po train seed=3` (no file): the first positional is an override, not a path.
    if path is not None and "=" in path and not Path(path).is_file():
        overrides.insert(0, path)
        path = None
    cfg = load_config(path, overrides)
    if cfg.env.plugins:  # imported before any command looks the family up
        from t2po.envs.registry import load_plugins

        load_plugins(cfg.env.plugins)
    return cfg


def _add_plugin_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it registers task families; as env.plugins); repeatable",
    )


def _load_plugin_args(args: argparse.Namespace) -> None:
    from t2po.envs.registry import load_plugins

    load_plugins(args.plugin)


def cmd_train(args: argparse.Namespace) -> int:
    from t2po.train.trainer import train

    cfg = _config(args)
    history = train(cfg)
    # Under torchrun only rank 0 reports (it wrote the metrics the summary reads).
    if history and os.environ.get("RANK", "0") == "0":
        from t2po.telemetry.plots import plot_grid, read_metrics_jsonl

        rows = read_metrics_jsonl(Path(cfg.run_dir) / "metrics.jsonl")
        last = history[-1]
        print(
            f"done: {cfg.train.iterations} iterations in {cfg.run_dir}; "
            f"final train success {last.get('rollout/success', float('nan')):.3f}"
        )
        print(_held_out_path(rows))
        png = plot_grid(
            {"run": [rows]}, ["rollout/success", "val/success"], Path(cfg.run_dir) / "success.png"
        )
        print(f"plot: {png}")
    return 0


def _held_out_path(rows: list[dict[str, Any]]) -> str:
    """Validation success along the run: before the cold start, where RL began, the end."""
    validated = [r for r in rows if "val/success" in r]
    if not validated:
        return "held-out success: not measured (train.eval_tasks=0)"
    first, last = validated[0], validated[-1]
    stages = []
    if "val/success_before_cold_start" in first:
        stages.append(f"{first['val/success_before_cold_start']:.3f} before the cold start")
    stages.append(f"{first['val/success']:.3f} at step {first['step']}")
    if last is not first:
        stages.append(f"{last['val/success']:.3f} at step {last['step']}")
    return "held-out success: " + " -> ".join(stages)


def cmd_rft(args: argparse.Namespace) -> int:
    from t2po.train.coldstart import cold_start_from_config

    cfg = _config(args)
    out = Path(args.out) if args.out else Path(cfg.run_dir) / "cold_start"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = cold_start_from_config(cfg, out)
    print(json.dumps(result.__dict__, indent=2))
    print(f"saved: {out}  (train from it with train.init_from={out})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from t2po.evaluation import EvalAborted, format_table, run_suite
    from t2po.settings import make_sampler

    flags = {"eval.episodes": args.episodes, "eval.families": args.families}
    flags.update({"eval.splits": args.splits, "eval.streams": args.streams})
    args.overrides = list(args.overrides) + [f"{k}={v}" for k, v in flags.items() if v is not None]
    cfg = _config(args)
    out = Path(args.out) if args.out else Path(cfg.run_dir) / "eval"
    sampler = make_sampler(cfg)
    try:
        result = run_suite(cfg, sampler, out, restart=args.restart)
    except EvalAborted as exc:
        print(f"t2po eval: error: {exc}", file=sys.stderr)
        return 1
    finally:
        close = getattr(sampler, "close", None)
        if callable(close):
            close()
    print(format_table(result.summary))
    if not result.summary["token_signals"]:
        print("remote model: no per-token signals (M_t), so no TTI or TDS; tokens from its usage")
    print(f"results: {out}/episodes.jsonl, summary: {out}/summary.md and {out}/summary.json")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from t2po.evaluation.compare import compare_dirs, format_comparison

    try:
        result = compare_dirs(args.a, args.b)
    except (FileNotFoundError, ValueError) as exc:
        print(f"t2po compare: error: {exc}", file=sys.stderr)
        return 1
    print(format_comparison(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from t2po.config import parse_overrides
    from t2po.envs.play import default_frames_dir, play

    _load_plugin_args(args)
    # KEY=VALUE words are the env's constructor arguments, parsed as YAML scalars like
    # config overrides (e.g. `t2po play cards game=blackjack`).
    env_kwargs = parse_overrides(args.overrides)
    frames = args.frames_dir or (default_frames_dir(args.family) if args.image else None)
    # input() looked up at call time, so tests (and wrappers) can replace it.
    total = play(
        args.family,
        seed=args.seed,
        input_fn=lambda prompt: input(prompt),
        frames_dir=frames,
        **env_kwargs,
    )
    print(f"total reward: {total:.2f}")
    return 0


def cmd_serve_model(args: argparse.Namespace) -> int:
    from t2po.serve.model_server import serve_model

    return int(serve_model(args))


def cmd_serve_shop(args: argparse.Namespace) -> int:
    from t2po.serve.shop_site import serve_shop

    return int(serve_shop(args))


def cmd_serve_retriever(args: argparse.Namespace) -> int:
    from t2po.serve.retriever import serve_retriever

    return int(serve_retriever(args))


def cmd_index_build(args: argparse.Namespace) -> int:
    from t2po.retrieval.commands import build_command

    return build_command(args)


def cmd_index_corpus(args: argparse.Namespace) -> int:
    from t2po.envs.search.files import write_world_files

    counts = write_world_files(args.out, seed=args.seed, distractors=args.distractors)
    for name, n in counts.items():
        print(f"{Path(args.out) / name}: {n} lines")
    print(f"index it: t2po index build --corpus {Path(args.out) / 'corpus.jsonl'} --out IDX")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from t2po.telemetry.report import report

    return int(report(args))


def cmd_check_env(args: argparse.Namespace) -> int:
    from t2po.envs.checker import check_family
    from t2po.envs.registry import get_family, list_families

    _load_plugin_args(args)
    if args.list or not args.family:
        for name in list_families():
            print(f"{name:12s} {get_family(name).env_id}")
        return 0
    problems = check_family(args.family)
    if problems:
        print(f"{args.family}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{args.family}: OK (gymnasium check_env and the t2po contract pass)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from t2po.models.loading import prepare_model

    if args.action == "merge":
        return _merge_lora(args)
    if args.out or args.base:
        raise ValueError("--out and --base belong to `t2po models merge`")
    _load_plugin_args(args)
    if args.families is None:
        path = prepare_model(args.name)
        print(f"{args.name}: {path}")
        return 0
    from t2po.models.tiny import TINY_NAME, builtin_families, prepare_tiny

    if args.name != TINY_NAME:
        raise ValueError(f"--families builds a variant of {TINY_NAME!r} only, not {args.name!r}")
    families = sorted({f.strip() for f in args.families.split(",") if f.strip()})
    path = prepare_tiny(families)
    if families == sorted(builtin_families()):
        print(f"{args.name} ({', '.join(families)}: the built-in families, the default): {path}")
    else:
        print(
            f"{args.name} with the vocabulary of {', '.join(families)}: {path}\n"
            f"a different model from the default 'tiny'; train and evaluate it with "
            f"model.path={path}"
        )
    return 0


def _merge_lora(args: argparse.Namespace) -> int:
    """``t2po models merge RUN_OR_CHECKPOINT --out DIR``: LoRA adapters -> a whole HF folder."""
    from t2po.models.lora import is_adapter_folder, merge_adapter_folder
    from t2po.train.checkpoint import latest_checkpoint

    if not args.out:
        raise ValueError("t2po models merge needs --out DIR (a new folder for the merged model)")
    source = Path(args.name).expanduser()
    if not source.is_dir():
        raise FileNotFoundError(f"{source} not found: give a run folder or a checkpoint folder")
    if (source / "checkpoints").is_dir():  # a run folder: its newest intact checkpoint
        checkpoint = latest_checkpoint(source)
        if checkpoint is None:
            raise ValueError(f"{source} has no checkpoint to merge")
        source = checkpoint.path
    adapters = source / "model" if (source / "model").is_dir() else source
    if not is_adapter_folder(adapters):
        raise ValueError(
            f"{adapters} holds no LoRA adapters (no adapter_config.json): a run without "
            "model.lora saves whole models, which `t2po eval` and `t2po serve model` load as is"
        )
    out = merge_adapter_folder(adapters, args.out, base=args.base, dtype=args.dtype)
    print(f"merged {adapters} into {out}  (t2po eval model.path={out}; t2po serve model {out})")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.describe:
        for key, default, doc in describe():
            print(f"{key:32s} {default:>22s}  {doc}")
        return 0
    import yaml

    from t2po.config import to_dict

    print(yaml.safe_dump(to_dict(_config(args)), sort_keys=False), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="t2po", description="Multi-turn agent RL with T2PO (TTI + TDS) and GiGPO."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="cold start (optional) then RL; resumes from checkpoints")
    _add_config_args(p)
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("rft", help="cold start only: teacher rollouts + multi-turn SFT")
    _add_config_args(p)
    p.add_argument("--out", help="output model folder (default RUN_DIR/cold_start)")
    p.set_defaults(fn=cmd_rft)

    # --- t2po eval: a suite of families x splits x episodes, any sampler, resumable ---
    p = sub.add_parser("eval", help="evaluate a model (local or API) on a suite of held-out tasks")
    _add_config_args(p)
    p.add_argument("--episodes", type=int, help="episodes per family and split (eval.episodes)")
    p.add_argument("--families", help="comma-separated families, or 'all' (eval.families)")
    p.add_argument("--splits", help="comma-separated splits of families that have them")
    p.add_argument("--out", help="results folder (default RUN_DIR/eval); reruns resume it")
    p.add_argument("--restart", action="store_true", help="discard the results in --out first")
    p.add_argument(
        "--streams", type=int, help="play every task K times with other sampling seeds (spread)"
    )
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser(
        "compare", help="two evaluations of the same tasks: success, tasks won by one, paired test"
    )
    p.add_argument("a", help="evaluation folder A (t2po eval --out, or a run's val/step_N)")
    p.add_argument("b", help="evaluation folder B, compared with A episode by episode")
    p.add_argument("--json", help="also write the comparison to this JSON file")
    p.set_defaults(fn=cmd_compare)

    p = sub.add_parser("play", help="play a task family yourself in the terminal")
    p.add_argument("family", help="task family, e.g. sokoban")
    # Named "overrides" so that KEY=VALUE words after the flags land here too (main()).
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="environment arguments (as env.kwargs), e.g. game=blackjack for cards",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--image",
        action="store_true",
        help="show the game as images (obs_mode=image) and write each frame as a PNG",
    )
    p.add_argument(
        "--frames-dir", help="folder for the PNG frames (implies --image; default: new temp folder)"
    )
    _add_plugin_arg(p)
    p.set_defaults(fn=cmd_play)

    serve = sub.add_parser(
        "serve", help="serve a trained agent (OpenAI API), the shop website or a retriever"
    )
    serve_sub = serve.add_subparsers(dest="what", required=True)

    # --- t2po serve model: OpenAI-compatible server for a local checkpoint ---
    p = serve_sub.add_parser("model", help="OpenAI-compatible API for a local checkpoint")
    p.add_argument("path", help="model folder, checkpoint, or 'tiny'")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--name", help="model id clients send (default: the folder name or 'tiny')")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    p.add_argument("--api-key-env", default="", help="require 'Bearer $VAR' (the variable's name)")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    p.add_argument(
        "--max-batch", type=int, default=32, help="rows decoded together (1 = one at a time)"
    )
    p.add_argument(
        "--batch-wait-ms", type=float, default=5.0, help="how long a lone request waits for others"
    )
    p.add_argument("--grace", type=float, default=10.0, help="seconds to finish requests on stop")
    p.add_argument(
        "--max-tokens-cap", type=int, default=4096, help="refuse requests asking more tokens"
    )
    p.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides (rollout.alpha, ...)")
    p.set_defaults(fn=cmd_serve_model)

    # --- t2po serve shop: the web shop as HTML pages ---
    p = serve_sub.add_parser("shop", help="the web shop as a website a person can click through")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--products", type=int, help="generated products (default 10000)")
    p.add_argument("--catalog-seed", type=int, default=0, help="seed of the generated catalog")
    p.add_argument("--webshop-dir", help="folder with WebShop's JSON files (instead of generated)")
    p.add_argument("--split", default="test", help="task split of new sessions (train or test)")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to finish requests on stop")
    p.set_defaults(fn=cmd_serve_shop)

    # --- t2po serve retriever: Search-R1's retrieval API over an index folder ---
    p = serve_sub.add_parser("retriever", help="Search-R1's POST /retrieve over an index folder")
    p.add_argument("index", help="index folder (t2po index build)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--method",
        default="auto",
        choices=["auto", "bm25", "dense", "hybrid"],
        help="default search (auto: hybrid when the index has dense, else bm25)",
    )
    p.add_argument("--topk", type=int, default=3, help="documents per query when not asked")
    p.add_argument("--api-key-env", default="", help="require 'Bearer $VAR' (the variable's name)")
    p.add_argument("--device", default="cpu", help="torch device of the query encoder")
    p.add_argument("--nprobe", type=int, default=16, help="IVF cells searched (ivf indexes)")
    p.add_argument("--max-batch", type=int, default=256, help="queries per index call")
    p.add_argument("--batch-wait-ms", type=float, default=2.0, help="wait to batch queries")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to finish requests on stop")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    p.set_defaults(fn=cmd_serve_retriever)

    # --- t2po index: retrieval indexes for the search family and t2po serve retriever ---
    index = sub.add_parser("index", help="build a retrieval index (BM25, dense) of a corpus")
    index_sub = index.add_subparsers(dest="what", required=True)
    p = index_sub.add_parser("build", help="index a JSONL corpus into a folder (resumable)")
    from t2po.retrieval.commands import add_build_args

    add_build_args(p)
    p.set_defaults(fn=cmd_index_build)
    p = index_sub.add_parser("corpus", help="write the embedded world's corpus and questions")
    p.add_argument("--out", required=True, help="folder for corpus.jsonl, train.jsonl, test.jsonl")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated world")
    p.add_argument("--distractors", type=int, default=0, help="extra passages (up to 100k+)")
    p.set_defaults(fn=cmd_index_corpus)

    # --- t2po report: plots and a summary comparing runs ---
    p = sub.add_parser("report", help="plots and a Markdown/HTML summary comparing runs")
    p.add_argument("runs", nargs="+", help="run folders (each with metrics.jsonl)")
    p.add_argument("--out", default="report", help="output folder (default ./report)")
    p.set_defaults(fn=cmd_report)

    p = sub.add_parser("check-env", help="check a task family's environment contract")
    p.add_argument("family", nargs="?")
    p.add_argument("--list", action="store_true", help="list the registered families")
    _add_plugin_arg(p)
    p.set_defaults(fn=cmd_check_env)

    p = sub.add_parser(
        "models",
        help="prepare NAME: build or convert an offline model (tiny, smollm2-135m); "
        "merge RUN_OR_CHECKPOINT --out DIR: fold a LoRA run's adapters into a whole HF folder",
    )
    p.add_argument("action", choices=["prepare", "merge"])
    p.add_argument("name", help="prepare: a model name; merge: a run folder or a checkpoint")
    p.add_argument("--out", help="merge: the new folder for the merged model")
    p.add_argument("--base", help="merge: the base model folder (default: as the adapters say)")
    p.add_argument("--dtype", default="float32", help="merge: float32, bfloat16 or float16")
    p.add_argument(
        "--families",
        help="tiny only: train its tokenizer on these families' text (comma-separated) "
        "into a separate folder; the default tiny knows the built-in families",
    )
    _add_plugin_arg(p)
    p.set_defaults(fn=cmd_models)

    p = sub.add_parser("config", help="print the resolved config, or --describe every field")
    _add_config_args(p)
    p.add_argument("--describe", action="store_true")
    p.set_defaults(fn=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `t2po eval cfg.yaml --episodes 4 eval.batch_size=2`: overrides may follow the flags.
    if extra:
        if not hasattr(args, "overrides") or any("=" not in item for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    try:
        return int(args.fn(args))
    except _USER_ERRORS as exc:
        if os.environ.get("T2PO_DEBUG"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"t2po {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; rerun the same command to resume from the last checkpoint",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
