"""``aa2 preprocess INPUT OUTPUT``: a crawl of videos -> annotated clips in schema-v1 shards, on Ray.

Runs on a local Ray cluster by default, joins one with ``--address``, and works as a
``ray job submit`` entry point (``python -m tools.preprocess INPUT OUTPUT ...``). Rerunning the
same command resumes. Settings: ``--config file.yaml`` and ``--set section.field=value``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import yaml

from preprocess.config import PreprocessConfig, apply_overrides, from_dict

ROLES = ("localise", "segment", "pose", "depth")


def build_config(args: argparse.Namespace) -> PreprocessConfig:
    config = PreprocessConfig()
    if args.config:
        with open(args.config) as f:
            config = from_dict(yaml.safe_load(f) or {})
    overrides = []
    if args.backend:  # one backend for every role; a per-role flag below wins over it
        overrides += [f"annotate.{role}={args.backend}" for role in ROLES]
    overrides += [f"annotate.{role}={getattr(args, role)}" for role in ROLES if getattr(args, role)]
    overrides += list(args.set or [])
    if args.address:
        overrides.append(f"ray.address={args.address}")
    if args.num_cpus:
        overrides.append(f"ray.num_cpus={args.num_cpus}")
    if args.retry_failed:
        overrides.append("retry_failed=true")
    config = apply_overrides(config, overrides)
    return with_weights(config, args.weights) if args.weights else config


def with_weights(config: PreprocessConfig, weights_file: str) -> PreprocessConfig:
    """Fill each role's backend arguments from the weights file (explicit backend_config wins)."""
    from preprocess.weights import load_weights

    weights = load_weights(weights_file)
    for role, backend in config.annotate.roles().items():
        kwargs = weights.backend_kwargs(role, backend)
        if kwargs:
            config.annotate.backend_config[role] = {**kwargs, **config.annotate.backend_config.get(role, {})}
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="folder (recursive), glob, or manifest (.parquet/.csv/.jsonl with a path column)")
    parser.add_argument("output", help="output folder: shards/, ledger/, inputs.parquet, summary.json")
    parser.add_argument("--config", help="YAML with sections probe, clips, annotate, qualify, write, ray")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. clips.target_fps=12")
    parser.add_argument("--backend", help="one backend for all four annotator roles (oracle, lite, ...)")
    for role in ROLES:
        parser.add_argument(f"--{role}", help=f"{role} backend")
    parser.add_argument("--weights", help="weights YAML of the production backends (see preprocess/weights.example.yaml)")
    parser.add_argument("--address", help="Ray cluster to join ('auto' inside `ray job submit`)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray cluster (default: all cores)")
    parser.add_argument("--retry-failed", action="store_true", help="try inputs that failed in an earlier run again")
    parser.add_argument("--engine", choices=("ray", "local"), default="ray",
                        help="'local' calls the stages in this process, without Ray")


def run(args: argparse.Namespace) -> int:
    from preprocess.pipeline import run_preprocess

    summary = run_preprocess(args.input, args.output, build_config(args), engine=args.engine)
    printable = {k: v for k, v in summary.items() if k != "ray_stats"}
    print(json.dumps(printable, indent=2, sort_keys=True))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("preprocess", help="videos -> annotated clip shards (Ray Data)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preprocess", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
