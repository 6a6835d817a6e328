"""Class-specific sounds for rendered SynthLLP videos: one deterministic, recognisable signal per LLP class.

Each class has its own kind of sound (a tone, a chord, a noise band, a rhythm, a glide…) whose pattern repeats
at least twice a second, so every audible 1-s segment carries it; `soundtrack` mixes the audible events of a
video into exact silence everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from .constants import CLASSES, NUM_SEGMENTS

SAMPLE_RATE = 22050
SEGMENT_SECONDS = 1.0
RAMP_SECONDS = 0.01  # fade in/out inside an audible run: no clicks, and no sound leaks into a silent segment
LEVEL = 0.1  # RMS of one class's sound (peaks capped at PEAK); the mix is scaled down only if it would clip
PEAK = 0.6
_N = int(NUM_SEGMENTS * SEGMENT_SECONDS * SAMPLE_RATE)
_T = np.arange(_N) / SAMPLE_RATE


def _sine(freq: float | np.ndarray) -> np.ndarray:
    """A sine whose frequency may vary over time (phase integrated sample by sample)."""
    if np.isscalar(freq):
        return np.sin(2 * np.pi * freq * _T)
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)


def _harmonics(freq: float | np.ndarray, n: int, tilt: float = 1.0) -> np.ndarray:
    f = np.asarray(freq, dtype=float)
    return sum(_sine(k * f) / k**tilt for k in range(1, n + 1))


def _saw(freq: float | np.ndarray) -> np.ndarray:
    phase = np.cumsum(np.broadcast_to(np.asarray(freq, dtype=float), _T.shape)) / SAMPLE_RATE
    return 2 * (phase % 1.0) - 1


def _band_noise(seed: int, lo: float, hi: float) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(_N))
    freqs = np.fft.rfftfreq(_N, 1 / SAMPLE_RATE)
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    return np.fft.irfft(spectrum, _N)


def _gate(period: float, on: float, offset: float = 0.0) -> np.ndarray:
    """1 during the first `on` seconds of every `period`, else 0."""
    return (((_T - offset) % period) < on).astype(float)


def _decay(period: float, rate: float, offset: float = 0.0) -> np.ndarray:
    """A struck envelope restarting every `period` seconds, decaying as exp(-rate·t)."""
    return np.exp(-rate * ((_T - offset) % period))


def _steps(period: float, values: tuple[float, ...]) -> np.ndarray:
    """Cycle through `values`, one every `period` seconds (note sequences)."""
    return np.asarray(values)[(_T // period).astype(int) % len(values)]


def _glide(period: float, start: float, end: float) -> np.ndarray:
    return start + (end - start) * ((_T % period) / period)


_SOUNDS: dict[str, tuple[str, Callable[[int], np.ndarray]]] = {
    "Speech": ("voiced buzz, syllables at 4/s", lambda s: _harmonics(140, 8) * np.sin(np.pi * 4 * _T) ** 2),
    "Car": ("low rumble and 60 Hz hum", lambda s: _band_noise(s, 30, 250) * 6 + 0.3 * _sine(60)),
    "Cheering": ("crowd noise, swelling", lambda s: _band_noise(s, 300, 3000) * (0.6 + 0.4 * _sine(1.5))),
    "Dog": ("barks, 2/s", lambda s: _harmonics(_glide(0.5, 380, 280), 5) * _gate(0.5, 0.15)),
    "Cat": ("meow glide", lambda s: _harmonics(500 + 250 * np.sin(np.pi * 2 * _T) ** 2, 3) * _gate(0.5, 0.4)),
    "Frying_(food)": ("crackle", lambda s: _band_noise(s, 2000, 8000)
                      * ((np.random.default_rng(s + 1).random(_N) < 0.004).cumsum() % 2)),
    "Basketball_bounce": ("thumps, 2/s", lambda s: _sine(90) * _decay(0.5, 18)),
    "Fire_alarm": ("two-tone alarm", lambda s: np.sign(_sine(_steps(0.25, (900.0, 650.0))))),
    "Chainsaw": ("sawtooth snarl", lambda s: _saw(105) * (0.7 + 0.3 * _sine(8))),
    "Cello": ("low bowed note with vibrato", lambda s: _harmonics(131 * (1 + 0.01 * _sine(5)), 6, 1.2)),
    "Banjo": ("fast plucked notes", lambda s: _harmonics(_steps(0.125, (392, 494, 587, 784)), 4) * _decay(0.125, 30)),
    "Singing": ("sung notes with vibrato", lambda s: _harmonics(_steps(0.5, (330, 392)) * (1 + 0.02 * _sine(6)), 4)),
    "Chicken_rooster": ("rising crow", lambda s: _harmonics(_glide(0.5, 600, 1100), 3) * _gate(0.5, 0.4)),
    "Violin_fiddle": ("high bowed note", lambda s: _harmonics(659 * (1 + 0.006 * _sine(6)), 6, 0.8)),
    "Vacuum_cleaner": ("hiss and whine", lambda s: _band_noise(s, 1500, 6000) * 3 + 0.2 * _sine(400)),
    "Baby_laughter": ("'ha-ha' at 6/s", lambda s: _harmonics(450, 4) * _gate(1 / 6, 0.08)),
    "Accordion": ("major chord, tremolo", lambda s: sum(_harmonics(f, 5) for f in (262, 330, 392))
                  * (0.7 + 0.3 * _sine(6))),
    "Lawn_mower": ("35 Hz buzz", lambda s: _saw(35) * 0.8 + _band_noise(s, 100, 800) * 3),
    "Motorcycle": ("revving engine", lambda s: _saw(_glide(1.0, 80, 150))),
    "Helicopter": ("rotor chop, 13/s", lambda s: _band_noise(s, 40, 600) * 5 * _decay(1 / 13, 60)),
    "Acoustic_guitar": ("minor arpeggio", lambda s: _harmonics(_steps(0.25, (220, 262, 330, 440)), 5)
                        * _decay(0.25, 6)),
    "Telephone_bell_ringing": ("ringing bell", lambda s: (_sine(1000) + _sine(1300)) * _gate(0.05, 0.025)
                               * _gate(0.5, 0.4)),
    "Baby_cry_infant_cry": ("falling 'waa'", lambda s: _harmonics(_glide(0.5, 560, 430), 4) * _gate(0.5, 0.42)),
    "Blender": ("whirring noise and whine", lambda s: _band_noise(s, 500, 2500) * 3 + 0.4 * _saw(180)),
    "Clapping": ("claps, 4/s", lambda s: _band_noise(s, 800, 8000) * 4 * _decay(0.25, 45)),
}
assert tuple(_SOUNDS) == CLASSES
DESCRIPTIONS = {name: desc for name, (desc, _) in _SOUNDS.items()}


@lru_cache(maxsize=32)
def class_sound(c: int) -> np.ndarray:
    """The 10-s signal of class index `c` at RMS `LEVEL`, peaks at most `PEAK` (read-only float32)."""
    wave = _SOUNDS[CLASSES[c]][1](1000 + c).astype(np.float64)
    gain = min(LEVEL / max(float(np.sqrt(np.mean(wave**2))), 1e-9), PEAK / max(float(np.abs(wave).max()), 1e-9))
    wave = (gain * wave).astype(np.float32)
    wave.flags.writeable = False
    return wave


def envelope(audible: np.ndarray) -> np.ndarray:
    """(T,) bool → per-sample gain: 1 inside each audible run, with short ramps inside its ends, 0 elsewhere."""
    env = np.zeros(_N, dtype=np.float32)
    per = int(SEGMENT_SECONDS * SAMPLE_RATE)
    ramp = np.linspace(0, 1, int(RAMP_SECONDS * SAMPLE_RATE), dtype=np.float32)
    padded = np.concatenate([[False], np.asarray(audible, bool), [False]])
    starts, ends = np.flatnonzero(~padded[:-1] & padded[1:]), np.flatnonzero(padded[:-1] & ~padded[1:])
    for s, e in zip(starts, ends, strict=True):
        env[s * per:e * per] = 1
        env[s * per:s * per + len(ramp)] = ramp
        env[e * per - len(ramp):e * per] = ramp[::-1]
    return env


def soundtrack(gt_audio: np.ndarray) -> np.ndarray:
    """(T, C) audible truth → (samples, 2) float32 stereo in [-1, 1] at SAMPLE_RATE.

    Stereo on purpose: moviepy 2.2 writes a mono AudioArrayClip at twice its length.
    """
    mix = np.zeros(_N, dtype=np.float32)
    for c in np.flatnonzero(np.asarray(gt_audio).any(0)):
        mix += class_sound(int(c)) * envelope(gt_audio[:, c] > 0)
    peak = float(np.abs(mix).max())
    if peak > 0.95:
        mix *= 0.95 / peak
    return np.column_stack([mix, mix])
