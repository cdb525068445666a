"""Synthetic Last.fm data in the HetRec format, with planted factors and biases to recover.

Each user listens to a few dozen artists chosen by popularity (Zipf) and taste (the planted
factors), drawn in time linear in the rows (Last.fm-360K's shape takes about a minute); play counts are log-normal around ``mu + user_bias + artist_bias + user . artist``,
so they are heavy-tailed like the real counts (mean about 3x the median).

    python -m music_recommender.synthetic data/01_raw/synthetic --users 1000 --artists 3000
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Names that exercise the loader: bare quotes, non-ASCII letters, apostrophes.
_NAME_STYLES = (
    "Artist {i}",
    'The "Quoted" {i}',
    "Sigur Rós {i}",
    "D'espairs {i}",
    '"Weird" Band {i}',
    "Ezginin Günlüğü {i}",
)


# Candidates drawn per kept artist, and candidates scored at once (bounds memory per chunk).
_OVERSAMPLE = 4
_CANDIDATES_PER_CHUNK = 2_000_000


@dataclass(frozen=True)
class SyntheticLastfm:
    """Generated files plus the planted truth, indexed like the sorted ``userID``/``artistID`` values."""

    user_artists: pd.DataFrame
    artists: pd.DataFrame
    user_ids: np.ndarray
    artist_ids: np.ndarray
    user_factors: np.ndarray
    artist_factors: np.ndarray
    user_bias: np.ndarray
    artist_bias: np.ndarray
    log_mean: float

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(listener row, artist row, plays) per pair: the rows a model is fitted on, with no
        preprocessing (every listener and artist the generator made)."""
        frame = self.user_artists
        users = np.searchsorted(self.user_ids, frame["userID"].to_numpy())
        items = np.searchsorted(self.artist_ids, frame["artistID"].to_numpy())
        return users, items, frame["weight"].to_numpy()


def _check_sizes(n_users: int, n_artists: int, artists_per_user: int, n_factors: int) -> None:
    if n_users < 1 or n_artists < 1 or artists_per_user < 1 or n_factors < 1:
        raise ValueError(
            "n_users, n_artists, artists_per_user and n_factors must be >= 1, got "
            f"{n_users}, {n_artists}, {artists_per_user}, {n_factors}"
        )
    if artists_per_user > n_artists:
        raise ValueError(f"artists_per_user ({artists_per_user}) exceeds n_artists ({n_artists})")


def _choose_artists(
    rng: np.random.Generator,
    log_pop: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    counts: np.ndarray,
    artists_per_user: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(user, artist) rows: each user's ``counts`` artists by popularity and taste, best first.

    Cost is linear in the rows, never users x artists: each user draws ``_OVERSAMPLE`` times as
    many candidates as they keep from the popularity distribution, and keeps the best by taste
    plus Gumbel noise (Gumbel top-k: sampling without replacement), duplicates dropped.
    """
    n_users, n_artists = len(users), len(items)
    width = min(n_artists, _OVERSAMPLE * artists_per_user)
    cdf = np.cumsum(np.exp(log_pop - log_pop.max()))
    chunk = max(1, _CANDIDATES_PER_CHUNK // width)
    rows_u, rows_i = [], []
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        if width == n_artists:  # a small catalogue: every artist is a candidate
            cand = np.broadcast_to(np.arange(n_artists), (stop - start, n_artists))
            prior = log_pop[cand]
        else:  # drawn by popularity, so popularity is already in the draw
            cand = np.searchsorted(cdf, rng.random((stop - start, width)) * cdf[-1])
            cand = np.minimum(cand, n_artists - 1)
            prior = np.zeros(cand.shape, dtype=np.float32)
        scores = prior + np.einsum("uk,ujk->uj", users[start:stop], items[cand])
        scores += rng.gumbel(size=scores.shape).astype(np.float32)
        order = np.argsort(cand, axis=1, kind="stable")
        cand, scores = np.take_along_axis(cand, order, 1), np.take_along_axis(scores, order, 1)
        scores[:, 1:][cand[:, 1:] == cand[:, :-1]] = -np.inf  # a candidate drawn twice counts once
        best = np.argsort(-scores, axis=1, kind="stable")[:, :artists_per_user]
        keep = np.arange(best.shape[1]) < counts[start:stop, None]
        keep &= np.isfinite(np.take_along_axis(scores, best, 1))
        rows_u.append(np.nonzero(keep)[0] + start)
        rows_i.append(np.take_along_axis(cand, best, 1)[keep])
    return np.concatenate(rows_u), np.concatenate(rows_i)


def _artists_frame(artist_ids: np.ndarray) -> pd.DataFrame:
    """artists.dat's columns, with names that exercise the loader."""
    names = [_NAME_STYLES[k % len(_NAME_STYLES)].format(i=aid) for k, aid in enumerate(artist_ids)]
    return pd.DataFrame(
        {
            "id": artist_ids,
            "name": names,
            "url": [f"http://www.last.fm/music/artist{aid}" for aid in artist_ids],
            "pictureURL": [
                f"http://userserve-ak.last.fm/serve/252/{aid}.jpg" for aid in artist_ids
            ],
        }
    )


@dataclass(frozen=True)
class PlantedTruth:
    """What decides which artists a synthetic listener plays: popularity and planted tastes."""

    user_ids: np.ndarray
    artist_ids: np.ndarray
    user_factors: np.ndarray
    artist_factors: np.ndarray
    user_bias: np.ndarray
    artist_bias: np.ndarray
    log_popularity: np.ndarray
    taste: float  # the weight of the factors against popularity in which artists are played

    def scores(self, users: np.ndarray, artists: np.ndarray | None = None) -> np.ndarray:
        """How strongly each listener is drawn to each artist: ``log popularity + taste``.

        The generator keeps each listener's best artists by this score plus Gumbel noise, so
        ranking by it is the best a model that knew the truth could do (an oracle).
        """
        items = slice(None) if artists is None else artists
        tastes = (self.taste * self.user_factors[users]) @ self.artist_factors[items].T
        return self.log_popularity[items] + tastes


def _truth(
    rng: np.random.Generator,
    n_users: int,
    n_artists: int,
    n_factors: int,
    popularity_exponent: float,
    taste: float,
    stds: tuple[float, float, float],
) -> PlantedTruth:
    """The seeded draws that come before any row: ids, factors, biases, popularity."""
    user_bias_std, artist_bias_std, factor_std = stds
    # Ids with gaps, as in the real files (user ids start at 2, artist ids skip numbers).
    user_ids = np.sort(rng.choice(np.arange(2, 2 * n_users + 2), n_users, replace=False))
    artist_ids = np.sort(rng.choice(np.arange(1, 2 * n_artists + 1), n_artists, replace=False))
    per_factor = factor_std / np.sqrt(n_factors)
    users = rng.normal(0.0, np.sqrt(per_factor), (n_users, n_factors)).astype(np.float32)
    items = rng.normal(0.0, np.sqrt(per_factor), (n_artists, n_factors)).astype(np.float32)
    user_bias = rng.normal(0.0, user_bias_std, n_users).astype(np.float32)
    artist_bias = rng.normal(0.0, artist_bias_std, n_artists).astype(np.float32)
    # Zipf popularity, shuffled so that popularity and id are unrelated; liked artists are popular.
    log_pop = -popularity_exponent * np.log(rng.permutation(n_artists) + 1.0) + artist_bias
    return PlantedTruth(user_ids, artist_ids, users, items, user_bias, artist_bias, log_pop, taste)


def planted_truth(**settings: Any) -> PlantedTruth:
    """The truth ``generate(**settings)`` plants, without drawing a single row.

    The settings are ``generate``'s own, defaults included, so the two never drift apart.
    """
    bound = inspect.signature(generate).bind(**settings)
    bound.apply_defaults()
    s = bound.arguments
    _check_sizes(s["n_users"], s["n_artists"], s["artists_per_user"], s["n_factors"])
    stds = (s["user_bias_std"], s["artist_bias_std"], s["factor_std"])
    rng = np.random.default_rng(s["seed"])
    return _truth(
        rng,
        s["n_users"],
        s["n_artists"],
        s["n_factors"],
        s["popularity_exponent"],
        s["taste"],
        stds,
    )


def generate(
    n_users: int = 200,
    n_artists: int = 500,
    artists_per_user: int = 50,
    n_factors: int = 8,
    seed: int = 0,
    popularity_exponent: float = 0.8,
    taste: float = 1.0,
    noise: float = 0.5,
    log_mean: float = 4.7,
    user_bias_std: float = 0.8,
    artist_bias_std: float = 0.6,
    factor_std: float = 0.8,
) -> SyntheticLastfm:
    """Draw a seeded data set; rows are about ``n_users * artists_per_user * 0.95``."""
    _check_sizes(n_users, n_artists, artists_per_user, n_factors)
    rng = np.random.default_rng(seed)
    stds = (user_bias_std, artist_bias_std, factor_std)
    truth = _truth(rng, n_users, n_artists, n_factors, popularity_exponent, taste, stds)
    user_ids, artist_ids = truth.user_ids, truth.artist_ids
    users, items = truth.user_factors, truth.artist_factors
    user_bias, artist_bias, log_pop = truth.user_bias, truth.artist_bias, truth.log_popularity

    # Most users have a full list (the real data keeps each user's top 50), a tenth have fewer.
    counts = np.full(n_users, artists_per_user)
    short = rng.random(n_users) < 0.1
    counts[short] = rng.integers(1, artists_per_user + 1, short.sum())

    u, i = _choose_artists(rng, log_pop, taste * users, items, counts, artists_per_user)
    log_weight = (
        log_mean
        + user_bias[u]
        + artist_bias[i]
        + np.einsum("ij,ij->i", users[u], items[i])
        + rng.normal(0.0, noise, len(u))
    )
    weight = np.maximum(1, np.floor(np.exp(log_weight))).astype(np.int64)
    user_artists = pd.DataFrame(
        {"userID": user_ids[u], "artistID": artist_ids[i], "weight": weight}
    )

    artists = _artists_frame(artist_ids)
    return SyntheticLastfm(
        user_artists=user_artists,
        artists=artists,
        user_ids=user_ids,
        artist_ids=artist_ids,
        user_factors=users,
        artist_factors=items,
        user_bias=user_bias,
        artist_bias=artist_bias,
        log_mean=log_mean,
    )


def side_files(data: SyntheticLastfm, seed: int = 0) -> dict[str, pd.DataFrame]:
    """HetRec's three side files for a synthetic set, from its planted truth: each artist tagged
    by a few random listeners with the (factor, sign) of its two strongest planted factors (so
    tags carry taste), and each listener befriended with the two of 20 random others whose
    planted tastes are closest (both directions)."""
    rng = np.random.default_rng(seed)
    factors, people = data.artist_factors, data.user_factors
    strongest = np.argsort(-np.abs(factors), axis=1)[:, :2]
    tag_of = strongest * 2 + (np.take_along_axis(factors, strongest, 1) > 0)
    taggers = rng.integers(1, 4, len(factors))  # 1-3 assignments per (artist, tag)
    artist_rows = np.repeat(np.arange(len(factors)), 2 * taggers)
    tag_rows = np.repeat(tag_of.ravel(), np.repeat(taggers, 2))
    users = data.user_ids[rng.integers(0, len(people), len(artist_rows))]
    tagged = pd.DataFrame(
        {"userID": users, "artistID": data.artist_ids[artist_rows], "tagID": tag_rows + 1,
         "day": 1, "month": 1, "year": 2010}
    ).drop_duplicates(["userID", "artistID", "tagID"])  # fmt: skip
    names = [f"{'électro' if k % 2 else 'rock'} {k // 2}" for k in range(2 * factors.shape[1])]
    tags = pd.DataFrame({"tagID": np.arange(1, len(names) + 1), "tagValue": names})
    candidates = rng.integers(0, len(people), (len(people), 20))
    closeness = np.einsum("uk,ujk->uj", people, people[candidates])
    nearest = np.take_along_axis(candidates, np.argsort(-closeness, axis=1)[:, :2], 1)
    pairs = np.stack([np.repeat(np.arange(len(people)), 2), nearest.ravel()], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(np.r_[pairs, pairs[:, ::-1]], axis=0)  # each friendship both ways, once
    friends = pd.DataFrame(
        {"userID": data.user_ids[pairs[:, 0]], "friendID": data.user_ids[pairs[:, 1]]}
    )
    return {"user_taggedartists.dat": tagged, "tags.dat": tags, "user_friends.dat": friends}


def write_hetrec(data: SyntheticLastfm, folder: str | Path, side: bool = False) -> Path:
    """Write the two files as GroupLens ships them: CRLF and no final newline for user_artists;
    with ``side``, the three side files too (CRLF; tags.dat in Latin-1, as GroupLens's)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = data.user_artists.to_csv(sep="\t", index=False, lineterminator="\r\n")
    (folder / "user_artists.dat").write_bytes(text.rstrip("\r\n").encode("utf-8"))
    lines = ["\t".join(data.artists.columns)]
    lines += ["\t".join(map(str, row)) for row in data.artists.itertuples(index=False)]
    (folder / "artists.dat").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, frame in (side_files(data) if side else {}).items():
        text = frame.to_csv(sep="\t", index=False, lineterminator="\r\n")
        (folder / name).write_bytes(text.encode("latin-1" if name == "tags.dat" else "utf-8"))
    return folder


def main(argv: list[str] | None = None) -> None:
    """Write a synthetic data set to a folder from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--artists", type=int, default=3000)
    parser.add_argument("--artists-per-user", type=int, default=50)
    parser.add_argument("--factors", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = generate(args.users, args.artists, args.artists_per_user, args.factors, args.seed)
    write_hetrec(data, args.folder)
    rows = len(data.user_artists)
    print(f"wrote {rows:,} rows, {args.users:,} users, {args.artists:,} artists to {args.folder}")  # noqa: T201


if __name__ == "__main__":
    main()
