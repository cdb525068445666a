"""The implicit solver across processes (torch.distributed, gloo on CPU) equals the one-process solver."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
import torch

from music_recommender import synthetic
from music_recommender.pmf import load_model
from music_recommender.pmf.distributed import block
from music_recommender.pmf.implicit_feedback import fit_implicit
from music_recommender.pmf.solver import ImplicitConfig

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def pairs():
    data = synthetic.generate(n_users=120, n_artists=90, artists_per_user=12, n_factors=4, seed=5)
    users = np.searchsorted(data.user_ids, data.user_artists["userID"].to_numpy())
    items = np.searchsorted(data.artist_ids, data.user_artists["artistID"].to_numpy())
    plays = data.user_artists["weight"].to_numpy()
    return users, items, plays, len(data.user_ids), len(data.artist_ids)


def _tables(model) -> torch.Tensor:
    return torch.cat(
        [
            torch.cat([model.user_factors.weight, model.user_bias.weight], 1),
            torch.cat([model.item_factors.weight, model.item_bias.weight], 1),
        ]
    ).detach()


def _fit(pairs, **settings) -> torch.Tensor:
    users, items, plays, n_users, n_items = pairs
    config = ImplicitConfig(n_factors=8, iterations=3, **settings)
    model = config.build(n_users, n_items)
    fit_implicit(model, users, items, plays, config)
    return _tables(model)


def test_blocks_cover_every_row_once() -> None:
    for n, world in ((10, 3), (7, 7), (100, 4), (5, 8)):
        ranges = [block(n, r, world) for r in range(world)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"plays_scale": "raw", "frequency_reg": 0.0, "negative_exponent": 0.5},
    ],
)
def test_two_processes_equal_one(pairs, settings) -> None:
    one = _fit(pairs, **settings)
    two = _fit(pairs, processes=2, **settings)
    assert one.abs().max() > 0.01  # something was learned
    assert (one - two).abs().max() <= 1e-4


def test_torchrun_reads_its_blocks_and_saves_the_same_model(pairs, tmp_path: Path) -> None:
    users, items, plays, n_users, n_items = pairs
    frame = pd.DataFrame({"user_index": users, "artist_index": items, "weight": plays})
    folder = tmp_path / "interactions"
    table = pa.Table.from_pandas(frame.assign(listener_block=frame["user_index"] // 50))
    ds.write_dataset(
        table, folder, format="parquet", partitioning=["listener_block"], partitioning_flavor="hive"
    )
    index = tmp_path / "id_index.json"
    index.write_text(json.dumps({"n_users": n_users, "n_items": n_items, "fingerprint": "f"}))
    out = tmp_path / "model.pt"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "music_recommender.distributed_fit", "--interactions", str(folder),
        "--id-index", str(index), "--conf", str(ROOT / "conf"), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["processes"] == 2
    (version,) = out.iterdir()  # a new version, as the catalog's versioned entry keeps them
    model, _ = load_model(version / out.name)
    config = ImplicitConfig.of(model)
    assert config.processes == 2 and config.n_factors == 128  # conf/base's settings, recorded
    config = replace(config, processes=1)
    single = config.build(n_users, n_items)
    fit_implicit(single, users, items, plays, config)
    assert (_tables(single) - _tables(model)).abs().max() <= 1e-4
