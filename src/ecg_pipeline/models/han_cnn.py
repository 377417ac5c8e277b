"""The 13-layer CNN of Han et al. (Nature Medicine 2020) for PhysioNet/CinC 2017, also the base model
of Wiedeman & Wang's decorrelated ensembles (seed 004).

Each layer is ``Conv1d - BatchNorm1d - ReLU - [MaxPool] - Dropout(0.3)``:

====  ========  ======  ========  =======  ==========
name  channels  kernel  dilation  padding  pool after
====  ========  ======  ========  =======  ==========
c1    1->320    24      1         11       yes
c2    320->256  16      2         15
c3-5  256->256  16      4         30
c6    256->128  8       4         14       yes
c7-10 128->128  8       6         21
c11   128->128  8       8         28       yes
c12   128->64   8       8         28
c13   64->64    8       8         28
====  ========  ======  ========  =======  ==========

The reference notes give only c1's padding (11). For c2-c13 the padding is
``dilation * (kernel - 1) // 2``: every such layer has an odd effective width
``dilation * (kernel - 1) + 1``, so this keeps the length unchanged ("same"); it is also what the
authors' published code uses. c1 (k24, p11) shortens by one sample. The pools are
``MaxPool1d(k2, s2, p1, dilation 2)``, which map ``L`` to ``ceil(L / 2)``; the pool sits between
ReLU and dropout (as in the published code). An 18,000-sample record gives
17,999 -> 9,000 -> 4,500 -> 2,250 steps. Then the mean over time (64-d features) and
``Linear(64, 4)`` (N/A/O/~). Conv layers keep their bias, as in the published code.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError

# (in, out, kernel, dilation, pool after); in-channels of c1 come from the config
LAYERS: tuple[tuple[int | None, int, int, int, bool], ...] = (
    (None, 320, 24, 1, True),
    (320, 256, 16, 2, False),
    (256, 256, 16, 4, False),
    (256, 256, 16, 4, False),
    (256, 256, 16, 4, False),
    (256, 128, 8, 4, True),
    (128, 128, 8, 6, False),
    (128, 128, 8, 6, False),
    (128, 128, 8, 6, False),
    (128, 128, 8, 6, False),
    (128, 128, 8, 8, True),
    (128, 64, 8, 8, False),
    (64, 64, 8, 8, False),
)
FIRST_PADDING = 11  # c1, from the paper's code; every other layer uses padding_for(kernel, dilation)


def padding_for(kernel: int, dilation: int) -> int:
    """'same'-like padding ``dilation * (kernel - 1) // 2`` (exactly 'same' for odd effective width)."""
    return dilation * (kernel - 1) // 2


def conv_layer(  # noqa: PLR0913
    in_ch: int, out_ch: int, kernel: int, dilation: int, padding: int, pool: bool, dropout: float
) -> nn.Sequential:
    """``Conv1d - BatchNorm1d - ReLU - [MaxPool1d(2, 2, 1, dilation 2)] - Dropout``."""
    parts: list[tuple[str, nn.Module]] = [
        ("conv", nn.Conv1d(in_ch, out_ch, kernel, padding=padding, dilation=dilation)),
        ("bn", nn.BatchNorm1d(out_ch)),
        ("relu", nn.ReLU()),
    ]
    if pool:
        parts.append(("pool", nn.MaxPool1d(kernel_size=2, stride=2, padding=1, dilation=2)))
    parts.append(("dropout", nn.Dropout(dropout)))
    return nn.Sequential(OrderedDict(parts))


class HanCNN(nn.Module):
    """13 dilated conv layers, mean over time, one linear layer.

    Args:
        in_channels: leads (1 for CinC 2017).
        n_classes: outputs (4: N, A, O, ~).
        dropout: dropout rate after every conv layer (0.3).
        width: a factor on every layer's channel count (1.0: the paper's network). **A deviation for CPU work
            only**: the full network costs tens of GFLOP a record, so tests and CPU runs use e.g. 0.125
            (40/32/16/8 channels); the architecture (kernels, dilations, pools) is unchanged.

    Input ``[n, in_channels, L]`` (``[n, L]`` accepted when ``in_channels == 1``; 18,000 in the
    paper; any ``L >= 2`` works); output ``[n, n_classes]``. ``features(x)`` is the 64-d
    time-averaged feature (the decorrelation loss's features), the input of ``head``.
    """

    uses_mask = False
    #: Han et al. zero-pad every record to 18,000 samples and average over the whole window, padding included:
    #: the network is built for zero-padded input and takes no mask (``registry.check_mask_use`` accepts it on
    #: padded records; the attacks still get the mask, so padded positions stay 0 under every perturbation).
    zero_padded_input = True

    def __init__(self, in_channels: int = 1, n_classes: int = 4, dropout: float = 0.3, width: float = 1.0) -> None:
        super().__init__()
        if int(in_channels) < 1 or int(n_classes) < 1 or not 0.0 <= float(dropout) < 1.0:
            raise EcgDataError(
                f"HanCNN: in_channels={in_channels}, n_classes={n_classes} must be >= 1 and "
                f"dropout={dropout} in [0, 1)"
            )
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 1:
            raise EcgDataError(f"HanCNN: width must be a number in (0, 1] (a factor on the channel counts), got {width!r}",
                               key="width")
        self.model_config = {
            "in_channels": int(in_channels),
            "n_classes": int(n_classes),
            "dropout": float(dropout),
            "width": float(width),
        }
        self.in_channels = int(in_channels)

        def scaled(channels: int) -> int:
            return max(1, round(channels * width))

        layers = []
        for i, (in_ch, out_ch, kernel, dilation, pool) in enumerate(LAYERS):
            padding = FIRST_PADDING if i == 0 else padding_for(kernel, dilation)
            layers.append(conv_layer(scaled(in_ch) if in_ch else self.in_channels, scaled(out_ch), kernel, dilation,
                                     padding, pool, float(dropout)))
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(scaled(LAYERS[-1][1]), int(n_classes))

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != self.in_channels or x.shape[2] < LAYERS[0][2] - 2 * FIRST_PADDING:
            raise EcgDataError(
                f"HanCNN: input of shape {tuple(x.shape)}; expected [n, {self.in_channels}, length] "
                "(18,000 samples for CinC 2017)"
            )
        return x

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, 64, T]`` output of c13 (T = 2,250 for 18,000 samples)."""
        return self.layers(self._check(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 64-d mean over time of c13's output, the input of ``head``."""
        return self.feature_map(x).mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
