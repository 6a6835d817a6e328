"""SynthLLP generator: determinism, the exact LLP layout, train truth kept apart, metadata, knobs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from avvp_core.constants import (
    CLASSES,
    EVAL_FILES,
    FEATURE_DIMS,
    SPLIT_FILES,
    SYNTH_META_FILE,
    TRAIN_EVAL_FILES,
)
from avvp_core.data.dataset import LLPDataset
from avvp_core.data.synthetic import (
    GENERATOR_VERSION,
    KNOBS,
    PRESET_KNOBS,
    PRESETS,
    class_mix,
    default_data_outdated,
    generate,
    knob_defaults,
    llp_stats,
    resolve_knobs,
    sample_annotations,
)
from avvp_core.errors import InputError

SMALL = {"n_train": 12, "n_val": 6, "n_test": 6}  # smaller than tiny, for the tests that generate often
FILENAME = re.compile(r"^[A-Za-z0-9_-]{11}_(\d+)_(\d+)$")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".avvp_cache" not in p.parts}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = _files(generate(tmp_path / "a", "tiny", seed=7, **SMALL))
    b = _files(generate(tmp_path / "b", "tiny", seed=7, **SMALL))
    c = _files(generate(tmp_path / "c", "tiny", seed=8, **SMALL))
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert len(a) == 9 + 3 * 24  # 6 LLP CSVs, 2 train-truth CSVs, synthllp.json; 3 streams x 24 videos
    assert a[SPLIT_FILES["train"]] != c[SPLIT_FILES["train"]]
    assert a[EVAL_FILES["audio"]] != c[EVAL_FILES["audio"]]


def test_feature_knobs_never_move_the_annotations(tmp_path):
    a = _files(generate(tmp_path / "a", "tiny", seed=1, **SMALL))
    b = _files(generate(tmp_path / "b", "tiny", seed=1, noise=2.0, separation=1.0, **SMALL))
    csvs = [k for k in a if k.endswith(".csv")]
    assert all(a[k] == b[k] for k in csvs)
    assert any(a[k] != b[k] for k in a if k.endswith(".npy"))


def test_layout_is_exactly_llp(tiny_data):
    csvs = [*SPLIT_FILES.values(), *EVAL_FILES.values(), *TRAIN_EVAL_FILES.values(), "AVVP_dataset_full.csv"]
    for name in csvs:
        raw = (tiny_data / name).read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n") and not raw.endswith(b"\n\n")
        header = raw.split(b"\n", 1)[0].decode()
        expected = "filename\tevent_labels" if "eval" not in name else "filename\tonset\toffset\tevent_labels"
        assert header == expected, name
    ds = LLPDataset(tiny_data)
    names = {s: ds.split(s).filenames for s in ("train", "val", "test")}
    assert {s: len(v) for s, v in names.items()} == {"train": 60, "val": 20, "test": 20}
    everything = [n for v in names.values() for n in v]
    assert len({n[:11] for n in everything}) == 100  # ids unique over all splits
    for name in everything:
        m = FILENAME.match(name)
        assert m and int(m.group(2)) - int(m.group(1)) == 10
    full = (tiny_data / "AVVP_dataset_full.csv").read_text().splitlines()[1:]
    assert [line.split("\t")[0] for line in full] == everything
    for stream, dim in FEATURE_DIMS.items():
        arr = np.load(tiny_data / "feats" / stream / f"{names['val'][0][:11]}.npy")
        assert arr.shape == (10, dim) and arr.dtype == np.float32
        assert np.array_equal(arr.astype(np.float16).astype(np.float32), arr)  # cache can store fp16
        assert (arr >= 0).all()  # post-ReLU VGGish, pooled CNN features
    cache = ds.feature_cache("test")
    assert all(a.dtype == np.float16 for a in cache.arrays.values())


def test_dense_truth_matches_weak_labels_and_train_truth_is_separate(tiny_data):
    ds = LLPDataset(tiny_data)
    assert not ds.split("train").has_truth  # LLP reader: train truth only in oracle mode
    for split in ("val", "test"):
        sp = ds.split(split)
        union = sp.gt_audio.any(1) | sp.gt_visual.any(1)
        assert np.array_equal(union, sp.labels > 0)
    assert all(r.unmatched_rows == 0 and r.empty_rows == 0 for r in ds.reports)
    eval_names = {line.split("\t")[0] for f in EVAL_FILES.values()
                  for line in (tiny_data / f).read_text().splitlines()[1:]}
    train_names = set(ds.split("train").filenames)
    assert eval_names <= set(ds.split("val").filenames) | set(ds.split("test").filenames)
    assert not eval_names & train_names
    oracle = LLPDataset(tiny_data, oracle=True).split("train")
    assert oracle.has_truth
    assert np.array_equal(oracle.gt_audio.any(1) | oracle.gt_visual.any(1), oracle.labels > 0)
    for f in TRAIN_EVAL_FILES.values():
        assert {line.split("\t")[0] for line in (tiny_data / f).read_text().splitlines()[1:]} <= train_names


def test_metadata_records_everything_and_no_time(tiny_data):
    meta = json.loads((tiny_data / SYNTH_META_FILE).read_text())
    assert meta["generator"] == "SynthLLP" and meta["generator_version"] == GENERATOR_VERSION
    assert meta["preset"] == "tiny" and meta["seed"] == 0
    assert meta["knobs"] == resolve_knobs("tiny") and set(meta["knobs"]) == set(KNOBS)
    assert meta["splits"] == {"train": 60, "val": 20, "test": 20}
    assert not re.search(r"20\d\d-\d\d-\d\d", json.dumps(meta))
    assert LLPDataset(tiny_data).synth_meta == meta


def test_presets_and_knob_validation():
    assert PRESETS["mini"] == {"n_train": 2000, "n_val": 300, "n_test": 500}
    assert PRESETS["full"] == {"n_train": 10000, "n_val": 649, "n_test": 1200}
    assert all(set(spec) == {"default", "help"} and spec["help"] for spec in KNOBS.values())
    assert resolve_knobs("mini", n_val=5)["n_val"] == 5
    for bad in ({"bogus": 1.0}, {"noise": -1.0}, {"audio_only_rate": 0.7, "visual_only_rate": 0.4},
                {"co_occurrence": 1.5}, {"res152_frames": 20}, {"n_train": 0}):
        with pytest.raises(InputError):
            resolve_knobs("mini", **bad)
    with pytest.raises(InputError):
        resolve_knobs("huge")


def test_calibrated_knobs_are_per_preset_and_an_explicit_knob_wins():
    # issue 9: full (LLP's 10,000 training videos) is calibrated harder than mini and tiny (bench/RESULTS.md);
    # issue 19 (generator 1.5): mini recalibrated for the step budget, tiny keeps the generator's default
    assert knob_defaults("full")["separation"] == PRESET_KNOBS["full"]["separation"] == 2.05
    assert knob_defaults("mini")["separation"] == PRESET_KNOBS["mini"]["separation"] == 2.9
    assert knob_defaults("tiny")["separation"] == KNOBS["separation"]["default"] == 3.5
    assert resolve_knobs("mini", separation=3.5)["separation"] == 3.5  # 1.4's mini features
    assert resolve_knobs("full")["separation"] == 2.05
    assert resolve_knobs("full", separation=4.0)["separation"] == 4.0
    # generator 1.4: only full shows silent objects; mini (the zoo's data) keeps 1.3's features
    assert knob_defaults("full")["silent_objects"] == 0.3 and knob_defaults("mini")["silent_objects"] == 0.0
    assert resolve_knobs("full", silent_objects=0.0)["silent_objects"] == 0.0
    assert set(knob_defaults("full")) == set(KNOBS)
    with pytest.raises(InputError, match="unknown preset"):
        knob_defaults("huge")


def test_default_benchmark_is_outdated_only_when_written_by_another_generator(tmp_path):
    meta = {"generator": "SynthLLP", "generator_version": GENERATOR_VERSION, "preset": "mini", "seed": 0}
    cases = {"current": {}, "older": {"generator_version": "1.1"}, "other seed": {"generator_version": "1.1",
             "seed": 3}, "other preset": {"generator_version": "1.1", "preset": "full"}}
    for name, change in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / SYNTH_META_FILE).write_text(json.dumps({**meta, **change}))
    assert default_data_outdated(tmp_path / "older") == ("1.1", GENERATOR_VERSION)
    assert default_data_outdated(tmp_path / "current") is None
    assert default_data_outdated(tmp_path / "other seed") is None  # a user's folder: never regenerated
    assert default_data_outdated(tmp_path / "other preset") is None
    assert default_data_outdated(tmp_path / "missing") is None  # first start: generated, not "outdated"
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / SYNTH_META_FILE).write_text("{not json")
    assert default_data_outdated(tmp_path / "broken") is None


def test_app_regenerates_the_default_benchmark_after_a_generator_upgrade(tmp_path):
    from avvp_core import firststart

    folder = tmp_path / "synthllp-mini"
    folder.mkdir()
    (folder / "AVVP_train.csv").write_text("filename\tevent_labels\n")
    (folder / "notes.txt").write_text("from the old version")
    meta = {"generator": "SynthLLP", "generator_version": "1.1", "preset": "mini", "seed": 0}
    (folder / SYNTH_META_FILE).write_text(json.dumps(meta))
    assert firststart.status(folder).state == "missing"  # outdated: the app starts a new generation
    # the background process's work, run here with tiny in place of mini: the old folder is replaced whole
    assert firststart.generate(folder, "tiny") == 0
    assert firststart.status(folder).state == "ready"
    assert json.loads((folder / SYNTH_META_FILE).read_text())["generator_version"] == GENERATOR_VERSION
    assert not (folder / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".synthllp-mini.")) == [
        ".synthllp-mini.lock", ".synthllp-mini.progress.json"]  # no staging or old copy left


def test_overwrite_rules(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a SynthLLP folder"):
        generate(foreign, "tiny", **SMALL)
    assert (foreign / "notes.txt").read_text() == "keep me"
    out = generate(tmp_path / "s", "tiny", seed=0, **SMALL)
    with pytest.raises(InputError, match="overwrite"):
        generate(out, "tiny", seed=1, **SMALL)
    generate(out, "tiny", seed=1, overwrite=True, **SMALL)
    assert json.loads((out / SYNTH_META_FILE).read_text())["seed"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left
    empty = tmp_path / "empty"
    empty.mkdir()
    generate(empty, "tiny", **SMALL)  # an empty folder is fine


def test_res152_frames_80_repeats_each_segment_with_jitter(tmp_path):
    out = generate(tmp_path / "f", "tiny", res152_frames=80, n_train=3, n_val=2, n_test=2)
    name = LLPDataset(out).split("val").filenames[0][:11]
    frames = np.load(out / "feats" / "res152" / f"{name}.npy")
    assert frames.shape == (80, 2048) and frames.dtype == np.float32
    seg = frames.reshape(10, 8, 2048)
    within = np.abs(seg - seg.mean(1, keepdims=True)).mean()
    between = np.abs(seg.mean(1)[1:] - seg.mean(1)[:-1]).mean()
    assert 0 < within < 0.5 * between
    assert LLPDataset(out).feature_cache("val").arrays["res152"].shape == (2, 80, 2048)


def test_modality_rate_knobs_rescale_the_mix():
    mix = class_mix(0.6, 0.1)
    weight = np.array([llp_stats()["truth"]["class_modality_mix"][c]["events"] for c in CLASSES], float)
    rates = weight @ mix[:, :2] / weight.sum()
    assert np.allclose(rates, [0.6, 0.1], atol=1e-3)
    default = class_mix(KNOBS["audio_only_rate"]["default"], KNOBS["visual_only_rate"]["default"])
    assert default[CLASSES.index("Speech"), 0] == pytest.approx(0.773, abs=0.01)  # the real mix, untouched
    ranks = [np.argsort(np.argsort(m[:, 0])) for m in (mix, default)]
    assert np.corrcoef(*ranks)[0, 1] > 0.9  # the classes keep their order: Speech stays the most audio-only

    knobs = resolve_knobs("mini", audio_only_rate=0.6, visual_only_rate=0.1)
    _, a, v = sample_annotations(1500, np.random.default_rng(0), knobs, "test")
    ea, ev = a.any(1), v.any(1)
    n = (ea | ev).sum()
    assert abs((ea & ~ev).sum() / n - 0.6) < 0.04 and abs((ev & ~ea).sum() / n - 0.1) < 0.03


def test_event_dynamics_vary_an_events_intensity_alike_in_both_modalities():
    from avvp_core.data.synthetic import _prototypes, _video_features

    k = resolve_knobs("tiny", noise=0.0, nuisance=0.0, event_dynamics=1.0)
    protos = _prototypes(0, k)
    salience = np.ones((2, len(CLASSES)))
    gt = np.zeros((10, len(CLASSES)))
    gt[:, 3] = 1  # one event, heard and seen in every segment
    feats = _video_features(0, (0, 0), gt, gt, protos, salience, k, {})
    # the projection on the class prototype grows with the event's intensity in every stream (ReLU / squareplus
    # are monotone), so equal segment rankings mean the intensities are shared
    ranks = {s: np.argsort(feats[s] @ protos[s][3]) for s in feats}
    assert len(set(np.round(feats["vggish"] @ protos["vggish"][3], 3))) > 5  # it does vary over time
    assert all((r == ranks["vggish"]).all() for r in ranks.values())
    flat = _video_features(0, (0, 0), gt, gt, protos, salience, {**k, "event_dynamics": 0.0}, {})
    assert all((flat[s] == flat[s][0]).all() for s in flat)  # off: every segment identical


@pytest.fixture(scope="module")
def small_default(tmp_path_factory) -> dict[str, bytes]:
    """The files of a SMALL tiny folder (seed 1) at every knob's default: what a knob switched off must reproduce."""
    return _files(generate(tmp_path_factory.mktemp("small") / "default", "tiny", seed=1, **SMALL))


def _streams_moved(tmp_path: Path, default: dict[str, bytes], knob: str, off: float, on: float) -> set[str]:
    """The feature streams `knob = on` changes, after checking that `knob = off` is byte-identical to the defaults
    and that `knob = on` never moves an annotation."""
    assert _files(generate(tmp_path / "off", "tiny", seed=1, **{knob: off}, **SMALL)) == default
    moved = _files(generate(tmp_path / "on", "tiny", seed=1, **{knob: on}, **SMALL))
    assert all(default[k] == moved[k] for k in default if k.endswith(".csv"))
    return {k.split("/")[1] for k in default if k.endswith(".npy") and default[k] != moved[k]}


def test_event_dynamics_off_is_byte_identical_and_never_moves_the_annotations(tmp_path, small_default):
    assert _streams_moved(tmp_path, small_default, "event_dynamics", 0.0, 0.5) == set(FEATURE_DIMS)


def test_noise_persistence_correlates_the_segment_noise_in_time_and_off_is_byte_identical(tmp_path, small_default):
    from avvp_core.data.synthetic import persistent

    assert _streams_moved(tmp_path, small_default, "noise_persistence", 0.0, 0.6) == set(FEATURE_DIMS)
    draws = np.random.default_rng(0).standard_normal((10, 200_000))
    for rho in (0.3, 0.8):
        noise = persistent(draws, rho)  # (T, D): each column a sequence in time
        assert np.allclose(noise.std(axis=1), 1.0, atol=0.01)  # every second keeps the noise's std
        lag1 = np.mean([np.corrcoef(noise[t], noise[t + 1])[0, 1] for t in range(9)])
        assert abs(lag1 - rho) < 0.01 and abs(np.corrcoef(noise[0], noise[2])[0, 1] - rho ** 2) < 0.01
    assert np.array_equal(persistent(draws, 0.0), draws)
    with pytest.raises(InputError, match="noise_persistence"):
        resolve_knobs("tiny", noise_persistence=1.0)


def test_audio_salience_scales_the_audio_stream_only_and_its_default_is_byte_identical(tmp_path, small_default):
    # louder audio events; the visual streams and the annotations stay as they were (the shipped zoo's data
    # fingerprint test pins the default features themselves)
    assert _streams_moved(tmp_path, small_default, "audio_salience", 1.0, 2.0) == {"vggish"}


def test_silent_objects_add_unlabelled_visual_evidence_only_and_off_is_byte_identical(tmp_path, small_default):
    from avvp_core.data.synthetic import _silent_object

    # never labelled, never in the truth (annotations unmoved), seen only
    assert _streams_moved(tmp_path, small_default, "silent_objects", 0.0, 1.0) == {"res152", "r2plus1d_18"}
    labels = np.zeros(len(CLASSES), bool)
    labels[:24] = True  # only the last class is free
    shown = [_silent_object(0, (0, i), labels, 1.0) for i in range(20)]
    assert all(s[:, :24].sum() == 0 and s[:, 24].sum() >= 1 for s in shown)
    assert all(np.all(np.diff(np.flatnonzero(s[:, 24])) == 1) for s in shown)  # one run of segments
    assert sum(_silent_object(0, (0, i), labels, 0.3) is not None for i in range(400)) in range(90, 151)


def test_background_events_are_heard_never_labelled(tmp_path, small_default):
    from avvp_core.data.synthetic import _SEEN_TOO, BACKGROUND_POWER, _background_event

    # features only: switched off (1.2's features), the labels and both truth files stay as they were; the sound moves
    assert "vggish" in _streams_moved(tmp_path, small_default, "background_events", 0.4, 0.0)
    labels = np.zeros(len(CLASSES), bool)
    labels[[CLASSES.index("Dog"), CLASSES.index("Violin_fiddle")]] = True
    events = [_background_event(0, (0, i), labels, 1.0) for i in range(2000)]
    classes = [int(np.flatnonzero(heard.any(0))[0]) for heard, _ in events]
    assert all(heard.sum(1).max() == 1 and not (heard * labels).any() for heard, _ in events)  # one class, unlabelled
    assert all(np.all(np.diff(np.flatnonzero(heard.any(1))) == 1) for heard, _ in events)  # one run of segments
    assert all(not seen.any() or np.array_equal(seen, heard) for heard, seen in events)  # seen: over the same run
    # the commoner the class in LLP's train labels, the likelier: Speech (in half of LLP's videos) most of the time
    weight = {c: f ** BACKGROUND_POWER for c, f in llp_stats()["train"]["class_frequency"].items()}
    expected = weight["Speech"] / sum(w for c, w in weight.items() if c not in ("Dog", "Violin_fiddle"))
    assert expected > 0.75
    assert abs(classes.count(CLASSES.index("Speech")) / len(classes) - expected) < 0.03
    assert max(set(classes), key=classes.count) == CLASSES.index("Speech")
    # heard only as often as LLP's Speech events (77 %); a background car is nearly always on screen too
    speech = CLASSES.index("Speech")
    seen_speech = np.mean([seen.any() for (_, seen), c in zip(events, classes, strict=True) if c == speech])
    assert 0.15 < seen_speech < 0.3 and _SEEN_TOO[CLASSES.index("Car")] > 0.95
    assert sum(_background_event(0, (0, i), labels, 0.3) is not None for i in range(400)) in range(90, 151)
    assert _background_event(0, (0, 0), labels, 0.0) is None


def test_noise_rank_puts_noise_and_prototypes_in_a_subspace(tmp_path, small_default):
    from avvp_core.data.synthetic import _bases, _prototypes

    assert KNOBS["noise_rank"]["default"] == 64  # the calibrated default (issue 9); 0 is 1.2's full rank
    assert _streams_moved(tmp_path, small_default, "noise_rank", 64, 0) == set(FEATURE_DIMS)
    knobs = resolve_knobs("tiny", noise_rank=16)
    bases = _bases(0, 16)
    protos = _prototypes(0, knobs, bases)
    for stream, dim in FEATURE_DIMS.items():
        basis = bases[stream]
        assert basis.shape == (16, dim) and np.allclose(basis @ basis.T, np.eye(16))
        inside = protos[stream] @ basis.T @ basis  # projection onto the subspace changes nothing
        assert np.allclose(inside, protos[stream])
        assert np.allclose(np.linalg.norm(protos[stream], axis=1), knobs["separation"] * (dim / 128) ** 0.25)
    assert _bases(0, 0) is None
    for bad in (-1, 129):
        with pytest.raises(InputError, match="noise_rank"):
            resolve_knobs("tiny", noise_rank=bad)


def _off_is_byte_identical_on_moves_only_truth(tmp_path, small_default, knob: str) -> None:
    """A truth knob (a relation between classes): at 0 the folder of every default (no random number drawn); at 1 the
    weak labels stay and only the dense truth moves."""
    assert _files(generate(tmp_path / "off", "tiny", seed=1, **{knob: 0.0}, **SMALL)) == small_default
    on = _files(generate(tmp_path / "on", "tiny", seed=1, **{knob: 1.0}, n_train=400, n_val=6, n_test=6))
    ref = _files(generate(tmp_path / "ref", "tiny", seed=1, n_train=400, n_val=6, n_test=6))
    assert all(on[k] == ref[k] for k in [*SPLIT_FILES.values(), "AVVP_dataset_full.csv"])
    assert on[TRAIN_EVAL_FILES["audio"]] != ref[TRAIN_EVAL_FILES["audio"]]


def test_turn_taking_places_llp_pairs_apart_and_off_is_byte_identical(tmp_path, small_default):
    from avvp_core.data.stats import class_coupling, turn_taking_pairs

    _off_is_byte_identical_on_moves_only_truth(tmp_path, small_default, "turn_taking")

    # LLP's pairs, measured on the videos holding them: never meeting in about LLP's share of them (independent
    # placement: 4-12 %); a stream of its own, so videos without such a pair keep their truth
    pairs = {(p["first"], p["first_modality"], p["second"], p["second_modality"]): p
             for p in llp_stats()["truth"]["turn_taking"]["pairs"]}
    speech_singing = pairs[("Speech", "visual", "Singing", "visual")]
    assert speech_singing["lift"] < 0.2 and speech_singing["apart"] > 0.75
    knobs = {t: resolve_knobs("full", turn_taking=t) for t in (0.0, 1.0)}
    drawn = {t: sample_annotations(6000, np.random.default_rng(3), k, "test", np.random.default_rng(4))
             for t, k in knobs.items()}
    labels, a1, v1 = drawn[1.0]
    _, a0, v0 = drawn[0.0]
    assert (labels == drawn[0.0][0]).all() and ((a1.any(1) | v1.any(1)) == labels).all()
    moved = (a1 != a0).any((1, 2)) | (v1 != v0).any((1, 2))
    classes = {CLASSES.index(c) for key in pairs for c in key[::2]}
    assert moved.any() and not moved[labels[:, sorted(classes)].sum(1) < 2].any()
    got = {t: {(p["first"], p["first_modality"], p["second"], p["second_modality"]): p
               for p in turn_taking_pairs(class_coupling(a, v), max_lift=9.0)} for t, (_, a, v) in drawn.items()}
    key = ("Speech", "visual", "Singing", "visual")
    assert got[0.0][key]["apart"] < 0.15 and got[1.0][key]["apart"] > 0.6
    assert got[1.0][key]["lift"] < 0.8 < got[0.0][key]["lift"]
    both_on = [k for k in pairs if k in got[1.0] and k in got[0.0]]
    assert len(both_on) >= 10
    far_before = np.mean([abs(got[0.0][k]["apart"] - pairs[k]["apart"]) for k in both_on])
    far_after = np.mean([abs(got[1.0][k]["apart"] - pairs[k]["apart"]) for k in both_on])
    assert far_after < 0.5 * far_before  # nearer LLP's shares, pair by pair


def test_kind_coupling_gives_a_videos_classes_llps_kinds_together_and_off_is_byte_identical(tmp_path, small_default):
    from avvp_core.data.stats import event_kinds, kind_coupling, label_set_name

    _off_is_byte_identical_on_moves_only_truth(tmp_path, small_default, "kind_coupling")

    patterns = llp_stats()["truth"]["label_set_kinds"]
    assert patterns["Speech,Violin_fiddle"]["both,both"] > patterns["Speech,Violin_fiddle"]["audio_only,both"] / 2
    knobs = {t: resolve_knobs("full", kind_coupling=t) for t in (0.0, 1.0)}
    drawn = {t: sample_annotations(4000, np.random.default_rng(3), k, "test", None, np.random.default_rng(4))
             for t, k in knobs.items()}
    labels, a1, v1 = drawn[1.0]
    _, a0, v0 = drawn[0.0]
    assert (labels == drawn[0.0][0]).all() and ((a1.any(1) | v1.any(1)) == labels).all()
    kinds1, kinds0 = event_kinds(a1, v1), event_kinds(a0, v0)
    names = {"audio_only": 0, "visual_only": 1, "both": 2}
    covered = 0
    for i in np.flatnonzero(labels.sum(1) >= 2):  # every coupled video holds a pattern LLP has for its label set
        present = np.flatnonzero(labels[i])
        allowed = patterns.get(label_set_name(present))
        if allowed is not None:
            covered += 1
            assert tuple(kinds1[i, present]) in {tuple(names[k] for k in p.split(",")) for p in allowed}
    assert covered > 0.9 * (labels.sum(1) >= 2).sum()
    # a stream of its own: single-class videos and every event whose kind stayed keep their extents
    same = (kinds1 == kinds0) & labels
    assert ((a1 == a0).all(1) | ~same).all() and ((v1 == v0).all(1) | ~same).all()
    single = labels.sum(1) == 1
    assert (a1[single] == a0[single]).all() and (v1[single] == v0[single]).all()
    # the coupling it is for: far above its shuffles, where the independent draw is within them
    coupled, independent = (kind_coupling(a, v, permutations=20) for _, a, v in (drawn[1.0], drawn[0.0]))
    assert coupled["excess"] > 0.02 and coupled["p"] == 0.0
    assert independent["excess"] < 0.002


def test_turn_taking_under_extreme_modality_knobs_still_ends_and_keeps_the_labels():
    # nearly no visual events: the pairs with a seen side are (almost) never drawn; the knob must neither hang
    # (bounded simulation) nor divide by zero, and the truth still equals the labels
    knobs = resolve_knobs("tiny", turn_taking=1.0, audio_only_rate=0.98, visual_only_rate=0.01)
    labels, a, v = sample_annotations(200, np.random.default_rng(0), knobs, "test", np.random.default_rng(1))
    assert ((a.any(1) | v.any(1)) == labels).all()


def test_turn_taking_rules_are_simulated_once_per_knob_setting():
    # a generation asks for them once per split; the simulation (seconds) runs on the first ask only, and a changed
    # modality knob gets its own rules
    from avvp_core.data.synthetic import _turn_taking_rules

    _turn_taking_rules.cache_clear()
    knobs = resolve_knobs("tiny", turn_taking=1.0)
    for split in ("train", "val", "test"):
        sample_annotations(20, np.random.default_rng(0), knobs, split, np.random.default_rng(1))
    info = _turn_taking_rules.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    other = resolve_knobs("tiny", turn_taking=1.0, audio_only_rate=0.5)
    sample_annotations(20, np.random.default_rng(0), other, "test", np.random.default_rng(1))
    assert _turn_taking_rules.cache_info().misses == 2
