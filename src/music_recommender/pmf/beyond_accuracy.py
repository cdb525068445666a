"""Judging top-N lists as a music service would: popularity bias, novelty, diversity, groups.

Accuracy (``ranking.per_user_metrics``) says whether listeners find what they played; these say
*what* the lists are made of and *whom* they serve. Every metric takes the lists as an
``n_lists x k`` array of artist rows (``-1`` pads a short list) and a ``Catalogue`` of facts
about the artists fixed from the training pairs, so that every model is judged against the same
yardstick. Nothing here is sized listeners x artists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import svds

GROUPS = ("low", "mid", "high")  # thirds of listeners, by mainstreaminess or by activity


@dataclass(frozen=True)
class Catalogue:
    """What lists are judged against: each artist's reach, the long tail, a reference embedding."""

    listeners: np.ndarray  # share of the training listeners who play each artist, in [0, 1]
    tail: np.ndarray  # True for the artists outside the short head
    reference: np.ndarray | None  # unit-norm artist vectors (rows), the same for every model
    # Unit-norm rows of each artist's tag counts (sparse; None without tags): tag-based ILD.
    tags: sparse.csr_matrix | None = None

    @classmethod
    def from_pairs(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        plays: np.ndarray,
        n_users: int,
        n_items: int,
        head_share: float = 0.8,
        dims: int = 32,
        seed: int = 0,
        tags: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> Catalogue:
        """From the training pairs: reach, the short head of plays, a co-listening embedding;
        ``tags`` = (tag row, artist row, weight) for the tag-based diversity."""
        users, items = np.asarray(users), np.asarray(items)
        listeners = np.bincount(items, minlength=n_items) / max(len(np.unique(users)), 1)
        plays_per_artist = np.bincount(items, weights=np.asarray(plays, float), minlength=n_items)
        tail = ~short_head(plays_per_artist, head_share)
        reference = co_listening(users, items, n_users, n_items, dims, seed)
        return cls(listeners, tail, reference, tag_profiles(tags, n_items))


def tag_profiles(
    tags: tuple[np.ndarray, np.ndarray, np.ndarray] | None, n_items: int
) -> sparse.csr_matrix | None:
    """Each artist's tag weights as a unit sparse row (an untagged artist: a zero row)."""
    if tags is None or not len(tags[0]):
        return None
    rows, items, weight = (np.asarray(a) for a in tags)
    matrix = sparse.csr_matrix(
        (np.asarray(weight, np.float64), (items, rows)), shape=(n_items, int(rows.max()) + 1)
    )
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix


def short_head(plays: np.ndarray, share: float) -> np.ndarray:
    """The most played artists that together hold ``share`` of all plays (True in the head).

    Abdollahpouri, Burke and Mobasher (RecSys 2017, "Controlling popularity bias in
    learning-to-rank recommendation") split items into a short head and a long tail this way;
    Elliot's ``pop_ratio`` (0.8) is the same share.
    """
    if not 0 < share <= 1:
        raise ValueError(f"the short head's share of plays must be in (0, 1]; got {share!r}")
    order = np.argsort(-plays, kind="stable")
    held = np.cumsum(plays[order]) / max(plays.sum(), 1e-12)
    size = int(np.searchsorted(held, share - 1e-12)) + 1
    head = np.zeros(len(plays), dtype=bool)
    head[order[: min(size, len(plays))]] = True
    return head


def co_listening(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, dims: int, seed: int
) -> np.ndarray | None:
    """Unit artist vectors from a truncated SVD of who plays what (a model-free reference).

    Two artists are close when the same people play them; intra-list diversity measured with
    these vectors compares models on one footing, whatever their own embeddings.
    """
    dims = min(dims, n_users - 1, n_items - 1)
    if dims < 1 or not len(users):
        return None
    # float32 ARPACK: at 17 M pairs 9 s instead of 22 s, cosines between the vectors within
    # 1.3e-5 of float64's.
    matrix = sparse.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (items, users)), shape=(n_items, n_users)
    )
    matrix.data[:] = 1.0
    rng = np.random.default_rng(seed)
    start = rng.random(min(matrix.shape)).astype(np.float32)
    vectors, values, _ = svds(matrix, k=dims, v0=start)
    vectors = vectors * values
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _shown(lists: np.ndarray) -> np.ndarray:
    return np.asarray(lists) >= 0


def average_popularity(lists: np.ndarray, listeners: np.ndarray) -> float:
    """ARP: the mean over lists of the mean reach (share of listeners) of their artists.

    Yin et al. (VLDB 2012) and Abdollahpouri et al. (FLAIRS 2019) average each item's number of
    ratings; here the share of training listeners, so the figure reads the same at any size.
    """
    shown = _shown(lists)
    reach = np.where(shown, listeners[np.where(shown, lists, 0)], 0.0)
    return float(np.mean(reach.sum(1) / np.maximum(shown.sum(1), 1)))


def long_tail_share(lists: np.ndarray, tail: np.ndarray) -> float:
    """APLT: the mean over lists of the share of their artists in the long tail.

    Abdollahpouri, Burke and Mobasher (FLAIRS 2019, "Managing popularity bias in recommender
    systems with personalized re-ranking"); Elliot's APLT.
    """
    shown = _shown(lists)
    in_tail = shown & tail[np.where(shown, lists, 0)]
    return float(np.mean(in_tail.sum(1) / np.maximum(shown.sum(1), 1)))


def novelty(lists: np.ndarray, listeners: np.ndarray) -> float:
    """The mean self-information, ``-log2`` of an artist's share of listeners, of what is shown.

    Zhou et al. (PNAS 2010, "Solving the apparent diversity-accuracy dilemma"); Vargas and
    Castells (RecSys 2011). An artist nobody in training played counts as the least-heard one.
    """
    shown = _shown(lists)
    floor = listeners[listeners > 0].min(initial=1.0)
    reach = np.maximum(listeners[np.asarray(lists)[shown]], floor)
    return float(np.mean(-np.log2(reach))) if len(reach) else 0.0


def recommendation_counts(lists: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists show each artist."""
    lists = np.asarray(lists)
    return np.bincount(lists[_shown(lists)], minlength=n_items)


def gini(counts: np.ndarray) -> float:
    """The Gini index of how often each artist is recommended: 0 even, towards 1 concentrated.

    Fleder and Hosanagar (Management Science 2009); RecBole's GiniIndex, Elliot's Gini: with the
    counts sorted ascending, ``sum((2i - n - 1) c_i) / (n sum c)``.
    """
    counts = np.sort(np.asarray(counts, dtype=float))
    n, total = len(counts), counts.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(np.sum((2 * ranks - n - 1) * counts) / (n * total))


def shannon_entropy(counts: np.ndarray) -> float:
    """The Shannon entropy (bits) of the artists' shares of all recommendations.

    RecBole's ShannonEntropy and Elliot's SEntropy, in base 2: ``log2(n)`` when every artist is
    shown equally often, 0 when one artist is all anyone is shown.
    """
    counts = np.asarray(counts, dtype=float)
    share = counts[counts > 0] / max(counts.sum(), 1e-12)
    return float(-(share * np.log2(share)).sum())


def intra_list_diversity(lists: np.ndarray, vectors: np.ndarray) -> float:
    """ILD: the mean over lists of ``1 - mean cosine`` between the list's artists, pairwise.

    Ziegler et al. (WWW 2005, "Improving recommendation lists through topic diversification");
    Auralist (Zhang et al., WSDM 2012) for music. ``vectors`` are unit rows (``Catalogue``'s
    reference); a list with fewer than two artists has no pairs and is left out.
    """
    lists = np.asarray(lists)
    shown = _shown(lists)
    rows = np.where(shown, lists, 0)
    picked = vectors[rows] * shown[..., None]  # lists x k x d, padding zeroed
    gram = np.einsum("lkd,ljd->lkj", picked, picked)
    n = shown.sum(1)
    pairs = n * (n - 1)
    sums = gram.sum((1, 2)) - np.einsum("lkk->l", gram)
    keep = pairs > 0
    return float(np.mean(1.0 - sums[keep] / pairs[keep])) if keep.any() else 0.0


def tag_diversity(lists: np.ndarray, profiles: sparse.csr_matrix) -> float:
    """Tag ILD: the mean over lists of ``1 - mean cosine`` of the artists' tag profiles, pairwise
    (as ``intra_list_diversity``, with what people call the music rather than who plays it). An
    untagged artist is unlike every other (cosine 0). Sparse: memory in lists x k^2 x tags each."""
    lists = np.asarray(lists)
    shown = _shown(lists)
    first, second = np.triu_indices(lists.shape[1], 1)
    both = shown[:, first] & shown[:, second]
    a, b = lists[:, first][both], lists[:, second][both]
    cosines = np.asarray(profiles[a].multiply(profiles[b]).sum(axis=1)).ravel()
    per_list = np.zeros(len(lists))
    np.add.at(per_list, np.nonzero(both)[0], cosines)
    pairs = both.sum(1)
    keep = pairs > 0
    return float(np.mean(1.0 - per_list[keep] / pairs[keep])) if keep.any() else 0.0


def list_metrics(lists: np.ndarray, catalogue: Catalogue) -> dict[str, float]:
    """Every beyond-accuracy metric of one model's lists, and catalogue coverage."""
    counts = recommendation_counts(lists, len(catalogue.listeners))
    out = {
        "arp": average_popularity(lists, catalogue.listeners),
        "aplt": long_tail_share(lists, catalogue.tail),
        "novelty": novelty(lists, catalogue.listeners),
        "gini": gini(counts),
        "entropy": shannon_entropy(counts),
        "coverage": float((counts > 0).mean()),
    }
    if catalogue.reference is not None:
        out["ild"] = intra_list_diversity(lists, catalogue.reference)
    if catalogue.tags is not None:
        out["tag_ild"] = tag_diversity(lists, catalogue.tags)
    return out


def mainstreaminess(
    users: np.ndarray, items: np.ndarray, n_users: int, listeners: np.ndarray
) -> np.ndarray:
    """Each listener's mean reach (share of listeners) of the artists they play in training.

    A simple form of Bauer and Schedl's mainstreaminess (PLOS ONE 2019) and of the profile
    popularity Kowald, Schedl and Lex (ECIR 2020) split LFM-1b's listeners by: high for a listener
    of what everyone plays, low for one of niches. NaN for a listener with no training pairs.
    """
    users, items = np.asarray(users), np.asarray(items)
    total = np.bincount(users, weights=listeners[items], minlength=n_users)
    count = np.bincount(users, minlength=n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def thirds(values: np.ndarray) -> np.ndarray:
    """``low`` / ``mid`` / ``high`` by the terciles of ``values`` (ties fall in the lower third)."""
    values = np.asarray(values, dtype=float)
    low, high = np.nanquantile(values, [1 / 3, 2 / 3])
    return np.where(values <= low, GROUPS[0], np.where(values <= high, GROUPS[1], GROUPS[2]))
