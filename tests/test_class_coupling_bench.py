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
from tests.conftest import BENCH, LLP_ANNOTATIONS, bench_script


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
    assert set(res) >= {"aa", "av", "va", "vv", "kind_coupling"}
    assert "with two classes or more" in done.stdout
    # tiny's 40 videos hold no class pair in 30 of them: said in one line, not a figure of nothing
    assert res["kind_coupling"]["divergence"] is None and res["kind_coupling"]["class_pairs"] == 0
    assert "kind coupling: no class pair in 30 videos or more" in done.stdout


def _kinds_truth(kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, C) audio and visual truth whose events have the (N, C) kinds (0 heard only, 1 seen only, 2 both, -1
    absent), each over all ten segments."""
    audio = np.repeat(np.isin(kinds, (0, 2))[:, None, :], 10, axis=1)
    visual = np.repeat(np.isin(kinds, (1, 2))[:, None, :], 10, axis=1)
    return audio, visual


def test_kind_coupling_finds_a_planted_dependence_and_not_a_shuffled_one():
    from avvp_core.data.stats import event_kinds, kind_coupling, label_set_kinds

    rng = np.random.default_rng(0)
    n = 400
    kinds = np.full((n, 25), -1, np.int8)
    kinds[:, 0] = rng.choice(3, n)  # class 0 in every video, its kind drawn at random
    partner = rng.random(n) < 0.5  # class 1 or class 2 beside it
    kinds[partner, 1], kinds[~partner, 2] = 2, 2
    audio, visual = _kinds_truth(kinds)
    assert (event_kinds(audio, visual) == kinds).all()
    independent = kind_coupling(audio, visual, permutations=50)
    assert independent["class_pairs"] == 4  # (0, 1), (0, 2), (1, 0), (2, 0); 1 and 2 never meet
    assert independent["p"] > 0.05 and abs(independent["excess"]) < 0.01
    # planted: class 0 is heard only beside class 1 and seen only beside class 2, on 300 of the videos
    planted = kinds.copy()
    planted[:300, 0] = np.where(partner[:300], 0, 1)
    coupled = kind_coupling(*_kinds_truth(planted), permutations=50)
    assert coupled["p"] == 0.0 and coupled["excess"] > 0.1  # pairs (1, 0) and (2, 0) add weight, no divergence
    top = coupled["pairs"][0]
    assert top["class"] == CLASSES[0] and top["given"] in (CLASSES[1], CLASSES[2])
    assert sum(top["kinds_given"].values()) == pytest.approx(1, abs=2e-3)
    assert coupled == kind_coupling(*_kinds_truth(planted), permutations=50)  # the shuffles are seeded
    alone = kind_coupling(*_kinds_truth(planted), permutations=0)  # the observed figure only: no NaN in the JSON
    assert alone["divergence"] == coupled["divergence"] and alone["p"] is alone["excess"] is None
    json.dumps(alone, allow_nan=False)
    # what the generator's kind_coupling knob draws from: per label set, how many videos hold each pattern of kinds
    patterns = label_set_kinds(*_kinds_truth(planted))
    pair = f"{CLASSES[0]},{CLASSES[1]}"
    assert set(patterns) == {pair, f"{CLASSES[0]},{CLASSES[2]}"}
    heard_only = int((partner & (planted[:, 0] == 0)).sum())  # 300 planted, the rest drawn at random
    assert patterns[pair]["audio_only,both"] == heard_only > int(partner[:300].sum())
    assert sum(patterns[pair].values()) == int(partner.sum())


@pytest.mark.skipif(not (LLP_ANNOTATIONS / "AVVP_eval_audio.csv").is_file(), reason="needs the real LLP CSVs")
def test_on_llp_an_events_kind_depends_on_the_other_classes():
    """On LLP's dense truth (val + test) the kind coupling stands well above its shuffles (bench/RESULTS.md)."""
    mod = _module()
    res = mod.kind_coupling(*mod.dense_truth(LLP_ANNOTATIONS), permutations=20)
    assert res["divergence"] == pytest.approx(0.02757, abs=1e-5)
    assert res["p"] == 0.0 and res["excess"] > 0.015
    speech = {r["given"]: r["kinds_given"]["both"] for r in res["pairs"] if r["class"] == "Speech"}
    assert speech["Violin_fiddle"] > 0.4 > 0.15 > speech["Dog"]  # seen beside a violin, heard only beside a dog


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
