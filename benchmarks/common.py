"""What the attack benchmarks share: real MIT-BIH beats and a quickly trained Kachuee CNN to attack."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecg_pipeline.data.balance import cap_per_class, upsample
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.models.kachuee_cnn import KachueeCNN

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def prepare(data: Path, batch: int, epochs: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, dict]:
    info = {}
    t = time.perf_counter()
    beats = segment_beats(read_mitdb(data / "mitdb"), scheme="kachuee")
    parts = split_beats(cap_per_class(beats, 3000, seed=0), seed=0)
    train = upsample(parts["train"], seed=0)
    test = cap_per_class(parts["test"], batch // 5 + 40, seed=0)
    order = np.random.default_rng(0).permutation(test["y"].shape[0])[:batch]
    x_train = torch.from_numpy(train["x"][:, None, :].astype(np.float32))
    y_train = torch.from_numpy(train["y"].astype(np.int64))
    x = torch.from_numpy(test["x"][order][:, None, :].astype(np.float32))
    y = torch.from_numpy(test["y"][order].astype(np.int64))
    info["data s"] = time.perf_counter() - t

    t = time.perf_counter()
    torch.manual_seed(0)
    model = fit_cross_entropy(KachueeCNN(), x_train, y_train, epochs, lr=3e-3)
    info["train s"] = time.perf_counter() - t
    info["train beats"] = len(y_train)
    info["test classes"] = np.bincount(y.numpy(), minlength=5).tolist()
    return model, x, y, info


def fit_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> nn.Module:
    """``epochs`` of Adam (batch 128, a seeded order) on cross-entropy; the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(perm), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        return (model(x).argmax(1) == y).float().mean().item()


class AsImage(nn.Module):
    """``[n, c, 1, L] -> [n, c, L]``: torchattacks' APGD and Square assume image batches."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.reshape(x.shape[0], x.shape[1], -1))


def interleaved(runs: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Time every run ``repeats`` times, alternating the order each repeat (a noisy shared machine
    then disturbs both sides alike); returns the wall times and each run's last output."""
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    outputs: dict[str, torch.Tensor] = {}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            outputs[name] = runs[name]()
            times[name].append(time.perf_counter() - t)
    return times, outputs


def print_comparison(times: dict[str, list[float]], outputs: dict[str, torch.Tensor], model: nn.Module, y: torch.Tensor) -> None:
    """One row per run: median / min / max seconds, throughput, ratios to the first run (of medians
    and of best runs: the best run is the least disturbed one), robust accuracy of its output."""
    names = list(times)
    ref_tp = len(y) / statistics.median(times[names[0]])
    ref_best = len(y) / min(times[names[0]])
    print(f"{'implementation':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'samples/s':>10} {'ratio':>6} {'best ratio':>10} {'robust acc':>11}")
    for name in names:
        med = statistics.median(times[name])
        print(
            f"{name:<22} {med:>9.2f} {min(times[name]):>7.2f} {max(times[name]):>7.2f} {len(y) / med:>10.1f} "
            f"{len(y) / med / ref_tp:>5.2f}x {len(y) / min(times[name]) / ref_best:>9.2f}x {accuracy(model, outputs[name], y):>11.4f}"
        )
    print("\nper-run seconds: " + "; ".join(f"{k}: {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in times.items()))


def attack_parser(doc: str, threads: int | None = 1) -> argparse.ArgumentParser:
    """The options every attack benchmark takes; callers add their own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=threads, help="torch intra-op threads (none: torch's)")
    parser.add_argument("--profile", action="store_true")
    return parser


def attacked_model(args: argparse.Namespace) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Set the threads, train the CNN and draw the beats (:func:`prepare`), and print what was set up."""
    if args.threads:
        torch.set_num_threads(args.threads)
    model, x, y, info = prepare(args.data, args.batch, args.epochs)
    print(
        f"data {info['data s']:.1f} s; trained KachueeCNN {args.epochs} epoch(s) on {info['train beats']} beats "
        f"in {info['train s']:.1f} s; attacked batch {len(y)} (per class {info['test classes']}); "
        f"threads {torch.get_num_threads()}; clean accuracy {accuracy(model, x, y):.4f}"
    )
    return model, x, y


def stored_model_and_split(model_dir: Path, split: Path | None) -> tuple[nn.Module, dict, Path]:
    """A zoo-like folder's model (``model.pt``, eval mode) and the MIT-BIH test split it was evaluated on
    (``split``, else this checkout's newest stored ``mitdb_test``): (model, split arrays, split path)."""
    import glob

    from ecg_pipeline.models import build_model

    checkpoint = torch.load(model_dir / "model.pt", weights_only=True)
    model = build_model(checkpoint["name"], **checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    if split is None:
        root = Path(__file__).resolve().parents[1]
        found = sorted(glob.glob(str(root / "data/05_model_input/mitdb_test.npz/*/mitdb_test.npz")))
        if not found:
            raise SystemExit("no stored mitdb_test split: pass --split (the split the model was evaluated on)")
        split = Path(found[-1])
    return model, np.load(split), split
