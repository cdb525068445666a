"""Spark's ``xxhash64`` in numpy: one seeded random draw per row that both engines compute alike.

The split must put the same rows in train whether pandas or Spark runs it, and must not need
all rows in one place (a permutation does). A hash of (seed, listener id, artist id) does both:
``pyspark.sql.functions.xxhash64`` on a cluster, this module on one machine, bit for bit equal
(``tests/pipelines/preprocessing/test_spark.py`` checks it against Spark itself).
"""

from __future__ import annotations

import numpy as np

# XXH64's primes and Spark's default seed (org.apache.spark.sql.catalyst.expressions.XXH64).
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
SPARK_SEED = 42


def _rotl(x: np.ndarray, bits: int) -> np.ndarray:
    return (x << np.uint64(bits)) | (x >> np.uint64(64 - bits))


def _hash_long(value: np.ndarray, seed: np.ndarray) -> np.ndarray:
    h = seed + _P5 + np.uint64(8)
    h ^= _rotl(value * _P2, 31) * _P1
    h = _rotl(h, 27) * _P1 + _P4
    h ^= h >> np.uint64(33)
    h *= _P2
    h ^= h >> np.uint64(29)
    h *= _P3
    h ^= h >> np.uint64(32)
    return h


def xxhash64(*columns: np.ndarray | int) -> np.ndarray:
    """``F.xxhash64(*columns)`` of 64-bit integer columns (scalars broadcast), as int64."""
    arrays = [np.asarray(c, dtype=np.int64) for c in columns]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    h = np.full(shape, SPARK_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):  # the hash is arithmetic modulo 2**64 by design
        for a in arrays:
            h = _hash_long(np.broadcast_to(a, shape).view(np.uint64), h)
    return h.view(np.int64)


def unit_draws(seed: int, users: np.ndarray, artists: np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) per (user id, artist id) row: the top 53 bits of the hash."""
    h = xxhash64(seed, users, artists).view(np.uint64)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)
