"""China Physiological Signal Challenge 2018 (12-lead ECGs, 9 classes): ``data_cpsc2018``.

Reading in :mod:`.reading`, the recipe (split, padding with masks) in :mod:`.recipe`, the download in
:mod:`.fetch`; the declaration below is all the rest of the project knows of it (``data.databases``)."""

from __future__ import annotations

from ..databases import Database, Ingest, RawSource, Step
from .fetch import CPSC_CLASS_OF_DX, cpsc_reference_from_headers, fetch_challenge_2020_archive
from .reading import (
    CLASS_NAMES,
    CLASSES,
    CPSC2018_KEEP_LEADS,
    ORIGINAL_FS,
    STANDARD_LEADS,
    read_cpsc2018,
    read_cpsc2018_reference,
)
from .recipe import pad_cpsc2018, split_cpsc2018

__all__ = [
    "CLASSES", "CLASS_NAMES", "CPSC2018_KEEP_LEADS", "CPSC_CLASS_OF_DX", "DATABASE", "ORIGINAL_FS", "STANDARD_LEADS",
    "cpsc_reference_from_headers", "pad_cpsc2018", "read_cpsc2018", "read_cpsc2018_reference", "split_cpsc2018",
]

_SPLIT, _PAD = "padding_masking.cpsc2018.split", "padding_masking.cpsc2018.pad"

DATABASE = Database(
    name="cpsc2018",
    title="CPSC 2018 12-lead records, padded and masked",
    raw=(
        RawSource("cpsc2018", "CPSC 2018 (as redistributed by the PhysioNet/CinC Challenge 2020)",
                  markers=("REFERENCE.csv",), fetch=fetch_challenge_2020_archive,
                  source="https://storage.googleapis.com/physionet-challenge-2020-12-lead-ecg-public/"
                         "PhysioNetChallenge2020_Training_CPSC.tar.gz"),
    ),
    ingests=(Ingest("ingest_cpsc2018", "cpsc2018", read_cpsc2018, output="cpsc2018_records",
                    section="ingestion.cpsc2018"),),
    steps=(
        Step("split_cpsc2018", "padding_masking", split_cpsc2018, ("cpsc2018_records",),
             ("cpsc2018_train_unpadded", "cpsc2018_validation_unpadded", "cpsc2018_test_unpadded"), section=_SPLIT,
             parts=("train", "validation", "test")),
        # training records sit at a seeded random offset (the paper's shift augmentation), evaluation
        # records right-aligned
        Step("pad_cpsc2018_train", "padding_masking", pad_cpsc2018, ("cpsc2018_train_unpadded",),
             ("cpsc2018_train",), section=_PAD, fixed={"placement": "random"}),
        *(Step(f"pad_cpsc2018_{part}", "padding_masking", pad_cpsc2018, (f"cpsc2018_{part}_unpadded",),
               (f"cpsc2018_{part}",), section=_PAD, fixed={"placement": "right"}) for part in ("validation", "test")),
    ),
    class_sets={"cpsc2018": CLASSES},
)
