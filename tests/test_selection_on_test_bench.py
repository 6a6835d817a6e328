"""`--train-set log_test=True` and bench/selection_on_test.py on tiny data: test is scored every epoch into the log
and never selected on (the run equals the same run without it), the log's test figure at the selected epoch is the
card's, and the script reports what selecting on test would have; a run without the column is one line."""

from __future__ import annotations

import json

import pytest

from avvp_core.data import LLPDataset
from avvp_core.training.recipes import RecipeContext, run_recipe
from tests.conftest import bench_script

TINY = {"dim": 16, "ffn_dim": 16}


def _train(tiny_data, out, log_test: bool):
    train = {"epochs": 3, "log_test": log_test}
    run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", out, "paper", TINY, train, terminal=False))
    return json.loads((out / "metrics.json").read_text()), [json.loads(x) for x in (out / "log.jsonl").open()]


def test_test_logged_every_epoch_is_never_selected_on_and_the_script_reads_it(tiny_data, tmp_path, capsys):
    metrics, log = _train(tiny_data, tmp_path / "logged", True)
    plain_metrics, plain_log = _train(tiny_data, tmp_path / "plain", False)
    assert all("test/event/type" in row and "val/event/type" in row for row in log)
    assert not any(k.startswith("test/") for row in plain_log for k in row)
    # the same training: every val figure, loss and the selected epoch are those of the run without the column
    assert [{k: v for k, v in r.items() if not k.startswith("test/") and k != "seconds"} for r in log] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in plain_log]
    assert metrics["selected_epoch"] == plain_metrics["selected_epoch"] and metrics["test"] == plain_metrics["test"]
    chosen = next(r for r in log if r["epoch"] == metrics["selected_epoch"])
    assert chosen["test/segment/type"] == pytest.approx(metrics["test"]["segment/type"])

    bench = bench_script("selection_on_test")
    out = tmp_path / "sel.json"
    assert bench.main([str(tmp_path / "logged"), "--baseline", str(tmp_path / "plain"), "--select", "segment/type",
                       "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    row = record["runs"][0]
    best = max(log, key=lambda r: (r["test/segment/type"], -r["epoch"]))
    assert row["test_epoch"] == best["epoch"] and row["val_epoch"] == metrics["selected_epoch"]
    for key, value in metrics["test"].items():  # at the val epoch: the card's figures; at the test epoch: the log's
        assert row["test_at_val_epoch"][key] == pytest.approx(value)
        assert row["test_at_test_epoch"][key] == best[f"test/{key}"]
        assert row["optimism"][key] == pytest.approx(best[f"test/{key}"] - value)
    assert row["optimism"]["segment/type"] >= 0
    comparison = record["comparisons"][0]
    assert set(comparison["both_on_val"].values()) == {0}
    assert comparison["run_on_test_baseline_on_val"] == pytest.approx(row["optimism"])

    assert bench.main([str(tmp_path / "logged"), "--llp-epochs", "1", "--json", str(out)]) == 0
    only_last = json.loads(out.read_text())["runs"][0]  # one LLP epoch: the run's last epoch is the only candidate
    assert only_last["candidates"] == 1 and only_last["test_epoch"] == only_last["val_epoch"] == len(log)
    assert only_last["card_epoch"] == metrics["selected_epoch"] and set(only_last["optimism"].values()) == {0}

    assert bench.main([str(tmp_path / "plain")]) == 2  # no test column: one line saying how to get one
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "log_test=True" in err and "plain" in err
    (tmp_path / "logged" / "metrics.json").unlink()  # a run still training
    assert bench.main([str(tmp_path / "logged")]) == 2
    assert "is not a finished run" in capsys.readouterr().err
