"""Size checks of WFDB signal files against their header, made before wfdb reads them.

wfdb sizes its buffers from the header, so a short or damaged signal file fails inside numpy
("could not broadcast input array ...", "cannot reshape array ...") with neither the record nor
the file named. Comparing the file's size with what the header implies costs one ``stat``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import wfdb

from ecg_pipeline.errors import EcgDataError

# Bits per stored sample of the WFDB formats with a fixed sample size (310/311 pack three samples
# in 32 bits). Compressed formats (FLAC, 5xx) have no fixed size and are left to wfdb.
BITS_PER_SAMPLE = {"8": 8, "16": 16, "61": 16, "80": 8, "160": 16, "212": 12, "24": 24, "32": 32,
                   "310": 32 / 3, "311": 32 / 3}


def check_signal_files(header: wfdb.Record, folder: str | Path, record: str, *, what: str = "record") -> None:
    """Raise ``EcgDataError`` if a signal file named in ``header`` is missing or shorter than the
    header says (naming the record, the file, the samples it holds and the samples expected).

    ``what`` starts the message ("record", "CPSC 2018 record", ...).
    """
    folder = Path(folder)
    hea = folder / f"{header.record_name}.hea"
    channels_of_file: dict[str, list[int]] = {}
    for channel, file_name in enumerate(header.file_name or []):
        channels_of_file.setdefault(file_name, []).append(channel)
    for file_name, channels in channels_of_file.items():
        path = folder / file_name
        if not path.is_file():
            raise EcgDataError(f"{what} {record}: signal file {path} not found (named by {hea})")
        bits = BITS_PER_SAMPLE.get(str(header.fmt[channels[0]]))
        if bits is None or not header.sig_len:
            continue
        offset = int((header.byte_offset or [None] * (channels[0] + 1))[channels[0]] or 0)
        samples_per_frame = sum(int((header.samps_per_frame or [1] * len(header.file_name))[c] or 1) for c in channels)
        frame_bits = bits * samples_per_frame
        expected_bytes = offset + math.ceil(header.sig_len * frame_bits / 8)
        size = path.stat().st_size
        if size < expected_bytes:
            held = max(0, int((size - offset) * 8 // frame_bits))
            raise EcgDataError(
                f"{what} {record}: {path} holds {held:,} samples per channel, the header {hea.name} says "
                f"{header.sig_len:,}: truncated? ({size:,} bytes, expected {expected_bytes:,} for "
                f"{len(channels)} channel(s) in format {header.fmt[channels[0]]})"
            )


def walk_files(folder: str | Path, prefix: str = "") -> list[Path]:
    """Every file below ``folder`` whose name starts with ``prefix``, symbolic links to folders followed
    (``Path.rglob`` does not follow them: a ``records/`` link to another disk would be read as empty)."""
    found, seen = [], set()
    for parent, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(parent)
        if real in seen:  # a link back up the tree: walk each real folder once
            dirs[:] = []
            continue
        seen.add(real)
        found.extend(Path(parent) / n for n in names if n.startswith(prefix) and (Path(parent) / n).is_file())
    return sorted(found)
