"""Can a checkpoint say *where* in a clip an event is? Per modality, of the (video, class) pairs a model detects
(at least one positive segment, gated as its card says), the share it calls present in all ten segments, beside the
annotations' own share. A model near 100 % puts its video-level verdict on every second (MGN's official segment head,
avvp_core/models/mgn.py); the Timelines page names such a model (analysis.timeline.WHOLE_CLIP_FLAG).

    python bench/localisation.py --data data/synthllp-mini [--checkpoint DIR ...] [--split test] [--json out.json]

Without --checkpoint: every shipped checkpoint in checkpoints/. Seconds on the CPU.
"""

from __future__ import annotations

import sys

from common import checkpoints_on_truth_args, machine_info, split_and_checkpoints

from avvp_core.analysis.timeline import WHOLE_CLIP_FLAG, whole_clip_share
from avvp_core.checkpoints import load_checkpoint
from avvp_core.errors import InputError
from avvp_core.evaluation import predict
from avvp_core.fileio import write_json


def _row(label: str, shares: dict[str, tuple[float, int]]) -> str:
    cells = "  ".join(f"{shares[m][0]:6.1%} of {shares[m][1]:5,}" for m in ("audio", "visual"))
    return f"{label[-40:]:40s}  {cells}"


def main(argv: list[str] | None = None) -> int:
    args = checkpoints_on_truth_args(__doc__.splitlines()[0], argv)
    try:
        split, folders = split_and_checkpoints(args)
        print(machine_info())
        print(f"{'whole-clip share of detections':40s}  {'audio':>15s}  {'visual':>15s}")
        truth = whole_clip_share((split.gt_audio > 0, split.gt_visual > 0))
        print(_row("annotations", truth))
        rows = {"annotations": truth}
        for folder in folders:
            model, card = load_checkpoint(folder)
            rows[str(folder)] = whole_clip_share(predict(model, split, source=str(folder)).decisions(card.gating))
            flag = "  <- cannot localise" if all(s >= WHOLE_CLIP_FLAG for s, _ in rows[str(folder)].values()) else ""
            print(_row(str(folder), rows[str(folder)]) + flag, flush=True)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        write_json(args.json, {"data": str(args.data), "split": args.split,
                               "rows": {k: {m: {"share": s, "detected": n} for m, (s, n) in v.items()}
                                        for k, v in rows.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
