"""bench/refinement_audit.py and the LLP side of the label-precision claims (issue 19 item 6): the drop capacity on
hand-made labels, the LLP bound, then the script on tiny MA and JoMoLD runs (seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from avvp_core import claims
from avvp_core.checkpoints import read_card
from avvp_core.constants import CLASSES
from avvp_core.data import LLPDataset
from avvp_core.training.recipes import RecipeContext, run_recipe
from tests.conftest import BENCH, bench_script


def _module():
    return bench_script("refinement_audit")


def test_drop_capacity_truncates_per_batch_and_class():
    mod = _module()
    labels = np.zeros((8, 2), bool)
    labels[:, 0] = True  # class 0: every video; class 1: none
    # ratio 0.3: one batch of 8 allows int(2.4) = 2 drops; batches of 4 allow int(1.2) = 1 each, 2 in all; batches
    # of 2 allow int(0.6) = 0: the truncation JoMoLD's rule applies
    ratio = np.array([0.3, 0.9])
    assert mod.drop_capacity(labels, ratio, 8) == 2
    assert mod.drop_capacity(labels, ratio, 4) == 2
    assert mod.drop_capacity(labels, ratio, 2) == 0


def test_the_llp_bound_of_mas_released_audio_labels():
    named, total = claims.MA_RELEASED_REMOVALS["audio"]
    bound = claims.llp_precision_bound("audio", named, total)
    # 1,263 Speech removals against ~10 Speech labels that LLP's annotations imply are not heard: at most ~5 %
    assert 0.04 < bound < 0.06
    assert claims.llp_precision_bound("visual", *claims.MA_RELEASED_REMOVALS["visual"]) == 1.0  # not boundable
    absent = claims.llp_truly_absent("audio")
    assert absent["Speech"] == pytest.approx(0.4988 * 10000 * 0.00202)
    assert 0.03 < claims.llp_absent_share("audio") < 0.05 and 0.3 < claims.llp_absent_share("visual") < 0.4
    # every removal counted right can only raise the bound, never past 1
    assert claims.llp_precision_bound("audio", {}, total) == 1.0


def test_a_failing_label_precision_claim_names_its_measured_reason():
    record = {"audio": {"removed": 300, "precision": 0.07, "recall": 0.2, "truly_absent": 40, "positives": 1000},
              "visual": {"removed": 500, "precision": 0.7, "recall": 0.6, "truly_absent": 350, "positives": 1000}}
    test = {k: 50.0 for k in ("segment/type", "event/type")}
    rows = claims.check({"han-ma": [{"test": test, "refinement": record}], "han": [{"test": test}],
                         "han-jomold": [{"test": test, "refinement": {**record, "audio": {**record["audio"],
                                                                                          "precision": 0.6}}}]})
    ma = next(r for r in rows if r["claim"].startswith("MA's removed labels"))
    assert ma["verdict"] == "partly holds" and "cross-attention" in claims.why(ma)
    assert "0.04 of the positives here" in ma["why"]  # the run's own chance, 40 / 1000
    assert "at most 0.05" in ma["published"]
    jomold = next(r for r in rows if r["claim"].startswith("JoMoLD's dropped labels"))
    assert jomold["verdict"] == "holds" and claims.why(jomold) == "" and "4.5%" in jomold["published"]
    rise = next(r for r in rows if r["claim"] == "MA label refinement improves HAN")
    assert rise["verdict"] == "does not hold" and claims.why(rise) == claims.NO_REASON


def test_the_audit_reproduces_each_runs_removals(tiny_data, tmp_path):
    out, runs = tmp_path / "audit.json", []
    for model, recipe in (("han", "ma"), ("han", "jomold"), ("mmt", "capc")):
        ctx = RecipeContext(LLPDataset(tiny_data), model, tmp_path / recipe, "paper", {"dim": 32, "ffn_dim": 32},
                            {"epochs": 2, "batch_size": 16}, terminal=False)
        runs.append(run_recipe(recipe, ctx).folder)
    proc = subprocess.run([sys.executable, str(BENCH / "refinement_audit.py"), "--data", str(tiny_data), "--run",
                           *map(str, runs), "--baseline", str(runs[0]), str(runs[0]), str(runs[0]), "--json",
                           str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for folder, audit in zip(runs, result["runs"], strict=True):
        ref = read_card(folder).metrics["refinement"]
        for m in ("audio", "visual"):  # the same removals the run recorded, class by class
            assert audit["quality"][m] == ref[m]
            assert sum(c["removed"] for c in audit["per_class"][m].values()) == ref[m]["removed"]
    ma = result["runs"][0]  # its own baseline here: every class's test F1 equals the baseline's
    positives = LLPDataset(tiny_data).split("train").labels.sum(0)
    for c, row in ma["classes"].items():
        for m in ("audio", "visual"):
            removed = ma["per_class"][m].get(c, {}).get("removed", 0)
            assert row[m]["removed_share"] == round(removed / max(1, float(positives[CLASSES.index(c)])), 3)
            assert row[m]["test_f1"] == row[m]["baseline_test_f1"]
    jomold = result["runs"][1]["jomold"]
    with np.load(runs[1] / "stages/ratios/noise_ratios.npz") as z:
        for m in ("audio", "visual"):  # the estimator rerun flags exactly what its ratios counted
            assert jomold[m]["estimator_flags"] == round(float((z[m] * positives).sum()))
    assert result["llp"]["ma_audio_precision_at_most"] < 0.06 and "LLP:" in proc.stdout
    assert result["llp"]["ma_removed_share"]["audio"]["Speech"] == round(1263 / 4988, 3)


def test_a_run_without_removals_or_a_missing_folder_gets_one_line(tiny_data, tiny_han, tmp_path):
    for run, words in ((tiny_han / "han", "removes no labels"), (tmp_path / "nope", "config.json")):
        proc = subprocess.run([sys.executable, str(BENCH / "refinement_audit.py"), "--data", str(tiny_data), "--run",
                               str(run)], capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and words in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
