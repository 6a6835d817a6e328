"""Reading a video for extraction: its length, its 10-second windows, frames at 8 fps, 16 kHz audio, and the
image transforms of the two visual extractors. Decoding runs the ffmpeg binary that moviepy uses (the one inside
imageio-ffmpeg); no system ffmpeg is needed.

The window rule (one rule for every length): a video is cut into consecutive 10-second windows from t = 0; a window
shorter than 10 s (a short video, or a long video's tail) is padded to 10 s — its last frame held, silence after its
sound — and the seconds past the end are marked as padding (no event is reported there); a tail under 1 s is dropped
unless it is the whole video. Inside a window the official sampling applies unchanged: its n frames at 8 fps, 80 of
them picked by rounding linspace(0, n - 1, 80) (n = 80 for every full or padded window, so this is the identity
unless the decoder delivers fewer frames than the container's duration promises).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import FRAMES_PER_SEGMENT, NUM_SEGMENTS
from ..errors import InputError
from .audio import SAMPLE_RATE

FPS = FRAMES_PER_SEGMENT  # 8 frames per second
WINDOW_SECONDS = NUM_SEGMENTS  # 10 s
FRAMES_PER_WINDOW = FPS * WINDOW_SECONDS  # 80
MIN_TAIL_SECONDS = 1.0
MAX_SECONDS = 3600.0  # longer videos are refused before decoding (audio is held whole: ~64 KB per second)
MAX_PIXELS = 8192 * 8192

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
RES152_RESIZE, RES152_CROP, R2PLUS1D_SIZE = 256, 224, 112


@dataclass(frozen=True)
class Media:
    path: Path
    duration: float  # seconds (container)
    size: tuple[int, int]  # (width, height)
    has_audio: bool


@dataclass(frozen=True)
class Window:
    index: int
    start: float  # seconds into the video
    end: float  # start + 10, or the video's end when padded
    padded: bool

    @property
    def valid_segments(self) -> int:
        """Segments that start before the video ends (the others are padding)."""
        return min(NUM_SEGMENTS, math.ceil(round(self.end - self.start, 6)))


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: str | Path) -> Media:
    """Duration, frame size and audio presence from ffmpeg's header parse; one-line InputError otherwise."""
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    path = Path(path)
    if not path.is_file():
        raise InputError("video file not found", path)
    try:
        info = ffmpeg_parse_infos(str(path))
    except Exception as exc:  # moviepy raises OSError/IndexError/KeyError on files ffmpeg cannot read
        raise InputError(f"unreadable video ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})", path) from None
    if not info.get("video_found"):
        raise InputError("no video stream", path, "the visual extractors need pictures")
    duration = float(info.get("video_duration") or info.get("duration") or 0.0)
    size = tuple(int(v) for v in (info.get("video_size") or (0, 0)))
    if not duration > 0:
        raise InputError("the video has no duration (empty or damaged)", path)
    if duration > MAX_SECONDS:
        raise InputError(f"{duration:.0f} s is longer than the {MAX_SECONDS:.0f} s limit", path,
                         "cut the video into parts")
    if size[0] <= 0 or size[1] <= 0 or size[0] * size[1] > MAX_PIXELS:
        raise InputError(f"frame size {size[0]}x{size[1]} is not supported", path)
    return Media(path, duration, (size[0], size[1]), bool(info.get("audio_found")))


def windows(duration: float) -> list[Window]:
    """The 10-second windows of a video of `duration` seconds (the rule in the module docstring)."""
    out = []
    start = 0.0
    while start < duration - 1e-6:
        end = min(start + WINDOW_SECONDS, duration)
        if end - start < MIN_TAIL_SECONDS and out:
            break
        out.append(Window(len(out), start, end, end - start < WINDOW_SECONDS - 1e-6))
        start += WINDOW_SECONDS
    return out


def frame_indices(n: int, count: int = FRAMES_PER_WINDOW) -> np.ndarray:
    """The official sampling: `count` indices into n frames by rounding linspace(0, n - 1, count) (numpy rounding)."""
    if n <= 0:
        raise ValueError("no frames to sample from")
    return np.round(np.linspace(0, n - 1, count)).astype(np.int64)


def _run(path: Path, args: list[str]) -> subprocess.Popen:
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), *args, "-"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def iter_frames(path: str | Path, fps: int = FPS) -> Iterator[np.ndarray]:
    """Every frame at `fps` (ffmpeg's fps filter, as the official frame extraction) as (H, W, 3) uint8, in order.

    Frames arrive as PPM images through a pipe, each with its own size header, so rotation metadata and odd sizes
    need no probing."""
    path = Path(path)
    proc = _run(path, ["-an", "-vf", f"fps={fps}", "-f", "image2pipe", "-vcodec", "ppm"])
    finished = False
    try:
        while True:
            header = b""
            while header.count(b"\n") < 3:  # "P6\n<w> <h>\n255\n"
                byte = proc.stdout.read(1)
                if not byte:
                    break
                header += byte
            if not header:
                finished = True
                break
            parts = header.split()
            if len(parts) != 4 or parts[0] != b"P6" or parts[3] != b"255":
                raise InputError(f"unexpected frame header from ffmpeg {header[:20]!r}", path)
            w, h = int(parts[1]), int(parts[2])
            if w * h > MAX_PIXELS:
                raise InputError(f"frame size {w}x{h} is not supported", path)
            data = _read_exact(proc.stdout, w * h * 3)
            if len(data) < w * h * 3:
                finished = True
                break  # a frame cut short: the stream ended
            yield np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
    finally:
        if not finished:  # the reader stopped early (closed generator, or an error): stop ffmpeg, report nothing
            proc.kill()
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        proc.wait()
    if proc.returncode != 0:
        raise InputError(f"ffmpeg could not decode the frames ({' '.join(err.split())[:160]})", path)


def read_audio(path: str | Path, media: Media | None = None) -> np.ndarray:
    """The whole soundtrack as 16 kHz mono float32 in [-1, 1]: resampled by ffmpeg to 16-bit PCM, as the official
    pipeline's wav files, then read as VGGish reads a wav (int16 / 32768, mean of the channels). A video without a
    sound track gives silence of its duration."""
    path = Path(path)
    media = media or probe(path)
    if not media.has_audio:
        return np.zeros(int(round(media.duration * SAMPLE_RATE)), dtype=np.float32)
    proc = _run(path, ["-vn", "-ar", str(SAMPLE_RATE), "-acodec", "pcm_s16le", "-f", "wav"])
    data, err = proc.communicate()
    if proc.returncode != 0:
        raise InputError(f"ffmpeg could not decode the sound ({' '.join(err.decode(errors='replace').split())[:160]})",
                         path)
    channels, pcm = _wav_payload(data, path)
    samples = np.frombuffer(pcm[: len(pcm) // (2 * channels) * 2 * channels], dtype="<i2")
    return (samples.reshape(-1, channels).astype(np.float64) / 32768.0).mean(axis=1).astype(np.float32)


def _wav_payload(data: bytes, path: Path) -> tuple[int, bytes]:
    """(channels, PCM bytes) of a streamed WAV (its sizes may be placeholders: the data runs to the end)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError("ffmpeg returned no WAV sound", path)
    offset, channels = 12, 0
    while offset + 8 <= len(data):
        kind, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
        if kind == b"fmt ":
            channels = int.from_bytes(data[offset + 10:offset + 12], "little")
        elif kind == b"data":
            if channels <= 0:
                break
            return channels, data[offset + 8:]
        offset += 8 + size + (size & 1)
    raise InputError("ffmpeg returned a WAV stream without sound data", path)


def window_audio(audio: np.ndarray, window: Window) -> np.ndarray:
    """The window's 160,000 samples, silence past the end of the sound."""
    n = WINDOW_SECONDS * SAMPLE_RATE
    start = int(round(window.start * SAMPLE_RATE))
    out = np.zeros(n, dtype=np.float32)
    part = audio[start:start + n]
    out[: len(part)] = part
    return out


def pad_frames(frames: list, count: int = FRAMES_PER_WINDOW) -> list:
    """A short window's frames with its last frame held up to `count` (the window rule)."""
    return frames + [frames[-1]] * (count - len(frames)) if frames and len(frames) < count else frames


# ---------------------------------------------------------------------------------------------- transforms
def _to_tensor(image, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))  # (3, H, W)


def resize_short_side(image, size: int):
    """torchvision's Resize(size) on a PIL image: the shorter side to `size`, the longer in proportion (truncated),
    PIL bilinear."""
    from PIL import Image

    w, h = image.size
    if w <= h:
        new = (size, int(size * h / w))
    else:
        new = (int(size * w / h), size)
    return image.resize(new, Image.BILINEAR)


def center_crop(image, size: int):
    """torchvision's CenterCrop(size): offsets int(round((side - size) / 2))."""
    w, h = image.size
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def res152_input(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, 224, 224) float32: shorter side 256, centre crop 224, ImageNet mean/std."""
    from PIL import Image

    image = center_crop(resize_short_side(Image.fromarray(frame), RES152_RESIZE), RES152_CROP)
    return _to_tensor(image, IMAGENET_MEAN, IMAGENET_STD)


def r2plus1d_input(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, 112, 112) float32: resized to 112 x 112 (no crop, aspect not kept), Kinetics mean/std."""
    from PIL import Image

    image = Image.fromarray(frame).resize((R2PLUS1D_SIZE, R2PLUS1D_SIZE), Image.BILINEAR)
    return _to_tensor(image, KINETICS_MEAN, KINETICS_STD)
