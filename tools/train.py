"""``aa2 train``: train AA2 on this machine (every GPU it has, or the CPU).

With more than one process it runs ``accelerate launch --multi_gpu -m train ...``; with one, it
trains in this process. For several nodes, run ``accelerate launch`` yourself (see the README):
every process runs ``python -m train`` with the same arguments.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import torch


def _forwarded(args: argparse.Namespace) -> list[str]:
    return ["--recipe", args.recipe, *(["--config", args.config] if args.config else []), *args.overrides]


def _launch_command(args: argparse.Namespace, processes: int) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "-m", "train", *_forwarded(args)]


def run(args: argparse.Namespace) -> int:
    processes = args.num_processes or max(1, torch.cuda.device_count())
    if processes > 1:
        return subprocess.call(_launch_command(args, processes))
    from train.launch import main

    return main(_forwarded(args))


def register(subparsers) -> None:
    from train.launch import add_arguments

    parser = subparsers.add_parser("train", help="train the AA2 model from shards (accelerate)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--num-processes", type=int, help="processes (GPUs) to use; default: every GPU, or 1")
    parser.set_defaults(func=run)
