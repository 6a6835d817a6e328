"""Render a SynthLLP video from its dense truth with moviepy 2: what a viewer sees and hears is the truth.

Each visible event is a class glyph (a fixed shape and colour per class, with its name) drawn in the segments
where it is visible, in a slot of its own for the whole video; each audible event is its class's sound
(`sounds.py`) where it is audible, silence elsewhere. A top bar counts the segments and shows progress.
320x240 at 10 fps, AAC stereo at 22.05 kHz; written to a temporary file and renamed into place.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from .constants import CLASSES, NUM_SEGMENTS
from .sounds import SAMPLE_RATE, soundtrack

RENDER_VERSION = "1"  # bump when the look or the sounds change: cached renders are keyed by it
WIDTH, HEIGHT, FPS = 320, 240, 10
BAR = 36  # height of the top bar (segment counter + progress); on top so player controls never hide it
BACKGROUND = (24, 26, 32)
# One glyph per class: (shape, colour). Shapes repeat, colours do not, and no (shape, colour) pair repeats.
GLYPHS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "Speech": ("circle", (66, 135, 245)), "Car": ("square", (220, 50, 47)), "Cheering": ("star", (255, 170, 0)),
    "Dog": ("triangle", (166, 110, 60)), "Cat": ("diamond", (236, 112, 200)),
    "Frying_(food)": ("hexagon", (200, 200, 40)), "Basketball_bounce": ("circle", (255, 120, 20)),
    "Fire_alarm": ("triangle", (255, 40, 90)), "Chainsaw": ("cross", (120, 200, 60)),
    "Cello": ("diamond", (150, 70, 30)), "Banjo": ("diamond", (240, 220, 160)), "Singing": ("star", (180, 120, 255)),
    "Chicken_rooster": ("triangle", (250, 240, 60)), "Violin_fiddle": ("pentagon", (190, 40, 160)),
    "Vacuum_cleaner": ("square", (140, 150, 170)), "Baby_laughter": ("circle", (255, 190, 210)),
    "Accordion": ("hexagon", (60, 180, 170)), "Lawn_mower": ("square", (40, 150, 60)),
    "Motorcycle": ("cross", (90, 90, 255)), "Helicopter": ("cross", (0, 200, 220)),
    "Acoustic_guitar": ("pentagon", (230, 150, 90)), "Telephone_bell_ringing": ("ring", (255, 255, 255)),
    "Baby_cry_infant_cry": ("ring", (120, 200, 255)), "Blender": ("ring", (170, 255, 120)),
    "Clapping": ("star", (255, 100, 100)),
}
assert tuple(GLYPHS) == CLASSES and len({g for g in GLYPHS.values()}) == len(CLASSES)


def truth_key(gt_audio: np.ndarray, gt_visual: np.ndarray) -> str:
    """A short hash of one video's (T, C) audio and visual truth: what a render depends on besides versions."""
    h = hashlib.sha256(np.ascontiguousarray(gt_audio, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(gt_visual, dtype=np.uint8).tobytes())
    return h.hexdigest()[:16]


def _spans(mask: np.ndarray) -> str:
    """(T,) bool → "0-2 s, 7-10 s" (runs of segments as seconds), or "never"."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    starts, ends = np.flatnonzero(~padded[:-1] & padded[1:]), np.flatnonzero(padded[:-1] & ~padded[1:])
    return ", ".join(f"{a}-{b} s" for a, b in zip(starts, ends, strict=True)) or "never"


def describe(gt_audio: np.ndarray, gt_visual: np.ndarray, sounds: bool = True) -> list[str]:
    """One markdown line per class in the video: when it is seen and heard (and, for renders, its glyph and sound)."""
    from .sounds import DESCRIPTIONS

    lines = []
    for c in np.flatnonzero(np.asarray(gt_audio).any(0) | np.asarray(gt_visual).any(0)):
        name = CLASSES[c]
        look = f" ({GLYPHS[name][0]}; sounds like {DESCRIPTIONS[name]})" if sounds else ""
        lines.append(f"**{name}**{look}: seen {_spans(gt_visual[:, c] > 0)}, heard {_spans(gt_audio[:, c] > 0)}")
    return lines


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled scalable font: no font file needed


def _shape(draw, kind: str, cx: float, cy: float, r: float, colour: tuple[int, int, int]) -> None:
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(3, int(r / 3)))
    elif kind == "square":
        draw.rectangle((cx - 0.85 * r, cy - 0.85 * r, cx + 0.85 * r, cy + 0.85 * r), fill=colour)
    elif kind == "cross":
        w = r / 2.6
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=colour)
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=colour)
    else:
        corners = {"triangle": (3, -90), "diamond": (4, -90), "pentagon": (5, -90), "hexagon": (6, 0),
                   "star": (10, -90)}[kind]
        n, start = corners
        points = []
        for i in range(n):
            radius = r * (0.45 if kind == "star" and i % 2 else 1.0)
            angle = math.radians(start + 360 * i / n)
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=colour)


def _label(draw, text: str, cx: float, top: float, width: float) -> None:
    """The class name under its glyph, in one or two lines, shrunk until it fits the slot."""
    words = text.replace("_", " ")
    spaces = [i for i, ch in enumerate(words) if ch == " "]
    cut = min(spaces, key=lambda i: abs(2 * i - len(words))) if spaces else None
    for size in (14, 12, 10, 9):
        font = _font(size)
        lines = [words]
        if draw.textlength(words, font=font) > width and cut is not None:
            lines = [words[:cut], words[cut + 1:]]
        if max(draw.textlength(line, font=font) for line in lines) <= width:
            break
    for i, line in enumerate(lines):
        draw.text((cx, top + i * (size + 1)), line, fill=(235, 235, 235), font=font, anchor="ma")


def slots(classes: list[int]) -> dict[int, tuple[float, float, float, float]]:
    """A fixed, non-overlapping cell (x, y, w, h) in the picture area for each class visible in the video."""
    k = len(classes)
    cols = 1 if k <= 1 else 2 if k <= 4 else 3 if k <= 9 else 4
    rows = max(1, math.ceil(k / cols))
    w, h = WIDTH / cols, (HEIGHT - BAR) / rows
    return {c: ((i % cols) * w, BAR + (i // cols) * h, w, h) for i, c in enumerate(classes)}


def segment_images(gt_visual: np.ndarray) -> list[np.ndarray]:
    """(T, C) visible truth → T base frames (H, W, 3) uint8: the glyphs visible in each segment, and the bar."""
    from PIL import Image, ImageDraw

    visible = np.asarray(gt_visual) > 0
    first_seen = sorted(np.flatnonzero(visible.any(0)), key=lambda c: (int(np.argmax(visible[:, c])), c))
    cells = slots([int(c) for c in first_seen])
    images = []
    for t in range(NUM_SEGMENTS):
        img = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
        draw = ImageDraw.Draw(img)
        for c, (x, y, w, h) in cells.items():
            if not visible[t, c]:
                continue
            shape, colour = GLYPHS[CLASSES[c]]
            radius = max(6.0, min(w, h - 30) * 0.36)
            _shape(draw, shape, x + w / 2, y + 4 + radius, radius, colour)
            _label(draw, CLASSES[c], x + w / 2, y + 8 + 2 * radius, w - 6)
        draw.rectangle((0, 0, WIDTH, BAR), fill=(12, 12, 16))
        draw.text((8, 4), f"segment {t + 1}/{NUM_SEGMENTS}", fill=(235, 235, 235), font=_font(12))
        draw.text((WIDTH - 8, 4), f"{t}-{t + 1} s", fill=(160, 160, 170), font=_font(12), anchor="ra")
        for k in range(NUM_SEGMENTS + 1):  # one tick per segment boundary under the progress bar
            xk = 8 + k * (WIDTH - 16) / NUM_SEGMENTS
            draw.line((xk, BAR - 12, xk, BAR - 4), fill=(90, 90, 100))
        draw.rectangle((8, BAR - 10, WIDTH - 8, BAR - 6), outline=(90, 90, 100))
        images.append(np.asarray(img))
    return images


def frame_function(gt_visual: np.ndarray):
    """t (seconds) → frame: the segment's base image with the progress bar filled up to t."""
    bases = segment_images(gt_visual)

    def frame(t: float) -> np.ndarray:
        seg = min(int(t), NUM_SEGMENTS - 1)
        img = bases[seg].copy()
        filled = 8 + int(round(min(t / NUM_SEGMENTS, 1.0) * (WIDTH - 16)))
        img[BAR - 9:BAR - 6, 9:filled] = (66, 135, 245)
        return img

    return frame


def render_video(gt_audio: np.ndarray, gt_visual: np.ndarray, out: str | Path) -> Path:
    """Write the video of one (T, C) audio truth and (T, C) visual truth to `out` (.mp4), atomically."""
    from moviepy import AudioArrayClip, VideoClip

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clip = VideoClip(frame_function=frame_function(gt_visual), duration=float(NUM_SEGMENTS))
    clip = clip.with_audio(AudioArrayClip(soundtrack(gt_audio), fps=SAMPLE_RATE))  # with_audio returns a copy
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".render-") as tmp:
        part = Path(tmp) / out.name  # same suffix: moviepy picks the container from it
        clip.write_videofile(str(part), fps=FPS, codec="libx264", audio_codec="aac", audio_fps=SAMPLE_RATE,
                             audio_bitrate="48k", temp_audiofile_path=tmp, threads=1, logger=None,
                             ffmpeg_params=["-crf", "30", "-movflags", "+faststart"])
        os.replace(part, out)
    clip.close()
    return out
