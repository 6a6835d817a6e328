"""The bad-input matrix (issue 8): every kind of broken input gives one clear line — from the CLI (exit 2, one
line on stderr naming the file and the problem, no traceback) and from the app (an error box, the page still
usable) — and leaves the disk exactly as it was (every file hashed before and after).

Each case breaks a copy of the session's tiny SynthLLP folder or of a tiny trained checkpoint in tmp_path.
Covered elsewhere and not repeated: reader-level CSV errors (test_data), the basic PRED.npz errors (test_cli:
missing/extra filenames, wrong shape, NaN), kill-and-resume and the training lock (test_training).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from avvp_core import uploads
from avvp_core.cli import main
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.models import create_model

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------- helpers


class CreatesMarker:
    """Unpickling this calls open(path, "w"): the marker file appearing would prove a pickle was executed."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def digest(*roots: Path) -> dict[str, str]:
    """sha256 of every file (hidden ones and caches included) and the list of folders under each root."""
    out: dict[str, str] = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            out[str(path)] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def cli(capsys, *args: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_line_error(rc: int, err: str, *needles: str) -> str:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def app(page: str, data_root: Path, checkpoint_roots: list[Path] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=90)
    at.session_state["data_root"] = str(data_root)
    at.session_state["checkpoint_roots"] = [str(p) for p in checkpoint_roots or []]
    return at.run()


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """A tiny HAN (width 16, one epoch) on the tiny data. Read-only: copy before damaging."""
    from avvp_core.training.recipes import RecipeContext, run_recipe

    out = tmp_path_factory.mktemp("ckpt") / "good"
    run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", out, "paper", {"dim": 16, "ffn_dim": 16},
                                      {"epochs": 1}, terminal=False))
    return out


@pytest.fixture()
def data_copy(tiny_data, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_data, tmp_path / "llp"))  # copy2 keeps mtimes: the feature cache is reused


# ------------------------------------------------------------------------------------------ data folder cases


def _edit(name: str, fn: Callable[[str], str]) -> Callable[[Path], str]:
    def mutate(root: Path) -> str:
        (root / name).write_text(fn((root / name).read_text()))
        return name

    return mutate


def _edit_line(name: str, lineno: int, fn: Callable[[list[str]], list[str]]) -> Callable[[Path], str]:
    def change(text: str) -> str:
        lines = text.splitlines()
        lines[lineno - 1] = "\t".join(fn(lines[lineno - 1].split("\t")))
        return "\n".join(lines) + "\n"

    return _edit(name, change)


def _unlink(name: str) -> Callable[[Path], str]:
    def mutate(root: Path) -> str:
        (root / name).unlink()
        return name

    return mutate


def _test_filename(root: Path, i: int = 0) -> str:
    return (root / "AVVP_test_pd.csv").read_text().splitlines()[1 + i].split("\t")[0]


def _test_video(root: Path, i: int = 0) -> str:
    return _test_filename(root, i)[:11]


def _feature(stream: str, damage: Callable[[Path], None]) -> Callable[[Path], str]:
    def mutate(root: Path) -> str:
        rel = f"feats/{stream}/{_test_video(root)}.npy"
        damage(root / rel)
        return rel

    return mutate


def _missing_features(root: Path) -> str:
    for i in range(3):
        (root / "feats" / "r2plus1d_18" / f"{_test_video(root, i)}.npy").unlink()
    return "feats/r2plus1d_18"


def _in_two_splits(root: Path) -> str:
    train_row = (root / "AVVP_train.csv").read_text().splitlines()[1]
    with open(root / "AVVP_test_pd.csv", "a") as fh:
        fh.write(train_row + "\n")
    return "AVVP_test_pd.csv"


def _pickled_feature(path: Path) -> None:
    array = np.empty(1, dtype=object)
    array[0] = CreatesMarker(path.parents[3] / "MARKER")  # beside the data folder
    np.save(path, array, allow_pickle=True)


def _not_utf8(root: Path) -> str:
    (root / "AVVP_train.csv").write_bytes(b"filename\tevent_labels\n\xff\xfe\x00x\tDog\n")  # e.g. saved as UTF-16
    return "AVVP_train.csv"


def _append(name: str, row: str) -> Callable[[Path], str]:
    return _edit(name, lambda text: text + row + "\n")


DATA_CASES = [
    pytest.param(_unlink("AVVP_test_pd.csv"), "file not found", id="missing-split-csv"),
    pytest.param(_unlink("AVVP_eval_visual.csv"), "file not found", id="missing-eval-csv"),
    pytest.param(_edit("AVVP_train.csv", lambda t: t.replace("\t", ",")), "comma-separated", id="comma-separated"),
    pytest.param(_edit("AVVP_eval_audio.csv", lambda t: t.replace("onset\toffset", "start\tend", 1)),
                 "expected tab-separated columns", id="wrong-columns"),
    pytest.param(_edit_line("AVVP_val_pd.csv", 3, lambda cells: cells[:1]), "line 3: expected 2 tab-separated fields",
                 id="missing-field"),
    pytest.param(_edit_line("AVVP_test_pd.csv", 2, lambda cells: [cells[0], "Moose"]), "unknown class name 'Moose'",
                 id="unknown-class-weak"),
    pytest.param(_edit_line("AVVP_eval_audio.csv", 2, lambda cells: [*cells[:3], "Speach"]),
                 "unknown class name 'Speach'", id="unknown-class-eval"),
    pytest.param(lambda root: _append("AVVP_eval_visual.csv", f"{_test_filename(root)}\t0\t12\tDog")(root),
                 "outside 0..10", id="out-of-range-segment"),
    pytest.param(_edit_line("AVVP_eval_audio.csv", 2, lambda cells: [cells[0], "2.5", *cells[2:]]),
                 "not whole seconds", id="fractional-onset"),
    pytest.param(_not_utf8, "not UTF-8", id="not-utf8"),
    pytest.param(_edit("AVVP_val_pd.csv", lambda t: t.splitlines()[0] + "\n"), "split has no videos", id="empty-split"),
    pytest.param(_in_two_splits, "is in both train and test", id="video-in-two-splits"),
    pytest.param(_missing_features, "3 feature files missing", id="feature-files-missing"),
    pytest.param(_feature("vggish", lambda p: np.save(p, np.zeros((10, 127), np.float32))), "shape (10, 127)",
                 id="feature-wrong-shape"),
    pytest.param(_feature("res152", lambda p: np.save(p, np.zeros((10, 2048), np.float64))), "dtype float64",
                 id="feature-wrong-dtype"),
    pytest.param(_feature("vggish", lambda p: np.save(p, np.full((10, 128), np.nan, np.float32))), "NaN or Inf",
                 id="feature-nan"),
    pytest.param(_feature("r2plus1d_18", lambda p: np.save(p, np.full((10, 512), np.inf, np.float32))), "NaN or Inf",
                 id="feature-inf"),
    pytest.param(_feature("vggish", lambda p: p.write_bytes(p.read_bytes()[:200])), "unreadable .npy",
                 id="feature-truncated"),
    pytest.param(_feature("vggish", _pickled_feature), "unreadable .npy", id="feature-pickle"),
]


@pytest.mark.parametrize("mutate, message", DATA_CASES)
def test_bad_data_folder_cli(mutate, message, data_copy, trained, tmp_path, capsys):
    file = mutate(data_copy)
    before = digest(data_copy, trained)
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", trained)
    assert_one_line_error(rc, err, str(data_copy / file), message)
    assert out == ""
    assert digest(data_copy, trained) == before
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.app
@pytest.mark.parametrize("mutate, message", DATA_CASES)
def test_bad_data_folder_app(mutate, message, data_copy, tiny_data, tmp_path):
    """The Data page's folder check: an error box naming the file; the data in use and its charts stay."""
    file = mutate(data_copy)
    before = digest(data_copy)
    at = app("data.py", tiny_data)
    at.radio(key="data_source").set_value("LLP folder").run()
    at.text_input(key="data_llp_path").input(str(data_copy)).run()
    at.button(key="data_llp_use").click().run()
    assert not at.exception
    assert len(at.error) == 1 and str(data_copy / file) in at.error[0].value and message in at.error[0].value
    assert at.session_state["data_root"] == str(tiny_data)  # not switched to the broken folder
    assert len(at.get("plotly_chart")) == 4  # the statistics of the data in use still render
    assert digest(data_copy) == before
    assert not (tmp_path / "MARKER").exists()


def test_bad_data_folder_cli_subprocess_has_no_traceback(data_copy, trained):
    """The same contract end to end in a fresh interpreter (warnings, logging and all)."""
    _feature("vggish", lambda p: np.save(p, np.zeros((10, 127), np.float32)))(data_copy)
    proc = subprocess.run([sys.executable, "-m", "avvp_core", "evaluate", "--data", str(data_copy), "--checkpoint",
                           str(trained)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, "shape (10, 127)")


# ---------------------------------------------------------------------- quirks of the real files: counted, not raised


def _quirk_rows(root: Path, kind: str) -> list[str]:
    first, second = (root / "AVVP_eval_audio.csv").read_text().splitlines()[1:3]
    video = _test_filename(root)
    return {
        "onset-not-before-offset": [f"{video}\t4\t4\tDog", f"{video}\t7\t2\tDog"],  # zero length, reversed
        "duplicate-rows": [first, second],
        "filenames-matching-no-video": ["VMTJRpjbE_150_160\t0\t10\tDog", "Baby_cry_infant_cry\t0\t3\tDog"],
    }[kind]


QUIRKS = {"onset-not-before-offset": "2 with onset >= offset ignored", "duplicate-rows": "2 duplicates",
          "filenames-matching-no-video": "2 naming no video ignored"}


@pytest.mark.parametrize("kind", list(QUIRKS))
def test_annotation_quirks_are_counted_and_change_nothing_cli(kind, data_copy, tiny_data, tmp_path, capsys):
    """Quirks of the released CSVs (zero-length/reversed events, duplicates, mangled names) are no-ops as in the
    official code: a perfect prediction still scores 100, and `score`/`stats` report the count on stderr."""
    with open(data_copy / "AVVP_eval_audio.csv", "a") as fh:
        fh.write("\n".join(_quirk_rows(data_copy, kind)) + "\n")
    test = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "perfect.npz"
    np.savez(pred, filenames=np.array(test.filenames), audio=test.gt_audio.astype(np.float32),
             visual=test.gt_visual.astype(np.float32))
    before = digest(data_copy, pred)
    rc, out, err = cli(capsys, "score", "--data", data_copy, "--split", "test", "--pred", pred)
    assert rc == 0 and "Traceback" not in err
    assert all(json.loads(out)[k] == 100.0 for k in METRIC_KEYS)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: AVVP_eval_audio.csv:") and QUIRKS[kind] in lines[0]
    rc, out, err = cli(capsys, "stats", data_copy)
    assert rc == 0 and QUIRKS[kind] in err
    assert digest(data_copy, pred) == before


@pytest.mark.app
@pytest.mark.parametrize("kind", list(QUIRKS))
def test_annotation_quirks_are_reported_by_the_app(kind, data_copy, tiny_data):
    with open(data_copy / "AVVP_eval_audio.csv", "a") as fh:
        fh.write("\n".join(_quirk_rows(data_copy, kind)) + "\n")
    before = digest(data_copy)
    at = app("data.py", tiny_data)
    at.radio(key="data_source").set_value("LLP folder").run()
    at.text_input(key="data_llp_path").input(str(data_copy)).run()
    at.button(key="data_llp_use").click().run()
    assert not at.exception and not at.error
    assert "Folder is valid and in use" in at.success[0].value and QUIRKS[kind] in at.success[0].value
    assert at.session_state["data_root"] == str(data_copy.resolve())
    assert digest(data_copy) == before


# ------------------------------------------------------------------------------------------- PRED.npz cases


def _pred_arrays(split) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = len(split)
    return {"filenames": np.array(split.filenames), "audio": rng.random((n, 10, 25), dtype=np.float32),
            "visual": rng.random((n, 10, 25), dtype=np.float32), "video": rng.random((n, 25), dtype=np.float32)}


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _pickled_npz(arrays: dict, marker: Path) -> bytes:
    names = np.empty(len(arrays["filenames"]), dtype=object)
    names[:] = [CreatesMarker(marker)] * len(names)
    return _npz_bytes(**{**arrays, "filenames": names})


PRED_CASES = [
    pytest.param(lambda a, m: b"this is not an npz file", "not a readable .npz", id="not-npz"),
    pytest.param(lambda a, m: _npz_bytes(**a)[:1000], "not a readable .npz", id="truncated"),
    pytest.param(lambda a, m: _npz_bytes(**{k: v for k, v in a.items() if k != "visual"}), "missing array 'visual'",
                 id="missing-array"),
    pytest.param(lambda a, m: _npz_bytes(**{**a, "filenames": np.array([a["filenames"][0]] * len(a["filenames"]))}),
                 "`filenames` has duplicates", id="duplicate-filenames"),
    pytest.param(lambda a, m: _npz_bytes(**{**a, "audio": np.full(a["audio"].shape, "x")}), "`audio` has dtype <U1",
                 id="string-dtype"),
    pytest.param(lambda a, m: _npz_bytes(**{**a, "video": np.full(a["video"].shape, np.inf, np.float32)}),
                 "`video` contains NaN or Inf", id="inf-video"),
    pytest.param(lambda a, m: _npz_bytes(**{**{k: v for k, v in a.items() if k != "video"},
                                            "video_audio": a["video"]}), "come together", id="half-gating-pair"),
    pytest.param(_pickled_npz, "without pickled objects", id="pickle"),
]


@pytest.mark.parametrize("build, message", PRED_CASES)
def test_bad_prediction_file_cli(build, message, tiny_data, tmp_path, capsys):
    pred = tmp_path / "pred.npz"
    pred.write_bytes(build(_pred_arrays(LLPDataset(tiny_data).split("test")), tmp_path / "MARKER"))
    before = digest(pred, tiny_data)
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    assert_one_line_error(rc, err, str(pred), message)
    assert out == "" and digest(pred, tiny_data) == before
    assert not (tmp_path / "MARKER").exists()


# --------------------------------------------------------------------------------------------- checkpoint cases


def _json_edit(fn: Callable[[dict], None]) -> Callable[[Path, Path], None]:
    def mutate(folder: Path, marker: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        fn(config)
        (folder / "config.json").write_text(json.dumps(config))

    return mutate


def _weights(obj_fn: Callable[[Path], object]) -> Callable[[Path, Path], None]:
    return lambda folder, marker: torch.save(obj_fn(marker), folder / "model.pt")


# (mutate, file named in the error, message, where the app shows it: "error" on use, "warning" when listing, or
# "absent" when the folder is not a checkpoint candidate at all)
CHECKPOINT_CASES = [
    pytest.param(lambda f, m: (f / "model.pt").unlink(), "model.pt", "missing", "error", id="no-weights-file"),
    pytest.param(lambda f, m: (f / "config.json").unlink(), "config.json", "missing", "absent", id="no-config"),
    pytest.param(lambda f, m: (f / "config.json").write_text("{oops"), "config.json", "not valid JSON", "warning",
                 id="config-not-json"),
    pytest.param(_json_edit(lambda c: c.update(format="other-tool/3")), "config.json", "not an AVVP Lab checkpoint",
                 "warning", id="foreign-config"),
    pytest.param(_json_edit(lambda c: c.update(model="han9")), "config.json", "unknown model 'han9'", "warning",
                 id="unknown-model"),
    pytest.param(_json_edit(lambda c: c.update(model_config="dim=16")), "config.json", "is not a JSON object",
                 "warning", id="model-config-not-object"),
    pytest.param(_json_edit(lambda c: c["model_config"].update(bogus=3)), "config.json", "has no option 'bogus'",
                 "error", id="unknown-model-option"),
    pytest.param(lambda f, m: (f / "model.pt").write_bytes((f / "model.pt").read_bytes()[:5000]), "model.pt",
                 "truncated or not a torch file", "error", id="truncated-weights"),
    pytest.param(_weights(lambda m: create_model("han", dim=32, ffn_dim=32).state_dict()), "model.pt",
                 "of another shape (e.g. project.audio.weight: (32, 128) in the file, (16, 128) in the model)",
                 "error", id="weights-other-width"),
    pytest.param(_weights(lambda m: create_model("mmt", "demo").state_dict()), "model.pt", "tensors missing",
                 "error", id="weights-other-model"),
    pytest.param(_weights(lambda m: {"w": torch.zeros(2), "x": CreatesMarker(m)}), "model.pt",
                 "refused to load: the file holds pickled objects", "error", id="pickle-in-torch-file"),
    pytest.param(lambda f, m: (f / "model.pt").write_bytes(pickle.dumps(CreatesMarker(m))), "model.pt",
                 "refused to load: the file holds pickled objects", "error", id="raw-pickle"),
    pytest.param(_weights(lambda m: create_model("han", dim=16, ffn_dim=16)), "model.pt",
                 "pickled objects such as avvp_core.models.han.HAN", "error", id="whole-module-pickle"),
    pytest.param(_weights(lambda m: {"a": 1}), "model.pt", "expected a state dict of tensors", "error",
                 id="not-tensors"),
]


@pytest.mark.parametrize("mutate, file, message, where", CHECKPOINT_CASES)
def test_bad_checkpoint_cli(mutate, file, message, where, trained, tiny_data, tmp_path, capsys):
    bad = Path(shutil.copytree(trained, tmp_path / "runs" / "bad"))
    mutate(bad, tmp_path / "MARKER")
    before = digest(bad, tiny_data)
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", bad)
    assert_one_line_error(rc, err, str(bad / file), message)
    assert out == "" and digest(bad, tiny_data) == before
    assert not (tmp_path / "MARKER").exists()


def _unchanged_but_the_good_predictions(runs: Path, data: Path, before: dict[str, str]) -> None:
    """Nothing changed but the prediction cache the page may add for the good checkpoint (predcache): whole files,
    each read back by predcache's validating reader, and nothing else new or different."""
    from avvp_core import predcache

    after = digest(runs, data)
    added = {p for p in after if "/.avvp_cache/predictions" in p and p not in before}
    assert {p: h for p, h in after.items() if p not in added} == before
    split = LLPDataset(data).split("test")
    files = [Path(p) for p in added if p.endswith(".npz")]
    assert all(predcache.read(f, split, quiet=True) is not None for f in files)
    assert {Path(p).suffix for p in added if not Path(p).is_dir()} <= {".npz", ".lock"}


@pytest.mark.app
@pytest.mark.parametrize("mutate, file, message, where", CHECKPOINT_CASES)
def test_bad_checkpoint_app(mutate, file, message, where, trained, tiny_data, tmp_path):
    """Compare page beside a good checkpoint: the bad one is an error box (on use) or a warning (on listing);
    the good one is still compared (table and per-class chart)."""
    runs = tmp_path / "runs"
    shutil.copytree(trained, runs / "good")
    bad = Path(shutil.copytree(trained, runs / "bad"))
    mutate(bad, tmp_path / "MARKER")
    before = digest(runs, tiny_data)
    at = app("compare.py", tiny_data, [runs])
    assert not at.exception
    shown = {"error": [e.value for e in at.error], "warning": [w.value for w in at.warning]}
    if where == "absent":
        assert shown == {"error": [], "warning": []}
    else:
        assert [m for m in shown[where] if str(bad / file) in m and message in m], shown
        other = "warning" if where == "error" else "error"
        assert shown[other] == []
    table = at.dataframe[0].value
    # the bad folder is a copy of the good one: with the same configuration and seed it is the same run, counted
    # once; with a card edited into another configuration (an unknown option) it is a row of its own
    assert (table["runs"] == 1).all() and len(table) in (1, 2)
    # figures, Δ, standings and the open per-class tab: drawn from the good copy even when the bad one is listed first
    assert len(at.get("plotly_chart")) == 4
    assert "No per-class figures" not in " ".join(i.value for i in at.info)
    _unchanged_but_the_good_predictions(runs, tiny_data, before)
    assert not (tmp_path / "MARKER").exists()


def test_marker_payload_is_live():
    """Control: the payload used above does create its marker when unpickled, so its absence means something."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "MARKER"
        pickle.loads(pickle.dumps(CreatesMarker(marker)))
        assert marker.exists()


def test_bad_checkpoint_cli_subprocess_refuses_pickles(trained, tiny_data, tmp_path):
    bad = Path(shutil.copytree(trained, tmp_path / "bad"))
    (bad / "model.pt").write_bytes(pickle.dumps(CreatesMarker(tmp_path / "MARKER")))
    proc = subprocess.run([sys.executable, "-m", "avvp_core", "evaluate", "--data", str(tiny_data), "--checkpoint",
                           str(bad)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, str(bad / "model.pt"), "refused to load")
    assert not (tmp_path / "MARKER").exists()


def _other_data(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["data"]["fingerprint"] = "0123456789abcdef"
    (folder / "config.json").write_text(json.dumps(config))


def test_fingerprint_mismatch_warns_and_evaluates_cli(trained, tiny_data, tmp_path, capsys):
    other = Path(shutil.copytree(trained, tmp_path / "other"))
    _other_data(other)
    before = digest(other, tiny_data)
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", other)
    assert rc == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {other} was trained on data with fingerprint "
                                                   "0123456789abcdef")
    assert "segment" in out and "event" in out  # the figures are still printed
    assert digest(other, tiny_data) == before


@pytest.mark.app
def test_fingerprint_mismatch_is_noted_by_the_app(trained, tiny_data, tmp_path):
    _other_data(Path(shutil.copytree(trained, tmp_path / "runs" / "other")))
    at = app("compare.py", tiny_data, [tmp_path / "runs"])
    assert not at.exception
    assert "No trained model for this data yet" in at.info[0].value
    assert any("1 checkpoint(s) trained on other data are not shown" in c.value for c in at.caption)


# ------------------------------------------------------------------------------------------------------ uploads


def _mp4(tmp_path: Path) -> bytes:
    moviepy = pytest.importorskip("moviepy")
    clip = moviepy.ColorClip((32, 32), color=(200, 30, 30), duration=1)
    path = tmp_path / "clip.mp4"
    clip.write_videofile(str(path), fps=4, codec="libx264", audio=False, logger=None)
    return path.read_bytes()


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.mark.parametrize(
    "name, content, limit, message",
    [
        pytest.param("clip.mp4", lambda mp4: PNG, None, "not an MP4 video", id="png-named-mp4"),
        pytest.param("notes.txt", lambda mp4: b"hello", None, "unsupported file type '.txt'", id="not-a-video-type"),
        pytest.param("clip", lambda mp4: mp4, None, "unsupported file type '(no extension)'", id="no-extension"),
        pytest.param("clip.mp4", lambda mp4: mp4[: len(mp4) // 2], None, "unreadable video", id="truncated-mp4"),
        pytest.param("clip.mp4", lambda mp4: mp4[:32], None, "unreadable video", id="header-only-mp4"),
        pytest.param("clip.webm", lambda mp4: mp4, None, "not a WEBM video", id="mp4-named-webm"),
        pytest.param("clip.mp4", lambda mp4: b"", None, "empty", id="empty"),
        pytest.param("clip.mp4", lambda mp4: mp4, 1000, "over the", id="oversized"),
    ],
)
def test_video_uploads_are_validated(name, content, limit, message, tmp_path):
    mp4 = _mp4(tmp_path)
    assert uploads.validate_video("clip.MP4", mp4) == "mp4"  # control: a real video passes
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        uploads.validate_video(name, content(mp4), limit)
    assert str(info.value).startswith(f"{name}: ") and "\n" not in str(info.value)


def _zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return buf.getvalue()


def _checkpoint_entries(folder: Path, prefix: str = "good/") -> dict[str, bytes]:
    return {prefix + p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _evil_weights(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1), "x": CreatesMarker(marker)}, buf)
    return buf.getvalue()


def _corrupt_crc(data: bytes, offset: int = 100, byte: int | None = None) -> bytes:
    """Flip one byte inside the compressed model.pt stream, `offset` bytes in (or set it to `byte`). Where it lands
    decides what zipfile raises: a CRC mismatch, or (a stream zlib cannot decode) zlib.error, which is no OSError;
    which one a given offset gives depends on the weights' bytes, and so on the machine that trained them."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("good/model.pt")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + offset
    return data[:start] + bytes([data[start] ^ 0xFF if byte is None else byte]) + data[start + 1:]


ZIP_CASES = [
    pytest.param("good.zip", lambda e, m: _zip({"../evil.txt": b"x", **e}), "points outside", id="traversal"),
    pytest.param("good.zip", lambda e, m: _zip({**e, "good/../../x/config.json": b"{}"}), "points outside",
                 id="traversal-nested"),
    pytest.param("good.zip", lambda e, m: _zip({"/tmp/abs/config.json": b"{}", **e}), "points outside",
                 id="absolute-path"),
    pytest.param("good.zip", lambda e, m: _zip(e, {"good/link": "/etc/passwd"}), "symbolic link", id="symlink"),
    pytest.param("good.zip", lambda e, m: _zip({**e, "good/run.py": b"import os"}), "unexpected entry 'good/run.py'",
                 id="unexpected-file"),
    pytest.param("good.zip", lambda e, m: _zip({k: v for k, v in e.items() if not k.endswith("model.pt")}),
                 "no model.pt", id="no-weights"),
    pytest.param("good.zip", lambda e, m: _zip({**e, "good/model.pt": _evil_weights(m)}), "refused to load",
                 id="pickle-weights"),
    pytest.param("good.zip", lambda e, m: b"PK\x03\x04" + bytes(200), "not a readable zip", id="damaged-zip"),
    pytest.param("good.zip", lambda e, m: PNG, "not a zip archive", id="not-a-zip"),
    pytest.param("good.tar", lambda e, m: _zip(e), "expected a .zip", id="wrong-extension"),
    pytest.param("good.zip", lambda e, m: _corrupt_crc(_zip(e)), "could not unpack", id="bad-crc"),
    # the first deflate block header set to BFINAL=1, BTYPE=11 (reserved): zlib.error "invalid block type", always
    pytest.param("good.zip", lambda e, m: _corrupt_crc(_zip(e), offset=0, byte=0b111), "could not unpack",
                 id="bad-deflate-stream"),
]


@pytest.mark.parametrize("name, build, message", ZIP_CASES)
def test_checkpoint_zip_uploads_are_refused_without_touching_disk(name, build, message, trained, tmp_path):
    dest = tmp_path / "runs" / "uploads"
    dest.mkdir(parents=True)
    (dest / "keep").mkdir()
    before = digest(tmp_path)
    data = build(_checkpoint_entries(trained), tmp_path / "MARKER")
    with pytest.raises(InputError, match=message) as info:
        uploads.install_checkpoint_zip(name, data, dest)
    assert str(info.value).startswith(f"{name}: ") and "\n" not in str(info.value)
    assert digest(tmp_path) == before  # nothing unpacked, no temporary folder left, nothing outside
    assert not (tmp_path / "MARKER").exists()


def test_checkpoint_zip_limits_and_name_clash(trained, tmp_path, monkeypatch):
    dest = tmp_path / "uploads"
    data = _zip(_checkpoint_entries(trained))
    folder = uploads.install_checkpoint_zip("../../My run (1).zip", data, dest)
    assert folder == dest.resolve() / "My-run-1" and (folder / "model.pt").read_bytes() == (trained / "model.pt")\
        .read_bytes()
    before = digest(dest)
    with pytest.raises(InputError, match="already exists"):
        uploads.install_checkpoint_zip("My run (1).zip", data, dest)
    with pytest.raises(InputError, match="over the 0 MB upload limit"):
        uploads.install_checkpoint_zip("big.zip", data, dest, limit=1000)
    monkeypatch.setattr(uploads, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(InputError, match="unpacks to"):  # zip-bomb guard, checked on the declared sizes
        uploads.install_checkpoint_zip("bomb.zip", data, dest)
    assert digest(dest) == before


def test_checkpoint_zip_without_a_folder_inside_is_accepted(trained, tmp_path):
    folder = uploads.install_checkpoint_zip("flat.zip", _zip(_checkpoint_entries(trained, prefix="")), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in trained.iterdir() if p.is_file())


@pytest.mark.app
@pytest.mark.parametrize(
    "upload, message",
    [
        pytest.param(lambda e, m: ("good.zip", _zip(e)), None, id="valid"),
        pytest.param(lambda e, m: ("good.zip", _zip({"../evil.txt": b"x", **e})), "points outside", id="traversal"),
        pytest.param(lambda e, m: ("good.zip", PNG), "not a zip archive", id="not-a-zip"),
        pytest.param(lambda e, m: ("good.zip", _zip({**e, "good/model.pt": _evil_weights(m)})), "refused to load",
                     id="pickle-weights"),
        pytest.param(lambda e, m: ("good.zip", _zip(e)), "upload limit", id="oversized"),
    ],
)
def test_checkpoint_upload_on_the_compare_page(upload, message, trained, tiny_data, tmp_path, monkeypatch):
    from avvp_core import ui

    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(ui, "RUNS_DIR", runs)
    if message == "upload limit":
        monkeypatch.setattr(uploads, "MAX_CHECKPOINT_BYTES", 1000)
    name, data = upload(_checkpoint_entries(trained), tmp_path / "MARKER")
    at = app("compare.py", tiny_data, [runs])
    assert "No trained model for this data yet" in at.info[0].value
    before = digest(tmp_path)
    at.file_uploader(key="checkpoint_upload").set_value((name, data, "application/zip")).run()
    assert not at.exception
    if message is None:
        assert "checkpoint (han) added" in at.success[0].value
        assert (runs / "uploads" / "good" / "model.pt").is_file()
        # per-class: only the open tab is drawn
        assert list(at.dataframe[0].value["runs"]) == [1] and len(at.get("plotly_chart")) == 4
        at.run()  # a rerun does not install the same upload again
        assert not at.exception and not at.error
    else:
        assert len(at.error) == 1 and at.error[0].value.startswith(f"{name}: ") and message in at.error[0].value
        assert "No trained model for this data yet" in at.info[0].value  # the page is still there
        assert digest(tmp_path) == before
    assert not (tmp_path / "MARKER").exists()


# ---------------------------------------------------------------------------------------------- server settings


def test_server_is_local_and_upload_limits_agree():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1" and server["headless"] is True
    assert 50 <= server["maxUploadSize"] <= 1024  # MB: room for a paper-width checkpoint zip, not unbounded
    assert server.get("enableXsrfProtection", True) and server.get("enableCORS", True)
    assert config["browser"]["gatherUsageStats"] is False
    limit = server["maxUploadSize"] * uploads.MB
    assert limit >= max(uploads.MAX_CHECKPOINT_BYTES, uploads.MAX_VIDEO_BYTES)
