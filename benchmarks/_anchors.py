"""Ranking anchors the project's model is measured against: EASE^R, iALS and implicit's ALS.

- EASE^R (Steck 2019): a closed-form item-item model, ``B = I - P / diag(P)`` with
  ``P = (X^T X + lambda I)^-1``, zero diagonal; scores ``X_u B``.
- iALS as Rendle et al. (2022) tune it ("Revisiting the performance of iALS on item
  recommendation benchmarks"): every unplayed pair a target 0 of weight ``alpha0``, a played pair
  a target 1 of weight ``c``, and the L2 of each row scaled by its frequency,
  ``lambda * (n_row + alpha0 * n_other)``; each side solved with warm-started conjugate gradient.
- implicit's ``AlternatingLeastSquares`` (the bench extra).

Each takes the training pairs and a confidence choice and returns a scorer: a function from a
batch of listener indices to their scores over every artist (``HoldoutTask.evaluate`` masks the
played ones).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from music_recommender.pmf.solver import confidence

Scorer = Callable[[np.ndarray], torch.Tensor]


def weights(users: np.ndarray, plays: np.ndarray, alpha: float, scale: str) -> np.ndarray:
    """A played pair's weight: 1 (``binary``), or ``1 + alpha * log1p(plays [/ listener median])``."""
    if scale == "binary":
        return np.ones(len(plays), dtype=np.float32)
    return confidence(users, plays, alpha, scale).numpy()


def fit_ease(users, items, value, n_users: int, n_items: int, lam: float) -> Scorer:
    """EASE^R on the (users x artists) matrix of ``value`` (1s or confidences)."""
    x = sp.csr_matrix((np.asarray(value, np.float64), (users, items)), shape=(n_users, n_items))
    gram = (x.T @ x).toarray()
    gram[np.diag_indices(n_items)] += lam
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices(n_items)] = 0.0
    b_t = torch.as_tensor(b, dtype=torch.float32)
    x = x.astype(np.float32)
    return lambda batch: torch.as_tensor(x[np.asarray(batch)].toarray()) @ b_t


def _cg_side(
    x: torch.Tensor,
    q: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    c: torch.Tensor,
    lam: torch.Tensor,
    alpha0: float,
    steps: int,
) -> torch.Tensor:
    """Rows of ``x`` solving ``(a0 Q'Q + sum_played (c - a0) q q' + lam I) x = sum_played c q``."""
    gram = alpha0 * (q.T @ q)
    q_played = q[cols]
    extra = (c - alpha0)[:, None]

    def matvec(p: torch.Tensor) -> torch.Tensor:
        dots = (p[rows] * q_played).sum(1, keepdim=True)
        return (p @ gram + lam[:, None] * p).index_add_(0, rows, extra * dots * q_played)

    b = torch.zeros_like(x).index_add_(0, rows, c[:, None] * q_played)
    r = b - matvec(x)
    p, rs = r.clone(), (r * r).sum(1)
    for _ in range(steps):
        ap = matvec(p)
        step = rs / (p * ap).sum(1).clamp_min(1e-30)
        x = x + step[:, None] * p
        r = r - step[:, None] * ap
        rs_new = (r * r).sum(1)
        p = r + (rs_new / rs.clamp_min(1e-30))[:, None] * p
        rs = rs_new
    return x


def fit_ials(
    users,
    items,
    value,
    n_users: int,
    n_items: int,
    *,
    factors: int,
    lam: float,
    alpha0: float,
    sweeps: int,
    seed: int,
    cg_steps: int = 4,
) -> Scorer:
    """iALS with frequency-scaled L2 and a uniform weight ``alpha0`` on unplayed pairs."""
    generator = torch.Generator().manual_seed(seed)
    u = torch.as_tensor(np.asarray(users), dtype=torch.long)
    i = torch.as_tensor(np.asarray(items), dtype=torch.long)
    c = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    std = 0.1 / factors**0.5
    w = torch.randn(n_users, factors, generator=generator) * std
    h = torch.randn(n_items, factors, generator=generator) * std
    lam_u = lam * (torch.bincount(u, minlength=n_users).float() + alpha0 * n_items)
    lam_i = lam * (torch.bincount(i, minlength=n_items).float() + alpha0 * n_users)
    for _ in range(sweeps):
        w = _cg_side(w, h, u, i, c, lam_u, alpha0, cg_steps)
        h = _cg_side(h, w, i, u, c, lam_i, alpha0, cg_steps)
    return lambda batch: w[torch.as_tensor(np.asarray(batch))] @ h.T


def fit_als(
    users,
    items,
    value,
    n_users: int,
    n_items: int,
    *,
    factors: int,
    reg: float,
    sweeps: int,
    seed: int,
) -> Scorer:
    """implicit's ALS; ``value`` is the confidence minus one (implicit adds the one itself)."""
    from implicit.cpu.als import AlternatingLeastSquares  # noqa: PLC0415 (bench extra)

    matrix = sp.csr_matrix(
        (np.asarray(value, np.float32), (users, items)), shape=(n_users, n_items)
    )
    model = AlternatingLeastSquares(
        factors=factors,
        regularization=reg,
        alpha=1.0,
        iterations=sweeps,
        random_state=seed,
        calculate_training_loss=False,
    )
    model.fit(matrix, show_progress=False)
    u, h = torch.as_tensor(model.user_factors), torch.as_tensor(model.item_factors)
    return lambda batch: u[torch.as_tensor(np.asarray(batch))] @ h.T


def fit_lightfm(
    users,
    items,
    value,
    n_users: int,
    n_items: int,
    item_tags: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    *,
    factors: int,
    learning_rate: float,
    item_alpha: float,
    user_alpha: float,
    epochs: int,
    seed: int,
    threads: int,
) -> Scorer:
    """LightFM with WARP (the bench extra, built as the README says): a hybrid anchor whose
    artist vector is the sum of its own embedding and its tags' (``item_tags`` = tag row, artist
    row, weight; each artist's feature row normalised to sum 1, the artist's own feature
    weighing as much as its tags together), the listener an embedding of their own."""
    from lightfm import LightFM  # noqa: PLC0415 (optional: the bench extra)

    x = sp.coo_matrix((np.asarray(value, np.float32), (users, items)), shape=(n_users, n_items))
    features = sp.identity(n_items, format="csr", dtype=np.float32)
    if item_tags is not None and len(item_tags[0]):
        tags, tagged, weight = item_tags
        n_tags = int(tags.max()) + 1
        share = sp.csr_matrix((weight, (tagged, tags)), shape=(n_items, n_tags), dtype=np.float32)
        sums = np.asarray(share.sum(axis=1)).ravel()
        share = sp.diags(1.0 / np.maximum(sums, 1e-12)) @ share
        features = sp.hstack([features, share], format="csr")
        features = sp.diags(1.0 / np.asarray(features.sum(axis=1)).ravel()) @ features
    model = LightFM(
        no_components=factors,
        loss="warp",
        learning_rate=learning_rate,
        item_alpha=item_alpha,
        user_alpha=user_alpha,
        random_state=np.random.RandomState(seed),
    )
    model.fit(x, item_features=features, sample_weight=x, epochs=epochs, num_threads=threads)
    item_bias, item_vec = model.get_item_representations(features)
    user_bias, user_vec = model.get_user_representations()
    iv, ib = torch.as_tensor(item_vec), torch.as_tensor(item_bias)
    uv, ub = torch.as_tensor(user_vec), torch.as_tensor(user_bias)
    return lambda batch: uv[np.asarray(batch)] @ iv.T + ib[None, :] + ub[np.asarray(batch), None]
