"""Label refinement (MA, JoMoLD): the decision rules on hand-made cases, then both recipes end to end on SynthLLP
`tiny` with a narrow HAN (seconds): stage folders, removal precision / recall against the oracle train truth
(measured only, never trained on), determinism and resumability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avvp_core.checkpoints import read_card
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.training.recipes import RECIPES, RecipeContext, run_recipe
from avvp_core.training.refinement import (
    jomold_drops,
    jomold_noise_ratios,
    ma_partners,
    ma_removals,
    ma_store_spec,
    ma_thresholds,
    read_store,
    removal_quality,
)

NARROW = {"dim": 32, "ffn_dim": 32}
FAST = {"epochs": 2, "batch_size": 16}


def _ctx(data: Path, out: Path, **train) -> RecipeContext:
    return RecipeContext(LLPDataset(data), "han", out, "paper", dict(NARROW), {**FAST, **train}, terminal=False)


# --- pure rules ------------------------------------------------------------------------------------------------
def test_recipes_are_registered():
    assert {"plain", "ma", "jomold"} <= set(RECIPES)


@pytest.mark.parametrize("first", ["refinement", "cmco_recipe", "mmt_recipe", "dgm_recipe", "recipes"])
def test_any_training_module_imports_first_and_every_recipe_registers(first):
    # a fresh interpreter: in this one the modules are long imported. `import ...refinement` first used to fail
    # (circular import through the recipe registry).
    import subprocess
    import sys

    code = (f"import avvp_core.training.{first}\n"
            "from avvp_core.training.recipes import RECIPES\n"
            "print(' '.join(sorted(RECIPES)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {"plain", "ma", "jomold", "cms", "capc", "dgm"} <= set(proc.stdout.split())


def test_ma_thresholds_normalise_the_error():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], float)
    a_prob = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.9], [0.1, 0.6]])  # class 0: 1 error, class 1: 1 error
    v_prob = np.array([[0.9, 0.1], [0.2, 0.8], [0.9, 0.9], [0.6, 0.6]])  # class 0: 1 error, class 1: 1 error
    r_a, r_v = ma_thresholds(labels, a_prob, v_prob)
    np.testing.assert_allclose(r_a, [1.0, 1.0])
    v_prob[0, 1] = 0.7  # a second visual error on class 1
    r_a, r_v = ma_thresholds(labels, a_prob, v_prob)
    np.testing.assert_allclose(r_v, [0.5, 1.0])
    r_a, _ = ma_thresholds(labels, labels, labels)  # no error anywhere: nothing can be removed
    np.testing.assert_array_equal(r_a, [0.0, 0.0])


def test_ma_removal_rule():
    labels = np.array([[1, 1], [1, 0], [0, 1]], float)
    r_a, r_v = np.array([1.0, 0.5]), np.array([0.8, 1.0])  # thresholds 0.5 r: audio 0.5 / 0.25, visual 0.4 / 0.5
    # (own audio, partner visual) -> a_v, v_v ; (partner audio, own visual) -> a_a, v_a
    a_v = np.array([[0.6, 0.2], [0.3, 0.0], [0.0, 0.1]])
    v_v = np.array([[0.1, 0.2], [0.4, 0.0], [0.0, 0.1]])
    a_a = np.array([[0.3, 0.6], [0.1, 0.0], [0.0, 0.4]])
    v_a = np.array([[0.1, 0.1], [0.5, 0.0], [0.0, 0.3]])
    audio, visual = ma_removals(labels, a_v, v_v, a_a, v_a, r_a, r_v)
    # video 0: class 0 visual gone (0.1, 0.3 < 0.4), audio kept (a_v 0.6); class 1 audio gone (0.2, 0.2 < 0.25)
    # video 1: class 0 audio gone (0.3, 0.4 < 0.5), visual kept (v_a 0.5 >= 0.4)
    # video 2: class 1 visual gone (0.3, 0.4 < 0.5) and audio gone (0.1, 0.1 < 0.25); negatives never touched
    np.testing.assert_array_equal(audio, [[False, True], [True, False], [False, True]])
    np.testing.assert_array_equal(visual, [[True, False], [False, False], [False, True]])
    # strict "<": a probability exactly at the threshold keeps the label
    a2, _ = ma_removals(labels, np.full((3, 2), 0.5), np.full((3, 2), 0.5), a_a, v_a, np.ones(2), r_v)
    assert not a2.any()


def test_ma_partners_share_no_class_and_are_seeded():
    rng = np.random.default_rng(0)
    labels = (rng.random((40, 25)) < 0.1).astype(float)
    a = ma_partners(labels, np.random.default_rng(3))
    b = ma_partners(labels, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert (a >= 0).all() and ((labels * labels[a]).sum(1) == 0).all()
    everyone = np.ones((5, 3))  # every pair shares a class: no partner
    assert (ma_partners(everyone, np.random.default_rng(0)) == -1).all()


def test_jomold_selection_rule():
    labels = torch.tensor([[1, 1], [1, 1], [1, 1], [1, 0], [0, 0], [0, 0]], dtype=torch.float32)
    loss_a = torch.tensor([[0.1, 0.5], [0.2, 0.1], [0.9, 0.7], [0.8, 0.0], [0.0, 0.0], [0.0, 0.0]])
    loss_v = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.2, 9.0], [5.0, 9.0], [5.0, 9.0]])
    # class 0: 4 positives, ratios 0.5 -> k = 2. Visual: 2 smallest audio {0, 1} & 2 largest visual {0, 2} -> {0}.
    # Audio: 2 largest audio {2, 3} & 2 smallest visual {1, 3} -> {3}. Negatives (rows 4, 5) never count.
    # class 1: 3 positives; visual ratio 0.34 -> k = int(1.02) = 1: smallest audio {1} & largest visual {1} -> {1};
    # audio ratio 0.3 -> k = int(0.9) = 0: nothing.
    drop_a, drop_v = jomold_drops(labels, loss_a, loss_v, np.array([0.5, 0.3]), np.array([0.5, 0.34]))
    assert drop_v.tolist() == [[True, False], [False, True], [False, False], [False, False], [False, False],
                               [False, False]]
    assert drop_a.tolist() == [[False, False], [False, False], [False, False], [True, False], [False, False],
                               [False, False]]
    none_a, none_v = jomold_drops(labels, loss_a, loss_v, np.zeros(2), np.zeros(2))
    assert not none_a.any() and not none_v.any()


def test_jomold_noise_ratios():
    labels = np.array([[1, 0], [1, 1], [1, 1], [0, 1]], float)
    a_prob = np.array([[0.1, 0.0], [0.5, 0.5], [0.5, 0.1], [0.0, 0.5]])
    v_prob = np.array([[0.5, 0.0], [0.1, 0.9], [0.5, 0.9], [0.0, 0.1]])
    m = np.array([0.5, 0.5])
    ratio_a, ratio_v = jomold_noise_ratios(labels, a_prob, v_prob, m, m)
    # audio: a / 0.5 < 0.6 <=> a < 0.3; visual: 0.95 v / 0.5 < 1.8 <=> v < 0.947...
    np.testing.assert_allclose(ratio_a, [1 / 3, 1 / 3])
    np.testing.assert_allclose(ratio_v, [1.0, 1.0])
    _, ratio_v = jomold_noise_ratios(labels, a_prob, v_prob, m, np.array([0.1, 0.1]))
    np.testing.assert_allclose(ratio_v, [1 / 3, 1 / 3])  # 0.95 v / 0.1 < 1.8 <=> v < 0.189


def test_removal_quality():
    labels = np.array([[1, 1], [1, 0]], float)
    truth_a = np.zeros((2, 10, 2), np.uint8)
    truth_a[0, :3, 0] = 1  # video 0: class 0 audible, class 1 not; video 1: class 0 not audible
    removed = np.array([[True, True], [False, False]])
    q = removal_quality(labels, {"audio": removed, "visual": np.zeros((2, 2), bool)},
                        {"audio": truth_a, "visual": np.ones((2, 10, 2), np.uint8)})
    assert q["audio"] == {"removed": 2, "precision": 0.5, "recall": 0.5, "truly_absent": 2, "positives": 3}
    assert q["visual"] == {"removed": 0, "precision": None, "recall": None, "truly_absent": 0, "positives": 3}


# --- end to end ------------------------------------------------------------------------------------------------
def _check_quality(refinement: dict) -> None:
    for m in ("audio", "visual"):
        r = refinement[m]
        assert r["removed"] >= 0
        for key in ("precision", "recall"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
    assert any(refinement[m]["precision"] is not None for m in ("audio", "visual"))


def test_ma_end_to_end(tiny_data, tmp_path):
    ctx = _ctx(tiny_data, tmp_path / "ma")
    result = run_recipe("ma", ctx)
    card = read_card(result.folder)
    assert card.config["recipe"] == "ma" and card.gating == "modality"
    assert card.config["train"]["contrastive_weight"] == 1.0 and card.config["train"]["select_metric"] == ""
    assert card.metrics["complete"] and len(card.metrics["test"]) == 10
    base = read_card(result.folder / "stages" / "base")
    assert base.metrics["complete"] and base.config["stage"] == "base"
    labels = result.folder / "stages" / "labels"
    with np.load(labels / "labels.npz") as z:
        assert z["audio_remove"].shape == z["visual_remove"].shape == (60, 25)
        assert z["audio_remove"].dtype == bool
        summary = json.loads((labels / "labels.json").read_text())
        assert summary["audio"]["removed"] == int(z["audio_remove"].sum())
        weak = ctx.feeder("train").labels.numpy() > 0.5
        assert not (z["visual_remove"] & ~weak).any()  # only positive labels are ever removed
    _check_quality(card.config["refinement"])
    assert card.metrics["refinement"] == card.config["refinement"]
    # the training data never held train truth
    assert ctx.data.oracle is False and ctx.feeder("train").split.gt_audio is None
    # resumable: a second call finds every stage done and changes nothing
    stamp = (labels / "labels.npz").stat().st_mtime_ns
    again = run_recipe("ma", _ctx(tiny_data, tmp_path / "ma"))
    assert again.metrics["test"] == result.metrics["test"]
    assert (labels / "labels.npz").stat().st_mtime_ns == stamp


def test_ma_is_deterministic(tiny_data, tmp_path):
    a = run_recipe("ma", _ctx(tiny_data, tmp_path / "a", epochs=1))
    b = run_recipe("ma", _ctx(tiny_data, tmp_path / "b", epochs=1))
    with np.load(a.folder / "stages/labels/labels.npz") as za, np.load(b.folder / "stages/labels/labels.npz") as zb:
        for key in ("audio_remove", "visual_remove", "partner"):
            np.testing.assert_array_equal(za[key], zb[key])
    assert a.metrics["test"] == b.metrics["test"]


def test_jomold_end_to_end(tiny_data, tmp_path):
    ctx = _ctx(tiny_data, tmp_path / "jm")
    result = run_recipe("jomold", ctx)
    card = read_card(result.folder)
    assert card.config["recipe"] == "jomold" and card.gating == "modality"
    assert card.config["model_config"]["visual_head_dropout"] == 0.5
    assert card.config["train"]["nce_weight"] == 1.0
    estimator = read_card(result.folder / "stages" / "estimator")
    assert estimator.metrics["complete"] and estimator.config["forward"] == {"use_cross": False}
    assert estimator.config["model_config"]["visual_head_dropout"] == 0.5
    with np.load(result.folder / "stages/ratios/noise_ratios.npz") as z:
        assert z["audio"].shape == z["visual"].shape == (25,)
        assert ((z["audio"] >= 0) & (z["audio"] <= 1)).all() and ((z["visual"] >= 0) & (z["visual"] <= 1)).all()
    assert "loss/audio_extra" in card.log()[0]
    ref = card.metrics["refinement"]
    _check_quality(ref)
    assert [e["epoch"] for e in ref["per_epoch"]] == [1, 2]
    assert ref["per_epoch"][0]["audio"]["removed"] == ref["per_epoch"][0]["visual"]["removed"] == 0  # warm-up
    assert ref["measured"] == "last epoch (2)" and ref["visual"] == ref["per_epoch"][1]["visual"]
    assert ctx.feeder("train").split.gt_audio is None
    # determinism: same seed, same drops
    again = run_recipe("jomold", _ctx(tiny_data, tmp_path / "jm2"))
    assert again.metrics["refinement"]["per_epoch"] == ref["per_epoch"]
    assert again.metrics["test"] == result.metrics["test"]


def test_refinement_refuses_oracle_data(tiny_data, tmp_path):
    ctx = RecipeContext(LLPDataset(tiny_data, oracle=True), "han", tmp_path / "x", "paper", dict(NARROW), dict(FAST),
                        terminal=False)
    for recipe in ("ma", "jomold"):
        with pytest.raises(InputError):
            run_recipe(recipe, ctx)


# --- stage stores read back (resume; labels.npz copied from another run) -----------------------------------------
def _labels_store(path: Path, videos: int = 4, **over) -> Path:
    arrays = {"audio_remove": np.zeros((videos, 25), bool), "visual_remove": np.zeros((videos, 25), bool),
              "partner": np.arange(videos), "r_audio": np.zeros(25), "r_visual": np.zeros(25), **over}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("over, problem", [
    ({"audio_remove": np.zeros((60, 25), bool)}, "`audio_remove` has shape (60, 25), this data needs (4, 25)"),
    ({"visual_remove": np.zeros((4, 25), np.float32)}, "`visual_remove` holds float32, expected bool"),
    ({"r_audio": None}, "lacks r_audio"),
    ({"r_visual": np.full(25, np.nan)}, "`r_visual` holds NaN or Inf"),
    ({"partner": np.array([None] * 4, dtype=object)}, "pickled Python objects"),
])
def test_a_bad_labels_store_is_one_line_naming_the_file(tmp_path, over, problem):
    path = _labels_store(tmp_path / "labels.npz", **over)
    with pytest.raises(InputError) as info:
        read_store(path, ma_store_spec(4, 25))
    message = str(info.value)
    assert problem in message and str(path) in message and "\n" not in message


def test_a_damaged_store_and_a_forged_epoch_count_are_one_line(tmp_path):
    path = _labels_store(tmp_path / "labels.npz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="not a readable .npz"):
        read_store(path, ma_store_spec(4, 25))
    drops = tmp_path / "drops.npz"
    np.savez(drops, epochs=np.arange(3), audio=np.zeros((3, 4, 25), bool), visual=np.zeros((3, 4, 25), bool))
    spec = {"epochs": ((None,), "i"), "audio": ((None, 4, 25), "b"), "visual": ((None, 4, 25), "b")}
    assert read_store(drops, spec, most=3)["audio"].shape == (3, 4, 25)
    with pytest.raises(InputError, match=r"this data needs \(at most 2\)"):  # more epochs than the stage has
        read_store(drops, spec, most=2)


def test_ma_with_labels_copied_from_other_data_is_refused_in_one_line(tiny_data, tmp_path):
    labels = tmp_path / "ma" / "stages" / "labels"
    labels.mkdir(parents=True)
    _labels_store(labels / "labels.npz", videos=2000)  # e.g. an MA run's labels from SynthLLP mini
    ctx = _ctx(tiny_data, tmp_path / "ma", epochs=1)
    with pytest.raises(InputError, match=r"`audio_remove` has shape \(2000, 25\), this data needs \(60, 25\)"):
        run_recipe("ma", ctx)
