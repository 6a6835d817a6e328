"""Issue 20, the data-file half: untrusted data files never exhaust memory, hang, escape the data folder or leave
temporaries behind, and every failure is one line naming the file and the problem.

Each test names its class (issue 20's numbering) and case. Cases that need another user (permissions) run a
subprocess as `nobody` when the tests run as root (setpriv), and skip where neither that nor plain permissions can
simulate them; the full-disk cases mount a small tmpfs and skip where the machine does not allow it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_bad_input import assert_one_line_error, cli

from avvp_core.checkpoints import save_checkpoint
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.data.annotations import read_eval_csv, read_weak_csv
from avvp_core.data.cache import FeatureCache
from avvp_core.errors import InputError
from avvp_core.fileio import atomic_path, temp_prefix
from avvp_core.models import create_model, list_models, model_info
from avvp_core.predictions import load_prediction_file
from avvp_core.untrusted import load_npy
from tests.conftest import LLP_ANNOTATIONS

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------- helpers


def one_line(rc: int, err: str, *needles: str) -> str:
    """One line naming the problem, and no RuntimeWarning printed before it."""
    assert "Warning" not in err, err
    return assert_one_line_error(rc, err, *needles)


def run_cli(*args: object, env: dict | None = None, user: bool = False, timeout: int = 300):
    """The CLI in a fresh interpreter (warnings and all); as `nobody` when `user` (the caller skips otherwise)."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if user and os.getuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "avvp_core", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, env={**os.environ, **(env or {})})


def can_run_as_other_user() -> bool:
    return os.getuid() != 0 or shutil.which("setpriv") is not None


@pytest.fixture()
def data_copy(tiny_data, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_data, tmp_path / "llp"))  # the feature cache comes along (mtimes kept)


@pytest.fixture()
def public_dir():
    """A folder everyone can enter (pytest's tmp folders are private to root), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="avvp-rel-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def checkpoint(tiny_data, tmp_path_factory) -> Path:
    """An untrained HAN (width 16), saved as a checkpoint: enough for predict/evaluate/score."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "han"
    save_checkpoint(folder, create_model("han", dim=16, ffn_dim=16), {"name": "han"})
    return folder


def split_video(root: Path, i: int = 0) -> str:
    return (root / "AVVP_test_pd.csv").read_text().splitlines()[1 + i].split("\t")[0]


def pred_arrays(split, **over) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = len(split)
    arrays = {"filenames": np.array(split.filenames), "audio": rng.random((n, 10, 25), dtype=np.float32),
              "visual": rng.random((n, 10, 25), dtype=np.float32), "video": rng.random((n, 25), dtype=np.float32)}
    arrays.update(over)
    return {k: v for k, v in arrays.items() if v is not None}


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def forged_npy(shape: tuple[int, ...], dtype: str = "<f4", body: bytes = b"") -> bytes:
    """A .npy header declaring `shape`, followed by `body` (whatever its length)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + body


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ------------------------------------------------------------------------ class 2: sizes bounded before allocating


def test_class2_npy_header_claiming_terabytes_is_refused_without_allocating(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(forged_npy((640_000_000, 2000), body=bytes(64)))  # 4.66 TiB of float32 declared, 64 bytes held
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"declares shape \(640000000, 2000\) of float32 \(4.66 TiB\) but holds "
                                             r"only 64 bytes") as info:
            load_npy(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and str(path) in str(info.value)


def test_class2_feature_file_with_forged_header_is_one_line(data_copy, checkpoint, capsys):
    target = data_copy / "feats" / "vggish" / f"{split_video(data_copy)[:11]}.npy"
    target.write_bytes(forged_npy((10, 128), body=bytes(100)))  # the right shape, a body far too short
    shutil.rmtree(data_copy / ".avvp_cache")
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(rc, err, str(target), "unreadable .npy", "declares shape (10, 128)", "holds only 100 bytes")


def test_class2_feature_file_claiming_terabytes_is_refused_from_its_header(data_copy, checkpoint, capsys):
    target = data_copy / "feats" / "res152" / f"{split_video(data_copy)[:11]}.npy"
    target.write_bytes(forged_npy((640_000_000, 2000), body=bytes(64)))
    shutil.rmtree(data_copy / ".avvp_cache")
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(rc, err, str(target), "shape (640000000, 2000), expected (10, 2048) or (80, 2048)")


PROBE_CACHE = """
import sys
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
try:
    LLPDataset(sys.argv[1]).feature_cache("test")
except InputError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.skipif(not can_run_as_other_user(), reason="needs root with setpriv, or a non-root user")
def test_class6_feature_folder_this_user_may_not_enter(tiny_data, public_dir):
    data = Path(shutil.copytree(tiny_data, public_dir / "llp", ignore=shutil.ignore_patterns(".avvp_cache")))
    for path in [data, *data.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o644)
    (data / "feats" / "vggish").chmod(0o700)
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.getuid() == 0 else []
    proc = subprocess.run([*prefix, sys.executable, "-c", PROBE_CACHE, str(data)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    one_line(proc.returncode, proc.stderr, str(data / "feats" / "vggish"), "cannot read (Permission denied)")
    assert not (data / ".avvp_cache").exists() or not any((data / ".avvp_cache").iterdir())


def _pred_with_member(path: Path, arrays: dict, name: str, size: int) -> None:
    """PRED.npz plus a member `name` of `size` zero bytes (deflated: a few MB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for key, value in arrays.items():
            zf.writestr(f"{key}.npy", npy_bytes(value))
        with zf.open(name, "w", force_zip64=True) as member:
            member.write(forged_npy((size // 4,)))
            chunk = bytes(1 << 24)
            for _ in range(size // len(chunk)):
                member.write(chunk)


def test_class2_unused_gigabyte_member_of_pred_npz_is_never_inflated(tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "pred.npz"
    _pred_with_member(pred, pred_arrays(split), "junk.npy", 1 << 30)
    assert pred.stat().st_size < 8 << 20
    tracemalloc.start()
    try:
        preds = load_prediction_file(pred, split.filenames)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20 and len(preds.filenames) == len(split)
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    assert rc == 0 and err == "" and set(json.loads(out)) >= set(METRIC_KEYS)


def test_class2_member_declaring_more_than_the_zip_directory_holds_is_refused(tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "pred.npz"
    arrays = pred_arrays(split)
    with zipfile.ZipFile(pred, "w") as zf:
        for key, value in arrays.items():
            zf.writestr(f"{key}.npy", npy_bytes(value) if key != "audio" else forged_npy((len(split), 10, 25)))
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), "member `audio` declares shape (20, 10, 25)", "holds only 0 bytes")


@pytest.mark.parametrize("member, content, message", [
    pytest.param("audio.npy", b"raw bytes, no header", "member `audio` is not a .npy array", id="raw-needed-member"),
    pytest.param("audio", b"raw bytes, no header", "member `audio` is not a .npy array", id="raw-member-no-suffix"),
])
def test_class2_raw_member_in_pred_npz_is_one_line(member, content, message, tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "pred.npz"
    with zipfile.ZipFile(pred, "w") as zf:
        for key, value in pred_arrays(split, audio=None).items():
            zf.writestr(f"{key}.npy", npy_bytes(value))
        zf.writestr(member, content)
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), message)


def test_class2_unused_raw_member_is_ignored(tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "pred.npz"
    with zipfile.ZipFile(pred, "w") as zf:
        for key, value in pred_arrays(split).items():
            zf.writestr(f"{key}.npy", npy_bytes(value))
        zf.writestr("README.txt", b"notes about this run")
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    assert rc == 0 and err == ""


def test_class2_npz_saved_as_npy_feature_file(data_copy, checkpoint, capsys):
    target = data_copy / "feats" / "r2plus1d_18" / f"{split_video(data_copy)[:11]}.npy"
    target.write_bytes(npz_bytes(x=np.zeros((10, 512), np.float32)))
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(rc, err, str(target), "is a zip (.npz) archive, not a .npy array")


def test_class2_npy_given_as_pred_npz(tiny_data, tmp_path, capsys):
    pred = tmp_path / "pred.npz"
    pred.write_bytes(npy_bytes(np.zeros((20, 10, 25), np.float32)))
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), "not a readable .npz")


def test_class2_filenames_of_absurd_width_are_refused_from_the_header(tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "pred.npz"
    pred.write_bytes(npz_bytes(**pred_arrays(split, filenames=np.array(split.filenames, dtype="<U100000"))))
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), "`filenames` holds strings of dtype <U100000")


# ---------------------------------------------------------------- class 5: predict writes what score reads


ROUND_TRIP_WIDTH = {"dim": 16, "ffn_dim": 16}


def _tiny_model(name: str):
    """The demo width, narrowed to 16 where the model takes dim/ffn_dim (any other option keeps its demo value):
    untrained, seeded weights are enough, the test is about the file contract."""
    import torch

    from avvp_core.models.registry import resolve_config

    torch.manual_seed(0)
    config = resolve_config(name, "demo")
    narrow = {k: v for k, v in ROUND_TRIP_WIDTH.items() if k in config}
    if "occ_dim" in config:
        narrow["occ_dim"] = 8
    return create_model(name, "demo", **narrow)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_class5_predict_then_score_gives_exactly_the_figures_of_evaluate(name, tiny_data, tmp_path, capsys):
    folder = tmp_path / name
    save_checkpoint(folder, _tiny_model(name), {"name": name})
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", folder, "--split", "test",
                       "--json", tmp_path / "e.json")
    assert rc == 0, err
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["gating"] == model_info(name).gating
    rc, out, err = cli(capsys, "predict", "--data", tiny_data, "--checkpoint", folder, "--split", "test",
                       "--out", tmp_path / "p.npz")
    assert rc == 0, err
    with np.load(tmp_path / "p.npz") as npz:
        assert str(npz["gating"]) == model_info(name).gating
        assert {"video", "video_audio", "video_visual"} <= set(npz.files)
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", tmp_path / "p.npz")
    assert rc == 0, err
    scored = json.loads(out)
    assert {k: scored[k] for k in METRIC_KEYS} == {k: evaluated[k] for k in METRIC_KEYS}


def test_class5_predict_writes_probabilities_score_accepts_when_han_pooling_exceeds_one(tiny_data, tmp_path, capsys):
    """HAN's fused MMIL pooling (both attentions times P, summed over time and modality) can exceed 1, as the shipped
    HAN + MA's does (1.28): predict must still write a file score accepts, with the figures of evaluate."""
    import torch

    model = _tiny_model("han")
    head = model.head
    with torch.no_grad():  # P near 1, and both attentions from one projection: each modality's attended segments
        head.classifier.bias.fill_(8.0)  # are also where the modality weight favours it, so the pooled sum nears 2
        head.temporal_attention.weight.mul_(20.0)
        head.modality_attention.weight.copy_(head.temporal_attention.weight)
        head.modality_attention.bias.copy_(head.temporal_attention.bias)
    folder = tmp_path / "han"
    save_checkpoint(folder, model, {"name": "han"})
    from avvp_core.checkpoints import load_checkpoint
    from avvp_core.evaluation import predict as run_predict

    loaded, _ = load_checkpoint(folder)
    raw = []
    loaded.register_forward_hook(lambda m, i, out: raw.append(float(out.video_prob.max())))
    preds = run_predict(loaded, LLPDataset(tiny_data).split("test"))
    assert max(raw) > 1.0  # the case this test is about
    assert preds.video.min() >= 0.0 and preds.video.max() <= 1.0
    rc, out, err = cli(capsys, "predict", "--data", tiny_data, "--checkpoint", folder, "--split", "test",
                       "--out", tmp_path / "p.npz")
    assert rc == 0, err
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", tmp_path / "p.npz")
    assert rc == 0, err
    rc, _, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", folder, "--json", tmp_path / "e.json")
    assert rc == 0, err
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert {k: json.loads(out)[k] for k in METRIC_KEYS} == {k: evaluated[k] for k in METRIC_KEYS}


def _both_kinds(tmp_path: Path, split, **over) -> Path:
    rng = np.random.default_rng(1)
    n = len(split)
    pred = tmp_path / "both.npz"
    pred.write_bytes(npz_bytes(**pred_arrays(split, video_audio=rng.random((n, 25), dtype=np.float32),
                                             video_visual=rng.random((n, 25), dtype=np.float32), **over)))
    return pred


def test_class5_both_kinds_without_gating_name_the_flag(tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = _both_kinds(tmp_path, split)
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), "holds both `video` and `video_audio` + `video_visual`", "--gating fused",
             "--gating modality")
    results = {}
    for gating in ("fused", "modality", "none"):
        rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred, "--gating", gating)
        assert rc == 0, err
        results[gating] = json.loads(out)
    assert results["fused"] != results["modality"]  # the flag decides, it is not ignored


def test_class5_recorded_gating_is_used_and_the_flag_overrides_it(tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = _both_kinds(tmp_path, split, gating=np.array("modality"))
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    recorded = json.loads(out)
    rc2, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred, "--gating", "modality")
    assert rc == rc2 == 0 and json.loads(out) == recorded
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred, "--gating", "fused")
    assert rc == 0 and json.loads(out) != recorded


@pytest.mark.parametrize("over, message", [
    pytest.param({"gating": np.array("late")}, "`gating` is 'late'; expected one of fused, modality, none",
                 id="unknown-gating"),
    pytest.param({"gating": np.array(["fused", "none"])}, "`gating` must be one string", id="two-gatings"),
    pytest.param({"gating": np.array(1.0)}, "`gating` must be one string", id="numeric-gating"),
    pytest.param({"gating": np.array("modality")}, "modality gating needs `video_audio` and `video_visual`",
                 id="recorded-gating-without-its-arrays"),
])
def test_class5_bad_gating_array_is_one_line(over, message, tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    pred = tmp_path / "pred.npz"
    pred.write_bytes(npz_bytes(**pred_arrays(split, **over)))
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), message)


# ------------------------------------------------------------------------ class 6: one line, not a traceback


def test_class6_nul_byte_in_a_csv_id(data_copy, checkpoint, capsys):
    path = data_copy / "AVVP_test_pd.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3][:4] + "\0" + lines[3][5:]
    path.write_text("\n".join(lines) + "\n")
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(rc, err, str(path), "line 4: control character '\\x00'")


@pytest.mark.parametrize("value", [-0.25, 1.5])
def test_class6_probabilities_outside_0_1_are_refused(value, tiny_data, tmp_path, capsys):
    split = LLPDataset(tiny_data).split("test")
    audio = np.random.default_rng(0).random((len(split), 10, 25), dtype=np.float32)
    audio[3, 4, 5] = value
    pred = tmp_path / "pred.npz"
    pred.write_bytes(npz_bytes(**pred_arrays(split, audio=audio)))
    rc, out, err = cli(capsys, "score", "--data", tiny_data, "--split", "test", "--pred", pred)
    one_line(rc, err, str(pred), f"`audio` holds values from {min(value, 0):.4g}" if value < 0 else "to 1.5",
             "probabilities in [0, 1]")


def test_class6_nan_weights_make_predict_refuse_not_write_nan(tiny_data, tmp_path, capsys):
    import torch

    model = create_model("han", dim=16, ffn_dim=16)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    folder = tmp_path / "nan"
    save_checkpoint(folder, model, {"name": "nan"})
    out_file = tmp_path / "p.npz"
    rc, out, err = cli(capsys, "predict", "--data", tiny_data, "--checkpoint", folder, "--split", "test",
                       "--out", out_file)
    one_line(rc, err, str(folder))
    assert not out_file.exists() and not list(tmp_path.glob(".p.npz*"))
    rc, out, err = cli(capsys, "evaluate", "--data", tiny_data, "--checkpoint", folder)
    one_line(rc, err, str(folder))


@pytest.mark.parametrize("folder", ["/", "/etc"])
def test_class6_stats_of_a_folder_that_is_no_llp_folder(folder, capsys):
    rc, out, err = cli(capsys, "stats", folder)
    one_line(rc, err, "not an LLP folder: none of AVVP_train.csv, AVVP_val_pd.csv, AVVP_test_pd.csv is here")
    assert out == ""


def test_class6_unwritable_avvp_cache_dir(data_copy, checkpoint, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AVVP_CACHE_DIR", str(blocker / "cache"))
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(rc, err, str(blocker / "cache"), "cannot create the feature cache in AVVP_CACHE_DIR (Not a directory)",
             "set AVVP_CACHE_DIR to a writable folder")


@pytest.mark.skipif(not can_run_as_other_user(), reason="needs root with setpriv, or a non-root user")
def test_class6_unreadable_csv(tiny_data, public_dir):
    data = Path(shutil.copytree(tiny_data, public_dir / "llp"))
    (data / "AVVP_val_pd.csv").chmod(0)
    proc = run_cli("stats", data, user=True)
    one_line(proc.returncode, proc.stderr, str(data / "AVVP_val_pd.csv"), "not readable (permission denied)")


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_class6_data_folder_of_another_user(tiny_data, public_dir):
    data = Path(shutil.copytree(tiny_data, public_dir / "llp"))
    data.chmod(0o700)  # root's, private
    proc = run_cli("stats", data, user=True)
    one_line(proc.returncode, proc.stderr, str(data), "data folder cannot be read (Permission denied",
             "owned by user id 0")


@pytest.mark.skipif(not can_run_as_other_user(), reason="needs root with setpriv, or a non-root user")
def test_class6_read_only_data_folder_and_unwritable_home(tiny_data, checkpoint, public_dir):
    data = Path(shutil.copytree(tiny_data, public_dir / "llp", ignore=shutil.ignore_patterns(".avvp_cache")))
    ckpt = Path(shutil.copytree(checkpoint, public_dir / "ckpt"))
    home = public_dir / "home"
    home.mkdir()
    for path in [data, ckpt, home, *data.rglob("*"), *ckpt.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable, writable by root only
    env = {"HOME": str(home)}
    env.pop("AVVP_CACHE_DIR", None)
    proc = run_cli("evaluate", "--data", data, "--checkpoint", ckpt, env={**env, "AVVP_CACHE_DIR": ""}, user=True)
    line = one_line(proc.returncode, proc.stderr, "cannot create the feature cache (Permission denied)",
                    f"the data folder {data} is not writable and neither is this fallback under $HOME",
                    "set AVVP_CACHE_DIR")
    assert str(home) in line


@contextmanager
def small_tmpfs(size: str):
    mount = Path(tempfile.mkdtemp(prefix="avvp-full-"))
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    except FileNotFoundError:
        proc = None
    if proc is None or proc.returncode != 0:
        mount.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root in a machine that allows mounts)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        mount.rmdir()


def test_class6_full_disk_in_predict(tiny_data, checkpoint):
    with small_tmpfs("32k") as disk:
        (disk / "filler").write_bytes(bytes(16 << 10))
        proc = run_cli("predict", "--data", tiny_data, "--checkpoint", checkpoint, "--split", "test",
                       "--out", disk / "p.npz")
        one_line(proc.returncode, proc.stderr, str(disk / "p.npz"), "cannot write (No space left on device)",
                 "nothing was changed")
        assert tree(disk) == ["filler"]  # no half file, no temporary


def test_class6_full_disk_in_the_feature_cache_build(tiny_data, checkpoint):
    with small_tmpfs("1m") as disk:
        proc = run_cli("evaluate", "--data", tiny_data, "--checkpoint", checkpoint,
                       env={"AVVP_CACHE_DIR": str(disk)})
        assert proc.returncode != -signal.SIGBUS
        one_line(proc.returncode, proc.stderr, "cannot build the feature cache (No space left on device)")
        leftovers = [p for p in tree(disk) if p.count("/") > 0]
        assert leftovers == [], leftovers  # the temporary folder was removed


# ---------------------------------------------------------------------------------- class 7: no hangs


def test_class7_fifo_in_place_of_a_feature_file_evaluate(data_copy, checkpoint):
    shutil.rmtree(data_copy / ".avvp_cache")
    target = data_copy / "feats" / "res152" / f"{split_video(data_copy)[:11]}.npy"
    target.unlink()
    os.mkfifo(target)
    start = time.monotonic()
    proc = run_cli("evaluate", "--data", data_copy, "--checkpoint", checkpoint, timeout=120)
    one_line(proc.returncode, proc.stderr, str(target), "is a FIFO, not a regular file")
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("where", ["AVVP_eval_audio.csv", "pred"])
def test_class7_fifo_as_csv_or_pred_is_refused(where, data_copy, tmp_path, capsys):
    pred = tmp_path / "pred.npz"
    target = data_copy / where if where != "pred" else pred
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    if where != "pred":
        pred.write_bytes(b"")  # never reached: the annotations are read first
    rc, out, err = cli(capsys, "score", "--data", data_copy, "--split", "test", "--pred", pred)
    one_line(rc, err, str(target), "is a FIFO, not a regular file")


@pytest.mark.app
def test_class7_fifo_feature_file_on_the_data_page(data_copy, tiny_data):
    from tests.conftest import app_page

    shutil.rmtree(data_copy / ".avvp_cache")
    target = data_copy / "feats" / "vggish" / f"{split_video(data_copy)[:11]}.npy"
    target.unlink()
    os.mkfifo(target)
    at = app_page("data", tiny_data)
    at.radio(key="data_source").set_value("LLP folder").run()
    at.text_input(key="data_llp_path").input(str(data_copy)).run()
    at.button(key="data_llp_use").click().run()
    assert not at.exception
    assert len(at.error) == 1 and f"{target}: unreadable .npy (is a FIFO, not a regular file)" in at.error[0].value
    assert at.session_state["data_root"] == str(tiny_data)


# -------------------------------------------------------------------- class 8: no leftovers after a kill


KILL_DURING_BUILD = """
import os, signal, sys
from avvp_core.data import LLPDataset
def progress(frac, msg):
    if frac > 0.4:  # mid-build: one stream written, the next being filled
        os.kill(os.getpid(), signal.SIGKILL)
LLPDataset(sys.argv[1]).feature_cache("train", progress)
"""


def test_class8_killed_cache_build_is_cleaned_by_the_next_run(data_copy):
    cache_root = data_copy / ".avvp_cache"
    shutil.rmtree(cache_root)
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_BUILD, str(data_copy)], cwd=REPO, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    temps = [p.name for p in cache_root.iterdir() if p.name.startswith(".")]
    assert len(temps) == 1 and ".pid" in temps[0], temps  # the dangerous instant really left a temporary
    cache = LLPDataset(data_copy).feature_cache("train")
    assert len(cache) == 60
    assert [p.name for p in cache_root.iterdir() if p.name.startswith(".")] == []


def test_class8_a_temporary_whose_builder_still_runs_is_kept(data_copy):
    cache_root = data_copy / ".avvp_cache"
    shutil.rmtree(cache_root)
    cache_root.mkdir()
    names = LLPDataset(data_copy).split("val").filenames
    from avvp_core.data.cache import source_signature

    target_name = f"val-{source_signature(data_copy, names)[:20]}"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = cache_root / f"{temp_prefix(target_name, sleeper.pid)}abc"
        live.mkdir()
        FeatureCache.open_or_build(data_copy, "val", names)
        assert live.is_dir()  # another process's build in progress is not ours to remove
    finally:
        sleeper.kill()
        sleeper.wait()


KILL_DURING_WRITE = """
import os, signal, sys
from avvp_core.fileio import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_class8_killed_predict_temporary_is_removed_by_the_next_write(tiny_data, checkpoint, tmp_path, capsys):
    out_file = tmp_path / "p.npz"
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(out_file)], cwd=REPO, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    stale = list(tmp_path.glob(".p.npz.pid*.tmp"))
    assert len(stale) == 1
    rc, out, err = cli(capsys, "predict", "--data", tiny_data, "--checkpoint", checkpoint, "--split", "test",
                       "--out", out_file)
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]


def test_class8_a_temporary_of_a_running_writer_is_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f"{temp_prefix('x.json', sleeper.pid)}abcd.tmp"
        live.write_text("in progress")
        mine = tmp_path / f"{temp_prefix('x.json')}efgh.tmp"
        mine.write_text("this process's, e.g. another thread")
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("{}")
        assert live.exists() and mine.exists() and (tmp_path / "x.json").read_text() == "{}"
    finally:
        sleeper.kill()
        sleeper.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_class8_killed_build_of_an_older_source_version_is_removed_too(data_copy):
    cache_root = data_copy / ".avvp_cache"
    stale = cache_root / f"{temp_prefix('val-' + '0' * 20, dead_pid())}abcdefgh"
    elsewhere = cache_root / f".val-{'0' * 20}.pid{dead_pid()}-0000beef.abcdefgh"  # another machine's build
    elsewhere.mkdir()
    stale.mkdir()
    (stale / "vggish.f32.npy").write_bytes(bytes(1000))
    shutil.rmtree(next(cache_root.glob("val-*")))  # force a build of val
    LLPDataset(data_copy).feature_cache("val")
    assert not stale.exists() and elsewhere.exists()


def test_class8_temporaries_of_earlier_versions_are_removed_when_older_than_the_run(tmp_path):
    old = tmp_path / ".x.json.abcd_123.tmp"  # tempfile's naming before temporaries carried a pid
    new = tmp_path / ".x.json.efgh_456.tmp"
    for path, age in ((old, -3600), (new, 3600)):
        path.write_text("left over")
        os.utime(path, (time.time() + age, time.time() + age))
    with atomic_path(tmp_path / "x.json") as tmp:
        tmp.write_text("{}")
    assert not old.exists() and new.exists()


# ------------------------------------------------------------------------------ class 9: ids that escape


@pytest.mark.parametrize("name, ok", [
    ("../../../ab_0_10", False),
    ("abcdefghijk/../../x_0_10", False),
    ("abc\u00e9efghijk_0_10", False),  # a non-ASCII letter
    ("abcdefghijk_0_\u0661\u0660", False),  # Arabic-Indic digits: int() would take them
    ("abcdefghijk_0_1_0", False),
    ("abcdefghijk_0_10 ", True),  # cells are stripped
    ("abcdefghijk_0_10", True),
    ("a-b_c-D_E9k_30_40", True),
    ("AP0061o0Nvk_101.8_111.8", True),  # as in the released AVVP_train.csv
])
def test_class9_weak_csv_ids(name, ok, tmp_path):
    path = tmp_path / "AVVP_train.csv"
    path.write_text(f"filename\tevent_labels\nzyxwvutsrqp_0_10\tDog\n{name}\tSpeech\n")
    if ok:
        assert read_weak_csv(path)[0][1] == name.strip()
    else:
        with pytest.raises(InputError, match="line 3: filename .* is not an 11-character YouTube id") as info:
            read_weak_csv(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_class9_escaping_id_never_opens_a_file_outside_the_data_folder(data_copy, checkpoint, tmp_path, capsys):
    outside = tmp_path / "ab.npy"
    np.save(outside, np.zeros((10, 128), np.float32))
    path = data_copy / "AVVP_test_pd.csv"
    lines = path.read_text().splitlines()
    lines.append("../../../ab_0_10\tDog")
    path.write_text("\n".join(lines) + "\n")
    rc, out, err = cli(capsys, "evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(rc, err, str(path), f"line {len(lines)}: filename '../../../ab_0_10' is not an 11-character YouTube id")


@pytest.mark.parametrize("onset", ["0_5", "\u0663", "+3", " 3x", "3.0"])
def test_class9_onsets_only_ascii_digits(onset, tmp_path):
    path = tmp_path / "AVVP_eval_audio.csv"
    path.write_text(f"filename\tonset\toffset\tevent_labels\nabcdefghijk_0_10\t{onset}\t8\tDog\n")
    with pytest.raises(InputError, match="line 2: onset/offset .* are not whole seconds in ASCII digits"):
        read_eval_csv(path)


@pytest.mark.skipif(not LLP_ANNOTATIONS.is_dir(), reason="shared/llp_annotations not present")
def test_class9_real_llp_csvs_still_parse_with_their_quirks():
    ds = LLPDataset(LLP_ANNOTATIONS)
    names = [n for s in ("train", "val", "test") for n in ds.split(s).filenames]
    assert len(names) == 11849 and sum("." in n for n in names) == 5  # the fractional starts are accepted
    assert "VMTJRpjbE_150_160" in ds.reports[0].unmatched_names  # mangled eval names stay ignored, not refused


# -------------------------------------------------------------------------------------------------- also


@pytest.mark.app
@pytest.mark.parametrize("typed, message", [
    pytest.param("/" + "x" * 10_000, "data folder cannot be read (File name too long)", id="very-long-path"),
    pytest.param("/tmp/a\0b", "the path contains a NUL byte", id="nul-byte"),
    pytest.param("~nosuchuser/x", "no such user for '~'", id="unknown-user"),
])
def test_also_data_page_folder_field_gives_one_line(typed, message, tiny_data):
    from tests.conftest import app_page

    at = app_page("data", tiny_data)
    at.radio(key="data_source").set_value("LLP folder").run()
    at.text_input(key="data_llp_path").input(typed).run()
    at.button(key="data_llp_use").click().run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value and "\n" not in at.error[0].value
    assert at.session_state["data_root"] == str(tiny_data)


def test_also_synthllp_json_that_is_no_json_object(data_copy):
    (data_copy / "synthllp.json").write_text("[1, 2")
    with pytest.raises(InputError, match="synthllp.json: not valid JSON"):
        _ = LLPDataset(data_copy).synth_meta
    (data_copy / "synthllp.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="synthllp.json: expected a JSON object"):
        _ = LLPDataset(data_copy).synth_meta


def _one_line_naming(exc: InputError, name: str) -> None:
    assert "\n" not in str(exc) and name in str(exc), str(exc)


def test_also_every_shallow_value_of_synthllp_json_damaged_is_one_line_or_read(data_copy, tmp_path):
    """The whole synthllp.json and each of its values (down to a knob) swapped for a null, a list and a string: what
    reads it (the dataset's synth_meta, Home's caption, the video render key, a training card, the first-start and
    overwrite checks) gives one line naming the file or goes on; never a traceback."""
    from avvp_core.data.synthetic import _is_synth, default_data_outdated
    from avvp_core.training.recipes import RecipeContext
    from avvp_core.videos import render_path
    from tests.conftest import shallow_swaps

    path = data_copy / "synthllp.json"
    ds = LLPDataset(data_copy)
    test = ds.split("test")
    context = RecipeContext(ds, "han", tmp_path / "han")
    for where, document in shallow_swaps(json.loads(path.read_text()), depth=3):
        path.write_text(json.dumps(document))
        try:
            synth = ds.synth_meta
        except InputError as exc:
            _one_line_naming(exc, "synthllp.json")
            assert where == (), where  # only the whole document is refused: every value is optional
            continue
        assert isinstance(synth, dict), where
        assert "SynthLLP" in f"SynthLLP {synth.get('preset')} (seed {synth.get('seed')})"  # as Home captions it
        assert render_path(ds, test.filenames[0], test.gt_audio[0], test.gt_visual[0]).suffix == ".mp4"
        json.dumps(context.card("plain"))
        assert default_data_outdated(data_copy) is None or all(isinstance(v, str) for v in default_data_outdated(
            data_copy)), where
        assert isinstance(_is_synth(data_copy), bool), where
    path.write_text("[" * 100_000 + "]" * 100_000)  # nested beyond Python's recursion limit
    assert default_data_outdated(data_copy) is None and _is_synth(data_copy) is False


def test_also_every_shallow_value_of_a_feature_cache_manifest_damaged_is_one_line_or_read(data_copy):
    """The whole manifest.json of a split's feature cache and each of its values (down to a stream's shape) swapped
    for a null, a list and a string: opening the cache gives one line naming the file, or a cache whose rows are
    the split's and whose content hash fingerprints the data (a list as the whole manifest raised AttributeError)."""
    from tests.conftest import shallow_swaps

    (path,) = (data_copy / ".avvp_cache").glob("test-*/manifest.json")
    n = len(LLPDataset(data_copy).split("test"))
    for where, document in shallow_swaps(json.loads(path.read_text()), depth=3):
        path.write_text(json.dumps(document))
        ds = LLPDataset(data_copy)
        try:
            cache = ds.feature_cache("test")
            fingerprint = ds.fingerprint(("test",))
        except InputError as exc:
            _one_line_naming(exc, str(path.parent))
            continue
        assert len(cache) == n and isinstance(cache.content_hash, str) and len(fingerprint) == 16, where


def test_also_huge_finite_features_name_the_file_without_warnings(data_copy, checkpoint):
    shutil.rmtree(data_copy / ".avvp_cache")
    target = data_copy / "feats" / "vggish" / f"{split_video(data_copy, 2)[:11]}.npy"
    np.save(target, np.full((10, 128), 3e38, np.float32))
    proc = run_cli("evaluate", "--data", data_copy, "--checkpoint", checkpoint)
    one_line(proc.returncode, proc.stderr, str(target), "holds values of magnitude up to 3e+38")
    assert "RuntimeWarning" not in proc.stderr


# ---------------------------------------------------------------------------------- property tests (class 8 of tests)


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])
NAMES = [f"v{i:010d}_0_10" for i in range(4)]


def _valid_npz(**over) -> bytes:
    rng = np.random.default_rng(0)
    arrays = {"filenames": np.array(NAMES), "audio": rng.random((4, 10, 25), dtype=np.float32),
              "visual": rng.random((4, 10, 25), dtype=np.float32), "video": rng.random((4, 25), dtype=np.float32)}
    arrays.update(over)
    return npz_bytes(**{k: v for k, v in arrays.items() if v is not None})


arrays_strategy = st.one_of(
    st.none(),
    st.builds(lambda s, d: np.zeros(s, d), st.lists(st.integers(0, 5), max_size=3).map(tuple),
              st.sampled_from(["f4", "f8", "i8", "u1", "?", "U3", "S2", "c8", "f2"])),
    st.builds(lambda v: np.full((4, 10, 25), v, np.float32), st.floats(allow_nan=True, allow_infinity=True,
                                                                        width=32)),
    st.builds(np.array, st.text(max_size=12)),
    st.builds(lambda xs: np.array(xs), st.lists(st.sampled_from(NAMES + ["x", "../a_0_10", ""]), max_size=6)),
)


def _check_loader(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pred.npz"
        path.write_bytes(data)
        try:
            preds = load_prediction_file(path, NAMES)
        except InputError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            return
        preds.check_gating(preds.default_gating())  # anything accepted can be gated or says why in one line


@SETTINGS
@given(st.dictionaries(st.sampled_from(["filenames", "audio", "visual", "video", "video_audio", "video_visual",
                                        "gating", "other"]), arrays_strategy, max_size=8))
def test_property_pred_loader_on_generated_arrays(over):
    try:
        _check_loader(_valid_npz(**over))
    except InputError as exc:  # check_gating on an accepted file: one line too
        assert "\n" not in str(exc)


@SETTINGS
@given(st.integers(0, 10_000), st.binary(min_size=1, max_size=8), st.integers(0, 10_000))
@example(offset=130, patch=b"\x00", cut=0)  # a NUL inside the header's dict: numpy's tokenize raised TokenError
def test_property_pred_loader_on_damaged_bytes(offset, patch, cut):
    data = bytearray(_valid_npz())
    offset %= len(data)
    data[offset:offset + len(patch)] = patch
    try:
        _check_loader(bytes(data[:max(1, len(data) - cut)]))
    except InputError as exc:
        assert "\n" not in str(exc)


cells = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
csv_lines = st.lists(st.lists(cells, min_size=1, max_size=5).map("\t".join), max_size=6)


@SETTINGS
@given(st.sampled_from(["weak", "eval"]), csv_lines, st.booleans())
def test_property_csv_reader_on_generated_text(kind, lines, good_header):
    header = "filename\tevent_labels" if kind == "weak" else "filename\tonset\toffset\tevent_labels"
    text = "\n".join(([header] if good_header else []) + lines) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "AVVP_x.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            result = (read_weak_csv if kind == "weak" else read_eval_csv)(path)
        except InputError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            return
    if kind == "weak":
        names, labels = result
        assert all(n.isascii() and "/" not in n and ".." not in n.split("_")[0] for n in names)
        assert labels.shape == (len(names), 25)
    else:
        assert ((result["onset"] >= 0) & (result["onset"] <= 10)).all()


@SETTINGS
@given(st.binary(max_size=300))
def test_property_csv_reader_on_random_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "AVVP_x.csv"
        path.write_bytes(b"filename\tevent_labels\n" + data)
        try:
            read_weak_csv(path)
        except InputError as exc:
            assert "\n" not in str(exc)
