"""``python -m ecg_pipeline.zoo``: ``add`` an entry from a Kedro project's stored artifacts, ``check`` the zoo
(one line per model and evaluation, the certified bound ``certify`` among them; exit 1 on a mismatch or a refusal),
``list`` the entries."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecg_pipeline.errors import EcgDataError

from .add import add_entry
from .index import default_zoo, read_index
from .recheck import check_zoo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecg_pipeline.zoo", description=__doc__)
    parser.add_argument("--zoo", type=Path, default=None, help="the zoo folder (default: zoo/ of this repository)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create (or --replace) an entry from a Kedro project's stored artifacts")
    add.add_argument("--project", type=Path, required=True, help="a Kedro project folder holding data/")
    add.add_argument("--run", action="append", required=True, help="a run name (repeat for several)")
    add.add_argument("--version", default=None, help="the model version to take (default: the newest)")
    add.add_argument("--replace", action="store_true", help="replace an existing entry (refused otherwise)")
    check = commands.add_parser("check", help="re-run every stored evaluation and compare per beat")
    check.add_argument("--entries", nargs="+", default=None)
    check.add_argument("--attacks", nargs="+", default=None,
                       help="the evaluations to re-run (default: all; `certify` is the certified bound)")
    check.add_argument("--certify-beats", type=int, default=None,
                       help="re-certify only the first whole bound batches holding this many beats (seconds)")
    check.add_argument("--data-root", type=Path, default=None,
                       help="the raw PhysioNet folders (default: $ECG_SHARED_DATA, else ../shared/data)")
    commands.add_parser("list", help="the entries and their evaluations")
    args = parser.parse_args(argv)
    zoo = args.zoo or default_zoo()
    try:
        if args.command == "add":
            for run in args.run:
                print(f"added {add_entry(args.project, run, zoo, replace=args.replace, version=args.version)}")
        elif args.command == "list":
            for name, entry in sorted(read_index(zoo)["entries"].items()):
                certify = (entry.get("certify") or {}).get("version") or "none stored"
                print(f"{name}: commit {entry['git_commit'][:10]}, evaluations "
                      f"{', '.join(sorted(entry['evaluations']))}, certify {certify}")
        else:
            outcomes = check_zoo(zoo, args.entries, args.attacks, args.data_root, certify_beats=args.certify_beats)
            bad = [o for o in outcomes if not o.ok]
            print(f"zoo check: {len(outcomes) - len(bad)} of {len(outcomes)} evaluations reproduced"
                  + (f"; MISMATCH: {', '.join(f'{o.entry} {o.evaluation}' for o in bad)}" if bad else ""))
            return 1 if bad else 0
    except EcgDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
