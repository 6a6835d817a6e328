"""Issue 19's mends, each with its old behaviour kept as a named option: JoMoLD's NCE before the head dropout,
CM-PIE's residual aggregation, one demo width, the messenger claim after CAPC; and the shipped zoo, trained with
them, whose cards replay exactly the options they were trained with."""

from __future__ import annotations

import json

import pytest
import torch

from avvp_core import claims
from avvp_core.checkpoints import load_checkpoint
from avvp_core.data import LLPDataset
from avvp_core.models import create_model, list_models, resolve_config
from avvp_core.paths import CHECKPOINTS_DIR
from avvp_core.training.loop import TrainConfig, base_losses
from avvp_core.training.losses import segment_contrastive
from avvp_core.training.recipes import RecipeContext
from avvp_core.zoo import ENTRIES, shipped, shipped_options
from tests.conftest import make_batch

NARROW = {"dim": 16, "ffn_dim": 16}


def test_jomold_nce_reads_the_visual_features_before_the_head_dropout():
    torch.manual_seed(0)
    model = create_model("han", "paper", **NARROW, visual_head_dropout=0.5).train()
    batch = make_batch(batch=4)
    torch.manual_seed(1)
    out = model(batch)
    f = out.features
    assert not torch.equal(f["visual_pre_dropout"], f["visual"])  # dropout is on in training
    pre = base_losses(model, out, batch, TrainConfig(nce_weight=1.0))["nce"]
    post = base_losses(model, out, batch, TrainConfig(nce_weight=1.0, nce_visual="post_dropout"))["nce"]
    torch.testing.assert_close(pre, segment_contrastive(f["audio"], f["visual_pre_dropout"], nce=True))
    torch.testing.assert_close(post, segment_contrastive(f["audio"], f["visual"], nce=True))
    assert not torch.isclose(pre, post)
    model.eval()
    out = model(batch)  # no dropout at evaluation: the two readings are the same features
    torch.testing.assert_close(out.features["visual_pre_dropout"], out.features["visual"])


def test_cmpie_aggregates_with_a_residual_by_default_and_keeps_the_literal_reading():
    assert resolve_config("cmpie")["cma_residual"] is True
    torch.manual_seed(0)
    with_res = create_model("cmpie", "paper", **NARROW).eval()
    literal = create_model("cmpie", "paper", **NARROW, cma_residual=False).eval()
    literal.load_state_dict(with_res.state_dict())  # same parameters: the residual is not a module
    batch = make_batch(batch=2)
    q = with_res.project(batch.audio, batch.video_2d, batch.video_3d)[0]
    a = with_res.cma["audio"](q, q, q)[0]
    b = literal.cma["audio"](q, q, q)[0]
    torch.testing.assert_close(a - b, q)  # the query added back
    shipped_cmpie = json.loads((CHECKPOINTS_DIR / "cmpie" / "config.json").read_text())
    assert shipped_cmpie["model_config"]["cma_residual"] is True  # the zoo is trained with the mend; loads so


def test_every_model_has_one_demo_width():
    widths = {name: resolve_config(name, "demo").get("dim") for name in list_models()}
    assert set(widths.values()) == {128}, widths


def test_messengers_are_compared_after_capc():
    claim = next(c for c in claims.CLAIMS if c.text.startswith("Messengers"))
    assert (claim.candidate, claim.baseline) == ("mmt-capc", "mmt-nomsg-capc")
    entry = ENTRIES["mmt-nomsg-capc"]
    assert (entry.model, entry.recipe) == ("mmt_nomsg", "capc")
    rows = claims.check({}, {"mmt-capc": {"model": "mmt", "recipe": "capc"},
                             "mmt-nomsg-capc": {"model": "mmt_nomsg", "recipe": "capc"}})
    assert next(r for r in rows if r["claim"] == claim.text)["verdict"] == "not measured"
    assert claims.side_by_side(rows, None)[0]["verdict"] == claims.NOT_YET


@pytest.mark.parametrize("folder", shipped(CHECKPOINTS_DIR), ids=lambda f: f.name)
def test_shipped_cards_replay_the_options_they_were_trained_with(folder, tiny_data):
    """`zoo --as-shipped`: the card's own options give back its training configuration exactly, and its model config
    builds and loads its weights. The shipped zoo is the mended one (issue 19): budget llp_steps, DGM's noise read
    as OGM-GE, JoMoLD's NCE before the dropout, MSDU's heads detached."""
    entry = ENTRIES[folder.name]
    model_options, train_options = shipped_options(CHECKPOINTS_DIR, entry)
    card = json.loads((folder / "config.json").read_text())
    assert train_options["budget"] == "llp_steps" and train_options["dgm_noise_reading"] == "ogm_ge"
    assert train_options["nce_visual"] == "pre_dropout"
    if card["model"] == "msdu":
        assert model_options["msdu_detach"] is True
    ctx = RecipeContext(LLPDataset(tiny_data), entry.model, folder, "demo", model_options,
                        {**train_options, "device": "cpu"}, budget="llp_steps")
    cfg = ctx.train_config()
    recorded = dict(card["train"])
    assert {k: getattr(cfg, k) for k in recorded} == recorded
    model, _ = load_checkpoint(folder)
    assert model.config == {**resolve_config(entry.model, "demo"), **model_options}
