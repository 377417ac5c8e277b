"""Mini-batches from the model-input artifacts: beat sets (x [n, L]) and padded sets (values + offsets)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ecg_pipeline.errors import EcgDataError

from .balance import extra_copies_index, upsample_index
from .padding import materialize, replace_starts

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class Batches:
    """A model-input set as tensors: ``x`` [n, channels, length], ``y`` [n], optional ``mask`` [n, 1, length].

    Beat sets are small and live as one tensor. Padded sets (CinC 2017, CPSC 2018) are stored
    compactly and padded per batch; with ``max_shift`` the records move to new random offsets each
    epoch (the CPSC training augmentation). With ``balanced`` an epoch tiles every class to the largest
    class count (:func:`~ecg_pipeline.data.balance.upsample_index`, a new remainder drawn each epoch):
    seed 001's class-balanced sampler for CPSC 2018, without storing the copies. With ``extra_copies``
    (``{class name: k}``) an epoch holds every record once plus ``k`` more copies of each record of that class
    (:func:`~ecg_pipeline.data.balance.extra_copies_index`: Han et al.'s CinC 2017 augmentation), shuffled.

    ``extras``: more per-sample arrays that every batch carries, as a fourth element ``{name: tensor}``
    (ECG-ATK-GAN's ``x_clean`` and ``attacked``; a decorrelated ensemble member's ``previous_features``);
    without extras a batch is ``(x, y, mask)``.
    """

    def __init__(self, data: dict[str, np.ndarray], *, max_shift: int | None = None, balanced: bool = False,
                 extras: tuple[str, ...] = (), extra_copies: dict[str, int] | None = None):
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
        self.balanced = balanced
        self.copies = self._copies(extra_copies)
        missing = [name for name in extras if name not in data]
        if missing:
            raise EcgDataError(f"this training needs the per-sample arrays {list(extras)} beside the signals and 'y'; "
                               f"the set has {sorted(data)} (missing {missing})")
        self.extras = {name: torch.from_numpy(np.asarray(data[name])) for name in extras}
        for name, values in self.extras.items():
            if values.shape[0] != len(self):
                raise EcgDataError(f"array {name!r} has {values.shape[0]} rows; expected one per beat ({len(self)})")

    def _copies(self, extra_copies: dict[str, int] | None) -> dict[int, int]:
        """``{class name: extra copies}`` -> ``{class index: extra copies}``, checked against the set's classes."""
        if not extra_copies:
            return {}
        if self.balanced:
            raise EcgDataError("extra_copies and the balanced sampler both set how often a class is drawn: use one")
        if not self.classes:
            raise EcgDataError(f"extra_copies {dict(extra_copies)} names classes, but the set has no 'classes'")
        unknown = sorted(set(extra_copies) - set(self.classes))
        if unknown:
            raise EcgDataError(f"extra_copies: {unknown} are not classes of the training set (it has {self.classes})")
        for name, k in extra_copies.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                raise EcgDataError(f"extra_copies.{name}: expected a count >= 0 of extra copies, got {k!r}")
        return {self.classes.index(name): int(k) for name, k in extra_copies.items()}

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def epoch_length(self) -> int:
        """Samples drawn in one training epoch: every record, or with ``balanced`` every present class at the
        largest class count."""
        if self.copies:
            return len(extra_copies_index(self.y.numpy(), self.copies))
        if not self.balanced or len(self) == 0:
            return len(self)
        counts = np.bincount(self.y.numpy())
        return int(counts.max() * np.count_nonzero(counts))

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.classes else int(self.y.max()) + 1

    def take(self, index: np.ndarray | torch.Tensor) -> Batch:
        """The samples at ``index`` (row order kept). Rows are gathered with ``index_select``: the same
        values as ``x[index]``, about 3x cheaper for a batch of random rows (advanced indexing's general
        path), which was most of the trainer's per-batch cost on the MLP (issue 27)."""
        index = torch.as_tensor(index, dtype=torch.int64)
        y = self.y.index_select(0, index)
        if self.padded is None:
            x, mask = self.x.index_select(0, index), None
        else:
            x, mask = (torch.from_numpy(a) for a in materialize(self.padded, index.numpy()))
        if self.extras:
            return x, y, mask, {k: v.index_select(0, index) for k, v in self.extras.items()}
        return x, y, mask

    def epoch(self, batch_size: int, *, generator: torch.Generator | None = None, shuffle: bool = True,
              rng: np.random.Generator | None = None, skip: int = 0) -> Iterator[Batch]:
        """The batches of one epoch. ``skip``: leave out the first ``skip`` batches (a resumed epoch); the
        order and shifts are drawn all the same, so the generators end where a full epoch leaves them."""
        if self.padded is not None and self.max_shift and rng is not None:
            self.padded = replace_starts(self.padded, max_shift=self.max_shift, rng=rng)
        if self.balanced and shuffle:
            if rng is None:
                raise EcgDataError("a class-balanced epoch draws its extra copies from a numpy Generator: pass rng")
            rows = torch.from_numpy(upsample_index(self.y.numpy(), rng))
            order = rows[torch.randperm(len(rows), generator=generator)]
        elif self.copies and shuffle:
            rows = torch.from_numpy(extra_copies_index(self.y.numpy(), self.copies))
            order = rows[torch.randperm(len(rows), generator=generator)]
        else:
            order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for start in range(skip * batch_size, len(order), batch_size):
            yield self.take(order[start : start + batch_size])
