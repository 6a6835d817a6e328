"""Budget "llp_steps": every registered recipe, in every stage and phase, runs LLP's optimiser steps on smaller data
(within half an epoch of that data per phase), the plan that `train` prints and the Train page shows is what the
recipe really trains, and the other budgets keep their rules."""

from __future__ import annotations

import pytest

from avvp_core.checkpoints import save_checkpoint
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.training.loop import FitResult, TrainConfig
from avvp_core.training.recipes import (
    LLP_TRAIN_VIDEOS,
    RECIPES,
    RecipeContext,
    apply_budget,
    budget_plan,
    format_plan,
    llp_steps_factor,
    run_recipe,
    schedule,
)

TINY_MODEL = {"dim": 16, "ffn_dim": 16}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("n_train", [60, 333, 2000])
def test_every_phase_gets_llps_steps(recipe, n_train):
    model = "mmt" if recipe == "capc" else "han"
    for row in budget_plan(model, recipe, n_train, budget="llp_steps"):
        llp, spe = row["llp"], row["steps_per_epoch"]
        assert row["batch_size"] == llp["batch_size"]  # the paper's batch, whatever the data size
        assert row["warmup_steps"].keys() == llp["warmup_steps"].keys()
        assert len(row["lr_drop_steps"]) == len(llp["lr_drop_steps"])  # as many LR phases as on LLP
        # the run, each LR phase and each warm-up: the nearest whole number of epochs of this data
        assert abs(row["total_steps"] - llp["total_steps"]) <= spe / 2, row["stage"]
        f = llp_steps_factor(row["batch_size"], n_train)
        step = row["lr_drop_steps"][0] if row["lr_drop_steps"] else None
        if step is not None:
            assert abs(step - llp["lr_drop_steps"][0]) <= spe / 2
            assert all(b - a == step for a, b in zip(row["lr_drop_steps"], row["lr_drop_steps"][1:], strict=False))
        for k, w in row["warmup_steps"].items():
            assert abs(w - llp["warmup_steps"][k]) <= spe / 2, k
        assert row["epochs"] == max(1, int(llp["epochs"] * f + 0.5))


def test_the_factor_is_whole_for_batch_16_on_mini_and_one_on_llp():
    assert llp_steps_factor(16, 2000) == 5.0
    han = budget_plan("han", "plain", 2000, budget="llp_steps")[0]
    assert (han["epochs"], han["total_steps"], han["lr_drop_steps"]) == (200, 25_000, [6_250, 12_500, 18_750])
    assert han["lr_drop_steps"] == han["llp"]["lr_drop_steps"] and han["total_steps"] == han["llp"]["total_steps"]
    for recipe in sorted(RECIPES):
        model = "mmt" if recipe == "capc" else "han"
        at_llp = budget_plan(model, recipe, LLP_TRAIN_VIDEOS, budget="llp_steps")
        assert at_llp == budget_plan(model, recipe, LLP_TRAIN_VIDEOS, budget="llp_steps")
        for row in at_llp:  # nothing changes on LLP itself
            assert {k: row[k] for k in row["llp"]} == row["llp"]


def test_other_budgets_and_user_values():
    paper = {"epochs": 40, "batch_size": 64, "lr_step": 10, "cms_start_epoch": 3}
    assert apply_budget({**paper, "budget": "epochs"}, 60) == {**paper, "budget": "epochs"}
    assert apply_budget({**paper, "budget": "llp_batch"}, 2000)["batch_size"] == 16  # the zoo before issue 19
    scaled = apply_budget({**paper, "budget": "llp_steps"}, 2000, keep={"epochs"})
    assert scaled["epochs"] == 40 and scaled["lr_step"] == 49 and scaled["cms_start_epoch"] == 11  # 2 x 4.9 + 1
    assert scaled["denoise_start_epoch"] == 6  # filled from TrainConfig's default (1 warm-up epoch -> 5)
    with pytest.raises(InputError, match="budget"):
        TrainConfig.from_dict({"budget": "steps"})
    # MA keeps its last epoch on LLP; stretched 5x over mini's videos it keeps its best val epoch (named deviation)
    assert apply_budget({"select_metric": "", "budget": "llp_steps"}, 2000)["select_metric"] == "val/segment/type"
    assert apply_budget({"select_metric": "", "budget": "llp_steps"}, LLP_TRAIN_VIDEOS)["select_metric"] == ""
    assert apply_budget({"select_metric": "", "budget": "epochs"}, 2000)["select_metric"] == ""
    assert apply_budget({"select_metric": "", "budget": "llp_steps"}, 2000, keep={"select_metric"})[
        "select_metric"] == ""
    ma = budget_plan("han", "ma", 2000, budget="llp_steps")
    assert [r["selection"] for r in ma] == ["val/segment/type"] * len(ma)
    assert {r["llp"]["selection"] for r in ma} == {"last"}
    assert "keeps the best val/segment/type epoch (LLP: the last)" in format_plan(ma)
    # CM-Co's rate at demo width (models/cmco.py demo_lr_scale): x4 in every recipe, the paper's at paper width
    for recipe in ("plain", "cms"):
        demo = budget_plan("cmco", recipe, 2000, budget="llp_steps", width="demo")
        assert [r["lr"] for r in demo] == [pytest.approx(2.8e-4)] * len(demo)
        assert {r["llp"]["lr"] for r in demo} == {7e-5}
        assert "learning rate 0.00028 (the paper's 7e-05)" in format_plan(demo)
        assert {r["lr"] for r in budget_plan("cmco", recipe, 2000, budget="llp_steps")} == {7e-5}
        assert {r["lr"] for r in budget_plan("cmco", recipe, 2000, {"lr": 1e-4}, "llp_steps", "demo")} == {1e-4}
    assert {r["lr"] for r in budget_plan("han", "ma", 2000, budget="llp_steps", width="demo")} == {3e-4}
    text = format_plan(budget_plan("han", "jomold", 2000, budget="llp_steps"))
    assert "estimator: 123 epochs x 16 steps (batch 128, 2,000 videos)" in text
    assert "denoise warm-up until step 80 (LLP 79)" in text


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_plan_is_what_the_recipe_trains(recipe, tiny_data, tmp_path, monkeypatch):
    """Each recipe run for real on tiny data, with `fit` recording the configuration of every stage it trains (and
    writing an untrained checkpoint so the recipe's next stages run): the plan lists the same stages and
    schedules."""
    seen: list[tuple[str, TrainConfig]] = []

    def dry_fit(self, out, model, cfg, recipe, target_fn=None, loss_fn=None, after_backward=None, **card_extra):
        seen.append((out.name, cfg))
        save_checkpoint(out, model, {"recipe": recipe}, {"complete": True})
        return FitResult(out, {"complete": True})

    monkeypatch.setattr(RecipeContext, "fit", dry_fit)
    data = LLPDataset(tiny_data)
    model = {"capc": "mmt", "cms": "cmco"}.get(recipe, "han")  # cmco: its demo-width learning rate
    ctx = RecipeContext(data, model, tmp_path / "run", "demo", dict(TINY_MODEL), {}, terminal=False,
                        budget="llp_steps")
    run_recipe(recipe, ctx)
    plan = budget_plan(model, recipe, len(data.split("train")), budget="llp_steps", width="demo")
    assert len(seen) == len(plan)
    for (_, cfg), row in zip(seen, plan, strict=True):
        assert cfg.budget == "llp_steps"
        got = schedule(cfg, len(data.split("train")), row["stage"])
        assert got == {k: row[k] for k in got}, row["stage"]
        assert (cfg.select_metric or "last") == row["selection"] and cfg.lr == row["lr"]
        assert cfg.epochs > 1000  # tiny data: LLP's steps are thousands of its epochs
