"""The papers' main claims (avvp_core/claims.py) checked over seeds on a matrix of zoo runs:

    python bench/run_matrix.py --data data/synthllp-mini --out runs/claims --width demo --seeds 1 2 3 \
        --run zoo:han --run zoo:han-ma ...   (every entry of avvp_core/zoo.py)
    python bench/claims.py runs/claims/results.json

Prints the claims table (markdown) with the mean over the seeds each side has.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avvp_core import claims
from avvp_core.zoo import ENTRIES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    args = p.parse_args()
    results = json.loads(Path(args.results).read_text())
    runs: dict[str, list[dict]] = {}
    for r in results.values():
        if not r["spec"].startswith("zoo:"):
            continue
        log_path = Path(r["folder"]) / "log.jsonl"
        log = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()] if log_path.is_file() else []
        runs.setdefault(r["spec"][4:], []).append({"test": r["test"], "log": log, "refinement": r.get("refinement")})
    entries = {n: {"model": e.model, "recipe": e.recipe} for n, e in ENTRIES.items()}
    for name, rs in sorted(runs.items()):
        print(f"{name}: {len(rs)} seed(s)")
    print(claims.markdown(claims.check(runs, entries)))


if __name__ == "__main__":
    main()
