"""TorchModelDataset: round trip, meta, versioning, atomic save, weights-only loading, catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version, generate_timestamp
from torch import nn

from ecg_pipeline.datasets.torch_model import TorchModelDataset
from ecg_pipeline.models import build_model

DATASET_TYPE = "ecg_pipeline.datasets.torch_model.TorchModelDataset"


@pytest.fixture
def filepath_pt(tmp_path: Path) -> str:
    return (tmp_path / "06_models" / "cnn.pt").as_posix()


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("kachuee_cnn", n_classes=4)


@pytest.fixture
def beats() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(8, 1, 187)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def assert_same_model(loaded: nn.Module, original: nn.Module, x: torch.Tensor) -> None:
    assert type(loaded) is type(original)
    assert loaded.model_name == original.model_name and loaded.model_config == original.model_config
    assert not loaded.training
    state, expected = loaded.state_dict(), original.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    original.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))


class TestTorchModelDataset:
    def test_save_and_load_gives_identical_outputs(self, filepath_pt, model, beats):
        dataset = TorchModelDataset(filepath=filepath_pt)
        assert not dataset.exists()
        model.train()
        dataset.save(model)
        assert model.training  # saving never changes the caller's model
        assert dataset.exists()
        loaded = dataset.load()
        assert loaded.meta == {}
        assert_same_model(loaded, model, beats)

    def test_meta_is_saved_with_the_model(self, filepath_pt, model):
        meta = {"epochs": 2, "history": {"loss": [0.9, 0.5]}, "data": ("beats", "2024-01-01"), "ok": None,
                "best": np.int64(7), "classes": np.array(["N", "S", "V", "F"]), "acc": torch.tensor([0.5, 0.25])}
        dataset = TorchModelDataset(filepath=filepath_pt)
        dataset.save({"model": model, "meta": meta})
        # stored as its JSON round trip: tuples, arrays and tensors come back as lists
        assert dataset.load().meta == {
            **meta, "data": ["beats", "2024-01-01"], "best": 7, "classes": ["N", "S", "V", "F"], "acc": [0.5, 0.25]
        }

    def test_checkpoint_is_a_plain_weights_only_dict(self, filepath_pt, model):
        TorchModelDataset(filepath=filepath_pt).save({"model": model, "meta": {"seed": 0}})
        checkpoint = torch.load(filepath_pt, weights_only=True, map_location="cpu")
        assert sorted(checkpoint) == ["config", "meta", "name", "state_dict"]
        assert checkpoint["name"] == "kachuee_cnn"
        assert checkpoint["config"] == {"input_length": 187, "n_classes": 4}
        assert checkpoint["meta"] == {"seed": 0}
        assert all(v.device.type == "cpu" for v in checkpoint["state_dict"].values())

    @pytest.mark.parametrize("name", ["mlp", "masked_resnet", "han_cnn"])
    def test_every_registry_model_round_trips(self, tmp_path, name):
        torch.manual_seed(0)
        model = build_model(name)
        dataset = TorchModelDataset(filepath=(tmp_path / f"{name}.pt").as_posix())
        dataset.save(model)
        loaded = dataset.load()
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        assert loaded.uses_mask is model.uses_mask

    def test_directly_constructed_registry_class_can_be_saved(self, filepath_pt):
        from ecg_pipeline.models import MLP

        TorchModelDataset(filepath=filepath_pt).save(MLP(n_classes=3))
        loaded = TorchModelDataset(filepath=filepath_pt).load()
        assert loaded.model_name == "mlp" and loaded.head.out_features == 3

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            (nn.Linear(3, 2), "Linear"),
            ({"weights": 1}, r"cannot save \['weights'\]"),
            ({"model": "not a model"}, "'model' is a str"),
            ({"model": build_model("mlp"), "meta": {"when": object()}}, "'meta' is not JSON-able"),
            ({"model": build_model("mlp"), "meta": [1, 2]}, "'meta' is a list"),
        ],
    )
    def test_bad_input_is_refused_and_nothing_is_written(self, tmp_path, filepath_pt, data, match):
        with pytest.raises(DatasetError, match=match):
            TorchModelDataset(filepath=filepath_pt).save(data)
        assert leftovers(tmp_path) == []

    def test_failed_save_leaves_no_partial_file(self, tmp_path, filepath_pt, model, monkeypatch):
        dataset = TorchModelDataset(filepath=filepath_pt)
        dataset.save(model)
        before = Path(filepath_pt).read_bytes()

        def broken_save(obj, f, *args, **kwargs):
            f.write(b"half a checkpoint")
            raise OSError("disk full")

        monkeypatch.setattr(torch, "save", broken_save)
        with pytest.raises(DatasetError, match="disk full"):
            dataset.save(build_model("kachuee_cnn", n_classes=4))
        assert Path(filepath_pt).read_bytes() == before  # the old checkpoint is untouched
        assert leftovers(tmp_path) == ["06_models", "06_models/cnn.pt"]

    def test_pickled_module_is_refused(self, filepath_pt, model):
        Path(filepath_pt).parent.mkdir(parents=True)
        torch.save(
            {"name": "kachuee_cnn", "config": {}, "state_dict": model.state_dict(), "meta": {}, "module": model},
            filepath_pt,
        )
        with pytest.raises(DatasetError, match="refused to load a checkpoint that holds pickled"):
            TorchModelDataset(filepath=filepath_pt).load()

    @pytest.mark.parametrize(
        ("checkpoint", "match"),
        [
            ({"name": "mlp"}, r"checkpoint has \['name'\]"),
            ({"name": "resnet50", "config": {}, "state_dict": {}, "meta": {}}, "unknown model 'resnet50'"),
            ({"name": "mlp", "config": {"depth": 3}, "state_dict": {}, "meta": {}}, r"unknown config key\(s\) \['depth'\]"),
            ({"name": "mlp", "config": {}, "state_dict": {}, "meta": {}}, "Missing key"),
        ],
    )
    def test_bad_checkpoint_is_named(self, filepath_pt, checkpoint, match):
        Path(filepath_pt).parent.mkdir(parents=True)
        torch.save(checkpoint, filepath_pt)
        with pytest.raises(DatasetError, match=match):
            TorchModelDataset(filepath=filepath_pt).load()

    def test_mismatched_state_dict_is_refused(self, filepath_pt, model):
        Path(filepath_pt).parent.mkdir(parents=True)
        torch.save(
            {"name": "kachuee_cnn", "config": {"n_classes": 5}, "state_dict": model.state_dict(), "meta": {}},
            filepath_pt,
        )
        with pytest.raises(DatasetError, match="size mismatch"):
            TorchModelDataset(filepath=filepath_pt).load()

    def test_output_count_other_than_the_stored_classes_is_refused_naming_the_version(self, filepath_pt):
        # A 6-output model stored with 5 classes, in a version folder as Kedro writes one.
        six_outputs = build_model("mlp", n_classes=6)
        version = "2024-01-01T00.00.00.000Z"
        target = Path(filepath_pt) / version / "cnn.pt"
        target.parent.mkdir(parents=True)
        torch.save({"name": "mlp", "config": six_outputs.model_config, "state_dict": six_outputs.state_dict(),
                    "meta": {"classes": ["N", "S", "V", "F", "Q"]}}, target)
        with pytest.raises(DatasetError) as err:
            TorchModelDataset(filepath=filepath_pt, version=Version(version, None)).load()
        assert str(err.value) == (
            f"TorchModelDataset '{target.as_posix()}': model 'mlp' has 6 outputs but its stored class list "
            "(meta 'classes') has 5: ['N', 'S', 'V', 'F', 'Q']; refusing to evaluate it (saved from another run or edited?)"
        )

    def test_saving_a_model_whose_outputs_differ_from_its_classes_is_refused(self, tmp_path, filepath_pt, model):
        with pytest.raises(DatasetError, match=r"cnn\.pt': cannot save: model 'kachuee_cnn' has 4 outputs but its "
                                               r"stored class list \(meta 'classes'\) has 5"):
            TorchModelDataset(filepath=filepath_pt).save({"model": model, "meta": {"classes": list("NSVFQ")}})
        assert leftovers(tmp_path) == []

    def test_load_missing_file(self, filepath_pt):
        with pytest.raises(DatasetError, match="cnn.pt"):
            TorchModelDataset(filepath=filepath_pt).load()

    def test_describe(self, filepath_pt):
        assert "cnn.pt" in str(TorchModelDataset(filepath=filepath_pt, metadata={"kedro-viz": {}}))


class TestTorchModelDatasetVersioned:
    def test_save_twice_gives_two_versions(self, filepath_pt, beats):
        first, second = "2024-01-01T00.00.00.000Z", "2024-01-02T00.00.00.000Z"
        torch.manual_seed(0)
        model_a, model_b = build_model("kachuee_cnn"), build_model("kachuee_cnn")
        TorchModelDataset(filepath=filepath_pt, version=Version(None, first)).save(
            {"model": model_a, "meta": {"run": "a"}}
        )
        TorchModelDataset(filepath=filepath_pt, version=Version(None, second)).save(
            {"model": model_b, "meta": {"run": "b"}}
        )
        assert sorted(p.name for p in Path(filepath_pt).iterdir()) == [first, second]
        assert Path(filepath_pt, first, "cnn.pt").is_file()

        latest = TorchModelDataset(filepath=filepath_pt, version=Version(None, None))
        assert latest.load().meta == {"run": "b"}
        pinned = TorchModelDataset(filepath=filepath_pt, version=Version(first, None)).load()
        assert pinned.meta == {"run": "a"}
        assert_same_model(pinned, model_a, beats)

    def test_save_to_existing_version_is_refused(self, filepath_pt, model):
        version = Version(None, generate_timestamp())
        TorchModelDataset(filepath=filepath_pt, version=version).save(model)
        with pytest.raises(DatasetError, match="must not exist if versioning is enabled"):
            TorchModelDataset(filepath=filepath_pt, version=version).save(model)

    def test_versioned_through_data_catalog_from_config(self, tmp_path, model, beats):
        filepath = (tmp_path / "06_models" / "cnn_nsr.pt").as_posix()
        config = {
            "cnn_nsr": {
                "type": DATASET_TYPE,
                "filepath": filepath,
                "versioned": True,
                "metadata": {"kedro-viz": {"layer": "models"}},
            }
        }
        save_version = "2024-05-01T12.00.00.000Z"
        catalog = DataCatalog.from_config(config, save_version=save_version)
        assert isinstance(catalog["cnn_nsr"], TorchModelDataset)
        catalog.save("cnn_nsr", {"model": model, "meta": {"epochs": 1}})
        assert Path(filepath, save_version, "cnn_nsr.pt").is_file()
        loaded = catalog.load("cnn_nsr")
        assert loaded.meta == {"epochs": 1}
        assert_same_model(loaded, model, beats)

        later = DataCatalog.from_config(config, save_version="2024-05-02T12.00.00.000Z")
        later.save("cnn_nsr", {"model": build_model("kachuee_cnn", n_classes=4), "meta": {"epochs": 2}})
        assert DataCatalog.from_config(config).load("cnn_nsr").meta == {"epochs": 2}
        pinned = DataCatalog.from_config(config, load_versions={"cnn_nsr": save_version})
        assert pinned.load("cnn_nsr").meta == {"epochs": 1}
