"""Read and fetch the GroupLens HetRec 2011 Last.fm files; plain pandas, usable without Kedro."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from music_recommender.errors import UserError

logger = logging.getLogger(__name__)

HETREC_URL = "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip"


@dataclass(frozen=True)
class HetrecFile:
    """What one file of the archive must look like once extracted."""

    columns: tuple[str, ...]
    rows: int
    encoding: str = "utf-8"


# The two files the project needs, as GroupLens publishes them (checked after every download).
HETREC_FILES: dict[str, HetrecFile] = {
    "user_artists.dat": HetrecFile(("userID", "artistID", "weight"), 92_834),
    "artists.dat": HetrecFile(("id", "name", "url", "pictureURL"), 17_632),
}
# The side files: optional, read when present, fetched with the two when the archive is.
SIDE_FILES: dict[str, HetrecFile] = {
    "user_friends.dat": HetrecFile(("userID", "friendID"), 25_434),
    "user_taggedartists.dat": HetrecFile(
        ("userID", "artistID", "tagID", "day", "month", "year"), 186_479
    ),
    "tags.dat": HetrecFile(("tagID", "tagValue"), 11_946, encoding="latin-1"),
}


class RawDataMissingError(UserError, FileNotFoundError):
    """The raw files are absent and could not be fetched."""


class RawFileError(UserError, ValueError):
    """A raw file that cannot be read as a HetRec table (empty, not text)."""


class RawDataCheckError(UserError, ValueError):
    """A fetched file does not have the columns or row count GroupLens publishes."""


def read_hetrec(path: str | Path, **load_args: object) -> pd.DataFrame:
    """Read one tab-separated HetRec file: CRLF or LF endings, literal quotes inside names."""
    path = Path(path)
    if path.exists() and path.stat().st_size == 0:
        raise RawFileError(f"{path}: the file is empty; expected a tab-separated header and rows")
    # QUOTE_NONE: artist names such as `"Weird Al" Yankovic` carry bare quotes that are part of
    # the name; the C parser accepts both CRLF and LF and a missing final newline.
    args: dict[str, object] = {"sep": "\t", "quoting": csv.QUOTE_NONE, "encoding": "utf-8"}
    args.update(load_args)
    if args["sep"] == "\t" and path.exists():
        _check_text_and_tabs(path)
    try:
        frame = pd.read_csv(path, **args)  # type: ignore[call-overload]
    except pd.errors.ParserError as exc:  # a ragged row: more fields than the header
        reason = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise RawFileError(
            f"{path}: {reason.rstrip('.')}; every row needs the header's tab-separated fields"
        ) from None
    except UnicodeDecodeError:
        # Files saved by Windows tools carry names in cp1252 (a superset of latin-1's letters).
        logger.warning(
            "%s: line %d is not UTF-8; reading the file as Windows-1252 (cp1252)",
            path,
            _first_non_utf8_line(path),
        )
        frame = pd.read_csv(path, **(args | {"encoding": "cp1252", "encoding_errors": "replace"}))  # type: ignore[call-overload]
    frame.columns = [str(c).strip() for c in frame.columns]
    # Lets validation name the file a bad row came from.
    frame.attrs["source"] = str(path)
    return frame


_SEPARATORS = ((",", "comma"), (";", "semicolon"), ("|", "pipe-"), (" ", "space-"))


def _check_text_and_tabs(path: Path) -> None:
    """A binary file or one with another separator is named as such, not as missing columns."""
    with path.open("rb") as handle:
        head = handle.read(65536)
    if b"\x00" in head:
        raise RawFileError(f"{path}: a binary file; a HetRec file is tab-separated text")
    header = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if "\t" in header:
        return
    for separator, name in _SEPARATORS:
        if separator in header:
            kind = f"{name.rstrip('-')}-separated"
            raise RawFileError(
                f"{path}: {kind}, tab expected (its header: {header[:80]!r}); save it with tabs "
                "between the fields, as the HetRec files are"
            )


def _first_non_utf8_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def check_hetrec_file(path: Path, expected: HetrecFile) -> None:
    """Fail when a fetched file's header or row count differs from the published archive."""
    frame = read_hetrec(path, encoding=expected.encoding)
    problems = []
    if tuple(frame.columns) != expected.columns:
        problems.append(f"columns {list(frame.columns)}, expected {list(expected.columns)}")
    if len(frame) != expected.rows:
        problems.append(f"{len(frame):,} rows, expected {expected.rows:,}")
    if problems:
        raise RawDataCheckError(f"{path.name} from the download has " + " and ".join(problems))


def missing_data_message(folder: Path, missing: list[str], url: str | None, reason: str) -> str:
    """The one message a user sees when the raw files are absent: what, where from, where to."""
    lines = [
        f"Raw data missing: {', '.join(missing)} not found in {folder}/.",
        f"Could not fetch it: {reason}" if url else f"Automatic download is off ({reason}).",
        "To fix, either:",
        f"  - download {url or HETREC_URL}",
        f"    and extract {' and '.join(HETREC_FILES)} into {folder}/, or",
        "  - point the run at a folder that has them:",
        "    kedro run --params raw_data_dir=/path/to/hetrec2011-lastfm-2k",
    ]
    return "\n".join(lines)


def _download(url: str, target: Path, timeout: float) -> None:
    """Stream `url` to `target` with a progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            target.open("wb") as out,
            tqdm(
                total=total, unit="B", unit_scale=True, desc=f"Downloading {Path(url).name}"
            ) as bar,
        ):
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _checked(extracted: list[Path], expected: Mapping[str, HetrecFile]) -> list[Path]:
    """The extracted files that pass their checks: a needed one that fails stops the fetch, an
    optional side file that fails is left out with a warning."""
    kept = []
    for path in extracted:
        if path.name in expected:
            check_hetrec_file(path, expected[path.name])
            kept.append(path)
            continue
        try:
            check_hetrec_file(path, SIDE_FILES[path.name])
            kept.append(path)
        except (RawDataCheckError, RawFileError) as exc:
            logger.warning("%s: left out (%s)", path.name, exc)
    return kept


def fetch_hetrec(
    folder: str | Path,
    url: str = HETREC_URL,
    expected: Mapping[str, HetrecFile] | None = None,
    timeout: float = 30.0,
) -> list[Path]:
    """Download the archive, extract and check the needed files, then move them into `folder`.

    Files land in `folder` only after every one of them passed its check, so a failed or
    interrupted fetch never leaves a half-written file behind.
    """
    folder = Path(folder)
    expected = dict(HETREC_FILES if expected is None else expected)
    missing = [name for name in expected if not (folder / name).exists()]
    if not missing:
        return [folder / name for name in expected]
    if not url.startswith(("https://", "http://", "file://")):
        raise RawDataMissingError(
            missing_data_message(folder, missing, url, f"unsupported URL scheme in {url!r}")
        )
    with tempfile.TemporaryDirectory(prefix="hetrec-") as tmp:
        archive = Path(tmp) / "archive.zip"
        try:
            _download(url, archive, timeout)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RawDataMissingError(
                missing_data_message(folder, missing, url, str(reason))
            ) from exc
        try:
            with zipfile.ZipFile(archive) as zf:
                members = {Path(m).name: m for m in zf.namelist() if not m.endswith("/")}
                absent = [name for name in missing if name not in members]
                if absent:
                    raise RawDataCheckError(f"the archive at {url} has no {', '.join(absent)}")
                # The side files come along when the archive has them and the folder does not.
                side = [
                    name
                    for name in SIDE_FILES
                    if name in members and name not in expected and not (folder / name).exists()
                ]
                extracted = []
                for name in missing + side:
                    out = Path(tmp) / name
                    with zf.open(members[name]) as src, out.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
                    extracted.append(out)
        except zipfile.BadZipFile as exc:
            raise RawDataCheckError(f"the download from {url} is not a zip archive: {exc}") from exc
        extracted = _checked(extracted, expected)
        folder.mkdir(parents=True, exist_ok=True)
        for path in extracted:
            # Copy beside the target, then rename: the final name appears whole or not at all.
            partial = folder / f".{path.name}.part"
            shutil.copyfile(path, partial)
            os.replace(partial, folder / path.name)
            logger.info("Fetched %s", folder / path.name)
    return [folder / name for name in expected]
