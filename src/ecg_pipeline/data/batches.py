"""Mini-batches from the model-input artifacts: beat sets (x [n, L]) and padded sets (values + offsets)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ecg_pipeline.errors import EcgDataError

from .padding import materialize, replace_starts

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class Batches:
    """A model-input set as tensors: ``x`` [n, channels, length], ``y`` [n], optional ``mask`` [n, 1, length].

    Beat sets are small and live as one tensor. Padded sets (CinC 2017, CPSC 2018) are stored
    compactly and padded per batch; with ``max_shift`` the records move to new random offsets each
    epoch (the CPSC training augmentation).

    ``extras``: more per-sample arrays that every batch carries, as a fourth element ``{name: tensor}``
    (ECG-ATK-GAN's ``x_clean`` and ``attacked``; a decorrelated ensemble member's ``previous_features``);
    without extras a batch is ``(x, y, mask)``.
    """

    def __init__(self, data: dict[str, np.ndarray], *, max_shift: int | None = None, extras: tuple[str, ...] = ()):
        if "values" in data:
            self.padded = data
            self.x = None
        elif "x" in data:
            self.padded = None
            x = np.asarray(data["x"], dtype=np.float32)
            self.x = torch.from_numpy(x[:, None, :] if x.ndim == 2 else x)
        else:
            raise EcgDataError(f"a model-input set needs 'x' (beats) or 'values' (padded records); got keys {sorted(data)}")
        self.y = torch.from_numpy(np.asarray(data["y"], dtype=np.int64))
        self.classes = [str(c) for c in data["classes"]] if "classes" in data else None
        self.max_shift = max_shift
        missing = [name for name in extras if name not in data]
        if missing:
            raise EcgDataError(f"this training needs the per-sample arrays {list(extras)} beside the signals and 'y'; "
                               f"the set has {sorted(data)} (missing {missing})")
        self.extras = {name: torch.from_numpy(np.asarray(data[name])) for name in extras}
        for name, values in self.extras.items():
            if values.shape[0] != len(self):
                raise EcgDataError(f"array {name!r} has {values.shape[0]} rows; expected one per beat ({len(self)})")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.classes else int(self.y.max()) + 1

    def take(self, index: np.ndarray | torch.Tensor) -> Batch:
        index = torch.as_tensor(index, dtype=torch.int64)
        if self.padded is None:
            if self.extras:
                return self.x[index], self.y[index], None, {k: v[index] for k, v in self.extras.items()}
            return self.x[index], self.y[index], None
        x, mask = materialize(self.padded, index.numpy())
        if self.extras:
            return torch.from_numpy(x), self.y[index], torch.from_numpy(mask), {k: v[index] for k, v in self.extras.items()}
        return torch.from_numpy(x), self.y[index], torch.from_numpy(mask)

    def epoch(self, batch_size: int, *, generator: torch.Generator | None = None, shuffle: bool = True,
              rng: np.random.Generator | None = None, skip: int = 0) -> Iterator[Batch]:
        """The batches of one epoch. ``skip``: leave out the first ``skip`` batches (a resumed epoch); the
        order and shifts are drawn all the same, so the generators end where a full epoch leaves them."""
        if self.padded is not None and self.max_shift and rng is not None:
            self.padded = replace_starts(self.padded, max_shift=self.max_shift, rng=rng)
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for start in range(skip * batch_size, len(self), batch_size):
            yield self.take(order[start : start + batch_size])
