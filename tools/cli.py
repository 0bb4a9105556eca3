"""``aa2``: the project's command line. One subcommand per job, each in its own module.

A job module exposes ``register(subparsers)`` which adds its parser and sets ``func`` to a
callable taking the parsed ``argparse.Namespace`` and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules under tools/ that define a subcommand, in the order ``aa2 --help`` lists them.
COMMANDS = ("demo", "synth", "preprocess", "train", "bench_model", "bench_annotators", "bench_train", "profile_diff", "inspect_shards",
            "bench_dataset", "bench_attention")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aa2",
        description="Animate Anyone 2, trainable at scale: preprocess videos into shards, train, animate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"tools.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:  # per-file checkpoint messages drown the run's own progress
        logging.getLogger("accelerate").setLevel(logging.WARNING)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
