"""Record-level noise stress of a trained beat classifier: accuracy and balanced accuracy per SNR on a split's
beats cut again from their records after PhysioNet's ``nst`` added NSTDB noise to the raw records
(:mod:`ecg_pipeline.data.mitdb.noise_stress`: the construction, its source and formula).

Unlike the ``real_noise`` attack (noise added to already-normalised beats, one gain per beat), the noise here
meets the record before segmentation and the per-window normalisation, with one gain per record set from the
record's QRS amplitude, on the NSTDB schedule (clean first five minutes, then two-minute segments alternately
noisy and clean). Beats in the clean segments of a stressed record are scored too, as in the NSTDB records:
they show recovery, and differ from the clean beats only through normalisation windows that overlap noise.
The table also gives the scores restricted to the beats whose R peak lies in a noisy segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecg_pipeline.data.mitdb.noise_stress import (
    NOISE_CALIBRATIONS,
    STRESS_SNRS_DB,
    nst_schedule,
    schedule_mask,
    stress_split,
)
from ecg_pipeline.errors import EcgConfigError, EcgDataError
from ecg_pipeline.models import logits_of

from .intervals import Bootstrap, balanced_accuracy, balanced_accuracy_interval


@torch.inference_mode()
def predict_beats(model: nn.Module, x: np.ndarray, *, batch_size: int = 2048) -> np.ndarray:
    """Predicted class of each beat ``x`` ``[n, length]`` (a ``[n, 1, length]`` input), in eval mode, restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [logits_of(model, torch.as_tensor(x[i : i + batch_size, None, :], dtype=torch.float32, device=device))
           .argmax(1).cpu() for i in range(0, x.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def in_noisy_segment(records: pd.DataFrame, beats: dict[str, np.ndarray]) -> np.ndarray:
    """True for the beats whose R peak falls in a noisy segment of nst's schedule for their record."""
    lengths = dict(zip(records["record_id"].astype(str), records["n_samples"].astype(int)))
    out = np.zeros(np.asarray(beats["y"]).shape[0], dtype=bool)
    record_ids = np.asarray(beats["record_id"]).astype(str)
    for record in np.unique(record_ids):
        members = record_ids == record
        mask = schedule_mask(lengths[record], nst_schedule(lengths[record]))
        out[members] = mask[np.asarray(beats["r_sample"])[members]]
    return out


def _check_snrs(snrs_db: Sequence[float]) -> list[float]:
    if isinstance(snrs_db, (str, bytes)) or not len(snrs_db):
        raise EcgConfigError(f"noise stress: snrs_db must be a non-empty list of SNRs in dB, got {snrs_db!r}",
                             key="snrs_db")
    bad = [s for s in snrs_db if isinstance(s, bool) or not isinstance(s, (int, float)) or not np.isfinite(s)]
    if bad:
        raise EcgConfigError(f"noise stress: snrs_db holds {bad}; expected finite numbers of dB", key="snrs_db")
    return [float(s) for s in snrs_db]


def _scores(condition: str, snr: float, y: np.ndarray, correct: np.ndarray, noisy: np.ndarray,
            bootstrap: Bootstrap | None) -> dict:
    row = {"condition": condition, "snr_db": snr, "n_beats": int(y.size), "accuracy": float(correct.mean()),
           "balanced_accuracy": float(balanced_accuracy(y, correct)),
           "n_beats_noisy_segments": int(noisy.sum()),
           "balanced_accuracy_noisy_segments": float(balanced_accuracy(y[noisy], correct[noisy])) if noisy.any()
           else float("nan")}
    if bootstrap is not None:
        interval = balanced_accuracy_interval(y, correct, bootstrap)
        row.update(balanced_accuracy_low=interval.low, balanced_accuracy_high=interval.high)
    return row


def record_noise_stress(model: nn.Module, records: pd.DataFrame, beats: dict[str, np.ndarray], noise: np.ndarray,
                        *, snrs_db: Sequence[float] = STRESS_SNRS_DB, scheme: str = "kachuee",
                        label_set: str = "aami5", flatline_seconds: float = 0.5, calibration: str = "nst",
                        bootstrap: Bootstrap | None = None, noise_name: str = "em") -> tuple[pd.DataFrame, np.ndarray]:
    """Scores of ``model`` on the split ``beats`` clean and stressed at each of ``snrs_db``.

    ``records``: the record table the split was cut from (``mitdb_records``); ``noise``: one NSTDB channel at
    360 Hz, mV (e.g. ``em`` ``noise1``); ``scheme`` / ``label_set`` / ``flatline_seconds``: the segmentation
    the split was cut with; ``calibration``: :func:`~ecg_pipeline.data.mitdb.noise_stress.nst_snr_scale`.
    Returns the table (one row for ``clean`` then one per SNR: beats, accuracy, balanced accuracy, the same on
    beats in noisy segments, bootstrap interval of balanced accuracy when ``bootstrap`` is given) and the
    per-beat outcomes ``correct[condition, beat]`` (row 0 clean), paired beat for beat across rows.
    """
    snrs = _check_snrs(snrs_db)
    if calibration not in NOISE_CALIBRATIONS:
        raise EcgConfigError(f"noise stress: unknown calibration {calibration!r}; expected one of "
                             f"{list(NOISE_CALIBRATIONS)}", key="calibration")
    for key in ("x", "y", "record_id", "r_sample", "label"):
        if key not in beats:
            raise EcgDataError(f"noise stress: the split lacks {key!r}; expected a beat set from segment_beats / "
                               "split_beats (it keeps each beat's record_id and r_sample)")
    y = np.asarray(beats["y"])
    noisy = in_noisy_segment(records, beats)
    correct = [predict_beats(model, np.asarray(beats["x"])) == y]
    rows = [_scores("clean", float("inf"), y, correct[0], noisy, bootstrap)]
    for snr in snrs:
        stressed = stress_split(records, beats, noise, snr, scheme=scheme, label_set=label_set,
                                flatline_seconds=flatline_seconds, calibration=calibration)
        correct.append(predict_beats(model, stressed["x"]) == y)
        rows.append(_scores(f"{noise_name} {snr:g} dB", snr, y, correct[-1], noisy, bootstrap))
    return pd.DataFrame(rows), np.stack(correct)


#: The keys of a record-level noise stress block (conf), with their defaults.
STRESS_DEFAULTS = {"noise_record": "em", "noise_channel": "noise1", "calibration": "nst",
                   "snrs_db": list(STRESS_SNRS_DB), "bootstrap": None}


def noise_stress_metrics(model: nn.Module, beats: dict[str, np.ndarray], records: pd.DataFrame,
                         noise_table: pd.DataFrame, params: dict | None = None, segmentation: dict | None = None,
                         *, name: str = "record_noise") -> tuple[dict, dict[str, np.ndarray]]:
    """:func:`record_noise_stress` from a parameter block, as a pipeline node calls it: ``(metrics, outcomes)``.

    ``params``: :data:`STRESS_DEFAULTS`' keys (``noise_record`` bw/em/ma, ``noise_channel``, ``calibration``,
    ``snrs_db``, ``bootstrap``: ``report.bootstrap``'s keys or null); ``segmentation``: the ``segmentation``
    parameters the split was cut with (``scheme``, ``label_set``, ``flatline_seconds``). ``metrics``: JSON-ready
    (the per-condition rows under ``curve``); ``outcomes``: per-beat ``correct`` ``[condition, beat]`` (row 0 clean)
    with ``snr_db``, ``y``, ``record_id``, ``r_sample`` and ``in_noisy_segment``, for paired comparisons.
    """
    from ecg_pipeline.errors import did_you_mean

    params = dict(params or {})
    unknown = sorted(set(params) - set(STRESS_DEFAULTS))
    if unknown:
        raise EcgConfigError(f"{name}: unknown key(s) {unknown}; expected some of {sorted(STRESS_DEFAULTS)}"
                             + did_you_mean(unknown[0], STRESS_DEFAULTS), key=unknown[0])
    spec = {**STRESS_DEFAULTS, **params}
    seg = dict(segmentation or {})
    chosen = noise_table[(noise_table["record_id"] == spec["noise_record"])
                         & (noise_table["lead"] == spec["noise_channel"])]
    if chosen.empty:
        raise EcgConfigError(f"{name}: NSTDB noise {spec['noise_record']}/{spec['noise_channel']} is not in the noise "
                             f"table (it holds {sorted(set(zip(noise_table['record_id'], noise_table['lead'])))})",
                             key="noise_record")
    bootstrap = Bootstrap.from_params(spec["bootstrap"]) if spec["bootstrap"] is not None else None
    table, correct = record_noise_stress(
        model, records, beats, np.asarray(chosen["signal"].iloc[0], dtype=np.float64), snrs_db=spec["snrs_db"],
        scheme=seg.get("scheme", "kachuee"), label_set=seg.get("label_set", "aami5"),
        flatline_seconds=seg.get("flatline_seconds", 0.5), calibration=spec["calibration"], bootstrap=bootstrap,
        noise_name=spec["noise_record"])
    rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]
    metrics = {"run": name, "evaluation": "record_noise_stress", "construction": "PhysioNet nst (NSTDB schedule)",
               "noise": f"{spec['noise_record']}/{spec['noise_channel']}", "calibration": spec["calibration"],
               "snrs_db": [float(s) for s in spec["snrs_db"]], "n": int(np.asarray(beats["y"]).shape[0]),
               "curve": rows}
    outcomes = {"correct": correct, "snr_db": np.array([np.inf, *map(float, spec["snrs_db"])]),
                "y": np.asarray(beats["y"]), "record_id": np.asarray(beats["record_id"]).astype(str),
                "r_sample": np.asarray(beats["r_sample"]), "in_noisy_segment": in_noisy_segment(records, beats)}
    return metrics, outcomes
