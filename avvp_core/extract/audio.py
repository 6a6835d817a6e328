"""VGGish's audio frontend, as the AudioSet release defines it (vggish_params, mel_features, vggish_input).

    waveform, 16 kHz mono float in [-1, 1]   (multi-channel: mean of channels)
    -> |STFT|: 25 ms periodic-Hann windows (400 samples) every 10 ms (160), FFT length 512 (next power of two)
    -> 64 triangular mel bands between 125 and 7500 Hz (mel = 1127 ln(1 + f/700); the DC bin weighs nothing)
    -> log(mel + 0.01)
    -> non-overlapping examples of 96 frames (0.96 s); frames that do not fill an example are dropped.

A 10-second window (160,000 samples) gives 998 frames and exactly 10 examples, one per LLP segment.
The postprocessing of the AudioSet release (PCA, clip to [-2, 2], 8-bit quantisation) is `postprocess`.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_SECONDS = 0.96  # window and hop: examples do not overlap
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0

WINDOW = int(round(SAMPLE_RATE * WINDOW_SECONDS))  # 400 samples
HOP = int(round(SAMPLE_RATE * HOP_SECONDS))  # 160 samples
FFT_LENGTH = 2 ** int(np.ceil(np.log2(WINDOW)))  # 512
EXAMPLE_FRAMES = int(round(EXAMPLE_SECONDS / HOP_SECONDS))  # 96


def frame(data: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Rows of `window` consecutive items every `hop` items, as many as fit whole: (n, window, ...) (a view)."""
    n = 1 + (data.shape[0] - window) // hop
    if n <= 0:
        return np.zeros((0, window, *data.shape[1:]), dtype=data.dtype)
    return np.lib.stride_tricks.as_strided(data, (n, window, *data.shape[1:]),
                                           (data.strides[0] * hop, *data.strides), writeable=False)


def hertz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(num_spectrogram_bins: int = FFT_LENGTH // 2 + 1) -> np.ndarray:
    """(bins, 64) triangular weights: band i rises from edge i to edge i+1 and falls to edge i+2, edges equally
    spaced on the mel scale; the DC bin is zeroed as in the release."""
    bins_mel = hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), NUM_MEL_BINS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]  # (64,) each
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (bins, 64)
    weights[0, :] = 0.0
    return weights


def log_mel(waveform: np.ndarray) -> np.ndarray:
    """(samples,) 16 kHz mono -> (frames, 64) float64 log-mel spectrogram."""
    windows = frame(np.asarray(waveform, dtype=np.float64), WINDOW, HOP)  # (frames, 400)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
    magnitude = np.abs(np.fft.rfft(windows * hann, FFT_LENGTH))  # (frames, 257)
    return np.log(magnitude @ mel_matrix(magnitude.shape[1]) + LOG_OFFSET)


def examples(waveform: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) 16 kHz audio -> (n, 96, 64) float32 log-mel examples."""
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    return np.ascontiguousarray(frame(log_mel(waveform), EXAMPLE_FRAMES, EXAMPLE_FRAMES), dtype=np.float32)


def postprocess(embeddings: np.ndarray, eigen_vectors: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The AudioSet release's postprocessing: PCA (128x128, means (128,)), clip to [-2, 2], scale to [0, 255] and
    cast to 8 bits as its `postprocess.py` does (a cast truncates; torchvggish rounds instead, a difference of at most
    one step). Returned as float32 holding whole numbers, the dtype LLP feature files have."""
    pca = (embeddings.astype(np.float64) - means.reshape(1, -1)) @ eigen_vectors.T.astype(np.float64)  # (n, 128)
    clipped = np.clip(pca, QUANTIZE_MIN, QUANTIZE_MAX)
    return np.floor((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))).astype(np.float32)
