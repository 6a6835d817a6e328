"""Regenerate `llp_stats.json`, the committed statistics of the real LLP annotations that calibrate SynthLLP.

    python -m avvp_core.data.make_llp_stats LLP_DIR [--out PATH]

LLP_DIR holds the five official annotation CSVs (features are not needed). Only derived figures are
written, never the CSVs themselves; the md5 of each source file is recorded so the figures can be traced.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from ..constants import EVAL_FILES, SPLIT_FILES
from ..errors import InputError
from ..fileio import write_json
from .dataset import LLPDataset
from .stats import dataset_statistics, format_statistics

DEFAULT_OUT = Path(__file__).with_name("llp_stats.json")


def make_llp_stats(llp_dir: str | Path, out: str | Path = DEFAULT_OUT) -> dict:
    """Compute the statistics of the LLP folder `llp_dir` and write them (atomically) to `out`."""
    ds = LLPDataset(llp_dir)
    stats = dataset_statistics(ds, turn_taking=True, kind_patterns=True)
    if "train" not in stats or "truth" not in stats:
        raise InputError("needs the train split and the dense val/test truth", llp_dir)
    sources = {f: hashlib.md5((ds.root / f).read_bytes()).hexdigest()
               for f in [*SPLIT_FILES.values(), *EVAL_FILES.values()]}
    source = {"description": "real LLP annotations (AVVP-ECCV20, 2024 eval_audio fix)", "md5": sources}
    stats = {"source": source, **stats}
    write_json(out, stats)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avvp_core.data.make_llp_stats",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("llp_dir", help="folder with the LLP annotation CSVs")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output JSON (default: the committed file)")
    args = parser.parse_args(argv)
    try:
        stats = make_llp_stats(args.llp_dir, args.out)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_statistics(stats))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
