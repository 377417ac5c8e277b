"""ECG-ATK-GAN (Hossain et al., seed 002 section 2.1, Fig. 1 and 2): the class-conditioned generator and the
three-head discriminator, and the published code's discriminator as a named option.

Blocks of Fig. 2 (every convolution 1-D, LeakyReLU slope 0.2 as in the published code):

- residual (a): ``Conv(k3, s1) - BN - LeakyReLU``, plus the block input;
- skip-dilated attention, SDA (b): two ``Conv(k2, d2, s1)`` (length kept by padding 1), the first followed
  by ``BN - LeakyReLU``, the second by a sigmoid that gates the input: ``x + x * sigmoid(...)``;
- regular (c): ``Conv(k3, s1) - BN - LeakyReLU``;
- upsampling (d): ``ConvTranspose(k4, s2, p1) - BN - LeakyReLU`` (doubles the length);
- downsampling (e): ``Conv(k4, s2, p1) - BN - LeakyReLU`` (halves an even length).

Where the paper is silent, this module chooses (and says so here):

- **Generator widths and depth**: stem ``Conv(3 -> 32, k3)``, then residual(32), down(32 -> 64),
  residual(64), down(64 -> 128), residual(128), SDA(128), up(128 -> 64), residual(64), up(64 -> 32),
  residual(32), ``Conv(32 -> 1, k1)``, sigmoid (the paper's output activation, so G's beat is in [0, 1]).
  A 280-sample beat goes 280 -> 140 -> 70 -> 140 -> 280. Each upsampled map is added to the encoder map of
  the same length (a U-Net-style skip by addition), so the fine detail of E'_x reaches the output.
- **Where z and E_y enter**: at the input, as two more channels beside E'_x: z (the smoothed noise, one
  value per sample) and the label as a learned 280-sample embedding (``Embedding(n_classes, input_length)``).
- **z**: uniform in [0, 1] (section 3: "initialized the noise vector z with float values between [0, 1]"),
  smoothed by a Gaussian of sigma 3 samples (:func:`smooth_noise`), drawn from torch's global RNG
  when not given (so a seeded, checkpointed run draws the same z).
- **Discriminator widths**: regular(1 -> 32), down(32 -> 32), regular(32 -> 64), down(64 -> 64),
  regular(64 -> 128), down(128 -> 128): three regular and three downsampling blocks, 280 -> 35 samples;
  the flattened map (128 x 35 = 4,480 values) feeds three linear heads.
- **The real/fake head is linear**, not a sigmoid: eq. (4)'s least-squares targets are +1 and -1, which a
  sigmoid cannot reach (the text names a sigmoid; the equation rules here).
- **How the real/fake score sees the label** (eq. 4 writes ``D(E'_x, E_y)``; the paper does not say how): by
  projection (Miyato & Koyama 2018, "cGANs with projection discriminator", eq. 3), the model option
  ``conditioned`` (default false: the label-free score, as every model trained before the option):
  ``score(x, y) = psi(phi(x)) + <embed(y), phi(x)>``, with ``phi`` the flattened map, ``psi`` the linear
  real/fake head and ``embed`` an ``Embedding(n_classes, n_features)``. The embedding starts at zero (Miyato
  & Koyama draw it at random): the conditioned score starts equal to the label-free one, an inner product
  over 4,480 features of random weights would swamp eq. (4)'s +-1 targets, and no random number is drawn,
  so the same seed builds the same trunk and heads with or without the option. Only the real/fake score
  takes the label: ``forward`` (the arrhythmia head) and the attack head never do.

The published code's discriminator (reference notes): 8 x ``Conv(k3) - BN - LeakyReLU(0.2)`` with filters
32, 32, 64, 64, 128, 128, 256, 256, strides alternating 1 and 2 (Keras "same" padding: 280 -> 140 -> 70
-> 35 -> 18), dropout 0.2 after the 2nd, 6th and 8th, flattened into the same three heads:
``atk_gan_discriminator_code``.

Both discriminators are ordinary classifiers of the registry: ``forward(x)`` is the arrhythmia logits
(the deployed classifier, what every attack targets), ``features(x)`` the flattened map and ``head`` the
arrhythmia layer; ``heads(x, y=None)`` gives all three heads at once (the real/fake score conditioned on the
labels ``y`` when the model is).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ecg_pipeline.errors import EcgDataError

LEAKY_SLOPE = 0.2
NOISE_SIGMA = 3.0            # section 2.1: "a Gaussian filter with sigma = 3"
N_ATTACK_CLASSES = 2         # clean, attacked (eq. 1, m = 2)


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """The normalised 1-D Gaussian of ``sigma`` samples, cut at ``truncate`` sigmas (scipy's default)."""
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def smooth_noise(z: torch.Tensor, sigma: float = NOISE_SIGMA) -> torch.Tensor:
    """``z`` [n, 1, L] smoothed along time by a Gaussian of ``sigma`` samples, edges reflected
    (scipy.ndimage.gaussian_filter1d's ``mode="reflect"`` pads with the edge sample repeated; torch's
    ``reflect`` mirrors about it: the two differ only in the first and last ``4 sigma`` samples)."""
    kernel = gaussian_kernel(sigma).to(z)
    radius = kernel.numel() // 2
    padded = F.pad(z, (radius, radius), mode="reflect") if z.shape[-1] > radius else F.pad(z, (radius, radius), mode="replicate")
    return F.conv1d(padded, kernel.view(1, 1, -1))


def _single_channel(x: torch.Tensor, length: int, who: str) -> torch.Tensor:
    if x.dim() == 2:
        x = x.unsqueeze(1)
    if x.dim() != 3 or x.shape[1] != 1 or x.shape[2] != length:
        raise EcgDataError(f"{who}: input of shape {tuple(x.shape)}; expected [n, 1, {length}] (or [n, {length}])")
    return x


def _class_indices(y, n: int, n_classes: int, who: str, device: torch.device) -> torch.Tensor:
    """``y`` as ``[n]`` long class indices in ``[0, n_classes)``, or an error naming ``who``."""
    y = torch.as_tensor(y, device=device).long()
    if y.shape != (n,) or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes)):
        raise EcgDataError(f"{who}: labels of shape {tuple(y.shape)}, values in "
                           f"[{int(y.min()) if y.numel() else '-'}, {int(y.max()) if y.numel() else '-'}]; "
                           f"expected [{n}] class indices in [0, {n_classes - 1}]")
    return y


def _conv_bn_act(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm1d(channels), nn.LeakyReLU(LEAKY_SLOPE))


def regular_block(c_in: int, c_out: int) -> nn.Sequential:
    """Fig. 2(c): ``Conv(k3, s1) - BN - LeakyReLU``."""
    return _conv_bn_act(nn.Conv1d(c_in, c_out, 3, padding=1), c_out)


def downsampling_block(c_in: int, c_out: int) -> nn.Sequential:
    """Fig. 2(e): ``Conv(k4, s2, p1) - BN - LeakyReLU``; an even length L becomes L / 2."""
    return _conv_bn_act(nn.Conv1d(c_in, c_out, 4, stride=2, padding=1), c_out)


def upsampling_block(c_in: int, c_out: int) -> nn.Sequential:
    """Fig. 2(d): ``ConvTranspose(k4, s2, p1) - BN - LeakyReLU``; L becomes 2 L."""
    return _conv_bn_act(nn.ConvTranspose1d(c_in, c_out, 4, stride=2, padding=1), c_out)


class ResidualBlock(nn.Module):
    """Fig. 2(a): ``x + LeakyReLU(BN(Conv(k3, s1)(x)))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = regular_block(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SkipDilatedAttention(nn.Module):
    """Fig. 2(b): dilated convolutions (k2, d2, s1) computing a sigmoid gate on the input, plus the skip:
    ``x + x * sigmoid(Conv(LeakyReLU(BN(Conv(x)))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.features = _conv_bn_act(nn.Conv1d(channels, channels, 2, dilation=2, padding=1), channels)
        self.gate = nn.Conv1d(channels, channels, 2, dilation=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x * torch.sigmoid(self.gate(self.features(x)))


class Generator(nn.Module):
    """G(E'_x, E_y, z) of seed 002 section 2.1 (choices where the paper is silent: module docstring).

    Args:
        input_length: samples per beat (280); must be a multiple of 4 (two halvings and two doublings).
        n_classes: arrhythmia classes of the label E_y (4: N, S, V, F).
        width: channels of the first stage (32); the stages have width, 2 width, 4 width.
        noise_sigma: the Gaussian smoothing of z, in samples (3).

    ``forward(x, y, z=None)``: ``x`` [n, 1, L] (``[n, L]`` accepted), ``y`` [n] class indices, ``z`` [n, 1, L]
    raw noise (drawn uniform in [0, 1] when None; smoothed here either way). Output [n, 1, L] in [0, 1].
    """

    uses_mask = False

    def __init__(self, input_length: int = 280, n_classes: int = 4, width: int = 32,
                 noise_sigma: float = NOISE_SIGMA) -> None:
        super().__init__()
        if int(input_length) < 4 or int(input_length) % 4 or int(n_classes) < 1 or int(width) < 1 or not noise_sigma > 0:
            raise EcgDataError(f"Generator: input_length={input_length} (expected a multiple of 4), "
                               f"n_classes={n_classes} (>= 1), width={width} (>= 1), noise_sigma={noise_sigma} (> 0)")
        self.model_config = {"input_length": int(input_length), "n_classes": int(n_classes), "width": int(width),
                             "noise_sigma": float(noise_sigma)}
        self.input_length, self.n_classes, self.noise_sigma = int(input_length), int(n_classes), float(noise_sigma)
        w = int(width)
        self.label = nn.Embedding(self.n_classes, self.input_length)
        self.stem = nn.Conv1d(3, w, 3, padding=1)
        self.enc1 = ResidualBlock(w)
        self.down1 = downsampling_block(w, 2 * w)
        self.enc2 = ResidualBlock(2 * w)
        self.down2 = downsampling_block(2 * w, 4 * w)
        self.bottleneck = nn.Sequential(ResidualBlock(4 * w), SkipDilatedAttention(4 * w))
        self.up2 = upsampling_block(4 * w, 2 * w)
        self.dec2 = ResidualBlock(2 * w)
        self.up1 = upsampling_block(2 * w, w)
        self.dec1 = ResidualBlock(w)
        self.out = nn.Conv1d(w, 1, 1)

    def noise(self, n: int, *, device: torch.device | None = None) -> torch.Tensor:
        """Raw z: [n, 1, L] uniform in [0, 1] from torch's global RNG (smoothed in ``forward``)."""
        return torch.rand(n, 1, self.input_length, device=device)

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        x = _single_channel(x, self.input_length, "Generator")
        y = _class_indices(y, x.shape[0], self.n_classes, "Generator", x.device)
        z = self.noise(x.shape[0], device=x.device) if z is None else _single_channel(z, self.input_length, "Generator z")
        h = self.stem(torch.cat([x, smooth_noise(z, self.noise_sigma), self.label(y).unsqueeze(1)], dim=1))
        skip1 = self.enc1(h)
        skip2 = self.enc2(self.down1(skip1))
        h = self.bottleneck(self.down2(skip2))
        h = self.dec2(self.up2(h) + skip2)
        h = self.dec1(self.up1(h) + skip1)
        return torch.sigmoid(self.out(h))


class DiscriminatorHeads(NamedTuple):
    """The three heads of the discriminator for one batch."""

    real_fake: torch.Tensor     # [n] least-squares score (eq. 4): +1 real, -1 generated; label-conditioned
                                #     when the model is and the labels are given
    attack: torch.Tensor        # [n, 2] logits: clean, attacked (eq. 1)
    arrhythmia: torch.Tensor    # [n, n_classes] logits (eq. 2)


def _check_conditioned(conditioned, who: str) -> bool:
    if not isinstance(conditioned, bool):
        raise EcgDataError(f"{who}: conditioned={conditioned!r}; expected true (the real/fake score takes the label, "
                           f"seed 002 eq. 4) or false")
    return conditioned


class _ThreeHeadDiscriminator(nn.Module):
    """A convolutional trunk, flattened, into three linear heads; ``forward`` is the arrhythmia head.
    ``conditioned``: the real/fake score also takes the label, by projection (module docstring)."""

    uses_mask = False

    def _build_heads(self, n_features: int, n_classes: int, conditioned: bool) -> None:
        self.real_fake_head = nn.Linear(n_features, 1)
        self.attack_head = nn.Linear(n_features, N_ATTACK_CLASSES)
        self.head = nn.Linear(n_features, n_classes)   # the arrhythmia head: the registry's ``head``
        self.n_classes, self.conditioned = int(n_classes), bool(conditioned)
        # built last, from zeros (no random draw): the layers above are those of the unconditioned model
        self.label_projection = (nn.Embedding.from_pretrained(torch.zeros(n_classes, n_features), freeze=False)
                                 if conditioned else None)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened feature map, input of all three heads."""
        return self.trunk(_single_channel(x, self.input_length, type(self).__name__)).flatten(1)

    def real_fake_score(self, features: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The real/fake score ``D(E'_x, E_y)`` of seed 002 eq. (4) on ``features`` [n, n_features], by projection
        (Miyato & Koyama 2018, eq. 3): ``psi(phi(x)) + <embed(y), phi(x)>``, ``psi`` the linear real/fake head.
        The second term only for a ``conditioned`` model given labels ``y`` [n]; otherwise ``psi(phi(x))``
        alone (an unconditioned model checks ``y`` and ignores it). Returns [n]."""
        score = self.real_fake_head(features).squeeze(1)
        if y is None:
            return score
        y = _class_indices(y, features.shape[0], self.n_classes, type(self).__name__, features.device)
        if self.label_projection is None:
            return score
        return score + (self.label_projection(y) * features).sum(1)

    def heads(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorHeads:
        """The three heads on ``x``; ``y`` (labels) reaches the real/fake score only (:meth:`real_fake_score`)."""
        f = self.features(x)
        return DiscriminatorHeads(self.real_fake_score(f, y), self.attack_head(f), self.head(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Discriminator(_ThreeHeadDiscriminator):
    """The paper's discriminator: three regular and three downsampling blocks (Fig. 1), three heads.

    Args:
        input_length: samples per beat (280; a multiple of 8).
        n_classes: arrhythmia classes (4).
        width: channels of the first block (32); then 2 width and 4 width.
        conditioned: the real/fake score takes the label (projection; module docstring). Default false.

    Input ``[n, 1, L]`` (``[n, L]`` accepted); ``forward`` gives the ``[n, n_classes]`` arrhythmia logits.
    """

    def __init__(self, input_length: int = 280, n_classes: int = 4, width: int = 32, conditioned: bool = False) -> None:
        super().__init__()
        if int(input_length) < 8 or int(input_length) % 8 or int(n_classes) < 1 or int(width) < 1:
            raise EcgDataError(f"Discriminator: input_length={input_length} (expected a multiple of 8), "
                               f"n_classes={n_classes} (>= 1), width={width} (>= 1)")
        _check_conditioned(conditioned, "Discriminator")
        self.model_config = {"input_length": int(input_length), "n_classes": int(n_classes), "width": int(width),
                             "conditioned": conditioned}
        self.input_length = int(input_length)
        w = int(width)
        self.trunk = nn.Sequential(
            regular_block(1, w), downsampling_block(w, w),
            regular_block(w, 2 * w), downsampling_block(2 * w, 2 * w),
            regular_block(2 * w, 4 * w), downsampling_block(4 * w, 4 * w),
        )
        self._build_heads(4 * w * (self.input_length // 8), int(n_classes), conditioned)


CODE_FILTERS = (32, 32, 64, 64, 128, 128, 256, 256)
CODE_DROPOUT_AFTER = (2, 6, 8)  # 1-based layer numbers


class DiscriminatorCode(_ThreeHeadDiscriminator):
    """The published code's discriminator (reference notes): 8 x ``Conv(k3) - BN - LeakyReLU(0.2)``, filters
    32, 32, 64, 64, 128, 128, 256, 256, strides 1, 2, 1, 2, ..., dropout 0.2 after layers 2, 6 and 8, then the
    same three heads as :class:`Discriminator` on the flattened map (280 -> 18 samples x 256 filters); ``conditioned``
    as there."""

    def __init__(self, input_length: int = 280, n_classes: int = 4, dropout: float = 0.2,
                 conditioned: bool = False) -> None:
        super().__init__()
        if int(input_length) < 1 or int(n_classes) < 1 or not 0 <= dropout < 1:
            raise EcgDataError(f"DiscriminatorCode: input_length={input_length} (>= 1), n_classes={n_classes} (>= 1), "
                               f"dropout={dropout} (in [0, 1))")
        _check_conditioned(conditioned, "DiscriminatorCode")
        self.model_config = {"input_length": int(input_length), "n_classes": int(n_classes), "dropout": float(dropout),
                             "conditioned": conditioned}
        self.input_length = int(input_length)
        layers, c_in, length = [], 1, self.input_length
        for i, c_out in enumerate(CODE_FILTERS, start=1):
            stride = 1 if i % 2 else 2
            layers.append(_conv_bn_act(nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1), c_out))
            if i in CODE_DROPOUT_AFTER:
                layers.append(nn.Dropout(dropout))
            c_in, length = c_out, math.ceil(length / stride)  # Keras "same": ceil(L / s)
        self.trunk = nn.Sequential(*layers)
        self._build_heads(c_in * length, int(n_classes), conditioned)
