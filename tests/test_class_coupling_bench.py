"""bench/class_coupling.py: the lift of two classes' extents on hand-made truth, then the whole script on SynthLLP
`tiny` (seconds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from avvp_core.constants import CLASSES
from tests.conftest import BENCH, bench_script


def _module():
    return bench_script("class_coupling")


def test_turn_taking_and_coinciding_classes_have_their_lifts():
    mod = _module()
    audio = np.zeros((4, 10, 25), bool)
    visual = np.zeros((4, 10, 25), bool)
    audio[0, :5, 0], visual[0, 5:, 1] = True, True  # video 0: class 0 heard, then class 1 seen: they take turns
    audio[1, :5, 0], visual[1, :5, 1] = True, True  # video 1: both in the same five segments
    audio[2, :, 0], visual[2, 3:5, 1] = True, True  # video 2: class 0 heard throughout: lift 1 whatever class 1 does
    audio[3, :, 0] = visual[3, :, 0] = True  # video 3: one class only, left out
    res = mod.coupling(audio, visual, min_pairs=1)
    assert res["multi_class_videos"] == 3
    av = res["av"]
    # pairs (class 0 heard, class 1 seen): |x & y| = 0, 5, 2 against |x| |y| / 10 = 2.5, 2.5, 2
    assert av["pairs"] == 3
    assert av["lift"] == 1.0  # (0 + 5 + 2) / (2.5 + 2.5 + 2)
    assert av["overlap"] == pytest.approx(2 / 3, abs=1e-4)
    assert av["per_class_pair"] == [{"first": CLASSES[0], "second": CLASSES[1], "pairs": 3, "lift": 1.0,
                                     "apart": round(1 / 3, 4)}]
    assert av["mean_abs_log_lift"] == 0.0
    # without video 1 they take turns: lift (0 + 2) / (2.5 + 2)
    res = mod.coupling(audio[[0, 2]], visual[[0, 2]], min_pairs=1)
    assert res["av"]["lift"] == pytest.approx(round(2 / 4.5, 4))
    assert res["av"]["mean_abs_log_lift"] == pytest.approx(round(abs(math.log(2 / 4.5)), 4))
    assert res["va"]["lift"] == res["av"]["lift"]  # (class 1 seen, class 0 heard): the same pairs, mirrored
    assert res["vv"]["pairs"] == 0 and res["vv"]["lift"] is None  # class 0 is never seen there
    # a class pair that never shares a segment is counted apart, not averaged as an infinite |log lift|
    apart = mod.coupling(audio[[0, 3]], visual[[0, 3]], min_pairs=1)["av"]
    assert apart["lift"] == 0.0 and apart["class_pairs_apart"] == 1 and apart["mean_abs_log_lift"] is None
    mod._report("hand-made", mod.coupling(audio[[0, 3]], visual[[0, 3]], min_pairs=1), top=3)  # no log(0) there
    # a class pair below min_pairs counts in the pooled figures, not in the per-pair list
    res = mod.coupling(audio, visual, min_pairs=4)
    assert res["av"]["pairs"] == 3 and res["av"]["per_class_pair"] == [] and res["av"]["mean_abs_log_lift"] is None


def test_the_script_on_tiny(tiny_data, tmp_path):
    out = tmp_path / "coupling.json"
    done = subprocess.run([sys.executable, str(BENCH / "class_coupling.py"), "--data", str(tiny_data), "--json",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    res = json.loads(out.read_text())[str(tiny_data)]
    assert res["videos"] == 40  # val + test of tiny
    assert 0 < res["multi_class_videos"] <= 40
    assert set(res) >= {"aa", "av", "va", "vv"}
    assert "with two classes or more" in done.stdout


def test_turn_taking_pairs_are_listed_once_with_their_share_apart():
    from avvp_core.data.stats import class_coupling, turn_taking_pairs

    audio = np.zeros((3, 10, 25), bool)
    visual = np.zeros((3, 10, 25), bool)
    for n in range(3):  # class 0 heard early, class 1 seen late: apart in every video
        audio[n, :4, 0], visual[n, 6:, 1] = True, True
    audio[2, :, 1] = True  # and class 1 heard throughout in one of them: (0 heard, 1 heard) meet there
    res = class_coupling(audio, visual, min_pairs=1)
    assert res["av"]["per_class_pair"][0]["apart"] == 1.0
    listed = turn_taking_pairs(res)
    # (0 heard, 1 seen) once, not again as (1 seen, 0 heard); (0 heard, 1 heard) has lift 1 and is not listed
    assert listed == [{"first": CLASSES[0], "first_modality": "audio", "second": CLASSES[1],
                       "second_modality": "visual", "videos": 3, "lift": 0.0, "apart": 1.0}]


def test_the_turn_taking_sweep_brings_llps_pairs_nearer(tmp_path):
    out = tmp_path / "sweep.json"
    done = subprocess.run([sys.executable, str(BENCH / "class_coupling.py"), "--turn-taking", "0", "1", "--videos",
                           "3000", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sweep = json.loads(out.read_text())["turn_taking_sweep"]
    off, on = sweep["strengths"]["0.0"], sweep["strengths"]["1.0"]
    assert len(sweep["llp"]) == 17 and len(off["pairs"]) >= 10
    assert on["mean_abs_apart_gap"] < 0.5 * off["mean_abs_apart_gap"]
    assert on["mean_abs_lift_gap"] < off["mean_abs_lift_gap"]
    assert "Speech v / Singing v" in done.stdout
    bare = subprocess.run([sys.executable, str(BENCH / "class_coupling.py")], capture_output=True, text=True,
                          timeout=60)
    assert bare.returncode == 2 and "--data folders, --turn-taking strengths" in bare.stderr
