"""bench/event_fragmentation.py end to end on tiny data: the truth's row and a model's are event_pieces of their
decisions, the figures as is are `evaluate`'s, the 3-segment majority undoes lone flips only; bad data is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avvp_core.analysis.timeline import event_pieces
from avvp_core.data import LLPDataset
from tests.conftest import bench_script


@pytest.fixture(scope="module")
def bench():
    return bench_script("event_fragmentation")


def test_majority_of_three_undoes_lone_flips_and_keeps_the_edges(bench):
    row = np.array([1, 0, 1, 1, 1, 0, 0, 1, 0, 0], bool)
    got = bench.majority3(row[None, :, None])[0, :, 0]
    assert got.tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    edges = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], bool)  # a clip edge is padded with itself: kept
    assert bench.majority3(edges[None, :, None])[0, :, 0].tolist() == edges.tolist()


def test_rows_are_the_pieces_and_figures_of_the_truth_and_each_model(bench, tiny_data, tiny_han, tmp_path, capsys):
    folder = tiny_han / "han"
    out = tmp_path / "frag.json"
    assert bench.main(["--data", str(tiny_data), "--checkpoint", str(folder), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    split = LLPDataset(tiny_data).split("test")
    truth = event_pieces((split.gt_audio > 0, split.gt_visual > 0))
    assert rows["truth"]["pieces"] == json.loads(json.dumps(truth))
    metrics = json.loads((folder / "metrics.json").read_text())["test"]
    for key, value in rows[str(folder)]["figures"].items():
        assert value == pytest.approx(metrics[key])
    assert set(rows[str(folder)]["figures_majority3"]) == set(metrics)
    assert "majority of 3" in capsys.readouterr().out


def test_a_folder_without_data_is_one_line(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nowhere"), "--checkpoint"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
