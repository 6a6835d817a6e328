"""bench/cross_modal_reliance.py: the single- vs multi-modality event split on hand-made truth, then the whole script
on SynthLLP `tiny` with the session's tiny HAN (seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.conftest import BENCH, bench_script


def _module():
    return bench_script("cross_modal_reliance")


def test_event_kinds_and_their_f1():
    mod = _module()
    gt_a = np.zeros((3, 10, 2), bool)
    gt_v = np.zeros((3, 10, 2), bool)
    gt_a[0, :4, 0] = True  # video 0, class 0: heard only -> single
    gt_a[1, 2:6, 0], gt_v[1, 4:8, 0] = True, True  # video 1, class 0: heard and seen, overlapping -> multi
    gt_a[2, :2, 1], gt_v[2, 5:7, 1] = True, True  # video 2, class 1: heard and seen, apart -> neither
    kinds = mod.event_kinds(gt_a, gt_v)
    assert kinds["single"].tolist() == [[True, False], [False, False], [False, False]]
    assert kinds["multi"].tolist() == [[False, False], [True, False], [False, False]]
    # predicting the heard-only event in both modalities: 4 right, 4 visual false positives -> F1 = 8 / 12
    pred_a, pred_v = gt_a.copy(), gt_v.copy()
    pred_v[0, :4, 0] = True
    assert np.isclose(mod.kind_f1(pred_a, pred_v, gt_a, gt_v, kinds["single"]), 100 * 8 / 12)
    assert np.isclose(mod.kind_f1(pred_a, pred_v, gt_a, gt_v, kinds["multi"]), 100.0)


def test_the_script_reports_both_figures_for_a_checkpoint(tiny_data, tiny_han, tmp_path):
    out = tmp_path / "reliance.json"
    proc = subprocess.run([sys.executable, str(BENCH / "cross_modal_reliance.py"), "--data", str(tiny_data),
                           "--checkpoint", str(tiny_han / "han"), "--json", str(out), "--per-class"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "real LLP, HAN (paper 000, table 1)" in proc.stdout and "44.0" in proc.stdout
    row = json.loads(out.read_text())["rows"][str(tiny_han / "han")]
    sm, swap = row["single_multi"], row["swap"]
    assert 0 <= sm["single"] <= 100 and 0 <= sm["multi"] <= 100 and sm["single_events"] + sm["multi_events"] > 0
    for m in ("audio", "visual"):
        assert swap[m]["positives"] > 0 and 0 <= swap[m]["removed"] <= swap[m]["positives"]
    assert 0 <= swap["a_v"]["heard_and_seen"] <= 1
    per_class = swap["per_class"]  # --per-class prints the same figures, class by class
    assert len(per_class) == 25 and "Violin_fiddle" in proc.stdout and "v_a AV" in proc.stdout
    kinds = ("n_both", "n_heard_only", "n_seen_only")  # every weak label is heard or seen (or both)
    assert sum(row[k] for row in per_class.values() for k in kinds) == swap["audio"]["positives"]
    for row in per_class.values():
        assert all(v is None or 0 <= v <= 1 for k, v in row.items() if not k.startswith("n_"))
        assert (row["a_v AV"] is None) == (row["n_both"] == 0)
