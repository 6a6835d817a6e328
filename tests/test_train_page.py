"""AppTest for the Train, Imbalance and Lab pages (reached through app.py's navigation), plus the curve builders they
draw with: a training started from a page becomes a job and then a checkpoint, DGM runs are plotted as paper 004's
fig. 5 with omega and mu per step, the Lab trains two models and shows their figures side by side."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import app_page
from streamlit.testing.v1 import AppTest

from avvp_core import claims, jobs, paths
from avvp_core.analysis import curves
from avvp_core.analysis import lab as lab_core
from avvp_core.checkpoints import read_card
from avvp_core.data.synthetic import GENERATOR_VERSION

REPO = Path(__file__).resolve().parents[1]
TINY = {"dim": 16, "ffn_dim": 16}
pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """Two tiny HAN checkpoints on tiny_data, 2 epochs each: one plain, one with DGM."""
    from avvp_core.data import LLPDataset
    from avvp_core.training.recipes import RecipeContext, run_recipe

    root = tmp_path_factory.mktemp("trained")
    for recipe in ("plain", "dgm"):
        run_recipe(recipe, RecipeContext(LLPDataset(tiny_data), "han", root / recipe, "paper", TINY, {"epochs": 2},
                                         terminal=False))
    return root



def _page(page: str, data: Path, roots: list[Path]) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["data_root"] = str(data)
    at.session_state["checkpoint_roots"] = [str(r) for r in roots]
    at.run()
    return at.switch_page(f"pages/{page}.py").run()


def _traces(at: AppTest) -> list[list[dict]]:
    return [json.loads(chart.proto.spec)["data"] for chart in at.get("plotly_chart")]


def _n(values) -> int:
    """Number of points of a trace's x or y (plotly ships numeric arrays as base64 "bdata")."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).size
    return len(values)


def _wait_all(timeout: float = 240) -> list[jobs.Job]:
    return [jobs.wait(j.name, timeout) for j in jobs.list_jobs()]


def test_train_page_offers_every_model_and_recipe(tiny_data, runs):
    at = _page("train", tiny_data, [runs])
    assert not at.exception
    assert at.title[0].value == "Train"
    assert {"HAN (han)", "MMT (mmt)", "MSDU (msdu)"} <= set(at.selectbox(key="train_model").options)
    assert {"paper recipe (plain)", "DGM (dgm)", "CAPC (capc)", "JoMoLD (jomold)"} <= set(
        at.selectbox(key="train_recipe").options)
    assert "No training started from the app yet" in at.info[0].value
    plan = at.table[0].value  # the step plan of HAN plain on tiny data (60 videos, 4 steps per epoch)
    assert list(plan.index) == ["model"]
    row = plan.loc["model"]
    assert int(row["total steps"]) == int(row["on LLP: total steps"]) == 25_000
    assert row["on LLP: LR drops after step"] == "6,250, 12,500, 18,750"
    assert row["LR drops after step"] == "6,252, 12,504, 18,756"  # every 1,563 epochs of 4 steps: the nearest
    assert row["keeps epoch"] == row["on LLP: keeps epoch"] == "best val/segment/type"  # HAN's own rule
    assert row["learning rate"] == "0.0003"  # HAN's paper rate at both widths (CM-Co's is scaled at demo width)
    at.radio(key="train_budget").set_value("epochs").run()
    assert int(at.table[0].value.loc["model", "total steps"]) == 40 * 4
    options = next(e for e in at.expander if e.label == "Every training option").markdown[0].value
    from avvp_core.names import TRAIN_OPTION_HELP

    assert "- `dgm_reach`: where DGM's mu acts" in options and options.count("- `") == len(TRAIN_OPTION_HELP)


def test_starting_a_tiny_training_from_the_page(tiny_data, runs):
    at = _page("train", tiny_data, [runs])
    at.radio(key="train_width").set_value("paper")
    at.number_input(key="train_epochs").set_value(1)
    at.text_area(key="train_model_set").set_value("dim=16\nffn_dim=16")
    at.text_input(key="train_name").set_value("page-run")
    at.button(key="train_submit").click().run()
    assert not at.exception and not at.error
    assert "Started page-run" in at.success[0].value
    job = jobs.get("page-run")
    assert job.record["model_options"] == TINY and job.record["train_options"] == {"epochs": 1}
    argv = job.record["argv"]
    assert argv[argv.index("--budget") + 1] == "llp_steps"  # the page's default budget
    assert list(at.dataframe[0].value["job"]) == ["page-run"]

    assert jobs.wait("page-run", 240).status == "finished"
    at.run()
    table = at.dataframe[0].value
    assert table.loc[0, "status"] == "finished" and table.loc[0, "epoch"] == "1/1"
    assert at.get("progress")[0].proto.text == "epoch 1 of 1"  # the panel, drawn in the table's refresh, agrees
    loss, val = _traces(at)
    assert [t["name"] for t in loss] == ["total", "audio", "visual", "video"]
    assert [t["name"] for t in val] == list(curves.FIGURES) and _n(val[0]["x"]) == 1
    home = _page("home", tiny_data, [runs])  # the new checkpoint is listed where checkpoints are listed
    boards = [df.value for df in home.dataframe if ("", "model") in df.value.columns]
    assert boards and "HAN · page-run" in list(boards[0][("", "model")])


def test_cancel_and_resume_buttons(tiny_data, runs):
    state = jobs.start(tiny_data, "han", "plain", "paper", "long", epochs=30, model_options=TINY,
                       threads=1).folder / "train_state.pt"
    while not state.is_file() and jobs.get("long").running:
        time.sleep(0.05)
    at = _page("train", tiny_data, [runs])
    assert at.dataframe[0].value.loc[0, "status"] == "running"
    at.button(key="train_live_long_cancel").click().run()
    assert not at.exception and jobs.get("long").status == "cancelled"
    assert at.dataframe[0].value.loc[0, "status"] == "cancelled"
    at.button(key="train_live_long_resume").click().run()
    assert not at.exception and jobs.get("long").status in ("running", "finished")
    assert len(jobs.get("long").record["attempts"]) == 2
    if jobs.get("long").running:
        jobs.cancel("long")  # enough: the job test resumes to completion


def test_bad_options_on_the_train_page_are_an_error_box(tiny_data, runs):
    at = _page("train", tiny_data, [runs])
    at.text_area(key="train_model_set").set_value("depth=3")
    at.button(key="train_submit").click().run()
    assert not at.exception
    assert "has no option 'depth'" in at.error[0].value
    assert jobs.list_jobs() == []


def test_imbalance_page_plots_a_dgm_run_against_a_plain_one(tiny_data, trained, runs):
    at = _page("imbalance", tiny_data, [trained])
    assert not at.exception and at.title[0].value == "Imbalance"
    assert at.multiselect(key="imbalance_dgm").value == ["HAN + DGM · dgm"]
    assert at.multiselect(key="imbalance_plain").value == ["HAN · plain"]
    losses, steps, f1 = _traces(at)
    assert [t["name"] for t in losses] == ["HAN + DGM · dgm · audio", "HAN + DGM · dgm · visual", "HAN · plain · audio",
                                           "HAN · plain · visual"]
    assert [t["line"]["dash"] for t in losses] == ["solid", "solid", "dash", "dash"]  # fig. 5: solid = with DGM
    assert all(_n(t["x"]) == 2 for t in losses)  # two epochs each
    n_steps = len(jobs.read_jsonl(trained / "dgm" / "steps.jsonl"))
    assert n_steps == 2 * 4  # 60 videos, batch 16: 4 steps per epoch
    assert [t["name"] for t in steps] == ["ω v-a (raw)", "ω v-a", "μ audio (raw)", "μ audio", "μ visual (raw)",
                                          "μ visual"] and _n(steps[0]["x"]) == n_steps
    assert len(f1) == 4 and f1[0]["name"] == "HAN + DGM · dgm · audio"
    gap = at.dataframe[0].value
    assert list(gap["run"]) == ["HAN + DGM · dgm", "HAN · plain"] and list(gap["DGM"]) == [True, False]
    verdict = next(m.value for m in at.markdown if "the gap between the audio and visual training losses" in m.value)
    with_, without = gap["mean |audio - visual|"]
    # one run on each side: a narrowing counts when it is more than claims.GAP_SEED_NOISE of the gap without
    narrows = without - with_ > claims.GAP_SEED_NOISE * without
    assert ("DGM narrows" if narrows else "DGM does not narrow") in verdict and f"{with_:.4f}" in verdict
    (download,) = at.get("download_button")  # the numbers behind the curves, one row per run and epoch
    assert download.proto.label == "Download the chosen runs' epoch logs (CSV)"
    logs = curves.runs_frame({n: (read_card(trained / f).log(), f == "dgm") for n, f in (("HAN + DGM · dgm", "dgm"),
                                                                                         ("HAN · plain", "plain"))})
    assert list(logs.columns[:3]) == ["run", "DGM", "epoch"] and list(logs["epoch"]) == [1, 2, 1, 2]
    assert {"loss", "loss/audio", "loss/visual", "val/segment/audio", "val/event/type"} <= set(logs.columns)
    assert logs.loc[0, "loss/audio"] == read_card(trained / "dgm").log()[0]["loss/audio"]
    assert at.select_slider(key="imbalance_smoothing").value == curves.DGM_SMOOTHING
    # the page's choices survive a page switch, as on the other pages (ui.kept)
    at.select_slider(key="imbalance_smoothing").set_value(100).run()
    at.multiselect(key="imbalance_plain").set_value([]).run()
    at.radio(key="imbalance_level").set_value("event").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/imbalance.py").run()
    assert not at.exception and at.multiselect(key="imbalance_plain").value == []
    assert at.select_slider(key="imbalance_smoothing").value == 100 and at.radio(key="imbalance_level").value == "event"


def test_an_imbalance_link_reopens_its_view_and_names_a_run_on_the_wrong_side(tiny_data, trained, runs):
    at = app_page("imbalance", tiny_data, [trained], query={"with": "dgm", "without": "plain,dgm", "level": "event"})
    assert not at.exception
    assert at.multiselect(key="imbalance_dgm").value == ["HAN + DGM · dgm"]
    assert at.multiselect(key="imbalance_plain").value == ["HAN · plain"] and at.radio(key="imbalance_level").value == \
        "event"
    assert [w.value for w in at.warning] == ["From the link: HAN + DGM · dgm (trained with DGM) cannot stand on that "
                                             "side. Those are left out."]
    assert dict(at.query_params) == {"with": "HAN + DGM · dgm", "without": "HAN · plain", "level": "event"}
    at.multiselect(key="imbalance_plain").set_value([]).run()
    assert "without" not in at.query_params  # the URL names what is shown


def test_imbalance_page_without_dgm_starts_the_pair(tiny_data, trained, runs):
    at = _page("imbalance", tiny_data, [trained / "plain"])
    assert not at.exception
    assert "No checkpoint trained with DGM" in at.info[0].value
    at.number_input(key="imbalance_epochs").set_value(1)
    at.button(key="imbalance_start").click().run()
    assert not at.exception
    started = sorted((j.record["recipe"], j.record["model"], j.record["width"]) for j in jobs.list_jobs())
    assert started == [("dgm", "han", "demo"), ("plain", "han", "demo")]
    assert all(j.status == "finished" for j in _wait_all())


def test_lab_trains_two_models_and_shows_their_figures(tmp_path, runs, monkeypatch):
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(lab_core, "LAB_SIZES", {"n_train": 40, "n_val": 20, "n_test": 20})
    at = _page("lab", tmp_path / "data", [runs])
    assert not at.exception and at.title[0].value == "Lab"
    assert [s.label for s in at.slider] == ["audio only rate", "visual only rate", "imbalance", "separation"]
    at.slider(key="lab_knob_audio_only_rate").set_value(0.6)
    at.number_input(key="lab_epochs").set_value(1)
    at.button(key="lab_submit").click().run()
    assert not at.exception and not at.error
    data = tmp_path / "data" / f"lab-g{GENERATOR_VERSION}-a0.60-v0.05-i1.00-s3.5-d0"
    assert json.loads((data / "synthllp.json").read_text())["splits"] == {"train": 40, "val": 20, "test": 20}
    assert sorted(j.name for j in jobs.list_jobs()) == [f"{data.name}-han-e1-s1-last-plr",
                                                          f"{data.name}-mmt-e1-s1-last-plr"]
    assert any("HAN 0.0003, MMT 0.0003" in c.value for c in at.caption)  # each model at its paper's rate

    assert all(j.status == "finished" for j in _wait_all())
    for job in jobs.list_jobs():  # ... and that is the rate each trained with
        assert read_card(job.folder).config["train"]["lr"] == lab_core.model_lr(job.record["model"])
    at.run()
    table = at.dataframe[0].value
    assert list(table.index) == ["HAN", "MMT", "MMT − HAN"] and len(table.columns) == 10
    assert "Measured here (segment level, test split), MMT − HAN: audio" in at.markdown[-1].value
    at.button(key="lab_use_data").click().run()
    assert at.session_state["data_root"] == str(data)


def test_lab_refuses_impossible_knobs(tmp_path, runs, monkeypatch):
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    at = _page("lab", tmp_path / "data", [runs])
    at.slider(key="lab_knob_audio_only_rate").set_value(0.6)
    at.slider(key="lab_knob_visual_only_rate").set_value(0.5)
    at.button(key="lab_submit").click().run()
    assert not at.exception
    assert "must stay below 1" in at.error[0].value
    assert jobs.list_jobs() == [] and not (tmp_path / "data").exists()


def test_curve_builders_on_plain_rows():
    rows = [{"epoch": 1, "loss": 1.0, "loss/audio": 0.6, "loss/visual": 0.3, "val/segment/audio": 10.0},
            {"epoch": 2, "loss": 0.8, "loss/audio": 0.5, "loss/visual": 0.2, "val/segment/audio": 20.0},
            {"epoch": 2, "loss": 0.7, "loss/audio": 0.4, "loss/visual": 0.2, "val/segment/audio": 25.0}]  # resumed
    frame = curves.epoch_frame(rows)
    assert list(frame["epoch"]) == [1, 2] and frame["loss"].iloc[-1] == 0.7
    gap = curves.loss_gap_frame({"a": (rows, False)})
    assert gap.loc[0, "mean |audio - visual|"] == pytest.approx((0.3 + 0.2) / 2)
    steps = curves.step_frame([{"epoch": 1, "step": 1, "omega": 2.0}, {"epoch": 1, "step": 2, "omega": 1.5},
                               {"epoch": 2, "step": 1, "omega": 1.1}])
    assert list(steps["global step"]) == [1, 2, 3]
    table = curves.figures_table({"a": {"test": {"segment/type": 40.0}}, "b": {"test": {"segment/type": 43.5}}})
    assert table.loc["b − a", "segment/type"] == 3.5 and len(table.columns) == 10
    assert curves.is_dgm({"recipe": "dgm"}) and curves.is_dgm({"recipe": "plain", "train": {"dgm_gamma": 0.2}})
    assert not curves.is_dgm({"recipe": "jomold", "train": {"dgm_gamma": 0.0}})
