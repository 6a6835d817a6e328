"""Rendered SynthLLP videos show and sound exactly their truth; real LLP videos are found, read and filmstripped;
broken files are InputErrors naming the file; the Timelines and Home pages play the video."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import app_page

from avvp_core.constants import CLASSES, EVAL_FILES, NUM_SEGMENTS, SPLIT_FILES
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.render import BACKGROUND, BAR, GLYPHS, truth_key
from avvp_core.sounds import SAMPLE_RATE
from avvp_core.videos import (
    DEMO_DIR,
    NoVideo,
    filmstrip,
    pick_demo_rows,
    probe,
    real_video,
    render_path,
    shipped_demo,
    synth_video,
    video_for,
)

REPO = Path(__file__).resolve().parents[1]
LLP_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "llp_sample" / "BjCEufrlXm4.mp4"
LLP_ANNOTATIONS = Path(__file__).resolve().parents[2] / "shared" / "llp_annotations"


def _row_with_contrast(split) -> int:
    """A video with a segment showing something and one showing nothing, one heard and one silent."""
    seen, heard = split.gt_visual.any(2), split.gt_audio.any(2)  # (N, T)
    ok = seen.any(1) & ~seen.all(1) & heard.any(1) & ~heard.all(1)
    return int(np.flatnonzero(ok)[0])


def _csv_only(tiny_data: Path, root: Path) -> Path:
    root.mkdir()
    for name in [*SPLIT_FILES.values(), *EVAL_FILES.values()]:
        shutil.copy(tiny_data / name, root / name)
    return root


@pytest.fixture(scope="module")
def rendered(tiny_data, tmp_path_factory):
    ds = LLPDataset(tiny_data, cache_root=tmp_path_factory.mktemp("cache"))
    split = ds.split("test")
    row = _row_with_contrast(split)
    start = time.perf_counter()
    path = synth_video(ds, "test", row)
    seconds = time.perf_counter() - start
    print(f"render time: {seconds:.2f} s")
    return ds, split, row, path, seconds


def test_render_is_a_10_s_stereo_video_of_the_truth(rendered):
    from moviepy import VideoFileClip

    ds, split, row, path, seconds = rendered
    assert path.is_file() and path.suffix == ".mp4" and split.filenames[row] in path.name
    assert seconds < 15
    info = probe(path)
    assert abs(info.duration - NUM_SEGMENTS) <= 0.1 and info.size == (320, 240) and info.has_audio
    with VideoFileClip(str(path), audio_fps=SAMPLE_RATE) as clip:
        assert clip.audio.nchannels == 2
        wave = clip.audio.to_soundarray(fps=SAMPLE_RATE)
        frames = [clip.get_frame(t + 0.5)[BAR:] for t in range(NUM_SEGMENTS)]  # picture area only
    assert wave.shape[1] == 2 and abs(len(wave) - NUM_SEGMENTS * SAMPLE_RATE) <= 1024  # not 2x long (mono bug)
    rms = np.sqrt((wave[: NUM_SEGMENTS * SAMPLE_RATE].reshape(NUM_SEGMENTS, -1, 2) ** 2).mean((1, 2)))
    heard = split.gt_audio[row].any(1)
    assert (rms[heard] > 0.02).all(), rms  # sound exactly where some event is audible…
    assert (rms[~heard] < 1e-3).all(), rms  # …and silence elsewhere (AAC leaks only ~1e-5)
    seen = split.gt_visual[row].any(1)
    empty, shown = int(np.flatnonzero(~seen)[0]), int(np.flatnonzero(seen)[0])
    assert np.abs(frames[empty].astype(int) - BACKGROUND).max() < 24  # nothing but background
    assert np.abs(frames[shown].astype(int) - frames[empty].astype(int)).mean(-1).max() > 100
    for t in range(NUM_SEGMENTS):  # each visible class's colour is on screen in its segment, absent otherwise
        for c in range(len(CLASSES)):
            colour = np.array(GLYPHS[CLASSES[c]][1])
            near = (np.abs(frames[t].astype(int) - colour).max(-1) < 30).sum()
            if split.gt_visual[row][t, c]:
                assert near > 200, (t, CLASSES[c], near)
            elif not split.gt_visual[row][t].any():
                assert near == 0


def test_second_request_is_a_cache_hit(rendered, monkeypatch):
    import avvp_core.videos as videos

    ds, split, row, path, _ = rendered
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(videos, "render_video", lambda *a, **k: pytest.fail("rendered again"))
    assert video_for(ds, "test", row) == path and path.stat().st_mtime_ns == mtime
    assert not list(path.parent.glob(".render-*"))  # the temporary folder is gone


def test_render_cache_is_keyed_by_truth(rendered):
    ds, split, row, path, _ = rendered
    other = int(next(i for i in range(len(split)) if truth_key(split.gt_audio[i], split.gt_visual[i])
                     != truth_key(split.gt_audio[row], split.gt_visual[row])))
    assert render_path(ds, split.filenames[row], split.gt_audio[other], split.gt_visual[other]) != path


def test_filmstrip_has_one_thumbnail_per_segment(rendered):
    ds, split, row, path, _ = rendered
    strip = filmstrip(path, thumb_width=64)
    assert strip.shape == (48, 64 * NUM_SEGMENTS, 3)
    seen = split.gt_visual[row].any(1)
    thumbs = strip.reshape(48, NUM_SEGMENTS, 64, 3)[8:, :, :-1].astype(int)  # below the bar
    spread = np.abs(thumbs - np.array(BACKGROUND)).max((0, 2, 3))  # (T,)
    assert (spread[seen] > 60).all() and (spread[~seen][:, None] < spread[seen][None]).all()


def test_filmstrip_sits_over_the_segments_of_a_timeline(rendered):
    from avvp_core.analysis.filmstrip import add_filmstrip
    from avvp_core.analysis.timeline import timeline_figure, timeline_frame

    ds, split, row, path, _ = rendered
    fig = timeline_figure(timeline_frame(split, row, {}), "t")
    height = fig.layout.height
    add_filmstrip(fig, filmstrip(path, thumb_width=32), strip_px=80)
    (image,) = fig.layout.images
    assert fig.layout.height == height + 80 and image.xref == "x" and (image.x, image.sizex) == (-0.5, 10)
    assert image.source.startswith("data:image/jpeg;base64,") and fig.layout.yaxis.domain[1] < 1
    rows = len(fig.data[0].y)
    assert tuple(fig.layout.yaxis.range) == (rows - 0.5, -0.5)  # first row flush under the strip
    assert image.y == 1 and 1 - image.sizey >= fig.layout.yaxis.domain[1] - 1e-9  # strip above the rows, no overlap


def test_corrupt_video_is_an_input_error_naming_the_file(tiny_data, tmp_path):
    root = _csv_only(tiny_data, tmp_path / "llp")
    filename = LLPDataset(root).split("test").filenames[0]
    bad = root / "videos" / f"{filename[:11]}.mp4"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 40)
    with pytest.raises(InputError, match=str(bad)):
        video_for(LLPDataset(root), "test", 0)
    with pytest.raises(InputError, match="unreadable video"):
        filmstrip(bad)
    with pytest.raises(InputError, match="not found"):
        probe(root / "videos" / "missing.mp4")


def test_llp_folder_without_videos_says_where_to_put_them(tiny_data, tmp_path):
    root = _csv_only(tiny_data, tmp_path / "llp")
    with pytest.raises(NoVideo, match="videos/<id>.mp4"):
        video_for(LLPDataset(root), "test", 0)


@pytest.mark.skipif(not (LLP_SAMPLE.is_file() and LLP_ANNOTATIONS.is_dir()), reason="shared LLP sample absent")
def test_real_llp_video_plays_instead_of_a_render(tmp_path):
    root = tmp_path / "llp"
    root.mkdir()
    for name in [*SPLIT_FILES.values(), *EVAL_FILES.values()]:
        shutil.copy(LLP_ANNOTATIONS / name, root / name)
    (root / "videos").mkdir()
    (root / "videos" / LLP_SAMPLE.name).symlink_to(LLP_SAMPLE)
    ds = LLPDataset(root)
    row = ds.split("train").filenames.index("BjCEufrlXm4_20_30")
    assert real_video(root, "BjCEufrlXm4_20_30") == root / "videos" / LLP_SAMPLE.name
    path = video_for(ds, "train", row)
    info = probe(path)
    assert abs(info.duration - 10) < 0.1 and info.size == (320, 240) and info.has_audio
    strip = filmstrip(path)
    assert strip.shape == (96, 1280, 3)
    thumbs = strip.reshape(96, 10, 128, 3).astype(float)
    assert np.abs(np.diff(thumbs, axis=1)).mean() > 1  # real footage: segments differ


def test_shipped_demos_match_their_manifest():
    manifest = json.loads((DEMO_DIR / "demo.json").read_text())
    files = [DEMO_DIR / v["file"] for v in manifest["videos"]]
    assert len(files) == 3 and all(f.is_file() for f in files)
    assert sum(f.stat().st_size for f in files) < 1.5e6
    assert manifest["dataset"]["generator"] == "SynthLLP" and manifest["dataset"]["preset"] == "mini"
    for f in files:
        assert abs(probe(f).duration - 10) <= 0.1


def test_shipped_demo_is_used_only_for_matching_data(tiny_data):
    assert shipped_demo(LLPDataset(tiny_data)) is None  # same filenames as mini, other truth: rendered instead
    mini = REPO / "data" / "synthllp-mini"
    if (mini / "synthllp.json").is_file():
        split, row, path = shipped_demo(LLPDataset(mini))
        assert path.parent == DEMO_DIR and LLPDataset(mini).split(split).filenames[row] in path.name


def test_every_shallow_value_of_the_demo_manifest_damaged_is_ignored(tiny_data, tmp_path):
    """A demo manifest naming two videos of the data in use, with its whole self or one value (down to a video's
    keys) swapped for a null, a list and a string: the demo videos are optional, so shipped_demo gives the first
    listed video that still matches, or None; never a traceback (a null as `videos` raised TypeError, a list as the
    whole manifest or a string as a video AttributeError)."""
    from conftest import shallow_swaps

    from avvp_core.videos import DEMO_MANIFEST, video_truth

    ds = LLPDataset(tiny_data)
    names = ds.split("test").filenames
    entries = []
    for row in (0, 1):
        (tmp_path / f"{names[row]}.mp4").write_bytes(b"")  # only its presence is read
        entries.append({"file": f"{names[row]}.mp4", "split": "test", "filename": names[row],
                        "truth": truth_key(*video_truth(ds, "test", row))})
    manifest = {"dataset": {"generator": "SynthLLP", "preset": "tiny", "seed": 0}, "videos": entries}
    found = [("test", row, tmp_path / f"{names[row]}.mp4") for row in (0, 1)]
    (tmp_path / DEMO_MANIFEST).write_text(json.dumps(manifest))
    assert shipped_demo(ds, tmp_path) == found[0]
    for where, document in shallow_swaps(manifest):
        (tmp_path / DEMO_MANIFEST).write_text(json.dumps(document))
        assert shipped_demo(ds, tmp_path) in (None, *found), where


# --- the pages -------------------------------------------------------------------------------------------------
@pytest.mark.app
def test_timelines_page_plays_the_chosen_video_above_its_filmstrip(tiny_data, tiny_han):
    at = app_page("timelines", tiny_data, [tiny_han])
    assert not at.exception
    (player,) = at.get("component_instance")  # the synchronised player: video and timeline in one component
    payload = json.loads(player.proto.json_args)["payload"]
    ds = LLPDataset(tiny_data)
    split = ds.split("test")  # the first test video is selected by default
    path = render_path(ds, split.filenames[0], split.gt_audio[0], split.gt_visual[0])
    assert path.is_file() and payload["video"].startswith("data:video/mp4;base64,")
    assert len(payload["thumbs"]) == 10 and payload["start"] == 0
    at.session_state["timeline_figure_open"] = True  # the figure's expander draws only once opened
    at.run()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)  # the same timeline as a figure, filmstrip on top
    assert len(chart["layout"]["images"]) == 1 and chart["layout"]["images"][0]["sizex"] == 10


@pytest.mark.app
def test_home_shows_the_demo_video_with_its_truth(tiny_data):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = []
    at.run()
    assert not at.exception
    assert len(at.get("video")) == 1
    assert "A video and its ground truth" in [s.value for s in at.subheader]
    ds = LLPDataset(tiny_data)
    split, row = "test", pick_demo_rows(ds)[0]  # no shipped demo matches tiny: the first pick is rendered
    gt_audio, gt_visual = ds.split(split).gt_audio[row], ds.split(split).gt_visual[row]
    assert render_path(ds, ds.split(split).filenames[row], gt_audio, gt_visual).is_file()
    bullets = next(m.value for m in at.markdown if m.value.startswith("- **"))
    assert bullets.count("\n- ") + 1 == int((gt_audio.any(0) | gt_visual.any(0)).sum())  # one line per class
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["title"]["text"] == "ground truth"
    assert all(y.endswith("ground truth") for y in chart["data"][0]["y"])
