"""The shipped zoo is honest: regenerate SynthLLP mini from its seed, load every checkpoint in checkpoints/, and get
the card's figures back (within 0.1 point) on data with the card's fingerprint."""

from __future__ import annotations

import json

import pytest

from avvp_core.checkpoints import LOG, load_checkpoint
from avvp_core.claims import RISE_VERDICTS
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.data.synthetic import GENERATOR_VERSION, generate_and_cache
from avvp_core.evaluation import evaluate
from avvp_core.paths import CHECKPOINTS_DIR
from avvp_core.zoo import ENTRIES, ZOO_FILE, render_readme, shipped

MAX_ZOO_BYTES = 30 * 1024 * 1024
# One worker regenerates mini for the module (about 15 s) instead of each worker that draws one of its tests.
pytestmark = pytest.mark.xdist_group("zoo")


@pytest.fixture(scope="module")
def index() -> dict:
    path = CHECKPOINTS_DIR / ZOO_FILE
    assert path.is_file(), f"{path} missing: the zoo ships with the repository (python -m avvp_core zoo)"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def mini(tmp_path_factory, index) -> LLPDataset:
    # The zoo may come from an older generator version whose mini features the current one writes byte for byte
    # (1.4 changed full only); the fingerprint check below is what says the zoo is current.
    synth = index["data"]["synth"]
    root = generate_and_cache(tmp_path_factory.mktemp("zoo") / "mini", preset=synth["preset"], seed=synth["seed"])
    return LLPDataset(root)


def test_zoo_lists_every_entry_and_fits_the_size_budget(index):
    assert set(index["entries"]) == set(ENTRIES)  # a new entry ships with the zoo's next training
    folders = shipped(CHECKPOINTS_DIR)
    assert len(folders) == len(index["entries"])
    size = sum(f.stat().st_size for folder in folders for f in folder.rglob("*") if f.is_file())
    assert size <= MAX_ZOO_BYTES, f"zoo is {size / 2**20:.1f} MiB"


def test_every_shipped_checkpoint_reproduces_its_card(mini, index):
    fingerprint = mini.fingerprint()
    assert index["data"]["fingerprint"] == fingerprint, (
        f"zoo trained on other features (generator {index['data']['synth']['generator_version']}, now "
        f"{GENERATOR_VERSION}): retrain it with python -m avvp_core zoo")
    for folder in shipped(CHECKPOINTS_DIR):
        model, card = load_checkpoint(folder)
        assert card.config["data"]["fingerprint"] == fingerprint, folder.name
        assert card.config["width"] == "demo" and card.config["zoo"]["train_seconds"] > 0
        assert (folder / LOG).is_file() and card.log(), f"{folder.name}: no training log"
        for split in ("val", "test"):
            got = evaluate(model, mini.split(split), card.gating).summary
            for key in METRIC_KEYS:
                assert abs(got[key] - card.metrics[split][key]) <= 0.1, (folder.name, split, key)
        assert index["entries"][folder.name]["test"] == card.metrics["test"]


def test_the_shipped_mgn_is_flagged_on_timelines_and_han_is_not(mini):
    """MGN's official segment head gives its video-level probability at every second: on the default data each of its
    detections spans the whole clip, and the Timelines page says so; HAN localises and gets no such line."""
    from avvp_core.analysis.timeline import constant_over_time_note
    from avvp_core.evaluation import predict

    split = mini.split("test")
    notes = {}
    for name in ("mgn", "han"):
        model, card = load_checkpoint(CHECKPOINTS_DIR / name)
        notes[name] = constant_over_time_note(name, predict(model, split), card.gating, split)
    assert notes["mgn"] is not None and "spans the whole 10 s (100% of its" in notes["mgn"]
    assert notes["han"] is None


def test_zoo_readme_is_the_one_the_zoo_writes(index):
    readme = (CHECKPOINTS_DIR / "README.md").read_text()
    assert readme == render_readme(CHECKPOINTS_DIR), "checkpoints/README.md is stale: rerun the zoo export"
    for name in index["entries"]:
        assert f"| {name} |" in readme


def test_export_and_home_claims_on_tiny_data(tiny_data, tmp_path, monkeypatch):
    """The export path on tiny data: float16 kept only within tolerance, figures of what ships, README and the
    Home page's claims table (the zoo matches the data in use)."""
    from streamlit.testing.v1 import AppTest

    import avvp_core.paths
    from avvp_core.fileio import write_json
    from avvp_core.training.recipes import RecipeContext, run_recipe
    from avvp_core.zoo import export

    data = LLPDataset(tiny_data)
    zoo = tmp_path / "zoo"
    rows = {}
    for name in ("han", "mgn", "msdu-jomold", "msdu-jomold-dgm"):
        entry = ENTRIES[name]
        trained = tmp_path / "work" / name
        run_recipe(entry.recipe, RecipeContext(data, entry.model, trained, "demo", {}, {"epochs": 1}, terminal=False))
        rows[name] = export(entry, trained, data, zoo, 1.0)
        card = load_checkpoint(zoo / name)[1]
        assert card.config["weights_dtype"] == rows[name]["weights_dtype"]
        assert card.metrics["test"] == rows[name]["test"] and "float32" in card.metrics
        if rows[name]["weights_dtype"] == "float16":
            assert card.config["zoo"]["float16_max_delta"] <= 0.1
    shipped_bytes = (zoo / "han" / "model.pt").read_bytes()
    export(ENTRIES["han"], tmp_path / "work" / "han", data, zoo, 1.0)  # a re-export of unchanged weights
    assert (zoo / "han" / "model.pt").read_bytes() == shipped_bytes
    write_json(zoo / ZOO_FILE, {"entries": rows, "data": {"fingerprint": data.fingerprint(), "synth": data.synth_meta}})
    readme = render_readme(zoo)
    assert "| han | han | plain |" in readme and "MGN beats HAN" in readme

    monkeypatch.setattr(avvp_core.paths, "CHECKPOINTS_DIR", zoo)
    at = AppTest.from_file(str(CHECKPOINTS_DIR.parent / "app.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(zoo)]
    at.run()
    assert not at.exception
    claims = [df.value for df in at.dataframe if "verdict" in df.value.columns]
    assert len(claims) == 1
    zoo_measured = "demo zoo measured (mini, demo width)"
    mgn = claims[0].set_index("claim").loc["MGN beats HAN"]
    assert mgn["demo zoo verdict"] in RISE_VERDICTS and "seg Type" in mgn[zoo_measured]
    gap = claims[0].set_index("claim").loc["DGM narrows the gap between audio and visual training losses"]
    assert gap["demo zoo verdict"] in ("holds", "does not hold")
    assert "mean gap between audio and visual" in gap[zoo_measured]
    assert (claims[0]["demo zoo verdict"] == "not measured").sum() >= 6  # four entries exported here
    # no calibrated record yet: every verdict says so, and the page says why the two settings can differ
    assert set(claims[0]["verdict"]) == {"not yet measured"}
    assert any("calibrated against LLP" in c.value for c in at.caption)

    # bench/claims_matrix.py's record appears as the verdict, the demo zoo's beside it
    from avvp_core.claims import CLAIMS_FULL, FULL_FORMAT

    write_json(zoo / CLAIMS_FULL, {"format": FULL_FORMAT, "setting": {"seeds": [1, 2, 3]}, "claims": [
        {"claim": "MGN beats HAN", "verdict": "holds", "measured": "seg Type 56.0 ± 0.5 vs 54.0 ± 0.4 (+2.0)"}]})
    at.run()
    table = next(df.value for df in at.dataframe if "verdict" in df.value.columns).set_index("claim")
    assert table.loc["MGN beats HAN", "verdict"] == "holds"
    assert "± 0.5" in table.loc["MGN beats HAN", "calibrated measured (full, paper width, seeds)"]
    assert table.loc["CM-PIE beats HAN", "verdict"] == "not yet measured"
    # a matrix stopped part-way (days on a CPU): each verdict says on how few seeds it stands
    write_json(zoo / CLAIMS_FULL, {
        "format": FULL_FORMAT, "setting": {"seeds": [1, 2, 3]}, "complete": False,
        "entries": {"mgn": {"seeds": {"1": {}}}, "han": {"seeds": {"1": {}, "2": {}}}},
        "claims": [{"claim": "MGN beats HAN", "candidate": "mgn", "baseline": "han", "verdict": "holds",
                    "measured": "seg Type 56.0 vs 54.0 (+2.0)"},
                   {"claim": "CM-PIE beats HAN", "candidate": "cmpie", "baseline": "han", "verdict": "not measured",
                    "measured": ""}]})
    at.run()
    table = next(df.value for df in at.dataframe if "verdict" in df.value.columns).set_index("claim")
    assert table.loc["MGN beats HAN", "verdict"] == "holds (1 of 3 seeds so far)"
    assert table.loc["CM-PIE beats HAN", "verdict"] == "not yet measured"
    assert table.loc["CM-PIE beats HAN", "why (measured)"] == ""  # not measured in either setting (tiny zoo)
    assert "not reached this pair" in table.loc["CM-PIE beats HAN", "calibrated measured (full, paper width, seeds)"]
    # a verdict that fails carries its measured reason, or says that none is measured yet
    write_json(zoo / CLAIMS_FULL, {"format": FULL_FORMAT, "setting": {"seeds": [1]}, "claims": [
        {"claim": "MGN beats HAN", "verdict": "does not hold", "measured": "seg Type 53.0 vs 54.0 (-1.0)"},
        {"claim": "MA's removed labels are mostly truly absent", "verdict": "partly holds", "measured": "audio: …",
         "why": "It fails on LLP too."}]})
    at.run()
    table = next(df.value for df in at.dataframe if "verdict" in df.value.columns).set_index("claim")
    mgn_why = table.loc["MGN beats HAN", "why (measured)"]
    assert mgn_why.startswith("Calibrated") and "reason not measured yet" in mgn_why
    assert table.loc["MA's removed labels are mostly truly absent", "why (measured)"].startswith(
        "Calibrated: It fails on LLP too.")
    (zoo / CLAIMS_FULL).write_text("{broken")
    at.run()
    table = next(df.value for df in at.dataframe if "verdict" in df.value.columns).set_index("claim")
    assert "not valid JSON" in table.loc["MGN beats HAN", "calibrated measured (full, paper width, seeds)"]


def test_export_keeps_small_tensors_in_float32_when_float16_moves_a_figure(tiny_data, tmp_path, monkeypatch):
    """Where all-float16 moves a figure past the tolerance but float16 for the large tensors alone does not, the
    export ships "mixed" weights: large tensors float16 in the file, small ones float32, figures of what ships."""
    import torch

    import avvp_core.zoo as zoo
    from avvp_core.checkpoints import WEIGHTS, load_state_dict
    from avvp_core.training.recipes import RecipeContext, run_recipe

    data = LLPDataset(tiny_data)
    entry = ENTRIES["han"]
    trained = tmp_path / "work" / "han"
    run_recipe(entry.recipe, RecipeContext(data, entry.model, trained, "demo", {}, {"epochs": 1}, terminal=False))
    original = load_checkpoint(trained)[0].state_dict()
    small = [k for k, v in original.items() if v.is_floating_point() and v.numel() < zoo.HALF_MIN_ELEMENTS[1]]
    true_figures = zoo._figures

    def figures(model, data, gating):  # rounding any small tensor costs a point; large ones cost nothing
        got = true_figures(model, data, gating)
        if any(not torch.equal(model.state_dict()[k], original[k]) for k in small):
            got = {s: {k: v - 1.0 for k, v in f.items()} for s, f in got.items()}
        return got

    monkeypatch.setattr(zoo, "_figures", figures)
    row = zoo.export(entry, trained, data, tmp_path / "zoo", 1.0)
    model, card = load_checkpoint(tmp_path / "zoo" / "han")
    assert row["weights_dtype"] == card.config["weights_dtype"] == "mixed"
    assert card.config["zoo"]["float16_min_elements"] == zoo.HALF_MIN_ELEMENTS[1]
    assert card.config["zoo"]["float16_max_delta"] >= 1.0 > card.config["zoo"]["weights_max_delta"]
    stored = load_state_dict(tmp_path / "zoo" / "han" / WEIGHTS)
    assert small and all(stored[k].dtype == torch.float32 for k in small)
    large = [k for k, v in stored.items() if v.numel() >= zoo.HALF_MIN_ELEMENTS[1]]
    assert large and all(stored[k].dtype == torch.float16 for k in large)
    for split in ("val", "test"):  # the card's figures are those of the weights that ship
        got = evaluate(model, data.split(split), card.gating).summary
        assert all(abs(got[k] - card.metrics[split][k]) < 1e-9 for k in METRIC_KEYS)


def test_shipped_claims_record_reads_and_its_verdicts_follow_from_its_own_runs():
    """checkpoints/claims_full.json (bench/claims_matrix.py, possibly part-way): valid, and every verdict and measured
    cell is what claims.check says of the per-seed figures the record itself holds, so Home shows no verdict that
    its own numbers contradict."""
    from avvp_core.claims import CLAIMS_FULL, check, read_full

    record = read_full(CHECKPOINTS_DIR / CLAIMS_FULL)
    if record is None:
        pytest.skip("no claims_full.json shipped (bench/claims_matrix.py not run yet)")
    assert record["setting"]["preset"] == "full" and record["setting"]["width"] == "paper"
    entries = record["entries"]
    runs = {name: [{**run, "seed": int(seed)} for seed, run in e["seeds"].items()]  # paired by seed, as written
            for name, e in entries.items()}
    again = check(runs, {name: {"model": e["model"], "recipe": e["recipe"]} for name, e in entries.items()})
    # the reasons and the LLP column too: a record written by older verdict code is rebuilt with --record-only
    cells = lambda r: (r["claim"], r["verdict"], r["measured"], r.get("why", ""), r.get("published", ""))  # noqa: E731
    assert [cells(r) for r in again] == [cells(r) for r in record["claims"]]
    planned = len(record["setting"]["seeds"])
    assert record["complete"] == all(len(e["seeds"]) == planned for e in entries.values())



def test_the_demo_zoos_measured_reasons_belong_to_the_shipped_zoo(index):
    """claims.WHY_DEMO was measured on the shipped zoo's data: a zoo retrained on other data must re-measure them (or
    Home shows "reason not measured yet" for its failing verdicts)."""
    from avvp_core.claims import WHY_DEMO, WHY_DEMO_DATA, demo_reasons

    assert index["data"]["fingerprint"] == WHY_DEMO_DATA
    assert demo_reasons(index["data"]["fingerprint"]) is WHY_DEMO
