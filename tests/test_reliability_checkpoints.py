"""Issue 20, the checkpoint half: every file of a checkpoint folder has a schema checked where it enters (upload)
and wherever it is read; sizes from untrusted files are bounded before anything is allocated; the training lock
cannot outlive its owner; commands refuse what would leave a checkpoint whose files disagree; bad training and
model values are one line before any folder exists; interrupted exports and stale temporaries are recovered.

Each test names its case (the issue's class and the hostile or unlucky input). Tiny data and a tiny HAN (width 16,
one epoch) keep it to seconds per case.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_bad_input import app, cli, digest
from test_bad_input import assert_one_line_error as one_line

from avvp_core import uploads
from avvp_core.analysis import curves
from avvp_core.analysis.compare import aggregate, configuration_label, published_frame, without_figures
from avvp_core.checkpoint_schema import MAX_JSON_DEPTH, declared_tensors
from avvp_core.checkpoints import Card, checkpoint_problems, list_checkpoints, load_checkpoint, read_card
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.models import create_model
from avvp_core.training.loop import LOCK, folder_lock

REPO = Path(__file__).resolve().parents[1]
TINY = {"dim": 16, "ffn_dim": 16}


# ---------------------------------------------------------------------------------------------------- helpers


def _train(data: Path, out: Path, **train) -> Path:
    from avvp_core.training.recipes import RecipeContext, run_recipe

    run_recipe(train.pop("recipe", "plain"), RecipeContext(LLPDataset(data), "han", out, "paper", dict(TINY),
                                                           {"epochs": 1, **train}, terminal=False))
    return out


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """A tiny HAN (width 16, one epoch). Read-only: copy before damaging."""
    return _train(tiny_data, tmp_path_factory.mktemp("rel") / "good")


@pytest.fixture()
def copy(trained, tmp_path):
    def make(name: str = "bad", root: Path | None = None) -> Path:
        return Path(shutil.copytree(trained, (root or tmp_path / "runs") / name))

    return make


def _set_json(folder: Path, name: str, value) -> None:
    (folder / name).write_text(value if isinstance(value, str) else json.dumps(value))


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _entries(folder: Path, prefix: str = "good/") -> dict[str, bytes]:
    return {prefix + p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------------ class 1: a schema for every checkpoint file

FIGURES = {k: 50.0 for k in METRIC_KEYS}
SCHEMA_CASES = [
    pytest.param("metrics.json", {"complete": True, "test": "x", "val": "x"},
                 "'val' must be an object of the ten figures, got 'x'", id="metrics-test-val-strings"),
    pytest.param("metrics.json", {"complete": True, "test": {k: "50.0" for k in METRIC_KEYS}},
                 "figure test/segment/audio must be a number in 0..100, got '50.0'", id="figures-as-strings"),
    pytest.param("metrics.json", {"complete": True, "test": {**FIGURES, "event/av": float("nan")}},
                 "figure test/event/av must be a number in 0..100, got nan", id="figure-nan"),
    pytest.param("metrics.json", {"complete": True, "test": {k: v for k, v in FIGURES.items() if k != "event/av"}},
                 "'test' lacks figure 'event/av'", id="figure-missing"),
    pytest.param("metrics.json", {"complete": "yes"}, "'complete' must be a boolean, got 'yes'", id="complete-string"),
    pytest.param("metrics.json", [1, 2], "expected a JSON object", id="metrics-a-list"),
    pytest.param("metrics.json", {"refinement": {"audio": {"positives": "many"}}},
                 "'refinement/audio/positives' must be a non-negative number", id="refinement-string"),
    pytest.param("metrics.json", '{"a":' + _nested(5000) + "}", f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                 id="metrics-nested-5000"),
    pytest.param("log.jsonl", '{"epoch": 1, "loss": ' + _nested(5000) + '}\n{"epoch": 2, "loss": 1.0}\n',
                 f"JSON nested deeper than {MAX_JSON_DEPTH} levels", id="log-line-nested-5000"),
    pytest.param("log.jsonl", '{"epoch": 1, "loss": ' + _nested(40) + '}\n{"epoch": 2, "loss": 1.0}\n',
                 f"JSON nested deeper than {MAX_JSON_DEPTH} levels", id="log-line-nested-40"),
    pytest.param("log.jsonl", '{"epoch": 1, "loss": "low"}\n', "'loss' must be a number, got 'low'",
                 id="log-value-string"),
    pytest.param("log.jsonl", '{"epoch": "one", "loss": 1.0}\n', "'epoch' must be a positive integer, got 'one'",
                 id="log-epoch-string"),
    pytest.param("log.jsonl", '[1, 2]\n{"epoch": 1}\n', "expected a JSON object per line", id="log-line-a-list"),
    pytest.param("steps.jsonl", '{"epoch": 1, "step": 1, "omega": {"a": 1}}\n', "'omega' must be a number",
                 id="steps-value-object"),
    pytest.param("config.json", lambda c: {**c, "gating": "sideways"}, "'gating' must be one of fused, modality, none",
                 id="config-gating"),
    pytest.param("config.json", lambda c: {**c, "train": "fast"}, "'train' must be an object, got 'fast'",
                 id="config-train-string"),
    pytest.param("config.json", lambda c: {**c, "data": ["x"]}, "'data' must be an object, got a list",
                 id="config-data-list"),
    pytest.param("config.json", lambda c: {**c, "classes": c["classes"][::-1]}, "'classes' must be the 25 LLP classes",
                 id="config-classes-reordered"),
    pytest.param("config.json", lambda c: {**c, "model": ["han"]}, "'model' must be a model name, got a list",
                 id="config-model-list"),
    pytest.param("config.json", lambda c: {**c, "model_config": {"dim": [16]}}, "model option 'dim' must be a number",
                 id="config-option-list"),
]


def _damage(folder: Path, file: str, value) -> None:
    if callable(value):
        value = value(json.loads((folder / file).read_text()))
    _set_json(folder, file, value)


@pytest.mark.parametrize("file, value, message", SCHEMA_CASES)
def test_class1_damaged_files_are_one_line_and_listed_as_damaged(file, value, message, copy, tiny_data, capsys):
    bad = copy()
    _damage(bad, file, value)
    with pytest.raises(InputError, match=None) as info:
        read_card(bad)
    assert message in str(info.value) and str(bad / file) in str(info.value) and "\n" not in str(info.value)
    assert list_checkpoints(bad.parent) == []
    assert [p for p in checkpoint_problems(bad.parent) if message in p] == [str(info.value)]
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", bad)
    one_line(rc, err, str(bad / file), message)


def test_class1_a_log_cut_by_a_kill_keeps_its_whole_lines(copy):
    folder = copy()
    rows = (folder / "log.jsonl").read_text()
    (folder / "log.jsonl").write_text(rows + '{"epoch": 2, "loss": 0.')  # the last append, cut mid-write
    assert read_card(folder).log() == [json.loads(x) for x in rows.splitlines()]


@pytest.mark.app
@pytest.mark.parametrize("page", ["home.py", "compare.py", "imbalance.py", "thresholds.py"])
def test_class1_pages_list_damaged_checkpoints_and_still_work(page, copy, tiny_data, tmp_path):
    """The issue's cases side by side with a good checkpoint: no page raises; Compare names each damaged folder."""
    runs = tmp_path / "runs"
    copy("good")
    damaged = {"strings": ("metrics.json", {"complete": True, "test": "x", "val": "x"}),
               "string-figures": ("metrics.json", {"complete": True, "test": {k: "1" for k in METRIC_KEYS}}),
               "nested-log": ("log.jsonl", '{"epoch": 1, "loss": ' + _nested(3000) + "}\n{\"epoch\": 2}\n")}
    for name, (file, value) in damaged.items():
        _damage(copy(name), file, value)
    at = app(page, tiny_data, [runs])
    assert not at.exception, at.exception
    if page == "compare.py":
        warnings = [w.value for w in at.warning]
        for name, (file, _) in damaged.items():
            assert any(str(runs / name / file) in w for w in warnings), (name, warnings)
        assert list(at.dataframe[0].value["runs"]) == [1]
    if page == "home.py":
        boards = [d.value for d in at.dataframe if ("", "model") in d.value.columns]  # the leaderboard
        assert [list(b[("", "model")]) for b in boards] == [["HAN · good"]]


@pytest.fixture(scope="module")
def no_test(tiny_data, tmp_path_factory) -> Path:
    """A legitimate checkpoint trained with eval_test off: val figures, no test figures."""
    return _train(tiny_data, tmp_path_factory.mktemp("rel-notest") / "runs" / "notest", eval_test=False)


def test_class1_eval_test_off_is_a_valid_checkpoint(no_test):
    card = read_card(no_test)
    assert "test" not in card.metrics and set(card.metrics["val"]) == set(METRIC_KEYS)
    assert aggregate([card], "test").empty and list(aggregate([card], "test").columns)[:3] == [
        "configuration", "runs", "seeds"]
    assert without_figures([card], "test") == [card] and list(aggregate([card], "val")["runs"]) == [1]


@pytest.mark.app
def test_class1_eval_test_off_shows_on_compare_without_keyerror(no_test, tiny_data):
    at = app("compare.py", tiny_data, [no_test.parent])
    assert not at.exception, at.exception  # was KeyError: 'configuration'
    assert any("Not in the table, no test figures (trained with eval_test off?): HAN · notest" in c.value
               for c in at.caption)
    assert "None of the chosen checkpoints has test figures: choose the val split above." in at.info[0].value
    at.radio(key="compare_split").set_value("val").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["runs"]) == [1]
    # the figures table shows "mean ± std" per cell ("± –" for one run)
    assert table.loc[0, "segment/type"] == f"{read_card(no_test).metrics['val']['segment/type']:.1f} ± –"


@pytest.mark.app
def test_class1_eval_test_off_is_flagged_on_home(no_test, tiny_data):
    at = app("home.py", tiny_data, [no_test.parent])
    assert not at.exception, at.exception
    assert any("No test figures (trained with eval_test off), shown empty: HAN · notest" in c.value
               for c in at.caption)


def test_class1_claims_skip_runs_without_test_figures():
    from avvp_core import claims

    rows = claims.check({"han": [{"test": None, "log": []}], "mgn": [{"test": dict(FIGURES), "log": []}]})
    assert {r["verdict"] for r in rows if r["candidate"] == "mgn"} == {"not measured"}


def test_class1_upload_checks_every_file_before_installing(trained, tmp_path):
    entries = _entries(trained)
    entries["good/metrics.json"] = json.dumps({"complete": True, "test": "x", "val": "x"}).encode()
    before = digest(tmp_path)
    with pytest.raises(InputError) as info:
        uploads.install_checkpoint_zip("good.zip", _zip(entries), tmp_path / "uploads")
    assert str(info.value) == ("good.zip: refused: good/metrics.json: 'val' must be an object of the ten figures, "
                               "got 'x'")
    assert digest(tmp_path) == before


# --------------------------------------------------------------------- class 2: every size bounded before allocation


def _config_zip(trained: Path, **model_config) -> bytes:
    entries = _entries(trained)
    config = json.loads(entries["good/config.json"])
    config["model_config"].update(model_config)
    entries["good/config.json"] = json.dumps(config).encode()
    return _zip(entries)


def test_class2_a_small_zip_asking_han_at_width_6000_is_refused_fast_and_small(trained, tmp_path):
    data = _config_zip(trained, dim=6000, ffn_dim=6000)
    assert len(data) < 200_000
    (tmp_path / "wide.zip").write_bytes(data)
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        from avvp_core import checkpoints, uploads  # loaded, as in the running app: the import is not the upload
        from avvp_core.errors import InputError
        data = open({str(tmp_path / "wide.zip")!r}, "rb").read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        try:
            uploads.install_checkpoint_zip("wide.zip", data, {str(tmp_path / "uploads")!r})
            message = None
        except InputError as exc:
            message = str(exc)
        seconds = time.perf_counter() - t0
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({{"message": message, "seconds": seconds, "grew_kb": grew}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["message"] == ("wide.zip: refused: config.json: model 'han' with this configuration has "
                                 "448,686,075 parameters, over the limit of 100,000,000")
    assert result["seconds"] < 1.0 and result["grew_kb"] < 64 * 1024, result  # was 9.6 s and 2 GB
    assert not (tmp_path / "uploads").exists()


def test_class2_config_asking_for_a_huge_model_is_refused_on_read_before_building(copy, tiny_data, capsys):
    bad = copy()
    config = json.loads((bad / "config.json").read_text())
    config["model_config"].update(dim=20000, ffn_dim=20000)  # 18 GiB if built
    _set_json(bad, "config.json", config)
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", bad)
    one_line(rc, err, str(bad / "config.json"), "parameters, over the limit of 100,000,000")


def _expanded_state() -> dict[str, torch.Tensor]:
    """A stride-0 view: one float stored, a million by a million declared (4 TB once made contiguous)."""
    return {"fc_a.weight": torch.zeros(1).expand(10**6, 10**6)}


def test_class2_stride0_tensor_asking_1tb_in_convert_is_refused_without_allocating(tmp_path, capsys):
    source = tmp_path / "official.pt"
    torch.save(_expanded_state(), source)
    assert source.stat().st_size < 10_000
    rc, out, err = cli(capsys, "convert", source, "--out", tmp_path / "out")
    one_line(rc, err, str(source), "tensor 'fc_a.weight' declares shape (1000000, 1000000) (stride (0, 0)) over a "
                                   "storage of 1 elements; refused")
    assert not (tmp_path / "out").exists()


def test_class2_stride0_tensor_in_a_checkpoint_is_refused(copy, tiny_data, capsys):
    bad = copy()
    state = torch.load(bad / "model.pt", weights_only=True)
    state["project.audio.weight"] = torch.zeros(1).expand(10**6, 10**6)
    torch.save(state, bad / "model.pt")
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", bad)
    one_line(rc, err, str(bad / "model.pt"), "declares shape (1000000, 1000000) (stride (0, 0))")


class _FakeStorage:
    pass


class _FakeTensor:
    def __init__(self, shape, stride):
        self.shape, self.stride = shape, stride

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (_FakeStorage(), 0, self.shape, self.stride, False, OrderedDict())


def _forged_torch_file(numel: int, shape: tuple, stride: tuple, data: bytes) -> bytes:
    """A torch zip file whose pickle declares a storage of `numel` floats while its record holds `data`."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if isinstance(obj, _FakeStorage) else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": _FakeTensor(shape, stride)})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", data)
        zf.writestr("archive/version", "3\n")
    return out.getvalue()


def test_class2_storage_declared_larger_than_the_file_is_refused(tmp_path):
    path = tmp_path / "forged.pt"
    path.write_bytes(_forged_torch_file(10**12, (10**6, 10**6), (10**6, 1), b"\0" * 4))
    with pytest.raises(InputError) as info:
        declared_tensors(path)
    assert str(info.value) == f"{path}: storage 0 declares 4000000000000 bytes, the file holds 4; refused"


def test_class2_legacy_format_storage_past_the_end_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, path, _use_new_zipfile_serialization=False)
    assert set(declared_tensors(path)) == {"w"}  # control: a whole legacy file reads
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="storage .* declares 4000 bytes, past the end of the file; refused"):
        declared_tensors(path)


def test_class2_oversized_json_is_refused_on_read_and_on_upload(copy, trained, tmp_path):
    bad = copy()
    (bad / "metrics.json").write_text(json.dumps({"complete": True, "pad": " " * (2 * 1024 * 1024)}))
    with pytest.raises(InputError) as info:
        read_card(bad)
    assert str(info.value) == f"{bad / 'metrics.json'}: is 2.0 MB, over the 1 MB limit for this file"
    entries = _entries(trained)
    entries["good/metrics.json"] = (bad / "metrics.json").read_bytes()
    data = _zip(entries)
    assert len(data) < len(_zip(_entries(trained))) + 10_000  # a metrics file that packs to a few KB, unpacks to 2 MB
    with pytest.raises(InputError) as info:
        uploads.install_checkpoint_zip("good.zip", data, tmp_path / "uploads")
    assert str(info.value) == "good.zip: metrics.json unpacks to 2.0 MB, over the 1 MB limit for that file"
    assert not (tmp_path / "uploads").exists()


def test_class2_weights_of_another_width_are_refused_before_building(copy, tiny_data, capsys, monkeypatch):
    """The declared shapes are compared with the config's meta model before the real model or a tensor exists."""
    from avvp_core import checkpoints

    bad = copy()
    torch.save(create_model("han", dim=32, ffn_dim=32).state_dict(), bad / "model.pt")
    real = checkpoints.create_model

    def create_model_on_meta_only(*args, **kwargs):
        if torch.get_default_device().type != "meta":
            pytest.fail("the real model was built before the shapes matched")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoints, "create_model", create_model_on_meta_only)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("read before the shapes matched"))
    with pytest.raises(InputError, match=r"weights do not fit model 'han' as config.json builds it: \d+ of another "
                                         r"shape \(e.g. project.audio.weight: \(32, 128\) in the file, \(16, 128\)"):
        load_checkpoint(bad)


# ------------------------------------------------------------------------------------------- class 3: the lock


def _holder(folder: Path, ready: Path, pause_in_write: bool = False) -> subprocess.Popen:
    """A process that takes the folder lock (or stops inside its creation) and sleeps."""
    script = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from avvp_core.training import loop
        if {pause_in_write!r}:
            def stop(*a):  # inside the lock's creation: the file exists (empty), its content not yet written
                Path({str(ready)!r}).write_text("in")
                time.sleep(60)
            os.pwrite = stop
        with loop.folder_lock(Path({str(folder)!r})):
            Path({str(ready)!r}).write_text("held")
            time.sleep(60)
    """)
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO)


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)


def test_class3_zero_byte_lock_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK).write_bytes(b"")  # a kill or a full disk right after the lock file was created
    with folder_lock(folder):
        assert (folder / LOCK).read_text() == str(os.getpid())
    assert not (folder / LOCK).exists()


@pytest.mark.parametrize("content", ["0", "999999999", "garbage"], ids=["pid-0", "dead-pid", "not-a-pid"])
def test_class3_stale_lock_of_a_gone_owner_is_taken_over(content, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK).write_text(content)
    with folder_lock(folder):
        pass


def test_class3_lock_naming_a_live_but_unrelated_pid_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK).write_text(str(os.getppid()))  # alive, but holds no lock: the pid is only informative
    with folder_lock(folder):
        pass


def test_class3_two_live_trainings_into_one_folder_are_still_refused(tmp_path):
    folder, ready = tmp_path / "run", tmp_path / "ready"
    proc = _holder(folder, ready)
    try:
        _wait_for(ready, proc)
        with pytest.raises(InputError) as info, folder_lock(folder):
            pass
        assert str(info.value) == (f"{folder}: another training (pid {proc.pid}) is writing to this folder (wait for "
                                   "it, or choose another --out)")
    finally:
        proc.kill()
        proc.wait()
    with folder_lock(folder):  # its owner gone, the lock is free at once
        pass


def test_class3_kill_inside_lock_creation_leaves_a_folder_the_next_train_takes(tiny_data, tmp_path, capsys):
    folder, ready = tmp_path / "run", tmp_path / "ready"
    proc = _holder(folder, ready, pause_in_write=True)
    _wait_for(ready, proc)
    assert ready.read_text() == "in" and (folder / LOCK).read_bytes() == b""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (folder / LOCK).exists()  # left behind, empty: it read as pid 0 and locked the folder for good
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=16", "--set", "ffn_dim=16",
                       "--epochs", "1", "--out", folder)
    assert rc == 0, err
    assert read_card(folder).metrics["complete"] and not (folder / LOCK).exists()


# ----------------------------------------------------------------------- class 4: commands that did the wrong thing


def test_class4_convert_onto_a_trained_checkpoint_is_refused(copy, tmp_path, capsys):
    target = copy("trained")
    source = tmp_path / "official.pt"
    torch.save(_official_state(), source)
    before = digest(target)
    rc, out, err = cli(capsys, "convert", source, "--out", target)
    assert one_line(rc, err) == (f"error: {target}: already exists and is not empty (convert into a new folder: its "
                                 "files would be mixed with the imported ones)")
    assert digest(target) == before  # metrics.json, log and weights as they were
    rc, out, err = cli(capsys, "convert", source, "--out", tmp_path / "fresh")
    assert rc == 0 and sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["config.json", "model.pt"]
    assert not list(tmp_path.glob(".fresh.*"))


def test_class4_train_into_a_finished_folder_with_another_model_refuses(copy, tiny_data, capsys):
    folder = copy("done")
    before = digest(folder)
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "mmt", "--width", "demo", "--epochs", "1",
                       "--out", folder)
    line = one_line(rc, err, str(folder), "holds a finished checkpoint of another configuration (model: 'han' there, "
                                          "'mmt' asked")
    assert line.endswith("(use another --out, or delete the folder to start again)")
    assert digest(folder) == before


def test_class4_train_into_a_finished_folder_with_another_option_names_it(copy, tiny_data, capsys):
    folder = copy("done")
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=16", "--set",
                       "ffn_dim=16", "--epochs", "1", "--lr", "0.001", "--out", folder)
    one_line(rc, err, "(train.lr: 0.0003 there, 0.001 asked)")
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=16", "--set",
                       "ffn_dim=16", "--epochs", "1", "--out", folder)
    assert rc == 0 and "checkpoint:" in out  # the same command again: its result, as before


def test_class4_resume_with_a_different_set_names_the_key(tiny_data, tmp_path, capsys):
    from avvp_core.training.recipes import RecipeContext, run_recipe

    folder = tmp_path / "interrupted"
    stops = iter([False] * 4 + [True] * 100)  # 60 videos, batch 16: 4 steps, so stop inside epoch 2
    with pytest.raises(KeyboardInterrupt):
        run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", folder, "paper", dict(TINY), {"epochs": 2},
                                          terminal=False, should_stop=lambda: next(stops)))
    assert (folder / "train_state.pt").exists()
    before = digest(folder)
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=32", "--set",
                       "ffn_dim=16", "--epochs", "2", "--out", folder)
    one_line(rc, err, str(folder / "train_state.pt"),
             "holds an interrupted run of another configuration (model_config.dim: 16 there, 32 asked)")
    assert digest(folder) == before
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=16", "--set",
                       "ffn_dim=16", "--epochs", "2", "--out", folder)
    assert rc == 0, err


def test_class4_a_run_older_than_a_training_option_still_matches_at_its_default(tmp_path):
    """An option added later (e.g. dgm_scale) defaults to the behaviour before it: an interrupted or finished run
    written before it existed is the same training when the option is asked at its default, another one otherwise."""
    from avvp_core.training.loop import _refuse_other

    asked = {"model": "han", "train": {"seed": 1, "lr": 3e-4, "dgm_scale": "gradient"}}
    older = {"model": "han", "train": {"seed": 1, "lr": 3e-4}}
    what = "an interrupted run"
    _refuse_other(tmp_path, older, asked, what)  # no error
    with pytest.raises(InputError, match=r"train.dgm_scale: None there, 'step' asked"):
        _refuse_other(tmp_path, older, {**asked, "train": {**asked["train"], "dgm_scale": "step"}}, what)
    with pytest.raises(InputError, match=r"train.lr: 0.0003 there, 0.001 asked"):
        _refuse_other(tmp_path, older, {**asked, "train": {**asked["train"], "lr": 1e-3}}, what)



def test_class4_a_run_older_than_a_model_option_still_matches_at_its_default(tiny_data, tmp_path, capsys):
    """The same for a model option (CM-PIE's cma_concat, added with the reading every earlier run used): a finished
    run whose config predates it is recognised when the option is asked at its default, refused otherwise."""
    from avvp_core.models import model_info

    folder = tmp_path / "run"
    args = ("train", "--data", tiny_data, "--model", "cmpie", "--set", "dim=16", "--set", "ffn_dim=16", "--epochs", "1",
            "--out", folder)
    rc, _, err = cli(capsys, *args)
    assert rc == 0, err
    config = json.loads((folder / "config.json").read_text())
    assert config["model_config"].pop("cma_concat") == model_info("cmpie").defaults["cma_concat"] == "time"
    (folder / "config.json").write_text(json.dumps(config))  # as written before the option existed
    before = digest(folder)
    rc, _, err = cli(capsys, *args)
    assert rc == 0, err  # the finished run, recognised
    rc, out, err = cli(capsys, *args[:-2], "--set", "cma_concat=channels", "--out", folder)
    one_line(rc, err, str(folder / "config.json"),
             "holds a finished checkpoint of another configuration (model_config.cma_concat: None there, 'channels'")
    assert digest(folder) == before


def test_class4_damaged_training_state_is_one_line(tiny_data, tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "train_state.pt").write_text("not a torch file\n")
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=16", "--set",
                       "ffn_dim=16", "--epochs", "1", "--out", folder)
    one_line(rc, err, str(folder / "train_state.pt"), "truncated or not a torch file")


# ------------------------------------------------------- class 6 (and 4): bad values refused before anything exists

TRAIN_VALUES = [
    pytest.param(["--batch-size", "0"], "training option 'batch_size' must be between 1 and 1000000, got 0",
                 id="batch-size-0"),
    pytest.param(["--lr", "-1"], "training option 'lr' must be a finite number > 0, got -1.0", id="lr-negative"),
    pytest.param(["--lr", "nan"], "training option 'lr' must be a finite number > 0, got nan", id="lr-nan"),
    pytest.param(["--seed", "-1"], "training option 'seed' must be between 0 and 4294967295, got -1",
                 id="seed-negative"),
    pytest.param(["--device", "bogus"], "--device bogus: expected cpu, cuda or cuda:N", id="device-bogus"),
    pytest.param(["--epochs", "0"], "training option 'epochs' must be between 1 and 100000, got 0", id="epochs-0"),
    pytest.param(["--train-set", "epochs='ten'"], "training option 'epochs' takes int, got 'ten'", id="epochs-ten"),
    pytest.param(["--train-set", "select_metric=val/nope"],
                 "training option 'select_metric' must be '' (keep the last epoch) or val/<figure>", id="select-nope"),
    pytest.param(["--set", "heads=0"], "option 'heads' of 'han' must be between 1 and 1000000, got 0", id="heads-0"),
    pytest.param(["--set", "heads=3"], "model 'han' cannot be built with this configuration (width 128 is not "
                                       "divisible by 3 heads)", id="heads-not-dividing"),
    pytest.param(["--set", "dropout=2.0"], "option 'dropout' of 'han' is a probability: between 0 and 1 (1 excluded), "
                                           "got 2.0", id="dropout-2"),
    pytest.param(["--set", "dim=-4"], "option 'dim' of 'han' must be between 1 and 1000000, got -4", id="dim-negative"),
    pytest.param(["--set", "dim=100000", "--set", "ffn_dim=100000"], "parameters, over the limit of 100,000,000",
                 id="dim-huge"),
]


@pytest.mark.parametrize("flags, message", TRAIN_VALUES)
def test_class6_bad_training_values_are_one_line_before_any_folder(flags, message, tiny_data, tmp_path, capsys):
    before = digest(tiny_data)
    out_dir = tmp_path / "out"
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--width", "demo", *flags,
                       "--out", out_dir)
    one_line(rc, err, message)
    assert not out_dir.exists() and digest(tiny_data) == before


@pytest.mark.app
@pytest.mark.parametrize("model_set, train_set, message", [
    pytest.param("heads=3", "", "width 128 is not divisible by 3 heads", id="heads-not-dividing"),
    pytest.param("dropout=2.0", "", "is a probability", id="dropout-2"),
    pytest.param("", "batch_size=0", "training option 'batch_size' must be between 1", id="batch-size-0"),
    pytest.param("", "lr=-1", "training option 'lr' must be a finite number > 0", id="lr-negative"),
    pytest.param("", "epochs='ten'", "training option 'epochs' takes int, got 'ten'", id="epochs-ten"),
    pytest.param("", "select_metric=val/nope", "training option 'select_metric'", id="select-nope"),
    pytest.param("", "device=bogus", "training option 'device' must be a torch device", id="device-bogus"),
])
def test_class6_train_page_shows_one_line_and_starts_no_job(model_set, train_set, message, tiny_data, runs):
    from streamlit.testing.v1 import AppTest

    from avvp_core import jobs

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(runs)]
    at.run()
    at = at.switch_page("pages/train.py").run()
    at.text_area(key="train_model_set").set_value(model_set)
    at.text_area(key="train_train_set").set_value(train_set)
    at.button(key="train_submit").click().run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value and "\n" not in at.error[0].value
    assert jobs.list_jobs() == [] and not (runs.exists() and any(runs.iterdir()))


def test_class6_text_model_pt_is_one_line(copy, tiny_data, capsys):
    bad = copy()
    (bad / "model.pt").write_text("these are not weights\n" * 20)
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", bad)
    one_line(rc, err, str(bad / "model.pt"), "unreadable weights file, truncated or not a torch file")


def _official_state(drop: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """An official-style HAN state dict (our HAN's tensors under the official names), minus `drop` prefixes."""
    from avvp_core.convert import HAN_KEYS

    ours = create_model("han", dim=16, ffn_dim=16).state_dict()
    back = {v: k for k, v in HAN_KEYS.items()}
    state = {}
    for key, value in ours.items():
        prefix = next((p for p in back if key.startswith(p)), None)
        if prefix is not None:
            state[back[prefix] + key[len(prefix):]] = value
        else:
            _, i, part, rest = key.split(".", 3)
            state[f"hat_encoder.layers.{i}.{'cm_attn' if part == 'cross_attn' else part}.{rest}"] = value
    return {k: v for k, v in state.items() if not k.startswith(drop)}


@pytest.mark.parametrize("drop, message", [
    pytest.param(("hat_encoder.layers.0.norm2",), "does not fit han: 2 tensors missing (e.g. layers.0.norm2.weight)",
                 id="missing-norm"),
    pytest.param(("hat_encoder.layers.0.linear1",), "no hat_encoder.layers.0.linear1.weight: not an official HAN",
                 id="missing-linear1"),
    pytest.param(("hat_encoder",), "no hat_encoder layer: not an official HAN", id="missing-every-layer"),
    pytest.param(("fc_a",), "no fc_a.weight", id="missing-fc_a"),
])
def test_class6_official_state_dicts_with_missing_layers(drop, message, tmp_path, capsys):
    source = tmp_path / "official.pt"
    torch.save(_official_state(drop), source)
    rc, out, err = cli(capsys, "convert", source, "--out", tmp_path / "out")
    one_line(rc, err, message)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_class6_output_path_that_is_a_folder_or_unwritable(trained, tiny_data, tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", trained, "--json", tmp_path / "adir")
    one_line(rc, err, f"{tmp_path / 'adir'}: cannot write (Is a directory); nothing was changed")
    (tmp_path / "afile").write_text("x")
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", trained, "--json",
                       tmp_path / "afile" / "x.json")
    one_line(rc, err, f"{tmp_path / 'afile' / 'x.json'}: cannot write (")
    rc, out, err = cli(capsys, "convert", trained / "model.pt", "--out", tmp_path / "afile")
    one_line(rc, err, f"{tmp_path / 'afile'}: exists and is not a folder")


@pytest.fixture()
def small_disk(tmp_path):
    """A 160 KB tmpfs (a full disk on demand); skipped where this machine cannot mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()[:80]})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_class6_enospc_in_evaluate_json_is_one_line_and_writes_nothing(small_disk, trained, tiny_data, capsys):
    _fill(small_disk)
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", trained, "--json",
                       small_disk / "figures.json")
    one_line(rc, err, f"{small_disk / 'figures.json'}: ", "No space left on device")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_class6_enospc_in_train_is_one_line_and_nothing_half_written(small_disk, tiny_data, capsys):
    out_dir = small_disk / "run"
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=64", "--set",
                       "ffn_dim=64", "--epochs", "3", "--out", out_dir)
    line = one_line(rc, err, str(out_dir))
    assert line.endswith("cannot write (No space left on device); nothing was changed (free some space or write "
                         "elsewhere)"), line
    assert not [p for p in out_dir.rglob(".*") if p.name != LOCK]  # no temporaries
    for path in out_dir.glob("*.json"):
        json.loads(path.read_text())  # whole
    if (out_dir / "log.jsonl").exists():
        assert (out_dir / "log.jsonl").read_text().endswith("\n") or not (out_dir / "log.jsonl").read_text()


# --------------------------------------------------------------------------------------- class 8: leftovers


def test_class8_kill_between_the_zoo_exports_two_renames_is_recovered(trained, tiny_data, tmp_path):
    from avvp_core.zoo import ZOO_FILE, recover_exports

    out = tmp_path / "zoo"
    out.mkdir()
    shutil.copytree(trained, out / "han")
    (out / ZOO_FILE).write_text(json.dumps({"entries": {"han": {}}}))
    before = digest(out / "han")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from avvp_core import zoo
        from avvp_core.data import LLPDataset
        real = Path.rename
        def rename(self, target):
            if self.name == ".han.tmp":  # the second rename: the old export is aside, the new one not yet in place
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, target)
        Path.rename = rename
        zoo.export(zoo.ENTRIES["han"], Path({str(trained)!r}), LLPDataset({str(tiny_data)!r}), Path({str(out)!r}), 1.0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [".han.old", ".han.tmp", ZOO_FILE]
    assert list_checkpoints(out) == [] and checkpoint_problems(out) == []  # temporaries are never listed
    assert recover_exports(out) == ["han: restored the previous export (an export was interrupted)",
                                    "removed .han.tmp (left by an interrupted export)"]
    assert sorted(p.name for p in out.iterdir()) == ["han", ZOO_FILE] and digest(out / "han") == {
        k.replace(str(out / "han"), str(out / "han")): v for k, v in before.items()}
    assert [c.path.name for c in list_checkpoints(out)] == ["han"]


def test_class8_hidden_temporaries_are_never_listed(copy, tmp_path):
    runs = tmp_path / "runs"
    for name in ("good", ".good.tmp", ".good.old", ".x.abc123.upload", ".out.q1.convert"):
        copy(name)
    assert [c.path.name for c in list_checkpoints(runs)] == ["good"] and checkpoint_problems(runs) == []


def test_class8_stale_atomic_temporaries_are_cleaned_on_the_next_run(tiny_data, tmp_path):
    from avvp_core.training.recipes import RecipeContext, run_recipe

    folder = tmp_path / "run"
    stops = iter([False] * 4 + [True] * 100)
    with pytest.raises(KeyboardInterrupt):
        run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", folder, "paper", dict(TINY), {"epochs": 2},
                                          terminal=False, should_stop=lambda: next(stops)))
    for name in (".model.pt.k2j3h4.tmp", ".train_state.pt.a8d7f6.tmp", ".metrics.json.zz.tmp"):
        (folder / name).write_bytes(b"half a file")  # killed between an atomic write and its rename
    _train(tiny_data, folder, epochs=2)
    assert not list(folder.glob(".*.tmp")) and read_card(folder).metrics["complete"]


def test_class8_stale_upload_folders_are_cleaned_on_the_next_upload(trained, tmp_path):
    dest = tmp_path / "uploads"
    stale, fresh = dest / ".old.x1.upload", dest / ".busy.x2.upload"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"partial")
    os.utime(stale, (time.time() - 2 * uploads.STALE_UPLOAD_SECONDS,) * 2)
    uploads.install_checkpoint_zip("good.zip", _zip(_entries(trained)), dest)
    assert not stale.exists() and fresh.exists()  # another upload may still be unpacking into the fresh one


# ----------------------------------------------------------------------- class 7: property test of the validator

_json_scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
                 | st.text(max_size=8))
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


@st.composite
def _mutation(draw):
    """A file of the folder and what replaces it: a valid card with one value swapped for arbitrary JSON, arbitrary
    JSON, arbitrary bytes, or deep nesting."""
    file = draw(st.sampled_from(["config.json", "metrics.json", "log.jsonl", "steps.jsonl"]))
    kind = draw(st.sampled_from(["swap", "json", "bytes", "deep"]))
    # the key swapped: often one the pages read (per-modality losses, figures), else arbitrary
    key = draw(st.one_of(st.sampled_from(["loss", "loss/audio", "loss/visual", "val/segment/audio", "epoch"]),
                         st.text(max_size=12)))
    return file, kind, draw(_json), draw(st.binary(max_size=64)), draw(st.integers(1, 3000)), key


def _apply(folder: Path, original: dict[str, bytes], mutation) -> None:
    file, kind, value, raw, levels, key = mutation
    for name, data in original.items():
        (folder / name).write_bytes(data)
    path = folder / file
    if kind == "bytes":
        path.write_bytes(raw)
    elif kind == "deep":
        path.write_text('{"epoch": 1, "x": ' + _nested(levels) + "}\n")
    elif kind == "json":
        path.write_text(json.dumps(value) + "\n")
    elif file.endswith(".jsonl"):
        rows = [json.loads(x) for x in original.get(file, b'{"epoch": 1, "step": 1}\n').decode().splitlines()]
        rows[0][key or "loss"] = value
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        obj = json.loads(original[file])
        target = obj
        while isinstance(target, dict) and target and key[:1] not in ("", "!"):  # descend sometimes
            inner = [v for v in target.values() if isinstance(v, dict)]
            if not inner:
                break
            target, key = inner[len(key) % len(inner)], key[1:]
        if isinstance(target, dict) and target:
            target[sorted(target)[len(key) % len(target)]] = value
        path.write_text(json.dumps(obj))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=_mutation())
@example(mutation=("log.jsonl", "swap", None, b"", 1, "loss/audio"))  # a null loss (allowed): crashed the gap verdict
def test_class7_validator_property_card_or_input_error_and_pages_cope(mutation, trained, tmp_path):
    """Over generated malformed config / metrics / log / step files: read_card gives a Card or an InputError, nothing
    else; and whatever it accepts, the code the pages run on cards (Compare's table, Home's leaderboard, the curves,
    the claims) runs without an exception."""
    folder = tmp_path / "ckpt"
    if not folder.exists():
        shutil.copytree(trained, folder)
    original = {p.name: p.read_bytes() for p in trained.iterdir() if p.suffix in (".json", ".jsonl")}
    original.setdefault("steps.jsonl", b'{"epoch": 1, "step": 1, "omega": 1.0}\n')
    _apply(folder, original, mutation)
    _card_or_one_line_and_pages_cope(folder)


@pytest.mark.parametrize("card", ["tiny", "han-ma", "msdu-jomold-dgm"])
def test_class7_every_shallow_value_of_a_card_damaged_is_one_line_or_the_pages_cope(card, trained, tmp_path):
    """The random swaps above seldom reach a given key: every value of config.json and metrics.json down to two keys
    (a figure, a seeds block's part, a refinement record's part), each swapped for a null, a list and a string, on a
    tiny trained card and on two shipped zoo cards (seeds blocks, refinement and DGM records)."""
    from conftest import shallow_swaps

    from avvp_core.paths import CHECKPOINTS_DIR

    source = trained if card == "tiny" else CHECKPOINTS_DIR / card
    folder = Path(shutil.copytree(source, tmp_path / "ckpt"))
    for name in ("config.json", "metrics.json"):
        original = json.loads((source / name).read_text())
        for where, document in shallow_swaps(original, depth=2):
            (folder / name).write_text(json.dumps(document))
            _card_or_one_line_and_pages_cope(folder, f"{name} {where}")
        (folder / name).write_text(json.dumps(original))


_FIGURES_DRAWN: set[str] = set()


def _card_or_one_line_and_pages_cope(folder: Path, where: str = "") -> None:
    """read_card gives a Card or a one-line InputError; whatever it accepts, the code the pages run on cards runs."""
    from avvp_core import claims, ui

    try:
        card = read_card(folder)
    except InputError as exc:
        assert "\n" not in str(exc), where
        return
    assert isinstance(card, Card), where
    for split in ("test", "val"):
        aggregate([card], split)
    configuration_label(card)
    published_frame([card])
    ui.leaderboard({"x": card})
    rows, steps = card.log(), card.steps()
    curves.epoch_frame(rows)
    curves.loss_gap_frame({"x": (rows, curves.is_dgm(card.config))})
    curves.loss_gap_verdict({"x": (rows, True), "y": (rows, False)})
    curves.step_frame(steps)
    # The figures depend only on the log and step rows, which the swaps above leave alone: drawn once per distinct
    # input (the same code on the same rows draws the same figure), so a sweep of 400 swaps costs seconds, not a minute
    drawn = json.dumps([rows, steps], sort_keys=True, default=repr)
    if drawn not in _FIGURES_DRAWN:
        figures = (curves.loss_figure(rows), curves.val_figure(rows), curves.modality_loss_figure({"x": (rows, True)}),
                   curves.modality_f1_figure({"x": (rows, False)}), curves.dgm_steps_figure(steps))
        for figure in figures:
            figure.to_json()  # what st.plotly_chart serialises
        _FIGURES_DRAWN.add(drawn)
    run = {"test": card.metrics.get("test"), "log": rows, "refinement": card.metrics.get("refinement")}
    claims.check({"han": [run], "han-ma": [run]})
    assert all(math.isfinite(v) for s in ("val", "test") for v in (card.metrics.get(s) or {}).values()), where


@pytest.mark.app
def test_class1_damaged_job_record_does_not_break_the_train_page(tiny_data, runs):
    from streamlit.testing.v1 import AppTest

    from avvp_core import jobs

    (runs / "hand-edited").mkdir(parents=True)
    (runs / "hand-edited" / "job.json").write_text(json.dumps({"argv": ["-m"], "started": "yesterday", "pid": "1"}))
    assert jobs.list_jobs() == []
    with pytest.raises(InputError, match="damaged job record"):
        jobs.get("hand-edited")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(runs)]
    at.run()
    at = at.switch_page("pages/train.py").run()
    assert not at.exception and "No training started from the app yet" in at.info[0].value


def test_class2_training_state_asking_1tb_is_refused_on_resume(tiny_data, tmp_path, capsys):
    from avvp_core.training.recipes import RecipeContext, run_recipe

    folder = tmp_path / "interrupted"
    stops = iter([False] * 4 + [True] * 100)
    with pytest.raises(KeyboardInterrupt):
        run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", folder, "paper", dict(TINY), {"epochs": 2},
                                          terminal=False, should_stop=lambda: next(stops)))
    state = torch.load(folder / "train_state.pt", weights_only=True)
    state["model"]["project.audio.weight"] = torch.zeros(1).expand(10**6, 10**6)
    torch.save(state, folder / "train_state.pt")
    rc, out, err = cli(capsys, "train", "--data", tiny_data, "--model", "han", "--set", "dim=16", "--set",
                       "ffn_dim=16", "--epochs", "2", "--out", folder)
    one_line(rc, err, str(folder / "train_state.pt"), "tensor 'model.project.audio.weight' declares shape "
                                                      "(1000000, 1000000) (stride (0, 0)) over a storage of 1 elements")


def test_class6_enospc_during_a_log_append_leaves_no_half_line(tmp_path, monkeypatch):
    """The disk fills in the middle of an epoch's log line: the line is cut back off and the error is one line."""
    import errno

    from avvp_core import fileio

    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1, "loss": 1.0}\n')
    real = os.write

    def half_then_full(fd, data):
        if len(data) > 4:
            real(fd, bytes(data[:4]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(fileio.os, "write", half_then_full)
    with pytest.raises(InputError) as info:
        fileio.append_line(log, json.dumps({"epoch": 2, "loss": 0.5}))
    assert str(info.value) == (f"{log}: cannot write (No space left on device); nothing was changed (free some space "
                               "or write elsewhere)")
    assert log.read_text() == '{"epoch": 1, "loss": 1.0}\n'
