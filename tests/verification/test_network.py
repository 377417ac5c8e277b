"""The translation of the project's MIT-BIH models into verifiable ops, and the refusal of everything else."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.errors import EcgAttackError, EcgModelError
from ecg_pipeline.models import build_model
from ecg_pipeline.verification import certify, forward, translate
from ecg_pipeline.verification.network import AddSaved, Conv, MaxPool, Save


def _beats(n=16, seed=0):
    return torch.rand((n, 1, 187), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["mlp", "kachuee_cnn"])
def test_translation_forward_equals_the_model(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        for p in model.parameters():      # off the init, so every layer matters
            p.add_(0.05 * torch.randn_like(p))
        network = translate(model)
        x = _beats()
        expected = model.reference_forward(x) if name == "kachuee_cnn" else model(x)
        ours = forward(network, x)
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), expected.double().numpy(), atol=1e-5, rtol=1e-5)
    assert (ours.argmax(1) == expected.argmax(1)).float().mean() > 0.9
    if name == "kachuee_cnn":
        kinds = [type(op) for op in network.ops]
        assert kinds.count(Save) == kinds.count(AddSaved) == 5 and kinds.count(MaxPool) == 5 and kinds.count(Conv) == 11
    else:
        assert network.is_fully_connected and len(network.ops) == 8


@pytest.mark.parametrize("name, what", [("han_cnn", r"HanCNN: layer 'layers.0.bn' \(BatchNorm1d\) is not a layer"),
                                        ("masked_resnet", r"MaskedResNet: layer 'stem.0' \(Conv1d\) has stride"),
                                        ("ensemble", r"Ensemble: layer 'members' \(ModuleList\) is not a layer")])
def test_other_registry_models_are_refused_naming_the_layer(name, what):
    config = {"members": [{"name": "mlp"}, {"name": "mlp"}]} if name == "ensemble" else {}
    with pytest.raises(EcgModelError, match=what):
        translate(build_model(name, **config))


def test_an_unknown_layer_inside_a_known_model_is_named():
    model = build_model("mlp")
    model.body.insert(1, nn.Dropout(0.1))
    with pytest.raises(EcgModelError, match=r"MLP: layer 'body.1' \(Dropout\)"):
        certify(model, _beats(2), torch.zeros(2, dtype=torch.long), 0.01)
    cnn = build_model("kachuee_cnn")
    cnn.blocks[2].conv1.stride = (2,)
    with pytest.raises(EcgModelError, match=r"KachueeCNN: layer 'blocks.2.conv1' \(Conv1d\) has stride"):
        translate(cnn)


def test_known_layers_in_an_unknown_wiring_are_refused():
    wrapper = nn.Sequential(nn.Linear(187, 5))
    with pytest.raises(EcgModelError, match="model Sequential: its layers are known but its forward wiring is not"):
        translate(wrapper)
    fourier = build_model("fourier", model={"name": "mlp"})
    with pytest.raises(EcgModelError, match="FourierPartitioned"):
        translate(fourier)


def test_certify_refuses_bad_calls_before_any_work():
    cnn = build_model("kachuee_cnn").eval()
    x, y = _beats(2), torch.zeros(2, dtype=torch.long)
    with pytest.raises(EcgModelError, match=r"'milp': model KachueeCNN has layers \['AddSaved', 'Conv', 'Flatten', 'MaxPool', 'Save'\]"):
        certify(cnn, x, y, 0.01, method="milp")
    with pytest.raises(EcgAttackError, match="method 'deeppoly'"):
        certify(cnn, x, y, 0.01, method="deeppoly")
    with pytest.raises(EcgAttackError, match="eps=-0.1"):
        certify(cnn, x, y, -0.1)
