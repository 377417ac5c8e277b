"""Mini-batches: the class-balanced epoch of seed 001's CPSC sampler."""

from __future__ import annotations

import numpy as np
import torch

from ecg_pipeline.data.batches import Batches


def _set(counts):
    y = np.repeat(np.arange(len(counts)), counts)
    return {"x": np.arange(len(y), dtype=np.float32)[:, None].repeat(4, 1), "y": y}


def test_a_balanced_epoch_tiles_every_class_to_the_largest_count():
    data = Batches(_set([10, 3, 0, 7]), balanced=True)
    assert data.epoch_length == 30 and Batches(_set([10, 3, 0, 7])).epoch_length == 20
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    ys = torch.cat([y for _, y, _ in data.epoch(8, generator=gen, rng=rng)]).numpy()
    assert len(ys) == 30 and np.bincount(ys, minlength=4).tolist() == [10, 10, 0, 10]
    rows = torch.cat([x[:, 0, 0] for x, _, _ in data.epoch(30, generator=gen, rng=rng)]).long().numpy()
    class1 = np.bincount(rows[(rows >= 10) & (rows < 13)] - 10, minlength=3)  # records 10-12 are class 1
    assert class1.min() >= 3 and class1.sum() == 10  # three whole copies, the remainder without replacement
    again = Batches(_set([10, 3, 0, 7]), balanced=True)
    first = [y for _, y, _ in again.epoch(8, generator=torch.Generator().manual_seed(0), rng=np.random.default_rng(0))]
    assert np.array_equal(torch.cat(first).numpy(), ys)  # same seeds, same epoch


def test_skipping_batches_of_a_balanced_epoch_resumes_the_same_order():
    data = Batches(_set([5, 2]), balanced=True)
    full = [y for _, y, _ in data.epoch(3, generator=torch.Generator().manual_seed(1), rng=np.random.default_rng(1))]
    rest = [y for _, y, _ in data.epoch(3, generator=torch.Generator().manual_seed(1), rng=np.random.default_rng(1),
                                        skip=2)]
    assert [t.tolist() for t in rest] == [t.tolist() for t in full[2:]]


def test_extra_copies_of_named_classes_in_every_training_epoch():
    data = {**_set([4, 2, 3, 1]), "classes": np.array(["N", "A", "O", "~"])}
    batches = Batches(data, extra_copies={"~": 5, "A": 1})
    assert batches.epoch_length == 10 + 2 + 5
    gen = torch.Generator().manual_seed(0)
    ys = torch.cat([y for _, y, _ in batches.epoch(4, generator=gen)]).numpy()
    assert np.bincount(ys, minlength=4).tolist() == [4, 4, 3, 6]
    rows = torch.cat([x[:, 0, 0] for x, _, _ in batches.epoch(17, generator=gen)]).long().numpy()
    assert np.bincount(rows, minlength=10).tolist() == [1, 1, 1, 1, 2, 2, 1, 1, 1, 6]   # every record, whole copies
    # evaluation order (shuffle=False) is every record once: the augmentation is for training epochs only
    assert len(torch.cat([y for _, y, _ in batches.epoch(4, shuffle=False)])) == 10


def test_extra_copies_are_checked_against_the_classes():
    import pytest

    from ecg_pipeline.errors import EcgDataError

    data = {**_set([4, 2, 3, 1]), "classes": np.array(["N", "A", "O", "~"])}
    with pytest.raises(EcgDataError, match=r"extra_copies: \['S'\] are not classes of the training set"):
        Batches(data, extra_copies={"S": 1})
    with pytest.raises(EcgDataError, match=r"extra_copies.A: expected a count >= 0"):
        Batches(data, extra_copies={"A": -2})
    with pytest.raises(EcgDataError, match=r"extra_copies and the balanced sampler"):
        Batches(data, extra_copies={"A": 1}, balanced=True)


def test_take_gathers_the_rows_that_indexing_gives_with_their_extras():
    rng = np.random.default_rng(0)
    data = {"x": rng.random((50, 7), dtype=np.float32), "y": rng.integers(0, 3, 50),
            "weights": rng.random((50, 2, 3)), "attacked": rng.random(50) > 0.5}
    batches = Batches(data, extras=("weights", "attacked"))
    index = rng.integers(0, 50, 20)  # random rows, some twice
    x, y, mask, extra = batches.take(index)
    assert mask is None and x.shape == (20, 1, 7) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert np.array_equal(x[:, 0].numpy(), data["x"][index]) and np.array_equal(y.numpy(), data["y"][index])
    assert np.array_equal(extra["weights"].numpy(), data["weights"][index])
    assert extra["attacked"].dtype == torch.bool and np.array_equal(extra["attacked"].numpy(), data["attacked"][index])
    x2, y2, _ = Batches(data).take(torch.as_tensor(index))  # a tensor index, no extras: a 3-tuple
    assert torch.equal(x2, x) and torch.equal(y2, y)
