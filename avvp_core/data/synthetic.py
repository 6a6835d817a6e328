"""SynthLLP: a seeded generator writing a dataset in the exact LLP layout, calibrated on real LLP statistics.

Annotations follow the committed real figures (`llp_stats.json`): label sets, per-class modality mix, run
counts and durations per kind of event and per context (only event of its video or not), clip-edge
anchoring, coincidence and nesting of the audio and visual extents of "both" events. Features are per-class
prototypes per stream (related classes share a group part) scaled by class- and modality-dependent
salience, plus a per-video nuisance vector, segment noise, optionally a low-rank per-segment latent shared by all
streams (the scene dynamics that real audio and video see together) and per-segment event intensities shared by an
event's audio and visual streams, quantised to float16-representable values. Optionally (`noise_rank`) noise,
nuisance and prototypes live in a low-rank subspace per stream, as real embeddings do, and (`background_events`)
clips carry an unlabelled background event, mostly Speech, in their features only, (`turn_taking`) the class pairs
that take turns in time on LLP (a person seen speaking or singing, seldom both at once) are placed apart as often,
(`kind_coupling`) a video's classes take their kinds together as on LLP (Speech seen beside a violin, heard only beside
a dog), and (`noise_persistence`) the segment noise is correlated from one second to the next, as a scene's changes
are slow.

Train label sets follow LLP train; val/test ones follow LLP val+test (which hold more labels per video).
Deviations from LLP, on purpose: dense truth exists for every split (train's in SYNTH_train_eval_*.csv,
oracle-only); weak labels always equal the union of the dense events (81 real val/test videos differ); no
eval row has onset >= offset or names a missing video; res152 is segment-level (10, 2048) unless
res152_frames=80; durations depend on the kind and context of an event, not on its class; an event's kind depends
on its class alone and its extents on nothing else in its video, unless the kind_coupling and turn_taking knobs say
otherwise (on LLP both depend on the other classes present: bench/class_coupling.py); ids are random; features are
synthetic.

Difficulty is calibrated (issue 9, bench/calibrate_han.py, bench/RESULTS.md): HAN with the official recipe scores
about what it scores on the real LLP test set (segment / event Type@AV 54.0 / 47.7) — on `full` at paper width, and
on `mini` at demo width, the zoo's setting — and MA's label refinement helps HAN on `full` as it does on LLP. Two
knobs make the latter possible: `noise_rank` 64 (a model cannot memorise its training videos through nuisance that
fills every dimension) and `background_events` 0.4 (unlabelled sounds, mostly Speech, that MA's swap test should
find). The same features get easier with more training videos (HAN at paper width gains ~8 points from mini's
2,000 to full's 10,000), so the prototype separation is set per preset (3.5 by default, 2.9 on mini and 2.05 on
full in PRESET_KNOBS; mini's for the step budget of issue 19, under which mini at 3.5 was 2.6 / 4.0 points easier
than LLP): this is a deliberate deviation from "one generator, one set of knobs". On full, `silent_objects` 0.3
(an unlabelled object seen but never heard in 30 % of the videos: LLP's labels come from sounds) brings HAN's
visual figures down to LLP's, so that audio scores above visual at both levels as on LLP; mini keeps 0 (there it
costs 3 points of segment AV and brings the ten figures no closer to LLP's; mini's features are the zoo's).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..checkpoint_schema import read_json_object
from ..constants import (
    CLASS_INDEX,
    CLASSES,
    EVAL_FILES,
    FEATURE_DIMS,
    FRAMES_PER_SEGMENT,
    MODALITIES,
    NUM_CLASSES,
    NUM_SEGMENTS,
    SPLIT_FILES,
    SPLITS,
    SYNTH_META_FILE,
    TRAIN_EVAL_FILES,
)
from ..errors import InputError
from .dataset import LLPDataset
from .stats import EVENT_TYPES, label_set_name

# 1.1: the shared_dynamics knob (default 0: features byte-identical to 1.0's).
# 1.2: per-preset calibrated knobs (PRESET_KNOBS): `full` is harder; tiny and mini features are byte-identical to
#      1.1's. The event_dynamics knob (default 0: no change). Later, same version: the audio_salience (default 1),
#      silent_objects, background_events and noise_rank (default 0) knobs: at their defaults features and
#      fingerprints stay byte-identical, so data written before them is still current.
# 1.3: the calibrated defaults of issue 9 (bench/RESULTS.md): noise_rank 64, background_events 0.4, separation 3.5
#      (full: 2.05, PRESET_KNOBS). Every preset's features change; labels and truth do not. 1.2's features come back
#      with noise_rank=0, background_events=0 and separation 4.0 (full: 2.5).
# 1.4: full also shows a silent, unlabelled object in 30 % of its videos (PRESET_KNOBS silent_objects 0.3), which
#      brings HAN's visual figures down to LLP's (event-level audio above visual, as on LLP). tiny and mini features
#      are byte-identical to 1.3's (the zoo's fingerprint holds); full's 1.3 features come back with
#      --silent-objects 0.
# 1.5: mini's separation 2.9 (PRESET_KNOBS; issue 19): under the step budget ("llp_steps", five times 1.4's steps for
#      batch-16 recipes on mini) HAN at demo width scored +2.6 / +4.0 above LLP at 3.5; at 2.9 it scores 53.9 ± 0.5 /
#      48.5 ± 1.0 (3 seeds, LLP 54.0 / 47.7). mini's 1.4 features come back with --separation 3.5; tiny and full
#      are byte-identical to 1.4's. Later, same version: the turn_taking knob (default 0: no change, no random
#      number drawn; its own random stream, so at 1 only the events it places apart move).
#      Later, same version: the noise_persistence knob (default 0: no change; it filters the same draws).
#      Later, same version: the kind_coupling knob (default 0: no change, no random number drawn; its own random
#      stream, so at 1 only the events whose kind it changes move).
GENERATOR_VERSION = "1.5"
STATS_PATH = Path(__file__).with_name("llp_stats.json")
FULL_FILE = "AVVP_dataset_full.csv"  # LLP ships it too: every video, train then val then test
ProgressFn = Callable[[float, str], None]
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"n_train": 60, "n_val": 20, "n_test": 20},  # for tests
    "mini": {"n_train": 2000, "n_val": 300, "n_test": 500},  # the embedded default
    "full": {"n_train": 10000, "n_val": 649, "n_test": 1200},  # LLP's own sizes
}
# Knob defaults that differ per preset (the calibration, see the module docstring). An explicit knob wins.
PRESET_KNOBS: dict[str, dict[str, float]] = {
    "full": {"separation": 2.05, "silent_objects": 0.3},
    "mini": {"separation": 2.9},  # under budget "llp_steps" (issue 19; bench/RESULTS.md)
}


@lru_cache(maxsize=1)
def llp_stats() -> dict:
    """The committed statistics of the real LLP annotations (regenerate with make_llp_stats)."""
    return json.loads(STATS_PATH.read_text())


_TRUTH = llp_stats()["truth"]
KNOBS: dict[str, dict] = {
    "n_train": {"default": None, "help": "train videos (None: from the preset)"},
    "n_val": {"default": None, "help": "val videos (None: from the preset)"},
    "n_test": {"default": None, "help": "test videos (None: from the preset)"},
    "co_occurrence": {"default": 1.0, "help": "1: whole LLP label sets; 0: label count, then classes"},
    "eval_label_sets": {"default": 1.0, "help": "val/test: share of label sets drawn from LLP val+test's"},
    "audio_only_rate": {"default": _TRUTH["modality_mix"]["audio_only"], "help": "audio-only share"},
    "visual_only_rate": {"default": _TRUTH["modality_mix"]["visual_only"], "help": "visual-only share"},
    "coincide_rate": {"default": _TRUTH["both_coincide"], "help": "'both' events with identical A/V extents"},
    "separation": {"default": 3.5, "help": "class prototype norm in noise stds (x (D/128)^0.25 per stream)"},
    "shared_structure": {"default": 0.5, "help": "0..1 weight of the group part of related prototypes"},
    "imbalance": {"default": 1.0, "help": "spread of the class-dependent audio/visual salience (0: all 1)"},
    "audio_salience": {"default": 1.0, "help": "factor on every class's audio salience (how loud events are "
                       "against the visual streams)"},
    "nuisance": {"default": 1.0, "help": "std of the per-video scene/recording vector, per element"},
    "noise": {"default": 1.0, "help": "std of the segment noise, per element"},
    "noise_persistence": {"default": 0.0, "help": "0..<1: correlation of a segment's noise with the previous "
                          "segment's (AR(1), same std); 0: independent from second to second"},
    "shared_dynamics": {"default": 0.0, "help": "std of the per-segment scene dynamics seen by both modalities"},
    "event_dynamics": {"default": 0.0, "help": "std of each event's per-segment log-intensity, shared by its audio "
                       "and visual streams (0: constant intensity)"},
    "silent_objects": {"default": 0.0, "help": "share of videos showing one unlabelled class, seen but silent (LLP's "
                       "labels come from sounds: a parked car, a guitar on the wall)"},
    "background_events": {"default": 0.4, "help": "share of videos with one unlabelled background event, heard (and "
                          "sometimes seen), its class drawn by LLP's train class frequency: chatter off the label "
                          "list, mostly Speech"},
    "noise_rank": {"default": 64, "help": "0: noise, nuisance and prototypes span every feature dimension; R: a "
                   "rank-R subspace per stream, as real embeddings have few effective dimensions"},
    "turn_taking": {"default": 0.0, "help": "1: the class pairs that take turns in time on LLP (Speech seen / Singing "
                    "seen, Speech heard / Blender heard, ...; llp_stats.json) are placed apart as often as their LLP "
                    "lift says; 0: every class placed independently of the others"},
    "kind_coupling": {"default": 0.0, "help": "1: the classes of a video take their kinds (heard only, seen only, "
                      "both) together, from an LLP annotated video with the same label set (Speech seen beside a "
                      "violin, heard only beside a dog; llp_stats.json); 0: each class's kind from its own shares"},
    "res152_frames": {"default": 10, "help": "10: segment-level res152 (10, 2048); 80: LLP's 80 frames"},
    "frame_jitter": {"default": 0.1, "help": "80-frame res152 only: per-frame noise std, times noise"},
}
_UNIT_KNOBS = ("co_occurrence", "eval_label_sets", "audio_only_rate", "visual_only_rate", "coincide_rate",
               "shared_structure", "silent_objects", "background_events", "turn_taking",
               "kind_coupling")  # shares and weights: 0..1
GROUPS: tuple[tuple[str, ...], ...] = (  # related classes share the group part of their prototypes
    ("Cello", "Banjo", "Violin_fiddle", "Accordion", "Acoustic_guitar"),
    ("Car", "Motorcycle", "Helicopter", "Lawn_mower", "Chainsaw"),
    ("Baby_laughter", "Baby_cry_infant_cry"),
    ("Dog", "Cat", "Chicken_rooster"),
    ("Speech", "Singing", "Cheering", "Clapping"),
    ("Vacuum_cleaner", "Blender", "Frying_(food)", "Fire_alarm", "Telephone_bell_ringing"),
    ("Basketball_bounce",),
)
# log-salience (audio, visual) per class in [-1, 1]; salience = exp(imbalance * value). Chosen to agree with
# LLP's per-class modality mix: alarms, telephones and speech are loud but rarely on screen; vehicles and
# basketball are plainly visible but often drowned in other sounds.
SALIENCE: dict[str, tuple[float, float]] = {
    "Speech": (0.8, -0.8), "Car": (-0.3, 0.6), "Cheering": (0.4, -0.4), "Dog": (0.0, 0.3), "Cat": (-0.3, 0.4),
    "Frying_(food)": (0.2, 0.1), "Basketball_bounce": (-0.3, 0.8), "Fire_alarm": (0.9, -0.9),
    "Chainsaw": (0.3, 0.3), "Cello": (0.0, 0.2), "Banjo": (0.1, -0.1), "Singing": (0.6, -0.5),
    "Chicken_rooster": (0.3, 0.2), "Violin_fiddle": (0.1, 0.2), "Vacuum_cleaner": (0.3, 0.1),
    "Baby_laughter": (0.4, -0.3), "Accordion": (0.2, 0.2), "Lawn_mower": (0.1, 0.5),
    "Motorcycle": (-0.2, 0.6), "Helicopter": (0.0, 0.6), "Acoustic_guitar": (0.0, 0.3),
    "Telephone_bell_ringing": (0.9, -0.9), "Baby_cry_infant_cry": (0.6, -0.2), "Blender": (0.3, 0.1),
    "Clapping": (0.4, -0.2),
}
ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))
# One independent random stream per purpose (SeedSequence spawn keys), so feature knobs never move labels
# and a video's features do not depend on how many videos come before it.
_KEY_IDS, _KEY_LABELS, _KEY_PROTOS, _KEY_VIDEO, _KEY_DYNAMICS, _KEY_INTENSITY, _KEY_SILENT = 1, 2, 3, 4, 5, 6, 7
_KEY_BASIS, _KEY_BACKGROUND, _KEY_TURNS, _KEY_KINDS = 8, 9, 10, 11
# Real clips carry signal that both modalities see segment by segment besides the events (a door slams as it
# swings, a camera pan changes the wind noise). SynthLLP models it as a low-rank per-segment latent projected
# into every stream: without it, cross-modal temporal objectives (MA's contrast, JoMoLD's NCE) have nothing to
# learn but event boundaries. Off by default: measured on mini (HAN demo, seed 1), it does not rescue MA (HAN+MA
# segment Type@AV 32.0 at std 1.0, 30.8 at 0.25, 34.2 without) and at std 1.0 JoMoLD's NCE learns it instead of the
# classes (MSDU+JoMoLD 29.8 vs 48.3 without); see bench/RESULTS.md.
DYNAMICS_RANK = 16
# noise_rank > 0: real embeddings vary in few directions (their covariance spectrum falls fast), so a video's
# nuisance cannot single it out. With full-rank isotropic noise it does: 2,688 independent dimensions fingerprint
# every video, HAN memorises its training videos (heard-only Dog on train: audio 0.84 with its own visual tracks,
# 0.02 with another video's; on test 0.01) and MA's thresholds, normalised train errors, become noise. The segment
# noise keeps a small isotropic part (std RANK_RESIDUAL x noise) so that no feature direction is exactly constant.
RANK_RESIDUAL = 0.1


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def knob_defaults(preset: str = "mini") -> dict:
    """Every knob's default for this preset: KNOBS' defaults, then the preset's calibrated ones."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return {**{k: spec["default"] for k, spec in KNOBS.items()}, **PRESET_KNOBS.get(preset, {})}


def resolve_knobs(preset: str = "mini", **knobs) -> dict:
    """Every knob, with preset sizes and defaults filled in, validated (InputError on bad values)."""
    defaults = knob_defaults(preset)  # checks the preset
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise InputError(f"unknown knob(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    out = {k: knobs[k] if knobs.get(k) is not None else defaults[k] for k in KNOBS}
    for k in ("n_train", "n_val", "n_test"):
        out[k] = int(out[k] if out[k] is not None else PRESETS[preset][k])
        if out[k] < 1:
            raise InputError(f"{k} must be at least 1, got {out[k]}")
    out["noise_rank"] = int(out["noise_rank"])
    if not 0 <= out["noise_rank"] <= min(FEATURE_DIMS.values()):
        raise InputError(f"noise_rank must be 0 (full rank) or 1..{min(FEATURE_DIMS.values())}, got "
                         f"{out['noise_rank']}")
    out["res152_frames"] = int(out["res152_frames"])
    if out["res152_frames"] not in (NUM_SEGMENTS, NUM_SEGMENTS * FRAMES_PER_SEGMENT):
        raise InputError(f"res152_frames must be {NUM_SEGMENTS} or {NUM_SEGMENTS * FRAMES_PER_SEGMENT}")
    for k in KNOBS:
        if not k.startswith("n_") and k not in ("res152_frames", "noise_rank"):
            out[k] = float(out[k])
            if not np.isfinite(out[k]) or out[k] < 0 or (k in _UNIT_KNOBS and out[k] > 1):
                raise InputError(f"knob {k} = {out[k]} is out of range ({KNOBS[k]['help']})")
    if out["noise_persistence"] >= 1:
        raise InputError(f"knob noise_persistence = {out['noise_persistence']} is out of range (below 1: at 1 the "
                         "segment noise would be one constant per video, which the nuisance knob already is)")
    if out["audio_only_rate"] + out["visual_only_rate"] >= 1:
        raise InputError("audio_only_rate + visual_only_rate must stay below 1 (some events must be 'both')")
    return out


# --------------------------------------------------------------------------------------------- annotations
def class_mix(audio_only_rate: float, visual_only_rate: float) -> np.ndarray:
    """(C, 3) per-class P(audio-only, visual-only, both), tilted so the overall rates hit the request.

    The tilt multiplies every class's audio-only odds by one factor and its visual-only odds by another
    (fixed-point iteration over LLP's val+test event counts), so the differences between classes survive.
    """
    per_class = _TRUTH["class_modality_mix"]
    mix = np.array([[per_class[c][k] for k in EVENT_TYPES] for c in CLASSES])
    if (audio_only_rate, visual_only_rate) == (KNOBS["audio_only_rate"]["default"],
                                               KNOBS["visual_only_rate"]["default"]):
        return mix / mix.sum(1, keepdims=True)  # the real per-class mix, untouched
    weight = np.array([per_class[c]["events"] for c in CLASSES], dtype=float)
    mix = mix + 1e-3  # lets every class move (Blender has no audio-only event in LLP)
    target, tilt = np.array([audio_only_rate, visual_only_rate]), np.ones(2)
    for _ in range(1000):
        m = mix * np.array([*tilt, 1.0])
        m /= m.sum(1, keepdims=True)
        rates = weight @ m[:, :2] / weight.sum()
        if np.allclose(rates, target, atol=1e-5):
            break
        tilt *= target / np.maximum(rates, 1e-12)
    return m


def _pick(rng: np.random.Generator, cdf: list[float]) -> int:
    """Index drawn from cumulative weights: rng.choice(p=...)'s draw without its per-call validation cost."""
    return min(bisect.bisect_right(cdf, rng.random() * cdf[-1]), len(cdf) - 1)


def _spread(rng: np.random.Generator, total: int, bins: int) -> list[int]:
    """`total` split into `bins` parts >= 0, uniformly over all such splits (stars and bars)."""
    if bins <= 1:
        return [total] * bins
    bars = sorted(rng.choice(total + bins - 1, bins - 1, replace=False).tolist())
    return [b - a - 1 for a, b in zip([-1, *bars], [*bars, total + bins - 1], strict=True)]


def _place(rng: np.random.Generator, runs: int, dur: int, edges: dict[str, float],
           length: int = NUM_SEGMENTS) -> np.ndarray:
    """A (length,) bool row of `runs` runs covering `dur` segments, touching its edges at LLP's rates."""
    lengths = [1 + x for x in _spread(rng, dur - runs, runs)]
    zeros = length - dur
    p0, p10 = edges["onset_0"], edges["offset_10"]
    if zeros == runs - 1:  # no room: the runs fill the clip edge to edge
        lead = trail = False  # lead / trail: the gap before the first / after the last run is >= 1
    elif runs == 1:  # a partial single run touches at most one edge: start, end or neither
        u = rng.random()
        lead, trail = (False, True) if u < p0 else (True, False) if u < p0 + p10 else (True, zeros >= 2)
    else:
        lead = rng.random() >= p0
        trail = zeros - (runs - 1) > int(lead) and rng.random() >= p10
    grows = [lead, *[True] * (runs - 1), trail]  # gaps before, between and after the runs
    gaps = [int(g) for g in grows]  # their minimum sizes
    extra = iter(_spread(rng, zeros - sum(gaps), sum(grows)))
    gaps = [g + next(extra) if grow else g for g, grow in zip(gaps, grows, strict=True)]
    row, pos = np.zeros(length, bool), 0
    for gap, run in zip(gaps, lengths, strict=False):  # the trailing gap needs no placing
        pos += gap
        row[pos:pos + run] = True
        pos += run
    return row


def _draw(rng: np.random.Generator, model: dict, kind: str, rates: dict,
          within: np.ndarray | None = None) -> np.ndarray | None:
    """A (T,) extent from `model`'s `kind` table; with `within`, strictly inside that row's segments.

    A nested extent is placed in the holding extent's own segments (placing it freely and rejecting misfits
    would favour short extents); None when no table cell fits.
    """
    cells, cdf = model["cells"][kind]
    room = NUM_SEGMENTS if within is None else int(within.sum())
    for _ in range(100):
        runs, dur = cells[_pick(rng, cdf)]
        if within is None or (dur < room and dur + runs - 1 <= room):
            break
    else:
        return None
    row = _place(rng, runs, dur, rates["single" if runs == 1 else "multi"], room)
    if within is None:
        return row
    inner = np.zeros(NUM_SEGMENTS, bool)
    inner[np.flatnonzero(within)[row]] = True  # from the holding extent's segments back to the clip's
    return inner


def _distinct_pair(rng: np.random.Generator, model: dict, relation: str) -> tuple[np.ndarray, np.ndarray]:
    """(audio, visual) extents of a "both" event that differ but overlap, nested as in LLP.

    "v_holds_a": the visual extent strictly contains the audio one; "a_holds_v": the reverse; "crossing":
    they overlap without nesting (the visual one is redrawn until it crosses the audio one).
    """
    v_outer = relation == "v_holds_a"
    o_mod, i_mod = ("visual", "audio") if v_outer else ("audio", "visual")
    outer = _draw(rng, model, f"{relation}_{o_mod}", _TRUTH["edge_rates"][o_mod])
    inner = None
    if relation != "crossing":
        inner = _draw(rng, model, f"{relation}_{i_mod}", _TRUTH["nested_edge_rates"][relation], within=outer)
    else:
        for _ in range(200):
            cand = _draw(rng, model, f"{relation}_{i_mod}", _TRUTH["edge_rates"][i_mod])
            if (cand & outer).any() and (cand & ~outer).any() and (outer & ~cand).any():
                inner = cand
                break
    if inner is None:  # no fit (rare: a short outer extent): trim the outer's last segment, or coincide
        inner = outer.copy()
        if outer.sum() > 1:
            inner[np.flatnonzero(outer)[-1]] = False
    return (inner, outer) if v_outer else (outer, inner)


def sample_labels(n: int, rng: np.random.Generator, knobs: dict, split: str = "train") -> np.ndarray:
    """(N, C) bool weak labels: whole LLP label sets (co_occurrence) or a count, then classes by marginals.

    Train draws LLP train's label sets; val/test draw those of LLP val+test's dense truth with probability
    eval_label_sets (LLP's annotated videos hold more labels: 3+ in 12 % of them, in 0.9 % of train).
    """
    train = llp_stats()["train"]
    sources = []
    for sets in (train["label_sets"], _TRUTH["truth_label_sets"]):
        p = np.array(list(sets.values()))
        sources.append(([[CLASS_INDEX[c] for c in name.split(",")] for name in sets], p / p.sum()))
    count_p = np.array(list(train["label_count"].values()))
    marginal = np.array(list(train["class_frequency"].values()))
    whole = rng.random(n) < knobs["co_occurrence"]
    from_eval = (rng.random(n) < knobs["eval_label_sets"]) & (split != "train")
    set_idx = [rng.choice(len(p), n, p=p) for _, p in sources]  # both always drawn: stable streams
    counts = rng.choice([int(k) for k in train["label_count"]], n, p=count_p / count_p.sum())
    labels = np.zeros((n, NUM_CLASSES), bool)
    for i in range(n):
        src = int(from_eval[i])
        labels[i, sources[src][0][set_idx[src][i]] if whole[i] else rng.choice(
            NUM_CLASSES, counts[i], replace=False, p=marginal / marginal.sum())] = True
    return labels


def sample_truth(labels: np.ndarray, rng: np.random.Generator, knobs: dict,
                 turns_rng: np.random.Generator | None = None,
                 kinds_rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dense (N, T, C) uint8 audio and visual truth whose events are exactly the (N, C) weak labels.

    Each class's kind and extents are drawn independently of the other classes of its video. With the kind_coupling
    knob, videos then take their classes' kinds together from LLP (`_couple_kinds`), from `kinds_rng` when given;
    with the turn_taking knob, the pairs that take turns on LLP are then placed apart (`_take_turns`), from
    `turns_rng` when given. The generator passes each knob a stream of its own, so a knob moves only the events it
    changes; without one, `rng` serves.
    """
    mix_cdf = _mix_cdf(knobs["audio_only_rate"], knobs["visual_only_rate"])
    models = _extent_models(knobs["coincide_rate"])
    gt = np.zeros((2, len(labels), NUM_SEGMENTS, NUM_CLASSES), np.uint8)  # (audio/visual, N, T, C)
    kinds = np.full(labels.shape, -1, np.int8)  # (N, C) 0 audio-only, 1 visual-only, 2 both
    n_labels = labels.sum(1)
    for i, c in zip(*np.nonzero(labels), strict=True):
        model = models["solo" if n_labels[i] == 1 else "multi"]
        kinds[i, c] = kind = _pick(rng, mix_cdf[c])
        gt[0, i, :, c], gt[1, i, :, c] = _event(rng, model, kind)
    if knobs["kind_coupling"]:  # skipped at 0 (no random number drawn), so the default output stays byte-identical
        _couple_kinds(gt, kinds, models["multi"], knobs["kind_coupling"], rng if kinds_rng is None else kinds_rng)
    if knobs["turn_taking"]:  # skipped at 0 (no random number drawn), so the default output stays byte-identical
        rules = _turn_taking_rules(knobs["audio_only_rate"], knobs["visual_only_rate"], knobs["coincide_rate"])
        _take_turns(gt, kinds, models["multi"], rules, knobs["turn_taking"], rng if turns_rng is None else turns_rng)
    return gt[0], gt[1]


def _mix_cdf(audio_only_rate: float, visual_only_rate: float) -> list[list[float]]:
    """Per class, the cumulative shares of its kinds (audio-only, visual-only, both) under the modality knobs."""
    return np.cumsum(class_mix(audio_only_rate, visual_only_rate), axis=1).tolist()


def _extent_models(coincide_rate: float) -> dict[str, dict]:
    """The extent model per context ("solo": the only class of its video; "multi") as `_event` draws from it."""
    models = {}
    for context, model in _TRUTH["extent_model"].items():
        tables = {k: np.asarray(t, float) for k, t in model["extent_tables"].items()}  # [runs-1][dur-1]
        nest = model["both_distinct_nesting"]
        models[context] = {
            "cells": {k: ((np.argwhere(t > 0) + 1).tolist(), np.cumsum(t[t > 0]).tolist())
                      for k, t in tables.items()},
            # the coincide_rate knob scales both contexts' real rates alike
            "coincide": min(1.0, model["both_coincide"] * coincide_rate / _TRUTH["both_coincide"]),
            "relations": (list(nest), np.cumsum(list(nest.values())).tolist()),
        }
    return models


def _event(rng: np.random.Generator, model: dict, kind: int) -> tuple[np.ndarray, np.ndarray]:
    """(audio, visual) (T,) extents of one event of `kind` (0 audio-only, 1 visual-only, 2 both)."""
    edges, none = _TRUTH["edge_rates"], np.zeros(NUM_SEGMENTS, bool)
    if kind == 0:
        return _draw(rng, model, "audio_only", edges["audio"]), none
    if kind == 1:
        return none, _draw(rng, model, "visual_only", edges["visual"])
    if rng.random() < model["coincide"]:
        row = _draw(rng, model, "both_same", edges["audio"])
        return row, row
    names, cdf = model["relations"]
    return _distinct_pair(rng, model, names[_pick(rng, cdf)])


@lru_cache(maxsize=1)
def _kind_patterns() -> dict[str, tuple[list[tuple[int, ...]], list[float]]]:
    """Per label set of LLP's dense truth with two classes or more (llp_stats.json, truth.label_set_kinds): its
    patterns of kinds (0 audio-only, 1 visual-only, 2 both, in the set's class order) and their cumulative counts."""
    index = {kind: i for i, kind in enumerate(EVENT_TYPES)}
    return {name: ([tuple(index[k] for k in pattern.split(",")) for pattern in counts],
                   np.cumsum(list(counts.values())).tolist())
            for name, counts in _TRUTH["label_set_kinds"].items()}


def _couple_kinds(gt: np.ndarray, kinds: np.ndarray, model: dict, strength: float, rng: np.random.Generator) -> None:
    """Give a video's classes their kinds together, as LLP's annotated videos have them, in place on gt (2, N, T, C)
    and kinds (N, C).

    With probability `strength`, a video of two classes or more whose label set LLP's dense truth holds takes the
    pattern of kinds of one of those LLP videos (drawn by their counts): on LLP Speech is seen in 45 % of the videos
    that hold a violin and 12 % of those that hold a dog (bench/class_coupling.py, "kind coupling"). A class whose
    kind changes gets a new event of its new kind from the multi-class extent model; the others keep theirs. Videos
    whose label set LLP's truth lacks (about 1 % of train's multi-class videos) keep their independent kinds. The
    coupled videos take LLP's kinds as they are, so the audio_only_rate / visual_only_rate knobs act on the others
    only.
    """
    patterns = _kind_patterns()
    for i in np.flatnonzero((kinds >= 0).sum(1) >= 2):
        present = np.flatnonzero(kinds[i] >= 0)
        options = patterns.get(label_set_name(present))
        if options is None or rng.random() >= strength:
            continue
        pattern = options[0][_pick(rng, options[1])]
        for c, kind in zip(present, pattern, strict=True):
            if kind != kinds[i, c]:
                kinds[i, c] = kind
                gt[0, i, :, c], gt[1, i, :, c] = _event(rng, model, kind)


TURN_TAKING_TRIES = 50  # joint redraws of a pair before it is left as drawn (rare)
TURN_TAKING_SIMULATED = 2000  # pairs drawn per rule to measure how often independent placement keeps them apart


@lru_cache(maxsize=16)
def _turn_taking_rules(audio_only_rate: float, visual_only_rate: float, coincide_rate: float
                       ) -> tuple[tuple[int, int, int, int, float], ...]:
    """(class, its modality, other class, its modality, q) per class pair that takes turns on LLP (llp_stats.json,
    truth.turn_taking; modality 0 audio, 1 visual): q, the share of the pair's overlapping videos to place apart so
    that the share of its videos where the two extents never meet is LLP's. Independent placement already keeps a
    share a0 apart (SynthLLP, measured here on TURN_TAKING_SIMULATED pairs drawn from the same extent model and class
    mix, a fixed seed): q = (a_LLP - a0) / (1 - a0). Cached on the three knobs it depends on: the simulation takes
    seconds and a generation asks for it once per split, with the same knobs."""
    model, mix_cdf = _extent_models(coincide_rate)["multi"], _mix_cdf(audio_only_rate, visual_only_rate)
    rng, rules, modality = np.random.default_rng(0), [], {"audio": 0, "visual": 1}
    for p in _TRUTH["turn_taking"]["pairs"]:
        ends = ((CLASS_INDEX[p["first"]], modality[p["first_modality"]]),
                (CLASS_INDEX[p["second"]], modality[p["second_modality"]]))
        met = []
        for _ in range(50 * TURN_TAKING_SIMULATED):  # bounded: a class the knobs leave (almost) never in modality m
            if len(met) == TURN_TAKING_SIMULATED:
                break
            rows = []
            for c, m in ends:
                kind = _pick(rng, mix_cdf[c])
                if kind == 1 - m:  # audio-only has no visual extent and the reverse: not this pair
                    break
                rows.append(_event(rng, model, kind)[m])
            else:
                met.append(bool((rows[0] & rows[1]).any()))
        if len(met) < TURN_TAKING_SIMULATED or not any(met):
            continue  # the pair (almost) never occurs under these knobs, or is never drawn together: nothing to place
        a0 = 1.0 - float(np.mean(met))
        rules.append((*ends[0], *ends[1], float(np.clip((p["apart"] - a0) / (1.0 - a0), 0.0, 1.0))))
    return tuple(rules)


def _clash(video: np.ndarray, rows: dict[int, tuple[np.ndarray, np.ndarray]],
           apart: list[tuple[int, int, int, int]]) -> bool:
    """Whether two extents that must be apart share a segment, in a video's (2, T, C) truth with `rows` (class ->
    redrawn audio, visual extents) in place of its own."""
    def extent(c: int, m: int) -> np.ndarray:
        return rows[c][m] if c in rows else video[m, :, c] > 0

    return any((extent(c1, m1) & extent(c2, m2)).any() for c1, m1, c2, m2 in apart)


def _take_turns(gt: np.ndarray, kinds: np.ndarray, model: dict, rules: tuple[tuple[int, int, int, int, float], ...],
                strength: float, rng: np.random.Generator) -> None:
    """Place the LLP class pairs that take turns apart in time, in place on gt (2, N, T, C).

    For each such pair in a video whose two extents share a segment, with probability strength x q (see
    `_turn_taking_rules`), both classes' whole events are redrawn together (same kinds, so each one's audio/visual
    nesting is LLP's) until the two miss each other and every pair placed apart before in this video stays apart, at
    most TURN_TAKING_TRIES times (else they stay as drawn): the independent model conditioned on the pair being apart.
    Redrawing one class alone would not do: Speech is on screen for the whole clip in 60 % of the videos that show it
    with another class, and nothing fits beside a 10-segment extent. At strength 1 the share of a pair's videos where
    the two never meet is about LLP's (bench/RESULTS.md gives the shares and lifts reached). Deviation, by
    construction: the events placed apart are shorter than the others of their class (two extents fit in 10 segments).
    """
    for i in np.flatnonzero((kinds >= 0).sum(1) >= 2):
        apart: list[tuple[int, int, int, int]] = []  # (class, modality, class, modality) kept apart in this video
        for one, one_m, two, two_m, q in rules:
            if not (gt[one_m, i, :, one].any() and gt[two_m, i, :, two].any()):
                continue  # not both present in these modalities
            if not (gt[one_m, i, :, one] & gt[two_m, i, :, two]).any():
                apart.append((one, one_m, two, two_m))  # apart by chance: kept so by later redraws
                continue
            if rng.random() >= strength * q:
                continue
            apart.append((one, one_m, two, two_m))
            for _ in range(TURN_TAKING_TRIES):
                rows = {one: _event(rng, model, int(kinds[i, one])), two: _event(rng, model, int(kinds[i, two]))}
                if not _clash(gt[:, i], rows, apart):
                    for c, (audio, visual) in rows.items():
                        gt[0, i, :, c], gt[1, i, :, c] = audio, visual
                    break
            else:
                apart.pop()  # left as drawn: later redraws need not keep it apart


def sample_annotations(n: int, rng: np.random.Generator, knobs: dict, split: str = "train",
                       turns_rng: np.random.Generator | None = None,
                       kinds_rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weak labels (N, C) bool and dense truth (N, T, C) uint8 audio, visual for `n` videos of `split`."""
    labels = sample_labels(n, rng, knobs, split)
    return (labels, *sample_truth(labels, rng, knobs, turns_rng, kinds_rng))


# ------------------------------------------------------------------------------------------------ features
def _bases(seed: int, rank: int) -> dict[str, np.ndarray] | None:
    """(R, D) orthonormal rows per stream: the subspace noise, nuisance and prototypes live in (None: full rank)."""
    if not rank:
        return None
    out = {}
    for s_idx, (stream, dim) in enumerate(FEATURE_DIMS.items()):
        q, _ = np.linalg.qr(_rng(seed, _KEY_BASIS, s_idx).standard_normal((dim, rank)))  # (D, R) orthonormal columns
        out[stream] = q.T
    return out


def _prototypes(seed: int, knobs: dict, bases: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """(C, D) class prototypes per stream: unit vectors (group part + class part), scaled; in the bases' subspace
    when given."""
    out, w = {}, knobs["shared_structure"]
    group_of = {c: g for g, members in enumerate(GROUPS) for c in members}
    for s_idx, (stream, dim) in enumerate(FEATURE_DIMS.items()):
        rng = _rng(seed, _KEY_PROTOS, s_idx)
        draw_dim = dim if bases is None else len(bases[stream])
        group = rng.standard_normal((len(GROUPS), draw_dim)) / np.sqrt(draw_dim)
        own = rng.standard_normal((NUM_CLASSES, draw_dim)) / np.sqrt(draw_dim)
        proto = np.sqrt(w) * group[[group_of[c] for c in CLASSES]] + np.sqrt(1 - w) * own
        if bases is not None:
            proto = proto @ bases[stream]  # (C, R) @ (R, D)
        # Norm separation x (D / 128) ** 0.25: measured with dense linear probes, this makes the three streams about
        # equally informative at equal knobs (a constant norm starves the 2048-d stream, whose 2048 weights are
        # harder to learn; sqrt(D) makes it by far the easiest). Kept at noise_rank > 0, where it also keeps LLP's
        # audio/visual balance (mini, HAN demo, rank 64: segment audio - visual 9.5 with it, 14.3 without).
        scale = knobs["separation"] * (dim / FEATURE_DIMS["vggish"]) ** 0.25
        out[stream] = scale * proto / np.linalg.norm(proto, axis=1, keepdims=True)
    return out


def _dynamics_maps(seed: int) -> dict[str, np.ndarray]:
    """(DYNAMICS_RANK, D) projection per stream of the shared dynamics: unit-variance output per element."""
    out = {}
    for s_idx, (stream, dim) in enumerate(FEATURE_DIMS.items()):
        rng = _rng(seed, _KEY_DYNAMICS, s_idx)
        out[stream] = rng.standard_normal((DYNAMICS_RANK, dim)) / np.sqrt(DYNAMICS_RANK)
    return out


def _random_run(rng: np.random.Generator) -> slice:
    start = int(rng.integers(NUM_SEGMENTS))
    return slice(start, int(rng.integers(start + 1, NUM_SEGMENTS + 1)))


def _silent_object(seed: int, key: tuple[int, int], labels: np.ndarray, rate: float) -> np.ndarray | None:
    """(T, C) 0/1 extent of one unlabelled class on screen, for a `rate` share of videos (None for the others)."""
    if not rate:  # skipped at 0, so the default output stays byte-identical
        return None
    rng = _rng(seed, _KEY_SILENT, *key)
    if rng.random() >= rate:
        return None
    absent = np.flatnonzero(~labels.astype(bool))
    if not len(absent):  # every class is an event of this video
        return None
    c = int(rng.choice(absent))
    out = np.zeros((NUM_SEGMENTS, NUM_CLASSES))
    out[_random_run(rng), c] = 1.0
    return out


# Background events: real clips are full of sounds nobody labelled (LLP's labels list a clip's main events, and
# chatter in the background is the commonest omission). The commoner a sound, the likelier it is there unlabelled:
# a class is drawn with weight (its LLP train label frequency) ** BACKGROUND_POWER, which makes about 80 % of them
# Speech, as in MA's label estimation on real LLP (Speech is 80 % of its audio and 90 % of its visual removals,
# reference notes §5). Like a labelled event of its class, it is heard only or heard and seen (over the same
# segments) at the class's LLP rates. They make the base model's train errors LLP-like (concentrated on Speech),
# which is what MA's per-class thresholds normalise (bench/RESULTS.md, issue 9).
BACKGROUND_POWER = 2.0
_CLASS_FREQUENCY = np.array([llp_stats()["train"]["class_frequency"][c] for c in CLASSES]) ** BACKGROUND_POWER
_SEEN_TOO = np.array([(lambda m: m["both"] / (m["both"] + m["audio_only"]))(_TRUTH["class_modality_mix"][c])
                      for c in CLASSES])  # P(seen | heard) per class


def _background_event(seed: int, key: tuple[int, int], labels: np.ndarray,
                      rate: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(heard, seen) (T, C) 0/1 extents of one unlabelled background event, for a `rate` share of videos."""
    if not rate:  # skipped at 0, so the default output stays byte-identical
        return None
    rng = _rng(seed, _KEY_BACKGROUND, *key)
    if rng.random() >= rate:
        return None
    weights = np.where(labels.astype(bool), 0.0, _CLASS_FREQUENCY)
    if not weights.sum():
        return None
    c = int(rng.choice(NUM_CLASSES, p=weights / weights.sum()))
    heard, seen = np.zeros((NUM_SEGMENTS, NUM_CLASSES)), np.zeros((NUM_SEGMENTS, NUM_CLASSES))
    run = _random_run(rng)
    heard[run, c] = 1.0
    if rng.random() < _SEEN_TOO[c]:
        seen[run, c] = 1.0
    return heard, seen


def persistent(noise: np.ndarray, rho: float) -> np.ndarray:
    """(T, D) independent rows made an AR(1) sequence along time with lag-1 correlation `rho` and the same
    per-element variance: n_0 = e_0, n_t = rho n_(t-1) + sqrt(1 - rho^2) e_t (same draws, no new random numbers)."""
    out = np.empty_like(noise)
    out[0] = noise[0]
    keep = np.sqrt(1.0 - rho * rho)
    for t in range(1, len(noise)):
        out[t] = rho * out[t - 1] + keep * noise[t]
    return out


def _video_features(seed: int, key: tuple[int, int], gt_a: np.ndarray, gt_v: np.ndarray, protos: dict,
                    salience: np.ndarray, knobs: dict, dynamics: dict, silent: np.ndarray | None = None,
                    bases: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """float32, float16-representable features of one video, from its own child seeds. `silent` (T, C): classes
    on screen that are no event (not in the truth, not in the labels). `bases`: noise and nuisance in their
    subspaces (`_bases`)."""
    rng = _rng(seed, _KEY_VIDEO, *key)
    latent = _rng(seed, _KEY_DYNAMICS, 100, *key).standard_normal((NUM_SEGMENTS, DYNAMICS_RANK))  # (T, R)
    intensity = None
    if knobs["event_dynamics"]:  # skipped at 0, so the default output stays byte-identical to 1.1's
        sd = knobs["event_dynamics"]  # a dog barks louder as it comes closer: heard and seen alike; mean 1
        z = _rng(seed, _KEY_INTENSITY, *key).standard_normal((NUM_SEGMENTS, NUM_CLASSES))  # (T, C)
        intensity = np.exp(sd * z - 0.5 * sd * sd)
    out = {}
    for stream, dim in FEATURE_DIMS.items():
        visual = stream != "vggish"
        active = (gt_v if visual else gt_a) * salience[int(visual)]  # (T, C) salience of present events
        if visual and silent is not None:
            active = active + silent * salience[1]  # seen, never heard, never labelled
        if intensity is not None:
            active = active * intensity
        if bases is None:
            draw = rng.standard_normal((NUM_SEGMENTS + 1, dim))  # row 0: the video's scene/recording offset
        else:  # unit variance along each of the R basis directions, plus a small isotropic residual
            draw = rng.standard_normal((NUM_SEGMENTS + 1, len(bases[stream]))) @ bases[stream]  # (T+1, R) @ (R, D)
            draw[1:] += RANK_RESIDUAL * rng.standard_normal((NUM_SEGMENTS, dim))
        noise = draw[1:]
        if knobs["noise_persistence"]:  # skipped at 0, so the default output stays byte-identical
            noise = persistent(noise, knobs["noise_persistence"])
        x = knobs["noise"] * noise + knobs["nuisance"] * draw[0]  # (T, D)
        x += active @ protos[stream]
        if knobs["shared_dynamics"]:  # skipped at 0, so the default output stays byte-identical to generator 1.0
            x += knobs["shared_dynamics"] * (latent @ dynamics[stream])  # (T, R) @ (R, D): same latent, all streams
        if stream == "res152" and knobs["res152_frames"] > NUM_SEGMENTS:  # each segment's vector x 8 frames
            x = np.repeat(x, FRAMES_PER_SEGMENT, axis=0)
            x += knobs["frame_jitter"] * knobs["noise"] * rng.standard_normal(x.shape)
        if visual:  # pooled CNN features are means of ReLU maps, positive and dense: squareplus(x - 1), a
            x -= 1.0  # softplus look-alike at less than half its cost (no exp/log)
            x = 0.5 * (x + np.sqrt(x * x + 1.0))
        else:  # VGGish embeddings are post-ReLU (exact zeros; the +1 keeps most units alive)
            x = np.maximum(x + 1.0, 0.0)
        x = np.minimum(x, 65504.0)  # float16's largest finite value (reached only with extreme knobs)
        out[stream] = x.astype(np.float16).astype(np.float32)  # exactly representable: the cache stores fp16
    return out


# ------------------------------------------------------------------------------------------------- writing
def _filenames(seed: int, sizes: dict[str, int]) -> dict[str, list[str]]:
    seen: set[str] = set()
    out = {}
    for s_idx, split in enumerate(SPLITS):
        rng, names = _rng(seed, _KEY_IDS, s_idx), []
        while len(names) < sizes[split]:
            vid = "".join(ID_ALPHABET[rng.integers(0, len(ID_ALPHABET), 11)])
            start = int(rng.integers(0, 300))
            if vid not in seen:  # ids are unique over all splits, as in LLP
                seen.add(vid)
                names.append(f"{vid}_{start}_{start + NUM_SEGMENTS}")
        out[split] = names
    return out


def _eval_lines(names: list[str], gt: np.ndarray) -> list[str]:
    """One eval row per run: filename, onset, offset (exclusive), class; per video, classes in index order."""
    step = np.diff(np.pad(gt.astype(np.int8), ((0, 0), (1, 1), (0, 0))), axis=1)  # (N, T + 1, C)
    lines = []
    for i, c in zip(*np.nonzero(gt.any(1)), strict=True):
        ons, offs = np.flatnonzero(step[i, :, c] == 1), np.flatnonzero(step[i, :, c] == -1)
        lines += [f"{names[i]}\t{on}\t{off}\t{CLASSES[c]}\n" for on, off in zip(ons, offs, strict=True)]
    return lines


def _write_text(path: Path, text: str) -> None:
    # plain writes: the folder as a whole appears atomically (generate renames it into place)
    path.write_text(text, encoding="utf-8", newline="\n")


def _is_synth(folder: Path) -> bool:
    try:
        return read_json_object(folder / SYNTH_META_FILE).get("generator") == "SynthLLP"
    except (OSError, ValueError):  # InputError too: not JSON, too deep, no object, a FIFO
        return False


def generate(out_dir: str | Path, preset: str = "mini", seed: int = 0, progress: ProgressFn | None = None,
             overwrite: bool = False, **knobs) -> Path:
    """Write a SynthLLP folder at `out_dir` (built in a temp folder beside it, renamed into place)."""
    out_dir = Path(out_dir).expanduser()
    k = resolve_knobs(preset, **knobs)
    if int(seed) < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        if not _is_synth(out_dir):
            raise InputError("exists and is not a SynthLLP folder; refusing to overwrite it", out_dir)
        if not overwrite:
            raise InputError("SynthLLP folder exists", out_dir, "pass overwrite=True to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; a dataset is an ordinary, shareable folder
    try:
        _write_all(tmp, preset, int(seed), k, progress)
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.replace(out_dir, trash / "old")
            os.replace(tmp, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _write_all(root: Path, preset: str, seed: int, k: dict, progress: ProgressFn | None) -> None:
    sizes = {s: k[f"n_{s}"] for s in SPLITS}
    names = _filenames(seed, sizes)
    truth = {s: sample_annotations(sizes[s], _rng(seed, _KEY_LABELS, i), k, s, _rng(seed, _KEY_TURNS, i),
                                   _rng(seed, _KEY_KINDS, i)) for i, s in enumerate(SPLITS)}
    weak = {s: [f"{name}\t{','.join(CLASSES[c] for c in np.flatnonzero(y))}\n"
                for name, y in zip(names[s], truth[s][0], strict=True)] for s in SPLITS}
    weak_header, eval_header = "filename\tevent_labels\n", "filename\tonset\toffset\tevent_labels\n"
    for split in SPLITS:
        _write_text(root / SPLIT_FILES[split], weak_header + "".join(weak[split]))
    _write_text(root / FULL_FILE, weak_header + "".join(line for s in SPLITS for line in weak[s]))
    for m, modality in enumerate(MODALITIES, start=1):
        rows = [line for s in ("test", "val") for line in _eval_lines(names[s], truth[s][m])]  # LLP: test 1st
        _write_text(root / EVAL_FILES[modality], eval_header + "".join(rows))
        train_rows = _eval_lines(names["train"], truth["train"][m])
        _write_text(root / TRAIN_EVAL_FILES[modality], eval_header + "".join(train_rows))
    bases = _bases(seed, k["noise_rank"])
    protos, dynamics = _prototypes(seed, k, bases), _dynamics_maps(seed)
    salience = np.exp(k["imbalance"] * np.array([SALIENCE[c] for c in CLASSES]).T)  # (2, C): audio, visual
    salience[0] *= k["audio_salience"]  # x 1.0 is exact: the default leaves the features byte-identical
    for stream in FEATURE_DIMS:
        (root / "feats" / stream).mkdir(parents=True)
    total, done, t0 = sum(sizes.values()), 0, time.monotonic()
    if progress:
        progress(0.0, f"SynthLLP annotations written; features of {total} videos")
    for s_idx, split in enumerate(SPLITS):
        for i, name in enumerate(names[split]):
            gt_a, gt_v = truth[split][1][i], truth[split][2][i]
            silent = _silent_object(seed, (s_idx, i), truth[split][0][i], k["silent_objects"])
            background = _background_event(seed, (s_idx, i), truth[split][0][i], k["background_events"])
            if background is not None:  # features only: never in the labels or the truth files
                gt_a, gt_v = gt_a + background[0], gt_v + background[1]
            feats = _video_features(seed, (s_idx, i), gt_a, gt_v, protos, salience, k, dynamics, silent, bases)
            for stream, arr in feats.items():
                with open(root / "feats" / stream / f"{name[:11]}.npy", "wb") as fh:
                    np.lib.format.write_array(fh, arr, allow_pickle=False)
            done += 1
            if progress and done % 200 == 0:
                progress(done / total, f"SynthLLP features {done}/{total} ({time.monotonic() - t0:.0f} s)")
    meta = {  # no timestamps: the same seed and knobs give a byte-identical folder
        "generator": "SynthLLP", "generator_version": GENERATOR_VERSION, "preset": preset, "seed": seed,
        "knobs": k, "splits": sizes, "llp_stats_sha256": hashlib.sha256(STATS_PATH.read_bytes()).hexdigest(),
        "train_truth_files": TRAIN_EVAL_FILES,
    }
    _write_text(root / SYNTH_META_FILE, json.dumps(meta, indent=2) + "\n")


def default_data_outdated(folder: str | Path) -> tuple[str, str] | None:
    """(old, current) generator versions when `folder` holds SynthLLP `mini` seed 0 (the app's default benchmark,
    a folder the app manages) written by another generator version; None otherwise — also for other presets and
    seeds and for real LLP folders, which are never regenerated behind the user's back."""
    try:  # every page asks (firststart.is_current): a FIFO or a deeply nested file must not hang or raise there
        meta = read_json_object(Path(folder) / SYNTH_META_FILE)
    except (OSError, ValueError):
        return None
    if meta.get("generator") != "SynthLLP" or meta.get("preset") != "mini" or meta.get("seed") != 0:
        return None
    old = str(meta.get("generator_version"))
    return None if old == GENERATOR_VERSION else (old, GENERATOR_VERSION)


def generate_and_cache(out_dir: str | Path, preset: str = "mini", seed: int = 0,
                       progress: ProgressFn | None = None, overwrite: bool = False, **knobs) -> Path:
    """`generate`, then build the consolidated feature cache of every split (what training reads).

    Progress runs once from 0 to 1 over both phases (generation ~70 % of the time, caching the rest).
    """
    def part(lo: float, hi: float) -> ProgressFn | None:
        return None if progress is None else lambda f, msg: progress(lo + (hi - lo) * f, msg)

    path = generate(out_dir, preset, seed, part(0.0, 0.7), overwrite, **knobs)
    ds = LLPDataset(path)
    for i, split in enumerate(SPLITS):
        ds.feature_cache(split, part(0.7 + 0.1 * i, 0.8 + 0.1 * i))
    if progress:
        progress(1.0, f"SynthLLP {preset} ready at {path}")
    return path
