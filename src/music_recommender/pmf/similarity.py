"""Every artist's nearest artists at once: each block of the symmetric cosine matrix made once.

Asked for every artist, ``similar_items`` would compute each cosine twice (once from each side)
and search every full row of ``n_items`` scores. Here the artists are cut into blocks of
``block`` rows, each pair of blocks is multiplied once, into one reused buffer, and its scores
serve both the rows' lists and the columns' lists. Each artist's running ``width``-th best score
is a threshold: group maxima (``_GROUP`` scores) tell which few groups of a block can still enter
any list, and only those are read and merged. The diagonal blocks go first, so every artist has
a threshold before the other blocks are read. Exact (ties aside): a score left out is at most a
group maximum that was not above the list's threshold at the time, which only rises.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_GROUP = 64  # a row's scores per group maximum (read contiguously); blocks are whole groups
_DOWN = 8  # a column's scores per group maximum (read strided: each cell its own cache line)


def block_rows(budget_mb: float, bytes_per_cell: int, width: int) -> int:
    """Rows (and columns) of one block of scores that fits the memory budget: whole groups,
    wide enough for a diagonal block to hold each list."""
    side = int(math.sqrt(budget_mb * 2**20 / bytes_per_cell))
    return max(side - side % _GROUP, _GROUP * math.ceil((width + 1) / _GROUP))


@torch.no_grad()
def all_nearest(table: torch.Tensor, width: int, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices) of each row's ``width`` best inner products with the other rows of
    ``table``, best first, computed one ``block`` x ``block`` tile of the upper triangle at a time
    (values in float32; rows with fewer other rows are padded with ``-inf``)."""
    count = len(table)
    values = torch.full((count, width), -math.inf)
    index = torch.zeros((count, width), dtype=torch.int64)
    buffer = torch.empty(min(block, count) ** 2, dtype=table.dtype)
    starts = range(0, count, block)

    def scores(s: int, t: int) -> torch.Tensor:
        rows, cols = table[s : s + block], table[t : t + block]
        out = buffer[: len(rows) * len(cols)].view(len(rows), len(cols))
        return torch.mm(rows, cols.T, out=out)

    for s in starts:  # the diagonal blocks first: each row's threshold from its own block
        tile = scores(s, s).fill_diagonal_(-math.inf)
        w = min(width, tile.shape[1])
        best, found = torch.topk(tile, w, dim=1)
        values[s : s + len(tile), :w], index[s : s + len(tile), :w] = best.float(), found + s
    for s in starts:
        for t in starts[s // block + 1 :]:
            tile = scores(s, t)
            rows, cols, got = _row_hits(tile, values[s : s + len(tile), -1])
            _merge(values, index, rows + s, cols + t, got)
            rows, cols, got = _column_hits(tile, values[t : t + tile.shape[1], -1])
            _merge(values, index, cols + t, rows + s, got)
    return values, index


_AS_INT = {torch.bfloat16: torch.int16, torch.float32: torch.int32}


def _ordered(tile: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The tile's bits as integers, and the thresholds the same way, negative ones lowered to
    the integers' minimum (so every group of their row is read: a group is read where its
    maximum is >= the floor): a float's bits order the non-negative floats as the floats do and
    put every negative one below them, and integer maxima take a fraction of the floats' time
    (bfloat16 groups of 64: 3.4 ms against 15 ms for a 4,672-square tile)."""
    kind = _AS_INT.get(tile.dtype)
    if kind is None:
        return tile, threshold
    low = torch.iinfo(kind).min
    bits = threshold.to(tile.dtype).view(kind).masked_fill(threshold < 0, low)
    return tile.view(kind), bits


def _row_hits(tile: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(rows, columns, scores) of the cells above their row's threshold: groups of ``_GROUP``
    columns whose maximum reaches it are copied whole (contiguous) and their cells tested."""
    r, c = tile.shape
    full = c - c % _GROUP
    bits, floor = _ordered(tile, threshold)
    maxima = bits[:, :full].reshape(r, -1, _GROUP).amax(2)
    row, group = (maxima >= floor[:, None]).nonzero(as_tuple=True)
    got = tile[:, :full].reshape(-1, _GROUP).index_select(0, row * (full // _GROUP) + group)
    rows = row[:, None].expand(-1, _GROUP)
    cols = group[:, None] * _GROUP + torch.arange(_GROUP)
    if full < c:  # the last, partial group: read whole
        rows = torch.cat([rows.reshape(-1), torch.arange(r).repeat_interleave(c - full)])
        cols = torch.cat([cols.reshape(-1), torch.arange(full, c).repeat(r)])
        got = torch.cat([got.reshape(-1), tile[:, full:].reshape(-1)])
    rows, cols, got = rows.reshape(-1), cols.reshape(-1), got.reshape(-1)
    keep = got > threshold.to(tile.dtype)[rows]
    return rows[keep], cols[keep], got[keep]


def _column_hits(tile: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(rows, columns, scores) of the cells above their column's threshold: maxima down groups
    of ``_DOWN`` rows (a contiguous pass), then only the hit groups' cells read, strided."""
    r, c = tile.shape
    full = r - r % _DOWN
    bits, floor = _ordered(tile, threshold)
    maxima = bits[:full].reshape(-1, _DOWN, c).amax(1)
    group, col = (maxima >= floor[None, :]).nonzero(as_tuple=True)
    rows = group[:, None] * _DOWN + torch.arange(_DOWN)
    cols = col[:, None].expand(-1, _DOWN)
    if full < r:  # the last rows: read whole
        rows = torch.cat([rows.reshape(-1), torch.arange(full, r).repeat_interleave(c)])
        cols = torch.cat([cols.reshape(-1), torch.arange(c).repeat(r - full)])
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    got = tile.reshape(-1).index_select(0, rows * c + cols)
    keep = got > threshold.to(tile.dtype)[cols]
    return rows[keep], cols[keep], got[keep]


def _merge(
    values: torch.Tensor,
    index: torch.Tensor,
    rows: torch.Tensor,
    items: torch.Tensor,
    got: torch.Tensor,
) -> None:
    """Fold (row, item, score) candidates into each row's running best list, in place."""
    if not len(rows):
        return
    order = torch.argsort(rows, stable=True)
    rows, items, got = rows[order], items[order], got[order].float()
    each, where, counts = torch.unique_consecutive(rows, return_inverse=True, return_counts=True)
    place = torch.arange(len(rows)) - (torch.cumsum(counts, 0) - counts)[where]
    new_values = torch.full((len(each), int(counts.max())), -math.inf)
    new_index = torch.zeros(new_values.shape, dtype=torch.int64)
    new_values[where, place], new_index[where, place] = got, items
    pool = torch.cat([values[each], new_values], 1)
    best, order = torch.topk(pool, values.shape[1], dim=1)
    values[each] = best
    index[each] = torch.gather(torch.cat([index[each], new_index], 1), 1, order)


def covers_all(items: np.ndarray, n_items: int) -> bool:
    """Whether a query asks for every artist (so the all-pairs pass answers it)."""
    return len(items) >= n_items > 1 and len(np.unique(items)) == n_items
