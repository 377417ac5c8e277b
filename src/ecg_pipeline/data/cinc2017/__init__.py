"""PhysioNet/CinC Challenge 2017 (AF classification from a short single-lead ECG): ``data_cinc2017``.

Reading in :mod:`.reading`, the recipe (split, padding with masks) in :mod:`.recipe`; the declaration below
is all the rest of the project knows of it (``data.databases``)."""

from __future__ import annotations

from ..databases import Database, Ingest, RawSource, Step
from ..download import download_url
from .reading import ARCHIVE, CLASSES, REFERENCE, cinc2017_source, read_cinc2017
from .recipe import pad_cinc2017, split_cinc2017

__all__ = ["ARCHIVE", "CLASSES", "DATABASE", "REFERENCE", "cinc2017_source", "pad_cinc2017", "read_cinc2017",
           "split_cinc2017"]


def fetch_archive(raw: RawSource, folder) -> None:
    """The challenge's training archive, by URL, into ``folder``."""
    download_url(raw.source, folder / ARCHIVE)


_PAD = "padding_masking.cinc2017.pad"

DATABASE = Database(
    name="cinc2017",
    title="PhysioNet/CinC 2017 records, padded and masked",
    raw=(
        # read from its archive, or from the archive unzipped in place (training2017/) or flat
        RawSource("cinc2017", "PhysioNet/CinC Challenge 2017 training set",
                  markers=(ARCHIVE, f"training2017/{REFERENCE}", REFERENCE), fetch=fetch_archive,
                  source="https://physionet.org/files/challenge-2017/1.0.0/training2017.zip",
                  shown_as=f"cinc2017/{ARCHIVE}"),
    ),
    ingests=(
        Ingest("ingest_cinc2017", "cinc2017", read_cinc2017, output="cinc2017_records",
               section="ingestion.cinc2017", locate=cinc2017_source),
    ),
    steps=(
        Step("split_cinc2017", "padding_masking", split_cinc2017, ("cinc2017_records",),
             ("cinc2017_train_unpadded", "cinc2017_validation_unpadded", "cinc2017_test_unpadded"),
             section="padding_masking.cinc2017.split", parts=("train", "validation", "test"),
             required={"validation_fraction": "a share in (0, 1) of the training part (the training runs keep "
                                              "their best validation epoch)"}),
        *(Step(f"pad_cinc2017_{part}", "padding_masking", pad_cinc2017, (f"cinc2017_{part}_unpadded",),
               (f"cinc2017_{part}",), section=_PAD) for part in ("train", "validation", "test")),
    ),
    class_sets={"cinc2017": CLASSES},
)
