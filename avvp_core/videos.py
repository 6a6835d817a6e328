"""Where a video's picture and sound come from: the user's real LLP video files, else a SynthLLP render cached
on disk; probing and filmstrips (one thumbnail per segment); the demo videos shipped in assets/demo/.

Real videos are looked up as `<data>/videos/<id or filename>.mp4` (also `video/` and `LLP_dataset/video/`, the
layout of the official AVVP repository). Renders live in `<cache>/videos/<filename>.<key>.mp4`, keyed by the
generator version, the render version and the video's truth, so regenerated data never shows a stale video.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint_schema import read_json_object
from .constants import NUM_SEGMENTS, VIDEO_ID_LEN
from .data.cache import default_cache_root
from .data.dataset import LLPDataset
from .errors import InputError
from .paths import ASSETS_DIR
from .render import BAR, HEIGHT, RENDER_VERSION, render_video, truth_key

VIDEO_DIRS = ("videos", "video", "LLP_dataset/video")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv")
DEMO_DIR = ASSETS_DIR / "demo"
DEMO_MANIFEST = "demo.json"


class NoVideo(InputError):
    """No video exists for this row (real LLP folder without its videos): a what-to-do, not a failure."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    duration: float
    fps: float
    size: tuple[int, int]
    has_audio: bool


def _unreadable(path: Path, exc: Exception) -> InputError:
    return InputError(f"unreadable video ({type(exc).__name__}: {str(exc)[:160]})", path)


def probe(path: str | Path) -> VideoInfo:
    """Open a video and read one frame; any failure is an InputError naming the file."""
    from moviepy import VideoFileClip

    path = Path(path)
    if not path.is_file():
        raise InputError("video file not found", path)
    try:
        with VideoFileClip(str(path)) as clip:
            clip.get_frame(min(0.5, clip.duration / 2))
            return VideoInfo(path, float(clip.duration), float(clip.fps), tuple(clip.size), clip.audio is not None)
    except Exception as exc:  # moviepy/ffmpeg raise OSError, KeyError, IndexError… on broken files
        raise _unreadable(path, exc) from exc


def is_render(path: str | Path) -> bool:
    """A SynthLLP render (cached `<filename>.<12-hex key>.mp4`, or a shipped demo), not a user's real video."""
    path = Path(path)
    return path.parent == DEMO_DIR or re.fullmatch(r".+\.[0-9a-f]{12}\.mp4", path.name) is not None


def filmstrip(path: str | Path, thumb_width: int = 128, crop_header: bool = False) -> np.ndarray:
    """One thumbnail per segment (the frame at its centre, t = k + 0.5 s) side by side: (h, 10·w, 3) uint8.

    `crop_header` drops a render's top bar ("segment k/10" and the progress bar): at thumbnail size its text is
    unreadable and the timeline's axis says the same; what stays is the glyphs and their class names."""
    from moviepy import VideoFileClip
    from PIL import Image

    path = Path(path)
    try:
        with VideoFileClip(str(path), audio=False) as clip:
            w, h = clip.size
            thumb_height = max(2, round(thumb_width * h / w))
            last = max(clip.duration - 1.0 / (clip.fps or 25.0), 0.0)
            thumbs = []
            for k in range(NUM_SEGMENTS):
                picture = clip.get_frame(min(k + 0.5, last))
                if crop_header:
                    picture = picture[round(picture.shape[0] * BAR / HEIGHT):]
                    thumb_height = max(2, round(thumb_width * picture.shape[0] / picture.shape[1]))
                frame = Image.fromarray(picture).resize((thumb_width, thumb_height))
                thumb = np.asarray(frame).copy()
                thumb[:, -1] = 0  # a dark line between segments
                thumbs.append(thumb)
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    return np.concatenate(thumbs, axis=1)


FILMSTRIP_VERSION = 1
MAX_STRIP_BYTES = 16 * 2**20  # a 128-pixel strip of a 10-s clip is ~300 KB


def strip_path(path: str | Path, thumb_width: int = 128, crop_header: bool = False) -> Path | None:
    """Where the filmstrip of a SynthLLP render is kept, beside it in the render cache (named by the render's own
    mtime and size and the strip's settings: a re-render is a new name); None for any other video (a user's file,
    a shipped demo: their folders are not ours to write in)."""
    path = Path(path)
    if path.parent == DEMO_DIR or not is_render(path):
        return None
    stat = path.stat()
    key = hashlib.sha256(f"{FILMSTRIP_VERSION}|{stat.st_mtime_ns}|{stat.st_size}|{thumb_width}|{crop_header}"
                         .encode()).hexdigest()[:12]
    return path.with_name(f"{path.stem}.strip-{key}.npy")


def cached_filmstrip(path: str | Path, thumb_width: int = 128, crop_header: bool = False) -> np.ndarray:
    """`filmstrip`, kept on disk for a render: decoding ten frames starts ffmpeg (a few tenths of a second), the
    read is milliseconds. A cached strip is read as an untrusted file (bounded, uint8 (h, 10·w, 3)); one that is
    not is decoded again and rewritten."""
    import logging

    from .fileio import save_npy
    from .untrusted import load_npy

    cache = strip_path(path, thumb_width, crop_header)
    if cache is not None and cache.exists():
        try:
            strip = load_npy(cache, limit=MAX_STRIP_BYTES)
            if strip.dtype == np.uint8 and strip.ndim == 3 and strip.shape[1:] == (NUM_SEGMENTS * thumb_width, 3):
                return strip
            raise InputError(f"holds a {strip.dtype} array of shape {strip.shape}, not a filmstrip", cache)
        except InputError as exc:
            logging.getLogger(__name__).warning("filmstrip cache: %s; decoding the video again", exc)
    strip = filmstrip(path, thumb_width, crop_header)
    if cache is not None:
        try:
            save_npy(cache, strip)
        except (InputError, OSError) as exc:  # only costs the next view a decode
            logging.getLogger(__name__).warning("filmstrip cache: cannot write %s (%s)", cache, exc)
    return strip


def split_strip(strip: np.ndarray) -> list[np.ndarray]:
    """A filmstrip back into its 10 thumbnails."""
    return np.split(strip, NUM_SEGMENTS, axis=1)


def image_uri(image: np.ndarray, quality: int = 85) -> str:
    """A JPEG data URI (for plotly layout images: smaller than the PNG plotly would embed)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def real_video(root: str | Path, filename: str) -> Path | None:
    """The user's own video for this LLP filename, if the data folder has one."""
    root = Path(root)
    for folder in VIDEO_DIRS:
        for stem in (filename, filename[:VIDEO_ID_LEN]):
            for ext in VIDEO_EXTENSIONS:
                path = root / folder / f"{stem}{ext}"
                if path.is_file():
                    return path
    return None


def video_truth(ds: LLPDataset, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, C) audio and visual truth of one video; SynthLLP's train truth is read in oracle mode for display."""
    sp = ds.split(split)
    if not sp.has_truth and split == "train" and ds.synth_meta and ds.has_train_truth:
        sp = LLPDataset(ds.root, ds.cache_root, oracle=True).split(split)
    if not sp.has_truth:
        raise NoVideo(f"{sp.filenames[index]}: no dense truth to render a video from and no video file "
                      f"(put LLP videos in {ds.root / VIDEO_DIRS[0]}/<id>.mp4)")
    return sp.gt_audio[index], sp.gt_visual[index]


def render_path(ds: LLPDataset, filename: str, gt_audio: np.ndarray, gt_visual: np.ndarray) -> Path:
    """Where the render of this video is cached."""
    version = (ds.synth_meta or {}).get("generator_version", "none")
    key = hashlib.sha256(f"{version}|{RENDER_VERSION}|{truth_key(gt_audio, gt_visual)}".encode()).hexdigest()[:12]
    return (ds.cache_root or default_cache_root(ds.root)) / "videos" / f"{filename}.{key}.mp4"


def synth_video(ds: LLPDataset, split: str, index: int) -> Path:
    """The rendered video of a SynthLLP row: from the disk cache, rendered first when missing."""
    gt_audio, gt_visual = video_truth(ds, split, index)
    path = render_path(ds, ds.split(split).filenames[index], gt_audio, gt_visual)
    return path if path.is_file() else render_video(gt_audio, gt_visual, path)


def video_for(ds: LLPDataset, split: str, index: int) -> Path:
    """The video to show for a row: the user's real file (checked readable) when present, else a SynthLLP render.

    Raises NoVideo for a real LLP folder without its videos, InputError for an unreadable file.
    """
    filename = ds.split(split).filenames[index]
    real = real_video(ds.root, filename)
    if real is not None:
        return probe(real).path
    if not ds.synth_meta:
        raise NoVideo(f"no video file for {filename}: put the LLP videos in "
                      f"{ds.root / VIDEO_DIRS[0]}/<id>.mp4 (11-character YouTube id) to watch them here")
    return synth_video(ds, split, index)


# --- demo videos (assets/demo) --------------------------------------------------------------------------------
def pick_demo_rows(ds: LLPDataset, split: str = "test", n: int = 3) -> list[int]:
    """Teaching picks: an event heard but never seen next to an audio-visual one; an event seen but never
    heard; then the video with the most events. Deterministic (first match in file order)."""
    sp = ds.split(split)
    heard, seen = sp.gt_audio.any(1), sp.gt_visual.any(1)  # (N, C)
    both = (heard & seen).any(1)
    tests = [lambda i: (heard[i] & ~seen[i]).any() and both[i] and seen[i].sum() >= 1,
             lambda i: (seen[i] & ~heard[i]).any() and heard[i].any(),
             lambda i: (heard[i] | seen[i]).sum() >= 4]
    rows: list[int] = []
    for test in tests[:n]:
        match = next((i for i in range(len(sp)) if i not in rows and test(i)), None)
        if match is not None:
            rows.append(match)
    rows += [i for i in np.argsort(-(heard | seen).sum(1), kind="stable") if i not in rows][: n - len(rows)]
    return [int(i) for i in rows]


def write_demos(ds: LLPDataset, out_dir: str | Path = DEMO_DIR, split: str = "test", n: int = 3) -> dict:
    """Render the demo picks into `out_dir` with a manifest naming the dataset, videos, truth and versions."""
    out_dir = Path(out_dir)
    meta = ds.synth_meta or {}
    entries = []
    for row in pick_demo_rows(ds, split, n):
        gt_audio, gt_visual = video_truth(ds, split, row)
        filename = ds.split(split).filenames[row]
        render_video(gt_audio, gt_visual, out_dir / f"{filename}.mp4")
        entries.append({"file": f"{filename}.mp4", "split": split, "filename": filename,
                        "truth": truth_key(gt_audio, gt_visual)})
    manifest = {"dataset": {k: meta.get(k) for k in ("generator", "generator_version", "preset", "seed")},
                "render_version": RENDER_VERSION, "videos": entries,
                "command": f"python -m avvp_core.videos {ds.root} {out_dir}"}
    (out_dir / DEMO_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def demo_manifest(demo_dir: str | Path = DEMO_DIR) -> tuple[list[dict], dict]:
    """(videos, dataset) of the demo manifest: its video entries that are objects and its dataset record ({} when
    it is no object). The demo videos are optional (Home renders one from the data instead, or shows none), so a
    missing or damaged manifest gives ([], {})."""
    try:
        manifest = read_json_object(Path(demo_dir) / DEMO_MANIFEST)
    except (OSError, ValueError):
        return [], {}
    videos, dataset = manifest.get("videos"), manifest.get("dataset")
    return ([v for v in videos if isinstance(v, dict)] if isinstance(videos, list) else [],
            dataset if isinstance(dataset, dict) else {})


def shipped_demo(ds: LLPDataset, demo_dir: str | Path = DEMO_DIR) -> tuple[str, int, Path] | None:
    """A shipped demo video whose filename is in the data in use with the same truth, as (split, row, path)."""
    demo_dir = Path(demo_dir)
    for entry in demo_manifest(demo_dir)[0]:
        split, path = entry.get("split"), demo_dir / str(entry.get("file"))
        if split not in ds.available_splits or not path.is_file():
            continue
        names = ds.split(split).filenames
        if entry.get("filename") in names:
            row = names.index(entry["filename"])
            try:
                if truth_key(*video_truth(ds, split, row)) == entry.get("truth"):
                    return split, row, path
            except InputError:
                continue
    return None


def demo_video(ds: LLPDataset, split: str = "test") -> tuple[str, int, Path] | None:
    """The home page's video: a shipped one matching the data, else a render (SynthLLP) or the first real LLP
    video present; None when the folder has neither."""
    shipped = shipped_demo(ds)
    if shipped is not None:
        return shipped
    if split not in ds.available_splits:
        return None
    if ds.synth_meta and ds.split(split).has_truth:
        row = pick_demo_rows(ds, split, 1)[0]
        return split, row, synth_video(ds, split, row)
    for row, filename in enumerate(ds.split(split).filenames):
        if real_video(ds.root, filename) is not None:
            return split, row, video_for(ds, split, row)
    return None


if __name__ == "__main__":  # python -m avvp_core.videos [DATA] [OUT]: (re)render the shipped demo videos
    import sys

    from .paths import DEFAULT_DATA

    args = sys.argv[1:]
    print(json.dumps(write_demos(LLPDataset(args[0] if args else DEFAULT_DATA), *args[1:2]), indent=2))
