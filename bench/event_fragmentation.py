"""Do a model's segment decisions come in whole events, or flicker? Per checkpoint and modality, the events its
decisions make (maximal runs of a class, as the event-level metrics cut them), their mean length and events per
detected (video, class) pair, beside the truth's; then its figures as they are and, as a diagnostic only (no paper
does it), with each class row's decisions smoothed by a 3-segment majority (a lone flip inside or beside an event is
undone). If two models' event-level gap closes under the smoothing, it was flicker, not recognition.

    python bench/event_fragmentation.py --data runs/bench/synthllp-full --checkpoint runs/claims_full/han-s1 \\
        runs/claims_full/cmco-s1 [--split test] [--json out.json]

Without --checkpoint: every shipped checkpoint in checkpoints/ (on the data given). Seconds on the CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import checkpoints_on_truth_args, machine_info, split_and_checkpoints

from avvp_core.analysis.timeline import event_pieces
from avvp_core.checkpoints import load_checkpoint
from avvp_core.errors import InputError
from avvp_core.evaluation import predict
from avvp_core.fileio import write_json
from avvp_core.metrics import score

FIGURES = ("segment/type", "event/type", "event/audio", "event/av")


def majority3(decisions: np.ndarray) -> np.ndarray:
    """(N, T, C) bool -> each segment set to the majority of itself and its two neighbours; the clip's first and
    last segments are padded with themselves, so they keep their value."""
    padded = np.pad(decisions.astype(np.int8), ((0, 0), (1, 1), (0, 0)), mode="edge")  # (N, T + 2, C)
    return (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) >= 2


def _label(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"[-36:]


def _pieces_row(label: str, pieces: dict[str, dict[str, float]]) -> str:
    cells = "  ".join(f"{pieces[m]['events']:6,} {pieces[m]['mean_length']:5.2f} {pieces[m]['events_per_pair']:5.2f}"
                      for m in ("audio", "visual", "av"))
    return f"{label:36s}  {cells}"


def main(argv: list[str] | None = None) -> int:
    args = checkpoints_on_truth_args(__doc__.splitlines()[0], argv)
    try:
        split, folders = split_and_checkpoints(args)
        print(machine_info())
        truth = (split.gt_audio > 0, split.gt_visual > 0)
        print(f"{'events, mean length, per pair':36s}  {'audio':>18s}  {'visual':>18s}  {'av':>18s}")
        rows = {"truth": {"pieces": event_pieces(truth)}}
        print(_pieces_row("truth", rows["truth"]["pieces"]))
        for folder in folders:
            model, card = load_checkpoint(folder)
            decisions = predict(model, split, source=str(folder)).decisions(card.gating)
            smoothed = tuple(majority3(d) for d in decisions)
            rows[str(folder)] = {"pieces": event_pieces(decisions), "pieces_majority3": event_pieces(smoothed),
                                 "figures": score(*decisions, split.gt_audio, split.gt_visual).summary,
                                 "figures_majority3": score(*smoothed, split.gt_audio, split.gt_visual).summary}
            print(_pieces_row(_label(folder), rows[str(folder)]["pieces"]), flush=True)
        print(f"\n{'test figures (as is -> majority of 3)':36s}  " + "  ".join(f"{k:>15s}" for k in FIGURES))
        for name, row in rows.items():
            if "figures" in row:
                print(f"{_label(Path(name)):36s}  " + "  ".join(
                    f"{row['figures'][k]:6.2f} -> {row['figures_majority3'][k]:5.2f}" for k in FIGURES))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        write_json(args.json, {"data": str(args.data), "split": args.split, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
