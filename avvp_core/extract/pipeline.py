"""Features of any video in the LLP layout (`extract`), and what a checkpoint finds in it (`parse`).

extract: each video -> its 10-second windows (decode.py's rule) -> per window feats/vggish (10, 128),
feats/res152 (80, 2048) and feats/r2plus1d_18 (10, 512), float32, one `<11-char id>.npy` each, plus
`AVVP_test_pd.csv` listing the windows (no labels: the weak-label field is empty) and `extraction.json` (the
settings, and per source video its SHA-256, duration and windows). Every existing command reads the folder
(`predict --split test`, `stats`); `score` and `evaluate` say there is no truth to score against. A video is
written whole or not at all, so an interrupted run resumes where it stopped; a video that fails gets one line
and the others go on.

Window ids: a source named like an LLP video (`<id>_<start>_<end>`, or the bare 11-character YouTube id, listed as
`<id>_0_10`) that is a single window keeps its id, so its features sit beside the released ones; any other window
gets an 11-character id derived from the video's SHA-256 and the window index, its filename `<id>_<start>_<end>`.

parse: extract into a cache folder keyed by the video's SHA-256 and the extraction settings, run each checkpoint,
and list the audible, visible and audio-visual events (runs of positive segments under the checkpoint's gating,
merged across windows, nothing in padding). Checkpoints trained on SynthLLP are refused: their inputs were
synthetic features, not VGGish / ResNet / R(2+1)D features of real video.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint_schema import MB, finite_number, parse_json, read_bounded
from ..constants import CLASSES, NUM_SEGMENTS, SPLIT_FILES
from ..errors import InputError
from ..fileio import save_npy, save_npz, write_json, write_text
from . import audio as vggish_audio
from . import decode, nets, weights

PIPELINE_VERSION = 1
MANIFEST = "extraction.json"
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi")
LLP_NAME = re.compile(r"[A-Za-z0-9_-]{11}(_[0-9]+(\.[0-9]+)?_[0-9]+(\.[0-9]+)?)?", re.ASCII)
RANDOM_ENV = "AVVP_RANDOM_EXTRACTORS"  # "1": random weights, published sizes; "tiny": random weights, test sizes
MODALITY_EVENTS = ("audible", "visible", "both")
ProgressFn = Callable[[float, str], None]
LogFn = Callable[[str], None]
MAX_MANIFEST_BYTES = 64 * MB  # about 400 bytes a one-window video: all of LLP's 11,849 in one folder take 5 MB


# ------------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """What decides the features: the weights (published or random), the VGGish variant, the test-size switch."""

    weights: str = "pretrained"  # "pretrained" | "random"
    vggish: str = "embedding"  # "embedding" (raw 128-D layer, JoMoLD's extractor) | "postprocessed" (PCA + 8 bit)
    tiny: bool = False  # random weights only: the tests' small networks (nets.TINY)

    def __post_init__(self):
        if self.weights not in ("pretrained", "random"):
            raise InputError(f"unknown extractor weights {self.weights!r}: pretrained or random")
        if self.vggish not in ("embedding", "postprocessed"):
            raise InputError(f"unknown VGGish variant {self.vggish!r}: embedding or postprocessed")
        if self.tiny and self.weights != "random":
            raise InputError("the test-size extractors exist only with random weights")

    def to_json(self) -> dict:
        return {"pipeline_version": PIPELINE_VERSION, "weights": self.weights, "vggish": self.vggish,
                "tiny": self.tiny, "weight_files": {} if self.weights == "random" else {
                    k: weights.FILES[k].filename for k in self.weight_keys}}

    @property
    def weight_keys(self) -> tuple[str, ...]:
        return ("res152", "r2plus1d_18", "vggish") + (("vggish_pca",) if self.vggish == "postprocessed" else ())

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:8]

    @property
    def label(self) -> str:
        if self.weights == "random":
            return "RANDOM-WEIGHT extractors" + (" (test sizes)" if self.tiny else "") + ": features carry no meaning"
        return f"published extractor weights, VGGish {self.vggish}"

    @classmethod
    def from_env(cls, vggish: str = "embedding", random: bool = False) -> Settings:
        mode = os.environ.get(RANDOM_ENV, "").strip().lower()
        if random or mode in ("1", "true", "yes", "tiny"):
            return cls("random", vggish, tiny=mode == "tiny")
        return cls("pretrained", vggish)


# ---------------------------------------------------------------------------------------------- extractors
class Extractors:
    """The three networks, ready: published weights (downloaded and verified on first use) or random, seeded."""

    def __init__(self, settings: Settings, device: str = "cpu", download: bool = True,
                 progress: ProgressFn | None = None):
        self.settings, self.device = settings, torch.device(device)
        paths = {}
        if settings.weights == "pretrained":  # first: a missing file is reported before the networks are built
            paths = {k: weights.ensure(k, download, progress) for k in settings.weight_keys}
        sizes = nets.TINY if settings.tiny else {"res152": {}, "r2plus1d_18": {}, "vggish": {}}
        torch.manual_seed(0)  # random weights are the same in every run
        self.res152 = nets.resnet152(**sizes["res152"])
        self.r2plus1d = nets.r2plus1d_18(**sizes["r2plus1d_18"])
        self.vggish = nets.VGGish(**sizes["vggish"])
        self.pca: tuple[np.ndarray, np.ndarray] | None = None
        if settings.weights == "pretrained":
            weights.load_into(self.res152, paths["res152"])
            weights.load_into(self.r2plus1d, paths["r2plus1d_18"])
            weights.load_into(self.vggish, paths["vggish"])
            if "vggish_pca" in paths:
                self.pca = _pca(paths["vggish_pca"])
        elif settings.vggish == "postprocessed":  # random stand-in of the PCA: an orthogonal matrix, zero means
            q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((128, 128)))
            self.pca = (q, np.zeros(128))
        for m in (self.res152, self.r2plus1d, self.vggish):
            m.to(self.device).eval()

    @torch.inference_mode()
    def window(self, res_inputs: np.ndarray, r21d_inputs: np.ndarray, samples: np.ndarray,
               batch: int = 16) -> dict[str, np.ndarray]:
        """One window: (80, 3, 224, 224) and (80, 3, 112, 112) transformed frames, (160000,) 16 kHz samples ->
        {"res152": (80, 2048), "r2plus1d_18": (10, 512), "vggish": (10, 128)} float32."""
        x = torch.from_numpy(res_inputs)
        res = torch.cat([self.res152.features(x[i:i + batch].to(self.device)).cpu() for i in range(0, len(x), batch)])
        clips = torch.from_numpy(r21d_inputs).reshape(NUM_SEGMENTS, decode.FPS, 3, decode.R2PLUS1D_SIZE,
                                                      decode.R2PLUS1D_SIZE)  # (10 clips, 8 frames, 3, 112, 112)
        clips = clips.permute(0, 2, 1, 3, 4)  # (10, 3, 8, 112, 112): VideoResNet wants (N, C, T, H, W)
        r21d = torch.cat([self.r2plus1d.features(clips[i:i + 2].to(self.device)).cpu() for i in range(0, 10, 2)])
        ex = vggish_audio.examples(samples)  # (10, 96, 64)
        if len(ex) != NUM_SEGMENTS:
            raise RuntimeError(f"{len(ex)} VGGish examples from a 10-s window")  # a bug, not user input
        emb = self.vggish(torch.from_numpy(ex)[:, None].to(self.device)).cpu().numpy()  # (10, 128)
        if self.settings.vggish == "postprocessed":
            emb = vggish_audio.postprocess(emb, *self.pca)
        return {"vggish": emb.astype(np.float32), "res152": res.numpy().astype(np.float32),
                "r2plus1d_18": r21d.numpy().astype(np.float32)}


def _pca(path: Path) -> tuple[np.ndarray, np.ndarray]:
    state = weights.load_tensors(path)
    try:
        vectors = np.asarray(state["pca_eigen_vectors"], dtype=np.float64).reshape(128, 128)
        means = np.asarray(state["pca_means"], dtype=np.float64).reshape(128)
    except (KeyError, ValueError) as exc:
        raise InputError(f"not the VGGish PCA parameters ({exc})", path) from None
    return vectors, means


# ------------------------------------------------------------------------------------------------- one video
@dataclass
class VideoFeatures:
    media: decode.Media
    windows: list[decode.Window]
    features: list[dict[str, np.ndarray]] = field(default_factory=list)  # one dict per window


def extract_video(path: str | Path, ex: Extractors, progress: ProgressFn | None = None) -> VideoFeatures:
    """All windows of one video (InputError naming the file on anything unreadable)."""
    media = decode.probe(path)
    wins = decode.windows(media.duration)
    sound = decode.read_audio(media.path, media)
    frames = decode.iter_frames(media.path)
    out = VideoFeatures(media, wins)
    last = None
    for w in wins:
        if progress:
            progress(w.index / len(wins), f"window {w.index + 1} of {len(wins)}: decoding")
        res_in, r21d_in = [], []
        for frame in frames:
            res_in.append(decode.res152_input(frame))  # transformed at once: only small arrays are kept
            r21d_in.append(decode.r2plus1d_input(frame))
            last = (res_in[-1], r21d_in[-1])
            if len(res_in) == decode.FRAMES_PER_WINDOW:
                break
        if not res_in:
            if last is None:
                raise InputError("no frame could be decoded", media.path)
            res_in, r21d_in = [last[0]], [last[1]]  # the container is longer than its picture: hold the last frame
        if w.padded or len(res_in) == decode.FRAMES_PER_WINDOW:
            res_in, r21d_in = decode.pad_frames(res_in), decode.pad_frames(r21d_in)
        else:  # a full window the decoder gave fewer frames: the official sampling stretches them to 80
            pick = decode.frame_indices(len(res_in))
            res_in, r21d_in = [res_in[i] for i in pick], [r21d_in[i] for i in pick]
        if progress:
            progress((w.index + 0.3) / len(wins), f"window {w.index + 1} of {len(wins)}: extractors")
        out.features.append(ex.window(np.stack(res_in), np.stack(r21d_in), decode.window_audio(sound, w)))
    frames.close()
    if progress:
        progress(1.0, "done")
    return out


def content_hash(path: str | Path) -> str:
    return weights.sha256_of(Path(path))


def window_filenames(path: Path, digest: str, n_windows: int) -> list[str]:
    """LLP filenames of a video's windows (module docstring)."""
    if n_windows == 1 and LLP_NAME.fullmatch(path.stem):  # a split's filename is always <id>_<start>_<end>
        return [path.stem if len(path.stem) > 11 else f"{path.stem}_0_{NUM_SEGMENTS}"]
    names = []
    for k in range(n_windows):
        raw = hashlib.sha256(f"{digest}:{k}".encode()).digest()
        vid = base64.urlsafe_b64encode(raw).decode()[:11]
        names.append(f"{vid}_{k * NUM_SEGMENTS}_{(k + 1) * NUM_SEGMENTS}")
    return names


def find_videos(source: str | Path) -> list[Path]:
    source = Path(source).expanduser()
    if source.is_file():
        return [source]
    if source.is_dir():
        found = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if not found:
            raise InputError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder", source)
        return found
    raise InputError("not found", source, "give a video file or a folder of videos")


# --------------------------------------------------------------------------------------------- the folder
def read_manifest(out: Path, settings: Settings) -> dict:
    path = out / MANIFEST
    if not path.is_file():
        if (out / SPLIT_FILES["test"]).is_file():  # never overwrite the split list of a real LLP folder
            raise InputError(f"holds an {SPLIT_FILES['test']} that `extract` did not write", out,
                             "extract into a new folder")
        return {"format": "avvp-lab-extraction/1", "settings": settings.to_json(), "videos": {}}
    manifest = parse_json(read_bounded(path, MAX_MANIFEST_BYTES), path)
    if not isinstance(manifest, dict):
        raise InputError("not an extraction manifest (expected a JSON object)", path)
    if manifest.get("settings") != settings.to_json():
        raise InputError(f"this folder holds features extracted with other settings ({manifest.get('settings')})",
                         path, "extract into another --out folder")
    videos = manifest.get("videos")
    if not isinstance(videos, dict):
        raise InputError("'videos' of the extraction manifest must be an object", path)
    for name, entry in videos.items():
        if not _usable_entry(entry):
            raise InputError(f"the entry of {name[:80]!r} lacks its duration, sound flag or windows (each with an LLP "
                             "filename, start, end, padded flag and count of real segments)", path,
                             "delete the folder to extract again")
    return manifest


def _usable_entry(entry: Any) -> bool:
    """What extract, parse and the Your video page read of a video's entry (a folder may be copied, hand-edited or
    written by another version), with the types they need."""
    def window(w: Any) -> bool:
        if not isinstance(w, dict) or not isinstance(w.get("filename"), str) or not LLP_NAME.fullmatch(w["filename"]):
            return False
        segments = w.get("valid_segments")
        return finite_number(w.get("start")) and finite_number(w.get("end")) and isinstance(w.get("padded"), bool) \
            and type(segments) is int and 0 <= segments <= NUM_SEGMENTS

    if not isinstance(entry, dict) or not isinstance(entry.get("windows"), list) or not entry["windows"]:
        return False
    return finite_number(entry.get("duration")) and isinstance(entry.get("has_audio"), bool) \
        and all(map(window, entry["windows"]))


def write_split_list(out: Path, manifest: dict) -> None:
    """AVVP_test_pd.csv: every extracted window, in source order, with no labels."""
    rows = [name for entry in manifest["videos"].values() for name in (w["filename"] for w in entry["windows"])]
    write_text(out / SPLIT_FILES["test"], "filename\tevent_labels\n" + "".join(f"{r}\t\n" for r in rows))


@dataclass
class ExtractReport:
    extracted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already there (resumed)
    failed: list[str] = field(default_factory=list)  # one line each


def extract_folder(source: str | Path, out: str | Path, ex: Extractors, log: LogFn | None = None,
                   progress: ProgressFn | None = None) -> ExtractReport:
    """Extract every video of `source` (a file or a folder) into the LLP folder `out` (module docstring)."""
    out = Path(out)
    videos = find_videos(source)
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out, ex.settings)
    owner = {w["filename"][:11]: src for src, e in manifest["videos"].items() for w in e["windows"]}
    report = ExtractReport()
    for i, path in enumerate(videos):
        key = path.name
        t0 = time.perf_counter()

        def step(frac: float, msg: str, i=i, key=key) -> None:
            if progress:
                progress((i + frac) / len(videos), f"{key}: {msg}")

        try:
            digest = content_hash(path)
            done = manifest["videos"].get(key)
            if done and done.get("sha256") == digest and all(
                    (out / "feats" / s / f"{w['filename'][:11]}.npy").is_file()
                    for w in done["windows"] for s in ("vggish", "res152", "r2plus1d_18")):
                report.skipped.append(key)
                if log:
                    log(f"[{i + 1}/{len(videos)}] {key}: already extracted")
                continue
            feats = extract_video(path, ex, step)
            names = window_filenames(path, digest, len(feats.windows))
            clash = next((n for n in names if owner.get(n[:11], key) != key), None)
            if clash:
                raise InputError(f"window id {clash[:11]} is already used by {owner[clash[:11]]} (the same video "
                                 f"twice, or two files with the same LLP name)", path)
            for name, arrays in zip(names, feats.features, strict=True):
                for stream, array in arrays.items():
                    save_npy(out / "feats" / stream / f"{name[:11]}.npy", array)
            manifest["videos"][key] = {
                "source": str(path.resolve()), "sha256": digest, "duration": round(feats.media.duration, 3),
                "has_audio": feats.media.has_audio,
                "windows": [{"filename": n, "start": w.start, "end": round(w.end, 3), "padded": w.padded,
                             "valid_segments": w.valid_segments} for n, w in zip(names, feats.windows, strict=True)]}
            owner.update({n[:11]: key for n in names})
            write_json(out / MANIFEST, manifest)  # after the arrays: a listed video is complete
            write_split_list(out, manifest)
            report.extracted.append(key)
            if log:
                log(f"[{i + 1}/{len(videos)}] {key}: {len(names)} window(s) in {time.perf_counter() - t0:.1f} s"
                    + ("" if feats.media.has_audio else " (no sound track: silence)"))
        except InputError as exc:
            report.failed.append(str(exc))
            if log:
                log(f"[{i + 1}/{len(videos)}] {key}: skipped: {exc}")
    if manifest["videos"]:
        write_split_list(out, manifest)
    return report


# --------------------------------------------------------------------------------------------------- parse
def parse_cache_root() -> Path:
    base = os.environ.get("AVVP_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "avvp_lab") / "parsed"


def synthetic_reason(card) -> str | None:
    """Why a checkpoint cannot parse real video (trained on SynthLLP), or None."""
    data = card.config.get("data") or {}
    if data.get("synth"):
        return (f"{card.path.name}: trained on SynthLLP (generator {data['synth'].get('generator_version')}), whose "
                f"features are synthetic, not VGGish / ResNet-152 / R(2+1)D features of real video; its outputs on a "
                f"real clip would mean nothing. Use a checkpoint trained on LLP features or the official HAN "
                f"(`python -m avvp_core convert --from official-han`).")
    return None


def find_events(pred, gating: str, windows: list[dict], duration: float) -> dict[str, list[dict]]:
    """Audible / visible / both events of one video whose windows are the rows of `pred` (in order), in seconds
    from the start of the video: runs of positive segments (merged across windows), none in padding."""
    dec_a, dec_v = pred.decisions(gating)  # (W, T, C)
    valid = np.zeros(dec_a.shape[:2], dtype=bool)
    for k, w in enumerate(windows):
        valid[k, : w["valid_segments"]] = True
    flat = lambda a: a.reshape(-1, a.shape[-1])  # (W*T, C): second s = 10k + t
    on = {"audible": flat(dec_a.astype(bool) & valid[..., None]),
          "visible": flat(dec_v.astype(bool) & valid[..., None])}
    on["both"] = on["audible"] & on["visible"]
    prob = {"audible": flat(pred.audio), "visible": flat(pred.visual)}
    prob["both"] = np.minimum(prob["audible"], prob["visible"])
    out: dict[str, list[dict]] = {}
    for kind in MODALITY_EVENTS:
        events = []
        for c in range(len(CLASSES)):
            col = np.concatenate([[False], on[kind][:, c], [False]])
            edges = np.flatnonzero(np.diff(col.astype(np.int8)))
            for onset, offset in zip(edges[::2], edges[1::2], strict=True):
                events.append({"class": CLASSES[c], "onset": float(onset), "offset": float(min(offset, duration)),
                               "probability": round(float(prob[kind][onset:offset, c].mean()), 4)})
        out[kind] = sorted(events, key=lambda e: (e["onset"], e["class"]))
    return out


def format_events(events: dict[str, list[dict]]) -> list[str]:
    lines = []
    for kind in MODALITY_EVENTS:
        text = ", ".join(f"{e['class']} {e['onset']:g}–{e['offset']:g} s (p {e['probability']:.2f})"
                         for e in events[kind])
        lines.append(f"  {kind + ':':<9}{text or 'nothing'}")
    return lines


@dataclass
class Parsed:
    video: Path
    sha256: str
    data_dir: Path  # the cached LLP folder of its windows
    entry: dict  # the manifest entry (duration, windows)
    settings: Settings
    results: dict[str, dict] = field(default_factory=dict)  # checkpoint name -> {card, predictions, gating, events}

    def to_json(self) -> dict:
        return {"video": str(self.video), "sha256": self.sha256, "duration": self.entry["duration"],
                "has_audio": self.entry["has_audio"], "windows": self.entry["windows"],
                "extractors": self.settings.to_json(),
                "checkpoints": {name: {"path": str(r["card"].path), "model": r["card"].model, "gating": r["gating"],
                                       "events": r["events"]} for name, r in self.results.items()}}


def extract_cached(video: str | Path, ex: Extractors, progress: ProgressFn | None = None) -> tuple[Path, dict, str]:
    """Extract one video into its cache folder (once per content and settings): (folder, manifest entry, sha256)."""
    video = Path(video)
    if not video.is_file():
        raise InputError("video file not found", video)
    digest = content_hash(video)
    folder = parse_cache_root() / f"{digest[:16]}-{ex.settings.key}"
    report = extract_folder(video, folder, ex, progress=progress)
    if report.failed:
        raise InputError(report.failed[0])
    return folder, read_manifest(folder, ex.settings)["videos"][video.name], digest


def checkpoint_names(folders: list[str | Path]) -> list[str]:
    names, seen = [], {}
    for folder in folders:
        base = Path(folder).resolve().name or "checkpoint"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def parse_video(video: str | Path, checkpoints: list[str | Path], ex: Extractors, device: str = "cpu",
                progress: ProgressFn | None = None) -> Parsed:
    """Extract (cached), then run every checkpoint; SynthLLP checkpoints are refused before any extraction."""
    from ..checkpoints import load_checkpoint, read_card
    from ..data.dataset import LLPDataset
    from ..evaluation import predict

    if not checkpoints:
        raise InputError("no checkpoint given", hint="--checkpoint DIR (repeatable)")
    cards = [read_card(c) for c in checkpoints]
    for card in cards:
        reason = synthetic_reason(card)
        if reason:
            raise InputError(f"refused: {reason}")
    folder, entry, digest = extract_cached(video, ex, progress)
    split = LLPDataset(folder).split("test")
    rows = [split.filenames.index(w["filename"]) for w in entry["windows"]]
    parsed = Parsed(Path(video), digest, folder, entry, ex.settings)
    for name, card in zip(checkpoint_names(checkpoints), cards, strict=True):
        model, card = load_checkpoint(card.path, device)
        preds = predict(model, split, device=device).subset(np.array(rows))
        preds.gating = card.gating  # recorded in PRED.npz, as `predict` does: the paper's gating
        parsed.results[name] = {"card": card, "predictions": preds, "gating": card.gating,
                                "events": find_events(preds, card.gating, entry["windows"], entry["duration"])}
    return parsed


def write_parsed(parsed: Parsed, out: str | Path) -> list[Path]:
    """`<out>/<checkpoint>/PRED.npz` (the score contract, one row per window) and `<out>/events.json`."""
    out = Path(out)
    written = []
    for name, r in parsed.results.items():
        path = out / name / "PRED.npz"
        save_npz(path, **r["predictions"].npz_arrays())
        written.append(path)
    write_json(out / "events.json", parsed.to_json())
    return [*written, out / "events.json"]
