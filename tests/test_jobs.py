"""Background training jobs (avvp_core.jobs): a tiny job runs to completion in its own process, a running job is
cancelled and resumed to completion, bad names and bad configurations are refused before anything starts."""

from __future__ import annotations

import json
import time

import pytest

from avvp_core import jobs
from avvp_core.checkpoints import list_checkpoints
from avvp_core.errors import InputError

TINY = {"dim": 16, "ffn_dim": 16}



def test_a_tiny_job_runs_to_completion_in_the_background(tiny_data, runs):
    job = jobs.start(tiny_data, "han", "plain", "paper", "tiny-han", epochs=1, model_options=TINY, threads=1)
    assert job.folder == runs / "tiny-han" and job.record["pid"] > 0
    assert job.status in ("running", "finished")  # it does not block the caller
    job = jobs.wait("tiny-han", timeout=240)
    assert job.status == "finished", jobs.log_tail(job.folder)
    assert (job.epochs_done, job.epochs_total) == (1, 1)
    listed = jobs.list_jobs()
    assert [(j.name, j.status) for j in listed] == [("tiny-han", "finished")]
    assert listed[0].summary()["epoch"] == "1/1" and listed[0].summary()["model"] == "han"
    metrics = json.loads((job.folder / "metrics.json").read_text())
    assert metrics["complete"] and set(metrics["test"]) >= {"segment/type", "event/event"}
    progress = jobs.progress(job.folder)
    assert len(progress["epochs"]) == 1 and {"loss", "loss/audio", "loss/visual", "val/segment/type"} <= set(
        progress["epochs"][0])
    card = {c.path.name: c for c in list_checkpoints(runs)}["tiny-han"]  # a checkpoint like any other
    assert card.config["model_config"]["dim"] == 16 and card.metrics["complete"]
    assert "checkpoint:" in (job.folder / jobs.JOB_LOG).read_text()  # the CLI's own output is kept
    with pytest.raises(InputError, match="already exists"):
        jobs.start(tiny_data, "han", "plain", "paper", "tiny-han", epochs=1, model_options=TINY)
    with pytest.raises(InputError, match="finished"):
        jobs.resume("tiny-han")


def test_a_running_job_is_cancelled_and_resumes_where_it_stopped(tiny_data, runs):
    epochs = 10
    state = jobs.start(tiny_data, "han", "plain", "paper", "long", epochs=epochs, model_options=TINY,
                       threads=1).folder / "train_state.pt"
    deadline = time.monotonic() + 240
    while not state.is_file() and time.monotonic() < deadline:  # the trainer's state after its first epoch
        time.sleep(0.05)
    job = jobs.cancel("long")
    assert job.status == "cancelled" and 1 <= job.epochs_done < epochs
    assert state.is_file() and not (job.folder / "metrics.json").is_file()
    first_row = jobs.progress(job.folder)["epochs"][0]
    time.sleep(0.3)
    assert jobs.get("long").status == "cancelled"  # stays cancelled: nothing restarts it behind our back
    with pytest.raises(InputError, match="not running"):
        jobs.cancel("long")

    job = jobs.resume("long")
    assert job.status in ("running", "finished") and len(job.record["attempts"]) == 2
    job = jobs.wait("long", timeout=300)
    assert job.status == "finished", jobs.log_tail(job.folder)
    rows = jobs.progress(job.folder)["epochs"]
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))  # no epoch lost or repeated
    assert rows[0] == first_row  # epoch 1 was not trained again: the run continued from its saved state
    assert not (job.folder / "train_state.pt").exists() and not (job.folder / ".lock").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "", ".hidden", "x" * 65, "a..b", "sp ace"])
def test_bad_run_names_are_refused(name, tiny_data, runs):
    with pytest.raises(InputError, match="run name"):
        jobs.start(tiny_data, "han", "plain", "demo", name, epochs=1)
    assert not runs.exists() or not any(runs.iterdir())


def test_bad_configurations_are_refused_before_a_folder_is_made(tiny_data, runs, tmp_path):
    cases = [
        (dict(recipe="nope"), "unknown recipe"),
        (dict(model_options={"depth": 3}), "has no option 'depth'"),
        (dict(model_options={"dim": "wide"}), "takes int"),
        (dict(train_options={"warmup": 1}), "unknown training option"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            jobs.start(tiny_data, "han", kwargs.pop("recipe", "plain"), "demo", "bad", epochs=1, **kwargs)
    with pytest.raises(InputError, match="AVVP_train.csv"):
        jobs.start(tmp_path / "no-data", "han", "plain", "demo", "bad", epochs=1)
    assert not (runs / "bad").exists() and jobs.list_jobs() == []
    with pytest.raises(InputError, match="no job named"):
        jobs.get("missing")


def test_logs_being_written_are_read_up_to_the_last_whole_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "loss": 0.4}\n{"epoch": 3, "lo')
    assert [r["epoch"] for r in jobs.read_jsonl(log)] == [1, 2]
    assert jobs.read_jsonl(tmp_path / "missing.jsonl") == []
    assert jobs.progress(tmp_path)["epochs"] == jobs.read_jsonl(log)


def test_options_text_is_parsed_as_the_cli_does():
    assert jobs.parse_options("dim=16\nffn_dim=32, dropout=0.2\n\nfusion=mbt") == {
        "dim": 16, "ffn_dim": 32, "dropout": 0.2, "fusion": "mbt"}
    assert jobs.parse_options("") == {}
    with pytest.raises(InputError, match="KEY=VALUE"):
        jobs.parse_options("dim 16")
