"""Nothing sized listeners x artists: the ranking nodes run under a memory cap a dense matrix breaks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# 30 k listeners x 30 k artists: a dense float32 score matrix is 3.6 GB, a boolean mask 0.9 GB;
# the child may grow by 600 MB beyond what it holds after the imports.
_CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, pandas as pd, torch
    from music_recommender.pmf import PMF, ImplicitRecommender
    from music_recommender.pipelines.ranking_holdout import (
        BeyondAccuracyParams, RankingParams, RecommendParams, split_holdout,
    )
    from music_recommender.pipelines.training.recommending.nodes import (
        evaluate_ranking, recommend_all, similar_artists,
    )
    torch.set_num_threads(1)
    n_users, n_items, per_user = 30_000, 30_000, 5
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, n_items, len(users))
    interactions = pd.DataFrame(
        {"user_index": users, "artist_index": items, "weight": rng.integers(1, 100, len(users))}
    ).drop_duplicates(["user_index", "artist_index"])
    interactions["user_id"] = interactions["user_index"] + 2
    user_map = pd.DataFrame({"user_id": np.arange(n_users) + 2, "user_index": np.arange(n_users)})
    artist_map = pd.DataFrame({"artist_id": np.arange(n_items) + 1, "artist_index": np.arange(n_items),
                               "artist_name": [f"a{i}" for i in range(n_items)]})
    model = ImplicitRecommender().set_model(PMF(n_users, n_items, n_factors=2))
    status = open("/proc/self/status").read()
    vm = int(next(line for line in status.splitlines() if line.startswith("VmSize")).split()[1]) * 1024
    cap = vm + 600 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    params = RecommendParams("implicit", 10, 10, memory_budget_mb=64)
    recs = recommend_all(model, interactions, user_map, artist_map, params)
    assert len(recs) == 10 * n_users, len(recs)
    sims = similar_artists(model, artist_map, params)
    assert len(sims) == 10 * n_items, len(sims)
    ranking = RankingParams(0.2, 10, 0, max_users=None)
    seen, held_out = split_holdout(interactions, ranking)
    shape = {"n_users": n_users, "n_items": n_items}
    beyond = BeyondAccuracyParams(0.8, 8, [0.0, 0.1], 0, tradeoff_users=2000)
    out = evaluate_ranking(model, {"rating": model}, seen, held_out, shape, ranking, params, beyond)
    assert out["protocol"]["users"] > 0
    print("ok")
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux's")
def test_ranking_nodes_fit_under_a_cap_that_a_dense_matrix_breaks() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], check=False, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
