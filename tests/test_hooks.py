"""Project hooks: raw-data errors reach the shell as one message; file locations for the report."""

from __future__ import annotations

import sys

import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro_datasets.json import JSONDataset

from music_recommender.catalog_files import file_locations
from music_recommender.hetrec import RawDataMissingError
from music_recommender.hooks.error_messages import install_data_error_excepthook
from music_recommender.hooks.threads import (
    TorchThreadsHook,
    apply_numpy_huge_pages,
    apply_torch_threads,
    available_cores,
)
from music_recommender.pipelines.preprocessing.rules import RawDataError
from music_recommender.user_errors import user_error


def _chain() -> DatasetError:
    try:
        try:
            try:
                raise RawDataMissingError("Raw data missing: user_artists.dat")
            except RawDataMissingError as exc:
                raise DatasetError(str(exc)) from exc
        except DatasetError as exc:
            raise DatasetError(f"user_artists_raw: {exc}") from exc
    except DatasetError as exc:
        return exc


def test_data_error_finds_the_outermost_message() -> None:
    outer = _chain()
    assert user_error(outer) is outer
    bare = RawDataError("x.dat is not valid")
    assert user_error(bare) is bare
    assert user_error(ValueError("other")) is None


def test_excepthook_prints_data_errors_alone_and_passes_others_on(monkeypatch, capsys) -> None:
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *args: seen.append(args[1]))
    install_data_error_excepthook()
    install_data_error_excepthook()  # once only
    error = _chain()
    sys.excepthook(type(error), error, error.__traceback__)
    assert (
        capsys.readouterr().err.strip()
        == "DatasetError: user_artists_raw: Raw data missing: user_artists.dat"
    )
    other = KeyError("boom")
    sys.excepthook(KeyError, other, None)
    assert seen == [other]


def test_file_locations_lists_stored_datasets_relative_to_the_project(tmp_path) -> None:
    catalog = DataCatalog(
        {
            "metrics": JSONDataset(filepath=str(tmp_path / "data" / "m.json")),
            "memory": MemoryDataset(1),
        }
    )
    out = file_locations(catalog, ["metrics", "memory", "params:x", "missing"], str(tmp_path))
    assert out == {"metrics": "data/m.json"}


@pytest.mark.parametrize("name", ["figure@png", "figure@figure"])
def test_transcoded_names_are_listed_once(tmp_path, name) -> None:
    catalog = DataCatalog({name: JSONDataset(filepath=str(tmp_path / "f.png"))})
    assert file_locations(catalog, [name], str(tmp_path)) == {"figure": "f.png"}


def test_torch_threads_come_from_the_compute_parameter() -> None:
    import torch  # noqa: PLC0415

    before = torch.get_num_threads()
    catalog = DataCatalog({"params:compute.torch_threads": MemoryDataset(1)})
    try:
        TorchThreadsHook().before_pipeline_run({}, catalog)
        assert torch.get_num_threads() == 1
        apply_torch_threads(None)  # null keeps whatever is set
        assert torch.get_num_threads() == 1
        apply_torch_threads("auto")  # every core this process may use
        assert torch.get_num_threads() == available_cores() >= 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(
        ValueError, match=r"compute\.torch_threads must be null, auto or an integer"
    ):
        apply_torch_threads(0)


def test_numpy_huge_pages_come_from_the_compute_parameter() -> None:
    import numpy as np  # noqa: PLC0415

    multiarray = np._core.multiarray
    before = multiarray._set_madvise_hugepage(True)
    catalog = DataCatalog({"params:compute.numpy_huge_pages": MemoryDataset(False)})
    try:
        TorchThreadsHook().before_pipeline_run({}, catalog)
        assert multiarray._set_madvise_hugepage(False) is False  # the hook turned them off
        apply_numpy_huge_pages(True)
        assert multiarray._set_madvise_hugepage(True) is True
        apply_numpy_huge_pages(None)  # null keeps whatever is set
        assert multiarray._set_madvise_hugepage(True) is True
    finally:
        multiarray._set_madvise_hugepage(before)
    with pytest.raises(ValueError, match=r"compute\.numpy_huge_pages must be null, true or false"):
        apply_numpy_huge_pages("no")
