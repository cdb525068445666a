"""A read-only Kedro dataset for one HetRec Last.fm file that fetches the archive when it is missing."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from music_recommender.hetrec import (
    HETREC_FILES,
    HETREC_URL,
    SIDE_FILES,
    HetrecFile,
    RawDataCheckError,
    RawDataMissingError,
    fetch_hetrec,
    missing_data_message,
    read_hetrec,
)
from music_recommender.synthetic import generate, write_hetrec

logger = logging.getLogger(__name__)


class HetrecDataset(AbstractDataset[None, pd.DataFrame]):
    """Load `user_artists.dat` or `artists.dat`; download GroupLens' zip first if the file is absent.

    Example catalog entry::

        user_artists_raw:
          type: music_recommender.datasets.HetrecDataset
          filepath: data/01_raw/hetrec2011-lastfm-2k/user_artists.dat
          download_url: https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip

    ``optional: true`` (the side files: friends, tags): a missing file is an empty frame with
    its columns (``attrs["absent"]``), never a download of its own; the play counts' download
    brings the side files along. Set ``download_url: null`` to never touch the network. ``expected_rows`` overrides the published
    row counts that a fresh download is checked against (for a mirror of other data).
    With ``synthetic`` (keyword arguments of ``music_recommender.synthetic.generate``) missing
    files are generated instead of downloaded: the ``demo`` environment runs anywhere, offline.
    """

    def __init__(
        self,
        filepath: str,
        download_url: str | None = HETREC_URL,
        expected_rows: dict[str, int] | None = None,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        synthetic: dict[str, Any] | None = None,
        optional: bool = False,
    ) -> None:
        self._filepath = PurePosixPath(filepath)
        self._optional = optional
        # ``side_files: true`` beside generate()'s settings: the synthetic set's side files too.
        synthetic = dict(synthetic) if synthetic is not None else None
        self._synthetic_side = bool(synthetic.pop("side_files", False)) if synthetic else False
        self._synthetic = synthetic
        self._download_url = download_url
        self._expected = {
            name: HetrecFile(
                spec.columns, (expected_rows or {}).get(name, spec.rows), spec.encoding
            )
            for name, spec in (HETREC_FILES | SIDE_FILES).items()
        }
        self._load_args = dict(load_args or {})
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the file, fetching the archive first when it is missing."""
        path = Path(self._filepath)
        if not path.exists() and self._optional and not self._synthetic_side:
            return self._absent(path)
        if not path.exists():
            self._fetch(path)
        spec = self._expected.get(path.name)
        encoding = {"encoding": spec.encoding} if spec is not None else {}
        return read_hetrec(path, **(encoding | self._load_args))

    def _absent(self, path: Path) -> pd.DataFrame:
        """An optional file that is not there: no rows, its columns, marked absent."""
        spec = self._expected.get(path.name)
        columns = spec.columns if spec is not None else ()
        frame = pd.DataFrame(
            {c: pd.Series(dtype=object if c == "tagValue" else "int64") for c in columns}
        )
        frame.attrs.update(source=str(path), absent=True)
        logger.info("%s is absent: the run goes on without it", path)
        return frame

    def _fetch(self, path: Path) -> None:
        if self._synthetic is not None:
            write_hetrec(generate(**self._synthetic), path.parent, side=self._synthetic_side)
            return
        if path.name not in self._expected:
            raise DatasetError(
                missing_data_message(
                    path.parent, [path.name], None, f"{path.name} is not in the archive"
                )
            )
        if self._download_url is None:
            raise DatasetError(
                missing_data_message(path.parent, [path.name], None, "download_url is null")
            )
        try:
            needed = {
                n: spec for n, spec in self._expected.items() if n in HETREC_FILES or n == path.name
            }
            fetch_hetrec(path.parent, self._download_url, needed)  # side files come along
        except (RawDataMissingError, RawDataCheckError) as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: pd.DataFrame) -> None:
        """Refuse: raw data is input only."""
        raise DatasetError(f"{self._filepath} is raw input data; the pipeline never writes it")

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "download_url": self._download_url,
            "synthetic": self._synthetic,
            "optional": self._optional,
        }
