"""bench/localisation.py end to end on tiny data: the annotations' row equals whole_clip_share of the truth, a model's
row equals that of its own decisions, the JSON carries both; a data folder without dense truth is one line."""

from __future__ import annotations

import json

import pytest

from avvp_core.analysis.timeline import whole_clip_share
from avvp_core.checkpoints import load_checkpoint
from avvp_core.data import LLPDataset
from avvp_core.evaluation import predict
from tests.conftest import bench_script


@pytest.fixture(scope="module")
def bench():
    return bench_script("localisation")


def test_rows_are_the_shares_of_the_truth_and_of_each_model(bench, tiny_data, tiny_han, tmp_path, capsys):
    folder = tiny_han / "han"
    out = tmp_path / "loc.json"
    assert bench.main(["--data", str(tiny_data), "--checkpoint", str(folder), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    split = LLPDataset(tiny_data).split("test")
    model, card = load_checkpoint(folder)
    want = {"annotations": whole_clip_share((split.gt_audio > 0, split.gt_visual > 0)),
            str(folder): whole_clip_share(predict(model, split).decisions(card.gating))}
    got = json.loads(out.read_text())["rows"]
    for name, shares in want.items():
        for modality, (share, n) in shares.items():
            assert got[name][modality]["detected"] == n
            assert got[name][modality]["share"] == pytest.approx(share, nan_ok=True)
    assert "annotations" in printed and str(folder)[-40:] in printed


def test_a_folder_without_dense_truth_is_one_line(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nowhere"), "--checkpoint"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
