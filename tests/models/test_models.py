"""Models: output shapes at the real input lengths, exact layer structures, parameter counts, masked
pooling of the CPSC ResNet, and the registry.

Real forward passes (batch 2) use the real lengths for the MIT-BIH models (187) and the CPSC ResNet
(33,792). ``HanCNN`` on two 18,000-sample records is ~100 GFLOP (~9 s on a 2-core CPU), so its
full-length shapes (and the ResNet's, with per-stage lengths) are checked on the ``meta`` device
(shape propagation without arithmetic; the first meta op costs a one-off ~3 s of imports), and its
real-valued passes use shorter records.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.defenses.objectives import NSR, CrossEntropy
from ecg_pipeline.models import MODELS, Discriminator, DiscriminatorCode, Generator, HanCNN, KachueeCNN, MaskedResNet, MLP
from ecg_pipeline.models import build_model, double_backprop, model_spec
from ecg_pipeline.models.kachuee_cnn import pooled_lengths
from ecg_pipeline.models.masked_resnet import feature_length, masked_average_pool, pool_mask

# name -> (input shape at the real length, classes, parameter count)
REAL = {
    "mlp": ((2, 1, 187), 5, 61_381),
    "kachuee_cnn": ((2, 1, 187), 5, 53_957),
    "masked_resnet": ((2, 8, 33_792), 9, 4_994_953),
    "han_cnn": ((2, 1, 18_000), 4, 5_486_916),
}
FEATURES = {"mlp": 32, "kachuee_cnn": 32, "masked_resnet": 512, "han_cnn": 64}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def record_lengths(model: nn.Module, modules: list[nn.Module], x: torch.Tensor, **kwargs) -> list[int]:
    """Output length (last dim) of each module in ``modules`` during one forward pass."""
    lengths: list[int] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: lengths.append(out.shape[-1])) for m in modules]
    try:
        model(x, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return lengths


def on_meta(name: str) -> tuple[nn.Module, torch.Tensor]:
    with torch.device("meta"):
        return build_model(name), torch.empty(REAL[name][0])


def conv_spec(conv: nn.Conv1d) -> tuple:
    return (conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0],
            conv.dilation[0], conv.bias is not None)


# ---------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("name", ["masked_resnet", "han_cnn"])
def test_shapes_at_real_length_on_meta(name):
    shape, n_classes, _ = REAL[name]
    model, x = on_meta(name)
    assert model(x).shape == (2, n_classes)
    assert model.features(x).shape == (2, FEATURES[name])


@pytest.mark.parametrize("name", ["mlp", "kachuee_cnn", "masked_resnet"])
def test_real_forward_at_real_length(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        logits = model(torch.rand(REAL[name][0]))
    assert logits.shape == (2, REAL[name][1]) and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (2, 1, 187)), ("kachuee_cnn", (2, 1, 187)), ("han_cnn", (2, 1, 600))],
)
def test_features_feed_the_head(name, shape):
    """``head(features(x)) == forward(x)`` (in eval mode, two separate passes agree).
    The masked ResNet is checked in ``test_mask_none_equals_mask_of_ones``."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.rand(shape)
    with torch.no_grad():
        logits = model(x)
        feats = model.features(x)
    assert feats.shape == (2, FEATURES[name]) and torch.isfinite(logits).all()
    torch.testing.assert_close(model.head(feats), logits)


@pytest.mark.parametrize("name", list(REAL))
def test_parameter_counts_and_uses_mask(name):
    model, _ = on_meta(name)
    count = n_params(model)
    print(f"{name}: {count:,} parameters")
    assert count == REAL[name][2]
    assert model.uses_mask is (name == "masked_resnet")
    assert MODELS[name].uses_mask is model.uses_mask


def test_single_channel_models_accept_n_by_length():
    torch.manual_seed(0)
    x = torch.rand(3, 187)
    for model in (MLP().eval(), KachueeCNN().eval()):
        torch.testing.assert_close(model(x), model(x[:, None, :]))


@pytest.mark.parametrize(
    ("model", "shape", "expected"),
    [
        (MLP(), (2, 1, 180), "expected [n, 1, 187]"),
        (KachueeCNN(), (2, 2, 187), "expected [n, 1, 187]"),
        (MaskedResNet(), (2, 12, 33_792), "expected [n, 8, length]"),
        (MaskedResNet(), (1, 8, 2_048), "too short"),
        (HanCNN(), (2, 3, 100), "expected [n, 1, length]"),
    ],
)
def test_wrong_input_shape_is_named(model, shape, expected):
    with pytest.raises(EcgDataError, match=expected.replace("[", r"\[")):
        model(torch.zeros(shape))


# ------------------------------------------------------------------------------------ structures


def test_mlp_structure():
    model = MLP()
    layers = list(model.body) + [model.head]
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear", "Linear"]
    linears = [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)]
    assert linears == [(187, 128), (128, 128), (128, 128), (128, 32), (32, 5)]
    # no activation between the 32-unit layer and the output: features (the head's input) go negative
    with torch.no_grad():
        assert (model.features(torch.rand(8, 1, 187)) < 0).any()


def test_kachuee_structure_and_lengths():
    model = KachueeCNN()
    assert conv_spec(model.stem) == (1, 32, 5, 1, 2, 1, True)
    assert len(model.blocks) == 5
    for block in model.blocks:
        assert conv_spec(block.conv1) == conv_spec(block.conv2) == (32, 32, 5, 1, 2, 1, True)
        assert (block.pool.kernel_size, block.pool.stride, block.pool.padding) == (5, 2, 0)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    hidden = [m for m in model.hidden if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in hidden + [model.head]] == [(64, 32), (32, 5)]
    assert pooled_lengths(187) == [187, 92, 44, 20, 8, 2]
    lengths = record_lengths(model, [*model.blocks], torch.rand(2, 1, 187))
    assert lengths == [92, 44, 20, 8, 2]
    assert model.feature_map(torch.rand(2, 1, 187)).shape == (2, 32, 2)
    with pytest.raises(EcgDataError, match="input_length=100"):
        KachueeCNN(input_length=100)


def test_kachuee_stem_has_no_activation():
    """The stem conv output feeds block 1 directly, negative values included."""
    model = KachueeCNN()
    seen = {}
    model.blocks[0].register_forward_pre_hook(lambda _m, args: seen.setdefault("in", args[0]))
    stem_out = model.stem(torch.rand(2, 1, 187) - 0.5)
    model(torch.rand(2, 1, 187) - 0.5)
    assert (seen["in"] < 0).any() and (stem_out < 0).any()


def test_masked_resnet_structure():
    model = MaskedResNet()
    conv, gn, act, pool = model.stem
    assert conv_spec(conv) == (8, 64, 11, 2, 5, 1, False)
    assert (gn.num_groups, gn.num_channels) == (64, 64)
    assert isinstance(act, nn.LeakyReLU)
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)
    assert len(model.stages) == 4
    in_ch = 64
    for stage, width in zip(model.stages, (64, 128, 256, 512)):
        assert len(stage) == 2
        for block in stage:
            assert conv_spec(block.conv1) == (in_ch, width, 3, 2, 1, 1, False)
            assert conv_spec(block.conv2) == (width, width, 3, 1, 1, 1, False)
            assert conv_spec(block.shortcut[0]) == (in_ch, width, 1, 2, 0, 1, False)
            for norm in (block.gn1, block.gn2, block.shortcut[1]):
                assert isinstance(norm, nn.GroupNorm) and norm.num_groups == norm.num_channels == width
            assert isinstance(block.act, nn.LeakyReLU)
            in_ch = width
    final_conv, relu = model.final
    assert conv_spec(final_conv) == (512, 512, 3, 1, 0, 1, True) and isinstance(relu, nn.ReLU)
    assert (model.head.in_features, model.head.out_features) == (512, 9)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_masked_resnet_lengths_at_33792():
    model, x = on_meta("masked_resnet")
    lengths = record_lengths(model, [model.stem, *model.stages, model.final], x)
    assert lengths == [8_448, 2_112, 528, 132, 33, 31]
    assert feature_length(33_792) == 31
    mask = torch.ones(2, 1, 33_792)
    assert pool_mask(mask).shape == (2, 1, 31)


def test_han_cnn_structure():
    model = HanCNN()
    expected = [  # in, out, kernel, stride, padding, dilation, bias
        (1, 320, 24, 1, 11, 1, True),
        (320, 256, 16, 1, 15, 2, True),
        *[(256, 256, 16, 1, 30, 4, True)] * 3,
        (256, 128, 8, 1, 14, 4, True),
        *[(128, 128, 8, 1, 21, 6, True)] * 4,
        (128, 128, 8, 1, 28, 8, True),
        (128, 64, 8, 1, 28, 8, True),
        (64, 64, 8, 1, 28, 8, True),
    ]
    assert [conv_spec(layer.conv) for layer in model.layers] == expected
    for i, layer in enumerate(model.layers):
        names = [n for n, _ in layer.named_children()]
        pooled = i in (0, 5, 10)
        assert names == (["conv", "bn", "relu", "pool", "dropout"] if pooled else ["conv", "bn", "relu", "dropout"])
        assert layer.bn.num_features == layer.conv.out_channels
        assert layer.dropout.p == 0.3
        if pooled:
            assert (layer.pool.kernel_size, layer.pool.stride, layer.pool.padding, layer.pool.dilation) == (2, 2, 1, 2)
    assert (model.head.in_features, model.head.out_features) == (64, 4)


def test_han_cnn_lengths_at_18000():
    model, x = on_meta("han_cnn")
    conv_lengths = record_lengths(model, [layer.conv for layer in model.layers], x)
    layer_lengths = record_lengths(model, list(model.layers), x)  # after pool (c1, c6, c11) and dropout
    assert conv_lengths == [17_999] + [9_000] * 5 + [4_500] * 5 + [2_250] * 2
    assert layer_lengths == [9_000] * 5 + [4_500] * 5 + [2_250] * 3


def test_han_cnn_dropout_active_in_training():
    torch.manual_seed(0)
    model = HanCNN().train()
    x = torch.randn(1, 1, 120)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))


# ----------------------------------------------------------------------------- masked pooling


def right_aligned_mask(n: int, length: int, real: list[int]) -> torch.Tensor:
    mask = torch.zeros(n, 1, length)
    for i, r in enumerate(real):
        mask[i, 0, length - r :] = 1.0
    return mask


def test_pool_mask_matches_papers_avgpool_at_33792():
    mask = right_aligned_mask(3, 33_792, [33_792, 10_000, 2_500])
    reference = nn.AvgPool1d(kernel_size=3_072, stride=1_024)(mask)
    reference[reference < 0.5] = 0
    pooled = pool_mask(mask)
    torch.testing.assert_close(pooled, reference)
    assert (pooled[0] == 1).all()
    assert (pooled[2] > 0).sum() == 1  # 2,500 real samples: only the last step keeps weight


def test_pool_mask_pads_lengths_that_are_not_multiples_of_1024():
    length = 5_000  # ceil(5000/1024) = 5 -> 3 feature steps
    assert feature_length(length) == 3
    pooled = pool_mask(torch.ones(1, 1, length))
    assert pooled.shape == (1, 1, 3)
    assert pooled[0, 0, :2].eq(1).all() and 0.5 <= pooled[0, 0, 2] < 1  # last window part padding


def test_masked_average_pool_is_a_weighted_mean():
    feats = torch.arange(12.0).reshape(1, 2, 6)
    m = torch.tensor([[[1.0, 0.5, 0.0, 0.0, 0.0, 0.0]]])
    expected = (feats[..., 0] + 0.5 * feats[..., 1]) / 1.5
    torch.testing.assert_close(masked_average_pool(feats, m), expected)
    torch.testing.assert_close(masked_average_pool(feats, torch.zeros(1, 1, 6)), torch.zeros(1, 2))


@pytest.fixture(scope="module")
def resnet() -> MaskedResNet:
    torch.manual_seed(0)
    return MaskedResNet().eval()


def test_mask_none_equals_mask_of_ones(resnet):
    """Also: ``head(features(x)) == forward(x)``, and a bool ``[n, L]`` mask is accepted."""
    torch.manual_seed(0)
    x = torch.rand(2, 8, 4_096) * 2 - 1
    with torch.no_grad():
        feats = resnet.features(x)
        logits = resnet(x, torch.ones(2, 4_096, dtype=torch.bool))
    assert feats.shape == (2, 512)
    torch.testing.assert_close(resnet.head(feats), logits)


def test_features_at_masked_positions_do_not_reach_the_logits(resnet):
    """Replacing the final feature map wherever the pooled mask is 0 leaves the logits unchanged.

    Row 0 has 2,048 real samples at the right of 5,120 (3 feature steps, the first two dropped);
    row 1 is the same signal with an all-ones mask, where every step counts.
    """
    torch.manual_seed(0)
    length = 5_120
    mask = right_aligned_mask(1, length, [2_048])
    x = ((torch.rand(1, 8, length) * 2 - 1) * mask).repeat(2, 1, 1)
    masks = torch.cat([mask, torch.ones_like(mask)])
    dropped = pool_mask(masks) == 0
    assert dropped[0, 0].tolist() == [True, True, False] and not dropped[1].any()

    def scramble(_module, _inputs, out):
        return torch.where(dropped, torch.randn_like(out) * 1e3, out)

    with torch.no_grad():
        clean = resnet(x, masks)
        handle = resnet.final.register_forward_hook(scramble)
        try:
            scrambled = resnet(x, masks)
        finally:
            handle.remove()
    torch.testing.assert_close(scrambled, clean)
    assert not torch.allclose(clean[0], clean[1])  # the mask does matter


def test_padded_content_still_leaks_through_groupnorm():
    """Documents a property of the paper's architecture, not of this port.

    GroupNorm with one group per channel normalises over the whole time axis, padding included,
    so padded values far outside the receptive field of every kept feature step still change the
    logits, through the normalisation statistics alone: with the GroupNorms made identities the
    same change has no effect. Padding must therefore stay zero (the padding code writes zeros;
    attacks multiply their noise by the mask).
    """
    torch.manual_seed(0)
    model = MaskedResNet().eval()
    length = 8_192  # 2,048 real samples at the right: only the last of 6 feature steps is kept
    mask = right_aligned_mask(1, length, [2_048])
    x = (torch.rand(1, 8, length) * 2 - 1) * mask
    x_far = x.clone()
    x_far[..., :1_024] = 0.5  # > 5,000 samples left of the first real sample
    xs, masks = torch.cat([x, x_far]), mask.repeat(2, 1, 1)
    with torch.no_grad():
        out = model(xs, masks)
        assert not torch.allclose(out[0], out[1])
        for m in model.modules():
            if isinstance(m, nn.GroupNorm):
                m.forward = lambda t: t  # type: ignore[method-assign]
        out = model(xs, masks)
    torch.testing.assert_close(out[0], out[1])


# ------------------------------------------------------------------------------------- registry


def test_registry_names():
    from ecg_pipeline.models.ensemble import Ensemble
    from ecg_pipeline.models.fourier import FourierPartitioned

    assert MODELS == {"mlp": MLP, "kachuee_cnn": KachueeCNN, "masked_resnet": MaskedResNet, "han_cnn": HanCNN,
                      "atk_gan_generator": Generator, "atk_gan_discriminator": Discriminator,
                      "atk_gan_discriminator_code": DiscriminatorCode, "ensemble": Ensemble, "fourier": FourierPartitioned}


def test_a_model_that_registers_itself_cannot_take_a_taken_name():
    """ensemble and fourier add themselves to MODELS (they import the registry, so it cannot import them)."""
    from ecg_pipeline.models.registry import register_model

    class Impostor(nn.Module):
        pass

    with pytest.raises(EcgDataError, match=r"model name 'mlp' is already registered to MLP"):
        register_model("mlp")(Impostor)
    assert MODELS["mlp"] is MLP


def test_unknown_model_names_name_and_options():
    with pytest.raises(EcgDataError, match=r"unknown model 'resnet50'.*'han_cnn', 'kachuee_cnn', 'masked_resnet', 'mlp'"):
        build_model("resnet50")


def test_unknown_config_key_is_named():
    with pytest.raises(EcgDataError, match=r"'mlp'.*\['hidden'\].*\['input_length', 'n_classes'\]"):
        build_model("mlp", hidden=64)


@pytest.mark.parametrize(
    ("name", "config"),
    [("mlp", {"n_classes": 4}), ("kachuee_cnn", {}), ("masked_resnet", {"in_channels": 12}), ("han_cnn", {"dropout": 0.1})],
)
def test_model_spec_rebuilds(name, config):
    with torch.device("meta"):
        model = build_model(name, **config)
        spec = model_spec(model)
        assert spec["name"] == name == model.model_name
        assert spec["config"] == model.model_config and config.items() <= spec["config"].items()
        rebuilt = build_model(spec["name"], **spec["config"])
    assert type(rebuilt) is type(model)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_model_spec_of_directly_built_model_and_foreign_module():
    assert model_spec(KachueeCNN(n_classes=4)) == {"name": "kachuee_cnn", "config": {"input_length": 187, "n_classes": 4}}
    with pytest.raises(EcgDataError, match="Linear"):
        model_spec(nn.Linear(2, 2))


@pytest.mark.parametrize("objective", [CrossEntropy(), NSR(beta=0.3)], ids=["ce", "nsr"])
def test_kachuee_forward_equals_the_reference_path_in_logits_and_weight_gradients(objective):
    """``forward`` (channels-last 2-D convolutions; NSR's inside ``double_backprop``, with the custom
    convolution) against ``reference_forward`` (the layers as first written)."""
    torch.manual_seed(1)
    model = KachueeCNN()
    x, y = torch.rand(16, 1, 187), torch.randint(0, 5, (16,))
    grads = []
    for path in (model.forward, model.reference_forward):
        loss = objective(path, x, y, None, 1)[0]
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    torch.testing.assert_close(model(x), model.reference_forward(x), rtol=1e-6, atol=1e-7)
    with torch.no_grad():  # the graph-free branch (inference, score-based attacks)
        torch.testing.assert_close(model(x), model.reference_forward(x), rtol=1e-6, atol=1e-7)
    for fast, reference in zip(*grads):  # float32, other summation orders; exactness: the float64 test below
        torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("layout", ["channels_last", "double_backprop"])
def test_kachuee_both_layouts_give_the_reference_input_gradient_and_its_weight_gradient(layout):
    """Either layout is exact under double backprop (an input-gradient loss, as NSR's), in float64; the
    ``double_backprop`` context only picks the faster one."""
    torch.manual_seed(2)
    model = KachueeCNN().double()
    x = torch.randn(6, 1, 187, dtype=torch.float64, requires_grad=True)
    results = []
    for path, context in ((model.forward, double_backprop() if layout == "double_backprop" else nullcontext()),
                          (model.reference_forward, nullcontext())):
        with context:
            logits = path(x)
        (grad_x,) = torch.autograd.grad(logits[:, 0].sum(), x, create_graph=True)
        loss = grad_x.abs().sum() + logits.pow(2).sum()
        results.append((grad_x, *torch.autograd.grad(loss, list(model.parameters()))))
    for fast, reference in zip(*results):
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-12)


def test_kachuee_double_backprop_graph_gives_no_weight_gradient_in_the_graph_recording_pass():
    """Inside ``double_backprop`` the graph-recording backward is the input-gradient pass only: asking it
    for weight gradients fails loudly instead of returning wrong ones."""
    model = KachueeCNN()
    x = torch.rand(4, 1, 187, requires_grad=True)
    with double_backprop():
        loss = model(x).sum()
    with pytest.raises(RuntimeError, match="not have been used"):
        torch.autograd.grad(loss, [model.stem.weight], create_graph=True)


def test_kachuee_state_dict_keys_are_those_of_the_saved_models():
    """Models saved before the fast path (e.g. data/06_models/ce_cnn.pt) load by these keys."""
    blocks = [f"blocks.{i}.{conv}.{p}" for i in range(5) for conv in ("conv1", "conv2") for p in ("weight", "bias")]
    expected = ["stem.weight", "stem.bias", *blocks, "hidden.1.weight", "hidden.1.bias", "head.weight", "head.bias"]
    assert list(KachueeCNN().state_dict()) == expected


def test_han_cnn_width_scales_every_channel_count_and_nothing_else():
    narrow, full = HanCNN(width=0.125), HanCNN()
    convs = [(m.in_channels, m.out_channels, m.kernel_size, m.dilation, m.padding)
             for m in narrow.modules() if isinstance(m, nn.Conv1d)]
    wide = [(m.in_channels, m.out_channels, m.kernel_size, m.dilation, m.padding)
            for m in full.modules() if isinstance(m, nn.Conv1d)]
    assert [c[1] for c in convs] == [40, 32, 32, 32, 32, 16, 16, 16, 16, 16, 16, 8, 8]
    assert [c[2:] for c in convs] == [c[2:] for c in wide]
    assert narrow.head.in_features == 8 and narrow(torch.rand(2, 1, 600)).shape == (2, 4)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in full.parameters()) / 40
    for bad in (0, 1.5, True):
        with pytest.raises(EcgDataError, match="width must be a number in"):
            HanCNN(width=bad)
