"""`zoo --seeds` (issue 19): every (entry, seed) in its own resumable work folder, parallel processes combined at the
export, the card's `seeds` block validated where it is read, and Compare / Home showing mean ± std over seeds."""

from __future__ import annotations

import json
import os
import shutil
import statistics
from pathlib import Path

import pytest

from avvp_core import zoo
from avvp_core.checkpoint_schema import read_jsonl
from avvp_core.checkpoints import LOG, METRICS, load_checkpoint, read_card
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.evaluation import evaluate
from avvp_core.training.loop import folder_lock
from avvp_core.training.recipes import RecipeContext, run_recipe

REPO = Path(__file__).resolve().parents[1]
# The zoo's entries narrowed and their schedules shrunk to a few optimiser steps on tiny data (a user-given epoch count
# is kept as given by the llp_steps budget): the real recipes, models and export, in seconds.
SHRUNK = {"han": zoo.ZooEntry("han", "han", "plain", "HAN", {"dim": 16, "ffn_dim": 16}, {"epochs": 2}),
          "mgn": zoo.ZooEntry("mgn", "mgn", "plain", "MGN", {"dim": 16, "heads": 2}, {"epochs": 1})}


@pytest.fixture(scope="module", autouse=True)
def shrunk_entries():
    with pytest.MonkeyPatch.context() as mp:
        for name, entry in SHRUNK.items():
            mp.setitem(zoo.ENTRIES, name, entry)
        yield


@pytest.fixture(scope="module")
def two_seeds(tiny_data, tmp_path_factory):
    """HAN trained with seeds 1 and 2 and MGN with the default seed, exported: (work, out, log lines). Read-only."""
    base = tmp_path_factory.mktemp("zoo_seeds")
    work, out, lines = base / "work", base / "out", []
    zoo.train_zoo(tiny_data, out, work, ["han"], seeds=[1, 2], log=lines.append)
    zoo.train_zoo(tiny_data, out, work, ["mgn"], log=lines.append)
    return work, out, lines


def _zoo_context(tiny_data, work, seed, **extra):
    """The RecipeContext train_zoo builds for the shrunk HAN and `seed` (the same identity, so it resumes)."""
    entry = zoo.ENTRIES["han"]
    return RecipeContext(LLPDataset(tiny_data), entry.model, zoo.work_folder(work, entry, seed), "demo",
                         dict(entry.model_overrides), {**entry.train_overrides, "seed": seed, "device": "cpu"},
                         terminal=False, budget=zoo.ZOO_BUDGET, **extra)


def test_each_seed_trains_in_its_folder_and_the_card_carries_every_seed(two_seeds, tiny_data):
    work, out, _ = two_seeds
    assert (work / "han" / METRICS).is_file() and (work / "han-seed2" / METRICS).is_file()  # seed 1: today's path
    assert zoo.seed_folders(work, zoo.ENTRIES["han"]) == {1: work / "han", 2: work / "han-seed2"}
    card = read_card(out / "han")  # the schema accepts what the export writes
    block = card.metrics["seeds"]
    assert card.config["seed"] == 1 and block["seeds"] == [1, 2] and block["inspected"] == 1
    assert block["retrain"] == "python -m avvp_core zoo --as-shipped --seeds 1 2 --only han"
    data = LLPDataset(tiny_data)
    for run, folder in zip(block["runs"], (work / "han", work / "han-seed2"), strict=True):
        model, trained = load_checkpoint(folder)
        assert run["seed"] == trained.config["seed"] and run["selected_epoch"] == trained.metrics["selected_epoch"]
        # the folder's own training time, not a speed: a fast machine trains the tiny set in under 0.05 s (0.0)
        assert run["train_seconds"] == round(zoo._stage_seconds(folder), 1) >= 0
        for split in ("val", "test"):  # float32 figures measured from that seed's weights
            assert run[split] == evaluate(model, data.split(split), trained.gating).summary
    assert block["runs"][0]["test"] == card.metrics["float32"]["test"]  # the shipped weights are seed 1's
    assert block["runs"][0]["test"] != block["runs"][1]["test"]
    for split in ("val", "test"):
        for key in METRIC_KEYS:
            values = [r[split][key] for r in block["runs"]]
            assert block["mean"][split][key] == pytest.approx(statistics.fmean(values))
            assert block["std"][split][key] == pytest.approx(statistics.stdev(values))  # sample std (n - 1)
    index = json.loads((out / zoo.ZOO_FILE).read_text())
    assert index["entries"]["han"]["seeds"] == block and index["entries"]["han"]["test"] == card.metrics["test"]
    single = read_card(out / "mgn").metrics["seeds"]  # the default, one seed: no spread to give
    assert single["seeds"] == [1] and single["std"] is None and single["mean"]["test"] == single["runs"][0]["test"]
    readme = (out / "README.md").read_text()
    assert "## Over seeds" in readme and "| han | 1, 2 |" in readme and "| mgn | 1 |" not in readme


def test_exported_log_keeps_every_row_and_key_with_fewer_digits(two_seeds):
    work, out, _ = two_seeds
    trained, shipped = read_jsonl(work / "han" / LOG), read_jsonl(out / "han" / LOG)
    assert len(shipped) == len(trained) == 2
    for a, b in zip(trained, shipped, strict=True):
        assert list(a) == list(b)
        for key, value in a.items():
            assert b[key] == pytest.approx(value, rel=1e-5, abs=1e-12)
    assert (out / "han" / LOG).stat().st_size < (work / "han" / LOG).stat().st_size


def test_parallel_processes_train_apart_and_the_export_combines_them(tiny_data, tmp_path, capsys):
    from avvp_core.cli import main

    work, out, lines = tmp_path / "work", tmp_path / "out", []
    with folder_lock(work / zoo.LOCKS / "han-seed2"):  # another zoo process is training seed 2 (an flock: as a process)
        zoo.train_zoo(tiny_data, out, work, ["han"], seeds=[1, 2], export_entries=False, log=lines.append)
    skipped = f"han seed 2: skipped here, another process (pid {os.getpid()}) is training it in {work / 'han-seed2'}"
    assert any(skipped in line for line in lines)
    assert (work / "han" / METRICS).is_file() and not (work / "han-seed2").exists() and not (out / "han").exists()
    zoo.train_zoo(tiny_data, out, work, ["han"], seeds=[2], export_entries=False, log=lines.append)  # "the other"
    assert not (out / "han").exists()
    capsys.readouterr()
    assert main(["zoo", "--export-only", "--data", str(tiny_data), "--work", str(work), "--out", str(out),
                 "--only", "han"]) == 0
    printed = capsys.readouterr().out
    assert read_card(out / "han").metrics["seeds"]["seeds"] == [1, 2]
    assert "2 seeds: " in printed and " ± " in printed
    # seed 1 (the shipped model) unfinished: nothing exported, and the line says why
    lonely = tmp_path / "lonely"
    shutil.copytree(work / "han-seed2", lonely / "han-seed2")
    lines.clear()
    assert zoo.train_zoo(tiny_data, tmp_path / "out2", lonely, ["han"], train=False, log=lines.append) == []
    assert any("not exported, seed 1 (the shipped model) is not finished" in line for line in lines)
    assert main(["zoo", "--seeds", "2", "2", "--export-only", "--work", str(work), "--out", str(out)]) == 2
    assert "--seeds must be distinct" in capsys.readouterr().err


def test_a_killed_seed_is_left_out_then_resumes_to_the_uninterrupted_result(two_seeds, tiny_data, tmp_path):
    reference_work, _, _ = two_seeds
    work, out, lines = tmp_path / "work", tmp_path / "out", []
    shutil.copytree(reference_work / "han", work / "han")  # seed 1 finished
    steps = iter(range(10_000))
    with pytest.raises(KeyboardInterrupt):  # killed during epoch 2 (4 steps per epoch on tiny)
        run_recipe("plain", _zoo_context(tiny_data, work, 2, should_stop=lambda: next(steps) >= 6))
    zoo.train_zoo(tiny_data, out, work, ["han"], train=False, log=lines.append)
    assert any("han seed 2: not finished" in line for line in lines)
    assert read_card(out / "han").metrics["seeds"]["seeds"] == [1]
    lines.clear()
    zoo.train_zoo(tiny_data, out, work, ["han"], seeds=[1, 2], log=lines.append)  # resumes seed 2, seed 1 is done
    assert any(line.endswith(f"already finished in {work / 'han'}") for line in lines)
    assert any(line.endswith(f"in {work / 'han-seed2'}") and "already" not in line for line in lines)
    resumed = read_card(out / "han").metrics["seeds"]
    reference = read_card(reference_work / "han-seed2").metrics
    assert resumed["seeds"] == [1, 2] and resumed["runs"][1]["test"] == pytest.approx(reference["test"], abs=1e-9)
    assert resumed["runs"][1]["selected_epoch"] == reference["selected_epoch"]


def test_seeds_trained_otherwise_are_named_and_left_out(two_seeds, tiny_data, tmp_path):
    reference_work, _, _ = two_seeds
    work, lines = tmp_path / "work", []
    shutil.copytree(reference_work / "han", work / "han")
    shutil.copytree(reference_work / "han-seed2", work / "han-seed3")  # holds seed 2
    shutil.copytree(reference_work / "han-seed2", work / "han-seed4")
    config = json.loads((work / "han-seed4" / "config.json").read_text())
    config["seed"] = config["train"]["seed"] = 4
    config["train"]["lr"] = 0.5
    (work / "han-seed4" / "config.json").write_text(json.dumps(config))
    (work / "han-seed5").mkdir()  # an empty folder: a training that never wrote anything
    for name in ("han-seed0", "han-seed1", "han-seed07", "hanx-seed6", "han-ma-seed2"):  # seed 0 is a seed, the rest
        (work / name).mkdir()  # are not this entry's folders (seed 1 is WORK/han; no leading zeros)
    assert list(zoo.seed_folders(work, zoo.ENTRIES["han"])) == [1, 0, 3, 4, 5]  # the shipped seed first
    runs = zoo.finished_seeds(work, zoo.ENTRIES["han"], lines.append)
    assert [r.seed for r in runs] == [1]
    text = "\n".join(lines)
    assert "han seed 3: " in text and "holds seed 2; left out" in text
    assert "han seed 4: trained with other options than seed 1 (train.lr 0.5 vs" in text
    assert "han seed 5: not finished" in text
    # training into the otherwise-trained folder is refused; the rest is trained and exported, the error comes last
    lines.clear()
    with pytest.raises(InputError, match="1 zoo training failed .* first: han seed 4: "):
        zoo.train_zoo(tiny_data, tmp_path / "out", work, ["han"], seeds=[1, 4], log=lines.append)
    assert any(line.startswith("[zoo] han seed 4: ") and "lr" in line for line in lines)
    assert read_card(tmp_path / "out" / "han").metrics["seeds"]["seeds"] == [1]


def _broken(block: dict, what: str) -> dict:
    block = json.loads(json.dumps(block))
    if what == "seeds not a list":
        block["seeds"] = "1, 2"
    elif what == "a seed twice":
        block["seeds"] = [1, 1]
    elif what == "inspected not a seed":
        block["inspected"] = 7
    elif what == "one run missing":
        block["runs"].pop()
    elif what == "run of another seed":
        block["runs"][1]["seed"] = 9
    elif what == "figure over 100":
        block["runs"][1]["test"]["segment/type"] = 130.0
    elif what == "figure a string":
        block["mean"]["test"]["event/type"] = "56.6"
    elif what == "negative std":
        block["std"]["val"]["segment/av"] = -1.0
    elif what == "std missing with two seeds":
        block["std"] = None
    elif what == "selected epoch a float":
        block["runs"][0]["selected_epoch"] = 2.5
    elif what == "retrain not a short string":
        block["retrain"] = "x" * 5000
    elif what == "block not an object":
        block = [1, 2]
    return block


BROKEN = ("seeds not a list", "a seed twice", "inspected not a seed", "one run missing", "run of another seed",
          "figure over 100", "figure a string", "negative std", "std missing with two seeds", "selected epoch a float",
          "retrain not a short string", "block not an object")


@pytest.mark.parametrize("what", BROKEN)
def test_a_bad_seeds_block_is_one_line_naming_the_file(two_seeds, tmp_path, what):
    _, out, _ = two_seeds
    folder = tmp_path / "han"
    shutil.copytree(out / "han", folder)
    metrics = json.loads((folder / METRICS).read_text())
    metrics["seeds"] = _broken(metrics["seeds"], what)
    (folder / METRICS).write_text(json.dumps(metrics))
    with pytest.raises(InputError) as err:
        read_card(folder)
    message = str(err.value)
    assert "\n" not in message and str(folder / METRICS) in message and "seeds" in message, message


def _frame(at, column):
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, column
    return found[0]


@pytest.mark.app
def test_compare_and_home_show_mean_and_std_over_seeds(two_seeds, tiny_data):
    from conftest import app_page
    from streamlit.testing.v1 import AppTest

    work, out, _ = two_seeds
    block = read_card(out / "han").metrics["seeds"]
    at = app_page("compare", tiny_data, [out], timeout=120)
    assert not at.exception
    table = _frame(at, "seeds").set_index("configuration")
    assert table.loc["HAN", "runs"] == 2 and table.loc["HAN", "seeds"] == "1, 2 (2 seeds)"
    mean, std = block["mean"]["test"]["segment/type"], block["std"]["test"]["segment/type"]
    assert table.loc["HAN", "segment/type"] == f"{mean:.1f} ± {std:.1f}"
    assert table.loc["MGN", "runs"] == 1 and table.loc["MGN", "seeds"] == "1 (1 seed)"
    assert table.loc["MGN", "segment/type"].endswith("± –")
    captions = " ".join(c.value for c in at.caption)
    assert "mean ± standard deviation over those seeds" in captions and "is seed 1" in captions
    assert "HAN (seed 1 only)" in captions  # the per-class F1 needs weights: only seed 1's ship
    figures = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                   if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("The ten figures"))
    assert sorted(figures["data"][0]["y"]) == ["HAN", "MGN"]  # no model dropped from the chart
    # the work folders listed too (runs/ is a checkpoint root): seed 1 is counted once, seed 2's weights join in
    at = app_page("compare", tiny_data, [out, work], timeout=120)
    assert not at.exception
    table = _frame(at, "seeds").set_index("configuration")
    assert table.loc["HAN", "runs"] == 2 and table.loc["MGN", "runs"] == 1
    assert "HAN (seed" not in " ".join(c.value for c in at.caption)

    home = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    home.session_state["data_root"] = str(tiny_data)
    home.session_state["checkpoint_roots"] = [str(out)]
    home.run()
    assert not home.exception
    board = _frame(home, ("", "model")).set_index(("", "model"))
    han, mgn = board.loc["HAN", ("", "over seeds")], board.loc["MGN", ("", "over seeds")]
    ev_mean, ev_std = block["mean"]["test"]["event/type"], block["std"]["test"]["event/type"]
    assert han == f"{mean:.1f} ± {std:.1f} / {ev_mean:.1f} ± {ev_std:.1f} (2 seeds)" and mgn == "1 seed"
    assert board.loc["HAN", ("segment-level", "Type@AV")] == pytest.approx(mean)  # ranked by the mean
    assert board.loc["HAN", ("", "seed")] == 1
    assert any("mean over its seeds" in c.value and "seed 1" in c.value for c in home.caption)


def test_first_start_leaderboard_reads_the_seeds_from_the_cards(two_seeds, tmp_path):
    """Home before the data exists reads the shipped cards' plain JSON: the same seeds cell, a bad block skipped."""
    from avvp_core import ui

    _, out, _ = two_seeds
    frame, _ = ui._shipped_zoo(str(out), 0.0)
    cells = dict(zip(frame["checkpoint"], frame[ui.SEEDS_COLUMN], strict=True))
    assert cells["MGN"] == "1 seed" and cells["HAN"].endswith("(2 seeds)") and " ± " in cells["HAN"]
    damaged = tmp_path / "out"
    shutil.copytree(out, damaged)
    metrics = json.loads((damaged / "han" / METRICS).read_text())
    metrics["seeds"]["runs"][0]["test"]["segment/type"] = "high"
    (damaged / "han" / METRICS).write_text(json.dumps(metrics))
    frame, _ = ui._shipped_zoo(str(damaged), 1.0)
    assert list(frame["checkpoint"]) == ["MGN"]  # the damaged card waits for the full leaderboard, which names it


def test_an_export_waits_for_another_process_export(two_seeds, tiny_data, tmp_path):
    import threading
    import time

    reference_work, _, _ = two_seeds
    work = tmp_path / "work"
    for name in ("han", "han-seed2"):
        shutil.copytree(reference_work / name, work / name)
    held, done = threading.Event(), []

    def other_export():  # another process exporting into the same zoo: an flock on its own descriptor
        with folder_lock(work / zoo.EXPORT_LOCK):
            held.set()
            time.sleep(1.0)
            done.append(time.monotonic())

    thread = threading.Thread(target=other_export)
    thread.start()
    held.wait()
    zoo.train_zoo(tiny_data, tmp_path / "out", work, ["han"], train=False, log=lambda line: None)
    finished = time.monotonic()
    thread.join()
    assert done and finished > done[0]  # ours ran after theirs released the lock, not beside it
    assert read_card(tmp_path / "out" / "han").metrics["seeds"]["seeds"] == [1, 2]


def test_claims_compare_every_seed_and_keep_logs_to_the_inspected_one(two_seeds):
    """zoo_runs: one run per seed on the card (the figure claims use every seed); the epoch log and refinement
    record ship for the inspected seed only."""
    _, out, _ = two_seeds
    runs = zoo.zoo_runs(out)
    block = json.loads((out / "han" / METRICS).read_text())["seeds"]
    assert [r["test"] for r in runs["han"]] == [r["test"] for r in block["runs"]]
    assert ["log" in r for r in runs["han"]] == [r["seed"] == block["inspected"] for r in block["runs"]]
    assert len(runs["mgn"]) == 1 and runs["mgn"][0]["log"]  # a single-seed entry: its one run, log included
    from avvp_core import claims

    row = next(r for r in claims.check({"mgn": runs["han"], "han": runs["han"]}) if r["candidate"] == "mgn")
    assert "seeds" in row["measured"]  # seed i against seed i over both seeds
