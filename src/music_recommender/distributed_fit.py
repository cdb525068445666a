"""``torchrun ... -m music_recommender.distributed_fit``: the implicit model across machines.

Each process reads only its own listeners' and artists' rows from the listener-block Parquet that
``kedro run --env spark`` writes, runs ``pmf.distributed.solve`` on them, and rank 0 saves a new
version of the catalog's ``implicit_model`` (the pipeline's later nodes load the latest). The
settings are a run's ``implicit_settings.json`` (``--settings``: conf plus the search's choice),
or else the environment's ``training.recommending.implicit``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

import numpy as np
import pyarrow.dataset as ds
import torch.distributed as dist
from kedro.io.core import Version

from music_recommender.pmf.distributed import backend, block, solve
from music_recommender.pmf.recommender import ImplicitRecommender
from music_recommender.pmf.solver import ImplicitConfig


def read_own_rows(
    path: str, user_range: tuple[int, int], item_range: tuple[int, int]
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """This process's listeners' rows and artists' rows, read from Parquet with pyarrow filters.

    Only the matching rows are kept in memory (the artist block is a filtered scan of all files).
    """
    data = ds.dataset(path, format="parquet", partitioning="hive")
    columns = ["user_index", "artist_index", "weight"]

    def rows(column: str, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        table = data.to_table(
            columns=columns, filter=(ds.field(column) >= lo) & (ds.field(column) < hi)
        )
        return tuple(table.column(c).to_numpy() for c in columns)

    return rows("user_index", *user_range), rows("artist_index", *item_range)


def build_parser() -> argparse.ArgumentParser:
    """The command's options: where the pairs, sizes, settings and model live."""
    parser = argparse.ArgumentParser(
        prog="python -m music_recommender.distributed_fit",
        description="Fit the implicit PMF on every process torchrun started; rank 0 saves it.",
    )
    parser.add_argument(
        "--interactions",
        required=True,
        help="Parquet of user_index, artist_index, weight (a listener-block folder)",
    )
    parser.add_argument(
        "--id-index", required=True, help="id_index.json (table sizes, map fingerprint)"
    )
    parser.add_argument(
        "--env",
        default="base",
        help="Kedro environment whose training.recommending.implicit to use",
    )
    parser.add_argument("--conf", default="conf", help="the project's conf folder")
    parser.add_argument(
        "--settings",
        help="implicit_settings.json of a run (conf plus the search's choice); default: the "
        "environment's training.recommending.implicit as it stands in conf",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="the catalog's implicit_model path (e.g. data/spark/06_models/implicit_model.pt); "
        "the model is saved as a new version under it",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Join torchrun's process group, solve this process's blocks, save from rank 0."""
    args = build_parser().parse_args(argv)
    from music_recommender.datasets import RecommenderDataset  # noqa: PLC0415 (imports Kedro's io)

    config = config_from_kedro(args.conf, args.env)
    if args.settings:
        with open(args.settings, encoding="utf-8") as file:
            config = replace(ImplicitConfig(**json.load(file)), processes=1)
    # One line per sweep from rank 0 (the project's settings configure Kedro's logging, which
    # leaves a bare process without a handler for the solver's module).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    with open(args.id_index, encoding="utf-8") as file:
        sizes = json.load(file)
    dist.init_process_group(backend(config))
    rank, world = dist.get_rank(), dist.get_world_size()
    own_users, own_items = read_own_rows(
        args.interactions,
        block(sizes["n_users"], rank, world),
        block(sizes["n_items"], rank, world),
    )
    user, item, history = solve(own_users, own_items, sizes["n_users"], sizes["n_items"], config)
    if rank == 0:
        rec = ImplicitRecommender(replace(config, processes=world))
        rec.from_tables(user.cpu(), item.cpu(), id_maps=sizes["fingerprint"])
        # A new version in the catalog's layout (out/<timestamp>/<name>), as `kedro run` saves it.
        RecommenderDataset(filepath=args.out, version=Version(None, None)).save(rec)
        print(  # noqa: T201 (the command's result, for the shell)
            json.dumps(
                {
                    "processes": world,
                    "sweep_s": [round(h["seconds"], 3) for h in history],
                    "out": args.out,
                }
            )
        )
    dist.destroy_process_group()


def config_from_kedro(conf: str, env: str) -> ImplicitConfig:
    """``training.recommending.implicit`` of ``env`` (on top of base), for one process each."""
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415 (the command only)

    from music_recommender.settings import CONFIG_LOADER_ARGS  # noqa: PLC0415

    loader = OmegaConfigLoader(
        conf, env=env, **{k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "default_run_env"}
    )
    params = loader["parameters"]["training"]["recommending"]["implicit"]
    return replace(ImplicitConfig(**params), processes=1)


if __name__ == "__main__":
    main()
