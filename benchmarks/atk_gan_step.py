"""Benchmark: time per training step of ECG-ATK-GAN's generator and discriminator (the trainer's own step:
``AtkGan.generator_step``, then ``AtkGan.discriminator_loss`` + ``descend``) at the paper's batch of 128 beats
of 280 samples, beside a peer in the same process: a cross-entropy step of the Kachuee CNN on the same
batch. Interleaved repeats, so machine noise hits every step alike; the projection to the paper's epoch
(about 7 x 100,000 beats: the clean SMOTE-balanced training split and six attacked copies) and to its 100
epochs follows from the median.

    python benchmarks/atk_gan_step.py [--batch 128] [--steps 10] [--repeats 3] [--threads 1] [--device cpu]
                                      [--epoch-beats 699706] [--width 32] [--discriminator atk_gan_discriminator]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ecg_pipeline.defenses.atk_gan import AtkGan
from ecg_pipeline.defenses.objectives import CrossEntropy
from ecg_pipeline.defenses.trainer import build_optimizer, descend
from ecg_pipeline.models import build_model

#: the paper's epoch: train N 69,958 + S, V, F SMOTE'd to 10,000 each (seed 002 section 3.1) = 99,958 clean
#: beats, with six attacked copies
PAPER_EPOCH_BEATS = 7 * (69_958 + 3 * 10_000)


def adam(params):
    return build_optimizer("adam", params, lr=1e-4, betas=(0.5, 0.999))  # the paper's Adam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epoch-beats", type=int, default=PAPER_EPOCH_BEATS)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--discriminator", default="atk_gan_discriminator",
                        choices=["atk_gan_discriminator", "atk_gan_discriminator_code"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    n = args.batch
    x = torch.rand(n, 1, 280, device=device)
    x_clean = (x + 0.01 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, 4, (n,), device=device)
    attacked = torch.rand(n, device=device) < 6 / 7

    d_config = {"width": args.width} if args.discriminator == "atk_gan_discriminator" else {}
    discriminator = build_model(args.discriminator, **d_config).to(device).train()
    d_opt = adam(discriminator.parameters())
    gan = AtkGan(generator={"width": args.width})
    gan.bind(discriminator, device, adam)
    peer = build_model("kachuee_cnn", input_length=280, n_classes=4).to(device).train()
    peer_opt = adam(peer.parameters())
    ce = CrossEntropy()
    generated = {}

    def generator_step():
        generated["x"], _ = gan.generator_step(discriminator, x, y, x_clean)

    def discriminator_step():
        loss, _, _ = gan.discriminator_loss(discriminator, x, y, attacked, generated["x"])
        descend(loss, d_opt, list(discriminator.parameters()))

    def peer_step():
        loss, _, _ = ce(peer, x, y, None, 1)
        descend(loss, peer_opt, list(peer.parameters()))

    steps = {"Kachuee CNN CE (peer)": peer_step, "G step": generator_step, "D step": discriminator_step}
    generator_step()
    for step in steps.values():  # warm-up
        step()
    times = {name: [] for name in steps}
    for r in range(args.repeats):
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - t) / args.steps)

    batches = -(-args.epoch_beats // n)
    peer_ms = 1000 * statistics.median(times["Kachuee CNN CE (peer)"])
    print(f"{args.discriminator} (width {args.width}) + atk_gan_generator (width {args.width}), batch {n} x 280, "
          f"{args.steps} steps x {args.repeats} interleaved repeats, device {device}, threads {torch.get_num_threads()}")
    print(f"{'step':<24} {'median ms':>10} {'min ms':>8} {'x peer':>7}")
    for name, values in times.items():
        median = 1000 * statistics.median(values)
        print(f"{name:<24} {median:>10.1f} {1000 * min(values):>8.1f} {median / peer_ms:>7.2f}")
    gan_s = statistics.median(times["G step"]) + statistics.median(times["D step"])
    print(f"GAN step (G + D): {1000 * gan_s:.1f} ms; an epoch of {args.epoch_beats:,} beats ({batches:,} batches): "
          f"{gan_s * batches / 3600:.2f} h; 100 epochs: {100 * gan_s * batches / 3600:.1f} h")


if __name__ == "__main__":
    main()
