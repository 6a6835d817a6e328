"""What selecting the epoch on test would have reported. CM-Co's official script scores the TEST split every epoch
and reports its best epoch there (early stop on test event-level Type@AV, no checkpoint saved), where HAN's and ours
select on val. For runs trained with `--train-set log_test=True` (test scored every epoch into the log, never selected
on), this prints per run: the epoch val chose and its test figure (what the run's card reports), the epoch test would
have chosen and its figure, and the difference, the optimism of selecting on test. With a baseline run, each other
run's gap to it both ways: both selected on val, and the run on test against the baseline on val (how the paper's
CM-Co figure meets HAN's published one).

    python bench/selection_on_test.py RUN [RUN ...] [--baseline RUN] [--select event/type] [--json out.json]

Reads only the runs' logs and cards; seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import machine_info

from avvp_core.checkpoint_schema import finite_number
from avvp_core.checkpoints import read_card
from avvp_core.constants import METRIC_KEYS
from avvp_core.errors import InputError
from avvp_core.fileio import write_json

SHOWN = ("segment/type", "event/type")


def selections(folder: Path, select: str, llp_epochs: int | None = None) -> dict:
    """The run's val-selected epoch and its test figures beside the epoch that test `select` picks and its figures,
    from its log ("test/" columns). With `llp_epochs` N, both pick among N epochs only, those ending nearest LLP's N
    epoch ends (a run sized by --budget llp_steps on smaller data has more, shorter epochs than LLP's, and a maximum
    over more noisy epochs is higher); val then picks as the run did (its selection figure, the last best epoch, as
    ">=" keeps it), which can differ from the epoch its card reports (`card_epoch`)."""
    card = read_card(folder)
    if not card.metrics.get("complete"):
        raise InputError("is not a finished run (its metrics.json does not say complete)", folder)
    rows = card.log()
    card_epoch = card.metrics.get("selected_epoch")
    key = f"test/{select}"
    scored = [r for r in rows if all(finite_number(r.get(f"test/{m}")) for m in METRIC_KEYS)]
    if not scored:
        raise InputError("its log has no test columns: train it with --train-set log_test=True", folder)
    if card_epoch not in {r["epoch"] for r in scored}:
        raise InputError(f"its log has no test figures at the selected epoch ({card_epoch})", folder)
    chosen = next(r for r in scored if r["epoch"] == card_epoch)
    if llp_epochs:
        last = max(r["epoch"] for r in scored)
        wanted = {max(1, round(k * last / llp_epochs)) for k in range(1, llp_epochs + 1)}
        scored = [r for r in scored if r["epoch"] in wanted]
        metric = card.metrics.get("selection_metric")
        if isinstance(metric, str) and all(finite_number(r.get(metric)) for r in scored):
            chosen = max(scored, key=lambda r: (r[metric], r["epoch"]))  # ">=": the last best epoch
        else:  # "last" (the run kept its last epoch) or no such column: the last candidate
            chosen = scored[-1]
    best = max(scored, key=lambda r: (r[key], -r["epoch"]))  # the first epoch reaching the best, as ">" would

    def figures(row: dict) -> dict[str, float]:
        return {m: row[f"test/{m}"] for m in METRIC_KEYS}

    on_val, on_test = figures(chosen), figures(best)
    return {"run": str(folder), "selection_metric": card.metrics.get("selection_metric"), "epochs": len(rows),
            "candidates": len(scored), "card_epoch": card_epoch, "val_epoch": chosen["epoch"],
            "test_epoch": best["epoch"], "test_at_val_epoch": on_val, "test_at_test_epoch": on_test,
            "optimism": {m: on_test[m] - on_val[m] for m in METRIC_KEYS}}


def val_selected(folder: Path) -> dict:
    """A baseline's test figures as its card reports them (selected on val; no test columns needed)."""
    card = read_card(folder)
    test = card.metrics.get("test")
    if not isinstance(test, dict) or not all(finite_number(test.get(m)) for m in METRIC_KEYS):
        raise InputError("its metrics.json has no test figures", folder)
    return {"run": str(folder), "val_epoch": card.metrics.get("selected_epoch"), "test_at_val_epoch": test}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="finished runs trained with --train-set log_test=True")
    p.add_argument("--baseline", type=Path,
                   help="the run the others are compared with, selected on val (its card's test figures; any "
                        "finished run or shipped checkpoint)")
    p.add_argument("--select", default="event/type", choices=METRIC_KEYS,
                   help="the test figure that picks the test epoch (default event/type: CM-Co's official early stop)")
    p.add_argument("--llp-epochs", type=int, metavar="N",
                   help="val and test pick among N epochs only, those ending nearest LLP's N epoch ends (40 for a run "
                        "under --budget llp_steps on smaller data; the official CM-Co also stops after 10 epochs "
                        "without a better test figure, which this does not model: its maximum can only be lower)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.llp_epochs is not None and args.llp_epochs < 1:
        p.error("--llp-epochs must be at least 1")
    print(machine_info())
    try:
        rows = [selections(folder, args.select, args.llp_epochs) for folder in args.runs]
        base = val_selected(args.baseline) if args.baseline else None
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"test figures (segment / event Type@AV) at the epoch val selects (what the card reports) and at the epoch "
          f"test {args.select} would select")
    print(f"{'run':<40}{'epochs':>7}{'val ep':>8}{'seg / ev':>15}{'test ep':>9}{'seg / ev':>15}{'optimism':>15}")
    for r in rows:
        a, b, o = r["test_at_val_epoch"], r["test_at_test_epoch"], r["optimism"]
        print(f"{r['run'][-40:]:<40}{r['epochs']:>7}{r['val_epoch']:>8}{_pair(a):>15}{r['test_epoch']:>9}"
              f"{_pair(b):>15}{_pair(o, '+'):>15}")
    comparisons = []
    if base:
        print(f"baseline {base['run']} (selected on val, its card's test figures): {_pair(base['test_at_val_epoch'])}")
        for r in rows:
            both_val = {m: r["test_at_val_epoch"][m] - base["test_at_val_epoch"][m] for m in METRIC_KEYS}
            test_vs_val = {m: r["test_at_test_epoch"][m] - base["test_at_val_epoch"][m] for m in METRIC_KEYS}
            comparisons.append({"run": r["run"], "baseline": base["run"], "both_on_val": both_val,
                                "run_on_test_baseline_on_val": test_vs_val})
            print(f"{Path(r['run']).name} - {Path(base['run']).name}: {_pair(both_val, '+')} both selected on val, "
                  f"{_pair(test_vs_val, '+')} with {Path(r['run']).name} selected on test")
    if args.json:
        write_json(args.json, {"select": args.select, "llp_epochs": args.llp_epochs, "runs": rows, "baseline": base,
                               "comparisons": comparisons})
    return 0


def _pair(figures: dict[str, float], sign: str = "") -> str:
    return " / ".join(f"{figures[m]:{sign}.2f}" for m in SHOWN)


if __name__ == "__main__":
    sys.exit(main())
