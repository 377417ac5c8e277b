"""What a checkpoint (and the model trained from it) is: the identity that decides whether a stored
checkpoint may be resumed, and the provenance that travels in a model's ``meta``.

A run's identity is its configuration fingerprint without the epoch count (the checkpoint folder: runs
that differ only in ``epochs`` share it, so a longer run can find a shorter one and a shorter run can
refuse a longer one), the epochs it was asked for, the training data, the code version, the CPU thread
count and the device. Only those compared in :data:`COMPARED` decide; the package version and the git
commit are recorded for the reader.

The code version is a hash of the source that determines a trained model (:data:`CODE_PATHS`), each
file parsed and dumped without docstrings, comments or layout, so reformatting or a reworded message
does not retire a checkpoint and an uncommitted edit does. Not the git commit: a dirty tree trains
other code under the same commit, a commit that touches only the docs would retire every checkpoint,
and an installed package has no repository.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

import ecg_pipeline

PACKAGE = Path(ecg_pipeline.__file__).resolve().parent

#: the package source a trained model depends on: the models, objectives and trainer, the batching of the
#: training data (order, shifts, up-sampling, padding), the validation metrics (``select_best`` keeps an epoch
#: by them), the attack helpers the objectives call, and the device / thread settings. Not data preparation
#: (the data fingerprint covers its result), evaluation, reporting or the pipelines.
CODE_PATHS = ("models", "defenses", "data/batches.py", "data/balance.py", "data/padding.py",
              "evaluation/metrics.py", "evaluation/correlation.py", "attacks/base.py", "runtime.py")

#: identity entries that must agree for a checkpoint to be resumed (``epochs`` is judged on its own)
COMPARED = ("run", "data_fingerprint", "code_version", "num_threads", "device")


def _normalised(source: str) -> str:
    """The module's syntax tree without docstrings (comments and layout are not in it)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def code_files(package: Path = PACKAGE) -> list[Path]:
    files = []
    for entry in CODE_PATHS:
        path = package / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else [])
    return files


def code_version(package: Path = PACKAGE) -> str:
    """A short hash of the training code (:data:`CODE_PATHS` under ``package``), docstrings and layout aside."""
    return _code_version(str(package), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                                             for p in code_files(package)))


@functools.lru_cache(maxsize=8)
def _code_version(package: str, stamps: tuple) -> str:
    h = hashlib.blake2b(digest_size=8)
    for name, _, _ in stamps:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        try:
            text = _normalised(text)
        except SyntaxError:  # cannot be imported either; hash it as it is
            pass
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the repository the package runs from, with ``-dirty`` when the tree has uncommitted
    changes; None outside a repository (informational: the code version is what decides)."""
    from ecg_pipeline.run_provenance import git_state

    commit, dirty = git_state()
    return None if commit is None else f"{commit}-dirty" if dirty else commit


def describe_mismatch(stored: dict, wanted: dict) -> str | None:
    """Why a checkpoint of identity ``stored`` cannot be resumed by a run of identity ``wanted`` (epochs
    aside), or None when they agree."""
    for key in COMPARED:
        if key not in wanted or stored.get(key) == wanted[key]:
            continue
        have, want = stored.get(key), wanted[key]
        if key == "code_version":
            return f"it was written by other code (code version {have}, this run {want})"
        if key == "num_threads":
            return (f"it was trained with {have} CPU thread(s), this run has {want} (set num_threads: {have} "
                    "to resume it)")
        if key == "device":
            return f"it was trained on {have}, this run is on {want}"
        if key == "data_fingerprint":
            return f"it was trained on other data (data fingerprint {have}, this run {want})"
        return f"it belongs to another configuration (fingerprint {have}, this run {want})"
    return None
