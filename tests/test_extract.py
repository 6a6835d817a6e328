"""The LLP feature pipeline (issue 23): every step that does not depend on weights, checked exactly, on randomly
initialised extractors (no network): architectures and key layouts, frame sampling, resize and crop, clip grouping,
audio decoding and example framing, the log-mel frontend against a reference written here from its definitions,
weights handling, the extract / parse commands on the LLP sample clip and on rendered videos."""

from __future__ import annotations

import hashlib
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED

from avvp_core.extract import audio, decode, nets, weights
from avvp_core.extract.pipeline import (
    Extractors,
    Settings,
    extract_video,
    find_events,
    synthetic_reason,
    window_filenames,
)

SAMPLE = SHARED / "llp_sample" / "BjCEufrlXm4.mp4"
DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


@pytest.fixture(scope="module")
def tiny_extractors():
    return Extractors(Settings("random", tiny=True))


# ------------------------------------------------------------------------------------------- architectures
def _meta(build):
    """The network on the meta device: shapes without memory or compute (these tests need no values)."""
    with torch.device("meta"):
        return build()


def test_parameter_counts_are_torchvisions_and_vggishs():
    # The figures torchvision documents for ResNet152_Weights.IMAGENET1K_V1 and R2Plus1D_18_Weights.KINETICS400_V1;
    # VGGish: 4 conv stages + 3 fc layers of the AudioSet model.
    assert nets.count_parameters(_meta(nets.resnet152)) == 60_192_808
    assert nets.count_parameters(_meta(nets.r2plus1d_18)) == 31_505_325
    assert nets.count_parameters(_meta(nets.VGGish)) == 72_141_184


def test_state_dict_layouts_match_the_published_files():
    res = {k: tuple(v.shape) for k, v in _meta(nets.resnet152).state_dict().items()}
    assert res["conv1.weight"] == (64, 3, 7, 7) and res["bn1.running_var"] == (64,)
    assert res["layer1.0.downsample.0.weight"] == (256, 64, 1, 1) and res["layer1.0.downsample.1.weight"] == (256,)
    assert res["layer2.0.conv2.weight"] == (128, 128, 3, 3)  # the stride sits on the 3x3 conv (v1.5)
    assert res["layer3.35.conv3.weight"] == (1024, 256, 1, 1) and "layer3.36.conv1.weight" not in res
    assert res["layer4.2.bn3.running_mean"] == (2048,) and res["fc.weight"] == (1000, 2048)
    assert sum(k.startswith("layer") and k.endswith(".conv1.weight") for k in res) == 3 + 8 + 36 + 3
    r21 = {k: tuple(v.shape) for k, v in _meta(nets.r2plus1d_18).state_dict().items()}
    assert r21["stem.0.weight"] == (45, 3, 1, 7, 7) and r21["stem.3.weight"] == (64, 45, 3, 1, 1)
    assert r21["stem.4.running_mean"] == (64,)
    assert r21["layer1.0.conv1.0.0.weight"] == (144, 64, 1, 3, 3)  # mid width 64*64*27 // (64*9 + 3*64) = 144
    assert r21["layer1.0.conv1.0.1.weight"] == (144,) and r21["layer1.0.conv1.0.3.weight"] == (64, 144, 3, 1, 1)
    assert r21["layer1.0.conv1.1.weight"] == (64,) and r21["layer1.0.conv2.0.0.weight"] == (144, 64, 1, 3, 3)
    assert r21["layer2.0.conv1.0.0.weight"] == (230, 64, 1, 3, 3)  # 64*128*27 // (64*9 + 3*128) = 230
    assert r21["layer2.0.conv2.0.0.weight"] == (230, 128, 1, 3, 3)  # the block's mid width, reused by conv2
    assert r21["layer2.0.downsample.0.weight"] == (128, 64, 1, 1, 1) and "layer1.0.downsample.0.weight" not in r21
    assert r21["fc.weight"] == (400, 512)
    vgg = {k: tuple(v.shape) for k, v in _meta(nets.VGGish).state_dict().items()}
    assert sorted(vgg) == sorted([f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")]
                                 + [f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")])
    assert vgg["features.0.weight"] == (64, 1, 3, 3) and vgg["features.13.weight"] == (512, 512, 3, 3)
    assert vgg["embeddings.0.weight"] == (4096, 512 * 6 * 4) and vgg["embeddings.4.weight"] == (128, 4096)


def test_feature_outputs_of_the_full_architectures():
    with torch.device("meta"):  # shape propagation through the published sizes, no compute
        assert nets.resnet152().eval().features(torch.empty(2, 3, 224, 224)).shape == (2, 2048)
        assert nets.r2plus1d_18().eval().features(torch.empty(10, 3, 8, 112, 112)).shape == (10, 512)
        assert nets.VGGish().eval()(torch.empty(10, 1, 96, 64)).shape == (10, 128)
    torch.manual_seed(0)
    model, x = nets.VGGish().eval(), torch.randn(2, 1, 96, 64)
    with torch.inference_mode():
        emb = model(x)
        model.final_relu = True  # torchvggish's port: the same layer through a ReLU
        assert torch.equal(model(x), torch.relu(emb))
    assert (emb < 0).any()  # the reference embedding layer is linear


def test_vggish_flattens_time_frequency_channel_like_tf():
    """The ported fc weights expect TF's channels-last flattening: element (t, f, c) of the trunk output sits at
    index (t * 4 + f) * 512 + c."""
    model = nets.VGGish().eval()
    seen = {}
    model.embeddings = torch.nn.Identity()
    model.features = torch.nn.Identity()
    x = torch.arange(512 * 6 * 4, dtype=torch.float32).reshape(1, 512, 6, 4)  # (N, C, T, F)
    seen["out"] = model(x)[0]
    t, f, c = 5, 2, 300
    assert seen["out"][(t * 4 + f) * 512 + c] == x[0, c, t, f]


# ------------------------------------------------------------------------------------------- frames, windows
def test_frame_indices_round_linspace():
    assert decode.frame_indices(80).tolist() == list(range(80))
    for n in (1, 79, 81, 160, 241):
        expected = [int(np.round(i * (n - 1) / 79)) for i in range(80)]
        assert decode.frame_indices(n).tolist() == expected
    assert decode.frame_indices(160)[:4].tolist() == [0, 2, 4, 6]


@pytest.mark.parametrize(("duration", "expected"), [
    (10.0, [(0, 10, False, 10)]),
    (10.03, [(0, 10, False, 10)]),  # the LLP sample: the 30 ms tail is under 1 s, dropped
    (9.5, [(0, 9.5, True, 10)]),
    (4.2, [(0, 4.2, True, 5)]),
    (0.4, [(0, 0.4, True, 1)]),  # a tail under 1 s is kept when it is the whole video
    (25.0, [(0, 10, False, 10), (10, 20, False, 10), (20, 25, True, 5)]),
    (20.5, [(0, 10, False, 10), (10, 20, False, 10)]),
])
def test_window_rule(duration, expected):
    got = [(w.start, round(w.end, 6), w.padded, w.valid_segments) for w in decode.windows(duration)]
    assert got == [(float(a), float(b), p, v) for a, b, p, v in expected]


def test_res152_resize_and_centre_crop():
    from PIL import Image

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)  # landscape 320 x 240
    x = decode.res152_input(frame)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    # shorter side 240 -> 256, longer 320 -> int(256 * 320 / 240) = 341; crop offsets round((341-224)/2) = 58
    # (Python rounds 58.5 to even) and round((256-224)/2) = 16.
    big = np.asarray(Image.fromarray(frame).resize((341, 256), Image.BILINEAR), dtype=np.float32)
    want = (big[16:240, 58:282] / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(x, want.transpose(2, 0, 1), rtol=0, atol=1e-5)
    portrait = decode.res152_input(frame.transpose(1, 0, 2).copy())  # 240 x 320: the crop moves to the long axis
    big = np.asarray(Image.fromarray(frame.transpose(1, 0, 2).copy()).resize((256, 341), Image.BILINEAR),
                     dtype=np.float32)
    want = (big[58:282, 16:240] / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(portrait, want.transpose(2, 0, 1), rtol=0, atol=1e-5)


def test_r2plus1d_resize_without_crop_and_kinetics_normalisation():
    frame = np.zeros((240, 320, 3), dtype=np.uint8)
    frame[:, :, 0] = 255  # red everywhere: a crop would not show, the normalisation does
    frame[:, -40:, 1] = 255  # the rightmost eighth is yellow: kept by a resize without crop
    x = decode.r2plus1d_input(frame)
    assert x.shape == (3, 112, 112) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], (1.0 - 0.43216) / 0.22803, atol=1e-5)
    np.testing.assert_allclose(x[2], (0.0 - 0.37645) / 0.216989, atol=1e-5)
    assert np.allclose(x[1, :, -5:], (1.0 - 0.394666) / 0.22145, atol=1e-5)  # 320 -> 112: the last 14 columns
    assert np.allclose(x[1, :, :90], (0.0 - 0.394666) / 0.22145, atol=1e-5)


def test_eighty_frames_become_ten_clips_of_eight(tiny_extractors):
    seen = []

    def record(clips):  # (N, 3, T, H, W)
        seen.append(clips[:, 0, :, 0, 0].clone())
        return torch.zeros(len(clips), 512)

    res_in = np.zeros((80, 3, 224, 224), dtype=np.float32)
    r21_in = np.arange(80, dtype=np.float32)[:, None, None, None] * np.ones((80, 3, 112, 112), dtype=np.float32)
    original = tiny_extractors.r2plus1d.features
    tiny_extractors.r2plus1d.features = record
    try:
        out = tiny_extractors.window(res_in, r21_in, np.zeros(160000, dtype=np.float32))
    finally:
        tiny_extractors.r2plus1d.features = original
    clips = torch.cat(seen)  # (10, 8): the frame number each clip holds, in order
    assert clips.tolist() == [[8 * k + i for i in range(8)] for k in range(10)]
    assert out["r2plus1d_18"].shape == (10, 512) and out["res152"].shape == (80, 2048)
    assert out["vggish"].shape == (10, 128) and all(v.dtype == np.float32 for v in out.values())


# ----------------------------------------------------------------------------------------------------- audio
def _reference_log_mel(x: np.ndarray) -> np.ndarray:
    """VGGish's frontend from its definitions, loop by loop: 400-sample periodic Hann frames every 160 samples, a
    512-point DFT, 64 triangular mel bands 125-7500 Hz (mel = 1127 ln(1 + f / 700)), DC bin excluded, log(. + 0.01)."""
    window, hop, nfft, bands = 400, 160, 512, 64
    k = np.arange(nfft // 2 + 1)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(window), k) / nfft)  # zero padding: only 400 rows matter
    hann = np.array([0.5 - 0.5 * np.cos(2 * np.pi * i / window) for i in range(window)])
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)
    lo, hi = mel(125.0), mel(7500.0)
    edges = [lo + (hi - lo) * i / (bands + 1) for i in range(bands + 2)]
    weights_ = np.zeros((nfft // 2 + 1, bands))
    for b in range(1, nfft // 2 + 1):  # bin 0 (DC) keeps zero weight
        m = mel(b * 8000.0 / (nfft // 2))
        for j in range(bands):
            left, centre, right = edges[j], edges[j + 1], edges[j + 2]
            weights_[b, j] = max(0.0, min((m - left) / (centre - left), (right - m) / (right - centre)))
    rows = []
    for start in range(0, len(x) - window + 1, hop):
        spectrum = np.abs((x[start:start + window] * hann) @ dft)
        rows.append(np.log(spectrum @ weights_ + 0.01))
    return np.array(rows)


def test_log_mel_matches_an_independent_reference():
    rng = np.random.default_rng(1)
    t = np.arange(16000 // 2) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
    ours, ref = audio.log_mel(x), _reference_log_mel(x)
    assert ours.shape == ref.shape == (1 + (len(x) - 400) // 160, 64)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-8)
    silence = audio.log_mel(np.zeros(1000))
    np.testing.assert_allclose(silence, np.log(0.01))


def test_examples_are_ten_non_overlapping_0_96_s_windows():
    x = np.random.default_rng(2).standard_normal(160000)
    ex = audio.examples(x)
    assert ex.shape == (10, 96, 64) and ex.dtype == np.float32
    full = audio.log_mel(x)
    assert full.shape[0] == 998  # frames of 10 s; the last 38 do not fill an 11th example
    np.testing.assert_allclose(ex[3], full[288:384].astype(np.float32))
    assert audio.examples(x[:400 + 160 * 959]).shape[0] == 10  # the fewest samples giving 10 examples
    assert audio.examples(x[:400 + 160 * 959 - 1]).shape[0] == 9
    stereo = np.stack([x, np.zeros_like(x)], axis=1)
    np.testing.assert_allclose(audio.examples(stereo), audio.examples(x / 2), atol=1e-6)  # mean of channels


def test_postprocess_pca_clip_and_8_bit():
    emb = np.array([[-3.0, -2.0, 0.0, 1.0, 2.0, 5.0] + [0.0] * 122])
    out = audio.postprocess(emb, np.eye(128), np.zeros(128))
    assert out.dtype == np.float32 and out[0, :6].tolist() == [0, 0, 127, 191, 255, 255]  # floor((x + 2) * 63.75)
    means = np.full(128, 1.0)
    assert audio.postprocess(emb, np.eye(128), means)[0, 2] == 63  # PCA subtracts the means first


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """A 4-s clip: 44.1 kHz stereo sound, 440 Hz left and 1000 Hz right, a red picture turning blue at 2 s."""
    from moviepy import ColorClip, concatenate_videoclips
    from moviepy.audio.AudioClip import AudioArrayClip

    sr, seconds = 44100, 4
    t = np.arange(sr * seconds) / sr
    sound = np.column_stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 1000 * t)])
    video = concatenate_videoclips([ColorClip((64, 48), (255, 0, 0)).with_duration(2),
                                    ColorClip((64, 48), (0, 0, 255)).with_duration(2)])
    path = tmp_path_factory.mktemp("clip") / "my clip.mp4"
    video.with_audio(AudioArrayClip(sound, fps=sr)).write_videofile(
        str(path), fps=8, codec="libx264", audio_codec="aac", audio_fps=sr, logger=None,
        temp_audiofile_path=str(path.parent))  # not the working directory: another xdist worker writes the same name
    return path


def test_audio_is_resampled_to_16k_mono(short_clip):
    sound = decode.read_audio(short_clip)
    assert sound.dtype == np.float32 and abs(len(sound) - 4 * 16000) <= 1600  # AAC priming/padding: < 0.1 s
    part = sound[8000:8000 + 16000]  # one second, away from the edges
    spectrum = np.abs(np.fft.rfft(part)) / (len(part) / 2)  # amplitude per 1-Hz bin
    assert set(np.argsort(spectrum)[-2:]) == {440, 1000}
    np.testing.assert_allclose(spectrum[[440, 1000]], 0.2, atol=0.03)  # each 0.4 tone, halved by the channel mean


def test_frames_at_8_fps_and_window_audio(short_clip):
    frames = list(decode.iter_frames(short_clip))
    assert len(frames) == 32 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert frames[5][..., 0].mean() > 200 and frames[20][..., 2].mean() > 200  # red until 2 s, then blue
    (window,) = decode.windows(decode.probe(short_clip).duration)
    padded = decode.window_audio(np.ones(5 * 16000, dtype=np.float32), window)
    assert padded.shape == (160000,) and padded[:80000].all() and not padded[80000:].any()
    held = decode.pad_frames(frames)
    assert len(held) == 80 and held[79] is frames[31]


def test_a_long_video_is_cut_into_windows_that_continue_its_frames(tmp_path, monkeypatch):
    """23 s, red / green / blue for 0-10 / 10-20 / 20-23 s: three windows, each fed its own 80 frames in order, the
    last padded by holding its final frame, the sound padded with silence (networks stubbed: only the plumbing)."""
    from moviepy import ColorClip, concatenate_videoclips

    path = tmp_path / "long.mp4"
    concatenate_videoclips([ColorClip((32, 32), c).with_duration(d) for c, d in
                            (((255, 0, 0), 10), ((0, 255, 0), 10), ((0, 0, 255), 3))]).write_videofile(
        str(path), fps=8, codec="libx264", logger=None)
    fed = []

    class Stub:
        settings = Settings("random")

        def window(self, res_in, r21_in, samples):
            fed.append((res_in.copy(), r21_in.copy(), samples.copy()))
            return {}

    feats = extract_video(path, Stub())
    assert [(w.start, w.padded, w.valid_segments) for w in feats.windows] == [(0, False, 10), (10, False, 10),
                                                                              (20, True, 3)]
    assert not feats.media.has_audio and len(fed) == 3
    for k, (res_in, r21_in, samples) in enumerate(fed):
        assert res_in.shape == (80, 3, 224, 224) and r21_in.shape == (80, 3, 112, 112) and samples.shape == (160000,)
        dominant = r21_in.mean(axis=(2, 3)).argmax(axis=1)  # per frame: the brightest normalised channel
        assert (dominant == k).all(), (k, dominant)
        assert not samples.any()  # no sound track: silence
    assert all(np.array_equal(fed[2][0][i], fed[2][0][23]) for i in range(24, 80))  # 3 s = 24 frames, then held


# --------------------------------------------------------------------------------------------------- weights
def test_offline_message_is_one_line(tmp_path, monkeypatch, capsys):
    from avvp_core.cli import main

    monkeypatch.setenv("AVVP_EXTRACTOR_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("AVVP_RANDOM_EXTRACTORS", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "resnet152-394f9c45.pth" in err[0] and str(tmp_path / "w") in err[0]
    assert "sha256 starts with 394f9c45" in err[0] and "Traceback" not in err[0]
    assert not list((tmp_path / "w").glob("*.part"))  # no half file left behind
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "out"), "--offline"]) == 2
    assert "resnet152-394f9c45.pth missing: put it in" in capsys.readouterr().err


def test_weights_are_checked_by_their_published_prefix_and_loaded_tensors_only(tmp_path, monkeypatch):
    monkeypatch.setenv("AVVP_EXTRACTOR_DIR", str(tmp_path))
    net = nets.r2plus1d_18(**nets.TINY["r2plus1d_18"])
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}  # as in 2019 files
    torch.save(state, tmp_path / "x.pth")
    digest = hashlib.sha256((tmp_path / "x.pth").read_bytes()).hexdigest()
    (tmp_path / "x.pth").rename(tmp_path / f"r2plus1d_18-{digest[:8]}.pth")
    spec = weights.WeightFile("r2plus1d_18", f"r2plus1d_18-{digest[:8]}.pth", "http://invalid/", "test")
    monkeypatch.setitem(weights.FILES, "r2plus1d_18", spec)
    path = weights.ensure("r2plus1d_18", download_missing=False)
    other = nets.r2plus1d_18(**nets.TINY["r2plus1d_18"])
    weights.load_into(other, path)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in state.items())
    with pytest.raises(weights.InputError, match="does not fit the architecture"):
        weights.load_into(nets.r2plus1d_18(), path)  # tiny weights into the full network
    path.write_bytes(path.read_bytes() + b"x")  # damaged: the checksum prefix no longer matches
    with pytest.raises(weights.InputError, match="checksum mismatch"):
        weights.ensure("r2plus1d_18", download_missing=False)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo unpickled",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(weights.InputError, match="refused to load"):
        weights.load_tensors(tmp_path / "evil.pth")
    torch.save({"pca_eigen_vectors": np.eye(128), "pca_means": np.zeros((128, 1))}, tmp_path / "pca.pth")
    from avvp_core.extract.pipeline import _pca

    vectors, means = _pca(tmp_path / "pca.pth")  # numpy arrays, as in the torchvggish release, admitted
    assert vectors.shape == (128, 128) and means.shape == (128,)


# ---------------------------------------------------------------------------------------------- events, ids
def test_events_merge_across_windows_and_skip_padding():
    from avvp_core.predictions import Predictions

    audio_p = np.zeros((2, 10, 25))
    visual = np.zeros((2, 10, 25))
    audio_p[0, 8:, 3] = audio_p[1, :3, 3] = 0.9  # Dog heard 8-13 s, across the window boundary
    visual[0, 8:, 3] = 0.8
    audio_p[1, 6:, 0] = 0.7  # Speech from 16 s, but the video ends at 14.5 s (second window padded)
    pred = Predictions(["a", "b"], audio_p, visual, video=np.ones((2, 25)))
    wins = [{"valid_segments": 10}, {"valid_segments": 5}]
    events = find_events(pred, "fused", wins, 14.5)
    assert events["audible"] == [{"class": "Dog", "onset": 8.0, "offset": 13.0, "probability": 0.9}]
    assert events["visible"] == [{"class": "Dog", "onset": 8.0, "offset": 10.0, "probability": 0.8}]
    assert events["both"] == [{"class": "Dog", "onset": 8.0, "offset": 10.0, "probability": 0.8}]


def test_window_ids():
    assert window_filenames(Path("BjCEufrlXm4.mp4"), "ab", 1) == ["BjCEufrlXm4_0_10"]
    assert window_filenames(Path("AP0061o0Nvk_101.8_111.8.mp4"), "ab", 1) == ["AP0061o0Nvk_101.8_111.8"]
    assert window_filenames(Path("BjCEufrlXm4_30_40.mp4"), "ab", 1) == ["BjCEufrlXm4_30_40"]
    names = window_filenames(Path("holiday.mp4"), "ab", 3)
    assert [n[11:] for n in names] == ["_0_10", "_10_20", "_20_30"] and len({n[:11] for n in names}) == 3
    assert window_filenames(Path("BjCEufrlXm4.mp4"), "ab", 2)[0] != "BjCEufrlXm4"  # a long video: derived ids


def test_synthllp_checkpoints_are_refused_for_real_video(tiny_han):
    from avvp_core.checkpoints import read_card

    reason = synthetic_reason(read_card(tiny_han / "han"))
    assert reason and "SynthLLP" in reason and "convert --from official-han" in reason


# ------------------------------------------------------------------------------------------------ end to end
@pytest.mark.skipif(not SAMPLE.is_file(), reason="../shared/llp_sample is absent")
def test_pipeline_on_the_llp_sample_clip(tiny_extractors):
    feats = extract_video(SAMPLE, tiny_extractors)
    assert feats.media.has_audio and abs(feats.media.duration - 10.03) < 0.01 and len(feats.windows) == 1
    (arrays,) = feats.features
    assert {k: (v.shape, v.dtype) for k, v in arrays.items()} == {
        "vggish": ((10, 128), np.float32), "res152": ((80, 2048), np.float32), "r2plus1d_18": ((10, 512), np.float32)}
    assert all(np.isfinite(v).all() for v in arrays.values())


@pytest.mark.skipif(not (SAMPLE.is_file() and os.environ.get("AVVP_LLP_FEATS")),
                    reason="compares with released LLP features only where AVVP_LLP_FEATS points at them")
def test_published_weights_reproduce_the_released_features():
    """On a user's machine with the weights (downloaded on first use) and the released features: the sample clip's
    features agree with LLP's own (mean cosine similarity per row >= 0.9 for each stream, either VGGish variant)."""
    root = Path(os.environ["AVVP_LLP_FEATS"])
    root = root / "feats" if (root / "feats").is_dir() else root
    released = {s: np.load(root / s / "BjCEufrlXm4.npy") for s in ("vggish", "res152", "r2plus1d_18")}
    cosine = lambda a, b: float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
                                                           + 1e-12)))
    best = {}
    for variant in ("embedding", "postprocessed"):
        for final_relu in (False, True):  # the reference TF definition, or torchvggish's port
            ex = Extractors(Settings("pretrained", variant))
            ex.vggish.final_relu = final_relu
            (ours,) = extract_video(SAMPLE, ex).features
            for stream, ref in released.items():
                mine = ours[stream] if ref.shape == ours[stream].shape else ours[stream].reshape(10, 8, -1).mean(1)
                best[stream] = max(best.get(stream, -1.0), cosine(mine, ref))
    print(best)
    assert all(v >= 0.9 for v in best.values()), best


def test_every_shallow_value_of_an_extraction_manifest_damaged_is_one_line_or_used(tmp_path, monkeypatch):
    """A parsed clip's cached extraction.json with its whole self or one value (down to a window's keys) swapped for
    a null, a list and a string: `parse` (extract_cached) refuses it in one line naming the file, or re-extracts the
    clip, or gives an entry that parse, the Your video page and events.json use as they do (a null as a video's
    windows raised TypeError in extract_folder, a string as the duration TypeError in find_events)."""
    import json
    from types import SimpleNamespace

    from conftest import shallow_swaps

    from avvp_core.data import LLPDataset
    from avvp_core.extract import pipeline

    def extract_video(path, *_):  # a clip not already extracted: its one line, without decoding anything
        raise pipeline.InputError("re-extracted (not in this test)", path)

    monkeypatch.setenv("AVVP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "extract_video", extract_video)
    video = tmp_path / "my clip.mp4"
    video.write_bytes(b"a clip")
    settings = Settings("random", tiny=True)
    ex = SimpleNamespace(settings=settings)  # what extract_folder reads of the extractors
    digest = pipeline.content_hash(video)
    folder = pipeline.parse_cache_root() / f"{digest[:16]}-{settings.key}"
    (name,) = window_filenames(video, digest, 1)
    for stream in ("vggish", "res152", "r2plus1d_18"):
        (folder / "feats" / stream).mkdir(parents=True)
        (folder / "feats" / stream / f"{name[:11]}.npy").write_bytes(b"")  # only their presence is read here
    manifest = {"format": "avvp-lab-extraction/1", "settings": settings.to_json(), "videos": {video.name: {
        "source": str(video), "sha256": digest, "duration": 4.0, "has_audio": True,
        "windows": [{"filename": name, "start": 0.0, "end": 4.0, "padded": True, "valid_segments": 4}]}}}
    pred = SimpleNamespace(decisions=lambda gating: (np.ones((1, 10, 25)), np.ones((1, 10, 25))),
                           audio=np.full((1, 10, 25), 0.9), visual=np.full((1, 10, 25), 0.9))
    for where, document in [((), manifest), *shallow_swaps(manifest, depth=5)]:
        (folder / pipeline.MANIFEST).write_text(json.dumps(document))
        try:
            _, entry, _ = pipeline.extract_cached(video, ex)
        except pipeline.InputError as exc:
            assert "\n" not in str(exc) and (pipeline.MANIFEST in str(exc) or "re-extracted" in str(exc)), where
            continue
        names = LLPDataset(folder).split("test").filenames
        assert [names.index(w["filename"]) for w in entry["windows"]] == [0], where
        events = find_events(pred, "fused", entry["windows"], entry["duration"])
        assert all(e["offset"] <= 4.0 for kind in events.values() for e in kind), where
        json.dumps(pipeline.Parsed(video, digest, folder, entry, settings).to_json())
        text = f"{entry['duration']:g} s · {len(entry['windows'])} window(s)" + ("" if entry["has_audio"] else "!")
        for w in entry["windows"]:  # as the page titles a window's timeline
            text += f"{w['start']:g}–{w['start'] + 10:g} s" + (f" ends at {w['end']:g} s" if w["padded"] else "")
        assert where == () or where[-1] in ("format", "source"), (where, text)


def test_extract_and_parse_commands(tmp_path, monkeypatch, capsys, short_clip, tiny_han):
    """A folder of a rendered SynthLLP video and a broken file: one line for the broken one, the other extracted,
    resumable; every command reads the folder. parse on a 4-s clip (one padded window) writes PRED.npz + JSON."""
    import json
    import shutil

    from avvp_core.checkpoints import save_checkpoint
    from avvp_core.cli import main
    from avvp_core.models import create_model

    monkeypatch.setenv("AVVP_RANDOM_EXTRACTORS", "tiny")
    monkeypatch.setenv("AVVP_CACHE_DIR", str(tmp_path / "cache"))
    videos = tmp_path / "videos"
    videos.mkdir()
    demo = sorted(DEMO.glob("*.mp4"))[0]  # a rendered SynthLLP video
    shutil.copy(demo, videos / demo.name)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    out = tmp_path / "data"
    assert main(["extract", str(videos), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("broken.mp4: skipped: " in line for line in lines) == 1
    assert "1 extracted, 0 already there, 1 failed" in lines[-1]
    rows = (out / "AVVP_test_pd.csv").read_text().splitlines()
    assert rows == ["filename\tevent_labels", f"{demo.stem}\t"]
    for stream, shape in (("vggish", (10, 128)), ("res152", (80, 2048)), ("r2plus1d_18", (10, 512))):
        arr = np.load(out / "feats" / stream / f"{demo.stem[:11]}.npy")
        assert arr.shape == shape and arr.dtype == np.float32
    assert main(["extract", str(videos), "--out", str(out)]) == 0  # resumed: nothing extracted again
    assert "0 extracted, 1 already there, 1 failed" in capsys.readouterr().out
    llp = tmp_path / "llp"
    llp.mkdir()
    (llp / "AVVP_test_pd.csv").write_text("filename\tevent_labels\n")
    assert main(["extract", str(videos), "--out", str(llp)]) == 2  # a real LLP folder's split list is never replaced
    assert "that `extract` did not write" in capsys.readouterr().err
    assert (llp / "AVVP_test_pd.csv").read_text() == "filename\tevent_labels\n"

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "han-real", create_model("han"), {"name": "han-real", "recipe": "imported (test)",
                                                                 "width": "paper", "gating": "fused", "data": None})
    assert main(["predict", "--data", str(out), "--checkpoint", str(tmp_path / "han-real"), "--split", "test",
                 "--out", str(tmp_path / "PRED.npz")]) == 0
    with np.load(tmp_path / "PRED.npz") as npz:
        assert npz["audio"].shape == (1, 10, 25)
    assert main(["score", "--data", str(out), "--split", "test", "--pred", str(tmp_path / "PRED.npz")]) == 2
    assert "no dense truth" in capsys.readouterr().err

    assert main(["parse", str(short_clip), "--checkpoint", str(tmp_path / "han-real"),
                 "--out", str(tmp_path / "parsed")]) == 0
    text = capsys.readouterr().out
    manifest = json.loads(next((tmp_path / "cache" / "parsed").glob("*/extraction.json")).read_text())
    (window,) = manifest["videos"][short_clip.name]["windows"]  # 4 s: one window, padded, 4 real segments
    assert window["padded"] and window["valid_segments"] == 4 and window["filename"].endswith("_0_10")
    assert "my clip.mp4: 4" in text and "han-real (han, fused gating):" in text and "audible:" in text
    events = json.loads((tmp_path / "parsed" / "events.json").read_text())
    assert set(events["checkpoints"]["han-real"]["events"]) == {"audible", "visible", "both"}
    assert all(e["offset"] <= 4.0 for kind in events["checkpoints"]["han-real"]["events"].values() for e in kind)
    with np.load(tmp_path / "parsed" / "han-real" / "PRED.npz") as npz:
        assert npz["visual"].shape == (1, 10, 25) and "video" in npz.files and str(npz["gating"]) == "fused"

    assert main(["parse", str(short_clip), "--checkpoint", str(tiny_han / "han")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on SynthLLP" in err[0]
