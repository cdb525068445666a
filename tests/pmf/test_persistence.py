"""Save/load: the round trip, and clear errors for corrupt, foreign and mismatched files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from kedro.io import DatasetError
from kedro.io.core import Version

from music_recommender.datasets import RecommenderDataset
from music_recommender.pmf import PMF, ModelFileError, load_model, save_model
from music_recommender.pmf.recommender import RatingRecommender


@pytest.fixture
def model() -> PMF:
    torch.manual_seed(0)
    net = PMF(5, 7, n_factors=3, init_std=0.2, global_bias=0.4)
    with torch.no_grad():
        net.item_bias.weight.normal_()
    return net


PAIRS = torch.tensor([[0, 0], [4, 6], [2, 3]])


def test_round_trip_gives_the_same_predictions(model: PMF, tmp_path: Path) -> None:
    save_model(model, tmp_path / "m.pt", extra={"note": "x"})
    loaded, extra = load_model(tmp_path / "m.pt")
    assert loaded.config() == model.config()
    torch.testing.assert_close(loaded(PAIRS), model(PAIRS))
    assert extra == {"note": "x"} and not loaded.training
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_round_trip_without_biases(tmp_path: Path) -> None:
    net = PMF(3, 3, n_factors=2, biases=False)
    save_model(net, tmp_path / "m.pt")
    loaded, _ = load_model(tmp_path / "m.pt")
    assert not loaded.biases
    torch.testing.assert_close(loaded(PAIRS[:1]), net(PAIRS[:1]))


def test_corrupt_file(model: PMF, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(model, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFileError, match=r"m\.pt is not a model file this project wrote"):
        load_model(path)


def test_foreign_file(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match=r"is not a music_recommender\.pmf/1 model file"):
        load_model(tmp_path / "other.pt")


def test_mismatched_weights(model: PMF, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    payload = {
        "format": "music_recommender.pmf/1",
        "config": {**model.config(), "n_factors": 9},
        "state_dict": model.state_dict(),
        "extra": {},
    }
    torch.save(payload, path)
    with pytest.raises(
        ModelFileError, match=r"user_factors\.weight should be \(\d+, 9\) by its config"
    ):
        load_model(path)


def test_a_file_declaring_huge_tables_is_refused_before_allocating(
    model: PMF, tmp_path: Path
) -> None:
    # A 2 MB file that declares 200,000 factors for 1e6 listeners would ask for 800 GB if the
    # model were built first; the declared shapes are checked against the stored tensors first.
    path = tmp_path / "m.pt"
    config = {**model.config(), "n_users": 1_000_000, "n_factors": 200_000}
    torch.save(
        {"format": "music_recommender.pmf/1", "config": config, "state_dict": model.state_dict()},
        path,
    )
    with pytest.raises(ModelFileError, match=r"should be .* by its config but the file holds"):
        load_model(path)


def test_a_model_with_non_finite_weights_is_refused(model: PMF, tmp_path: Path) -> None:
    with torch.no_grad():
        model.item_bias.weight[0] = float("nan")
    save_model(model, tmp_path / "nan.pt")
    with pytest.raises(ModelFileError, match=r"weights are not all finite \(NaN or inf\)"):
        load_model(tmp_path / "nan.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_never_unpickles_arbitrary_objects(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "music_recommender.pmf/1", "x": _Evil()}))
    with pytest.raises(ModelFileError):
        load_model(path)
    assert "must never run" not in capsys.readouterr().out


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "none.pt")


def test_versioned_kedro_dataset(model: PMF, tmp_path: Path) -> None:
    path = str(tmp_path / "models" / "pmf.pt")
    ds = RecommenderDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z"))
    assert not ds.exists()
    ds.save(RatingRecommender().set_model(model))
    assert (tmp_path / "models/pmf.pt/2026-01-01T00.00.00.000Z/pmf.pt").exists()
    later = RecommenderDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z"))
    later.save(RatingRecommender().set_model(PMF(5, 7, n_factors=3)))
    latest = RecommenderDataset(path, version=Version(None, None)).load().fitted
    first = RecommenderDataset(path, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    torch.testing.assert_close(first.fitted(PAIRS), model(PAIRS))
    assert not torch.equal(latest(PAIRS), model(PAIRS))
    with pytest.raises(DatasetError, match="saves recommender objects"):
        ds.save({"not": "a model"})


def test_kedro_dataset_reports_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "pmf.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a model file this project wrote"):
        RecommenderDataset(str(path)).load()
