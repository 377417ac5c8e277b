"""ECG-ATK-GAN evaluation and report nodes: parameters in, :mod:`ecg_pipeline.evaluation.atk_gan` and
:mod:`ecg_pipeline.reporting.atk_gan` called, tables and figures out."""

from __future__ import annotations

import pandas as pd

from ecg_pipeline.evaluation import atk_gan
from ecg_pipeline.reporting import atk_gan as report
from ecg_pipeline.runtime import resolve_device, torch_threads


def _common(settings: dict) -> dict:
    return {"batch_size": int(settings.get("batch_size", 512)), "device": resolve_device(settings.get("device", "auto"))}


def paper_protocol(model, test_set: dict, settings: dict, *, run: str) -> pd.DataFrame:
    """Table 1's rows of ``run`` on the clean test split and each attacked copy."""
    with torch_threads(settings.get("num_threads")):
        return pd.DataFrame(atk_gan.protocol_rows(model, test_set, run=run, **_common(settings)))


def detection(model, test_set: dict, settings: dict, *, run: str) -> pd.DataFrame:
    with torch_threads(settings.get("num_threads")):
        return pd.DataFrame(atk_gan.detection_rows(model, test_set, run=run, **_common(settings)))


def generator_fidelity(generator, test_set: dict, settings: dict, *, run: str) -> tuple[pd.DataFrame, dict]:
    with torch_threads(settings.get("num_threads")):
        rows, examples = atk_gan.fidelity_rows(generator, test_set, run=run, seed=int(settings.get("seed", 0)),
                                               **_common(settings))
    return pd.DataFrame(rows), examples


def detector_evasion(model, clean_test: dict, settings: dict, *, run: str) -> pd.DataFrame:
    evasion = dict(settings.get("evasion") or {})
    with torch_threads(settings.get("num_threads")):
        return pd.DataFrame(atk_gan.evasion_rows(model, clean_test, run=run, seed=int(settings.get("seed", 0)),
                                                 **evasion, **_common(settings)))


def tables(detection_table: pd.DataFrame, fidelity: pd.DataFrame, evasion: pd.DataFrame, *stored,
           runs: tuple[str, ...], labels: dict[str, str], adaptive: tuple[tuple[str, str], ...]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Table 1 and Table 3 (CSV) and the whole report (markdown). ``stored``: each run's protocol table, then the
    metrics and examples of each ``(run, attack)`` of ``adaptive``, in that order."""
    protocols, rest = stored[:len(runs)], stored[len(runs):]
    protocol = pd.concat(protocols, ignore_index=True)
    evaluations: dict[str, dict] = {run: {} for run in runs}
    for i, (run, attack) in enumerate(adaptive):
        evaluations[run][attack] = (rest[2 * i], rest[2 * i + 1])
    t1, t3 = report.table1(protocol, labels), report.table3(fidelity)
    adaptive_table = report.adaptive_rows({r: a for r, a in evaluations.items() if a}, labels, protocol)
    text = report.to_markdown([
        ("Table 1 layout: accuracy and per-class sensitivity / specificity (%)", t1,
         "Published rows: the paper's whole test split attacked on its discriminator. Ours: the clean test split and "
         "its six copies attacked on the source classifier (the discriminator trained clean, Fig. 1): transferred "
         "attacks for every model judged here; BIM, PGD, CW, DBB and HSJ on class-stratified subsets (beats column).",
         1),
        ("Table 3 layout: generator fidelity", t3,
         "SSIM and cross-correlation in %, MSE and NRMSE as fractions. Ours against the clean beat E_x (eq. 3's "
         "target) and against G's input E'_x; the paper does not say which."),
        ("The attack head (detection)", detection_table,
         "detection_rate: flagged among the beats that differ from their clean original; false_positive_rate: "
         "flagged among the others; on the clean set accuracy = 1 - false_positive_rate."),
        ("Detector evasion (adaptive PGD and APGD on the deployed discriminator)", evasion,
         "loss ce: the arrhythmia head alone; loss evasion: minus the attack head's 'clean' CE. flagged_fooled: "
         "fraction of the fooled beats the attack head flags (an upper bound: both attacks stop at the first "
         "misclassified iterate)."),
        ("Adaptive evaluation beside the paper's protocol (balanced accuracy)", adaptive_table,
         "The attack template's attacks declared for data atk_gan, white-box end to end on each model, on the clean "
         "class-balanced test subset; worst case per beat over them (evaluation.worst_case)."),
    ])
    return t1, t3, text


def beats_figure(examples: dict):
    return report.beats_figure(examples, [str(c) for c in examples["classes"]])
