"""Entry point of a training process: ``accelerate launch -m train --recipe stage2 key=value ...``.

Every process of a multi-GPU or multi-node job runs this; accelerate tells each its rank.
``aa2 train`` wraps it for one machine.
"""

from __future__ import annotations

import argparse
import json
import logging

from .config import TrainConfig
from dataset.config_io import load_config
from .recipes import RECIPES, recipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", default="tiny", choices=sorted(RECIPES), help="starting configuration")
    parser.add_argument("--config", help="YAML file whose keys override the recipe")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides applied last, e.g. data.train_shards=/data/shards optim.lr=5e-5")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return load_config(TrainConfig, recipe(args.recipe), args.config, args.overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    config = config_from_args(args)
    from .trainer import Trainer  # heavy imports after the config is known to be valid

    result = Trainer(config).train()
    print(json.dumps(result, indent=2, default=str))
    return 0
