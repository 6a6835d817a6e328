"""Decision thresholds other than the protocol's 0.5: the ten figures at chosen audio, visual and video-level
thresholds, one threshold swept with the others held, and thresholds tuned on one split to be read on another.

The official LLP evaluation decides at 0.5 everywhere (`metrics.gate`), and every published table uses it, so a
figure at any other threshold is a diagnostic: how much of a model's error is calibration (its probabilities sit on
the wrong side of 0.5) rather than ranking. Tuning thresholds on test and reporting test overstates a model, as
selecting an epoch on test does: tune on val, read test (`tune`). numpy and pandas only.

A threshold is one of THRESHOLD_KINDS: "audio" and "visual" (segment decisions, prob >= t) and "video" (the
video-level gate of fused or modality-specific gating; it plays no part for a model scored without gating).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from ..constants import METRIC_KEYS
from ..metrics import THRESHOLD, score
from ..predictions import Predictions

THRESHOLD_KINDS: tuple[str, ...] = ("audio", "visual", "video")
# The values the page offers and `tune` tries: 0.05 to 0.95 in steps of 0.05 (0.5, the protocol's, among them).
GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
COARSE: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)  # `tune`'s joint start grid: 125 points with a video gate
TUNE_ROUNDS = 3  # coordinate ascent: a round sweeps each threshold once with the others held
# The page redraws the three sweeps (57 scorings) at every slider move: about 0.26 ms a video on two CPU cores
# (bench/RESULTS.md, "Decision thresholds"), under a second at LLP's size and 26 s at 100,000 videos; above this
# many videos it draws them only when asked for.
SWEEP_AUTO_VIDEOS = 20_000
TIE = 1e-9  # a figure must beat the best by more than float noise to move a threshold


@dataclass(frozen=True)
class Thresholds:
    audio: float = THRESHOLD
    visual: float = THRESHOLD
    video: float = THRESHOLD

    def gate_kwargs(self) -> dict[str, float]:
        return {"audio_threshold": self.audio, "visual_threshold": self.visual, "video_threshold": self.video}

    def is_protocol(self) -> bool:
        return self == Thresholds()

    def moved(self, gating: str) -> list[str]:
        """The kinds that differ from 0.5 and decide something under `gating`."""
        return [kind for kind in kinds_that_matter(gating) if getattr(self, kind) != THRESHOLD]

    def describe(self, gating: str) -> str:
        """The thresholds that moved (`moved`), in words: "audio ≥ 0.10, video gate ≥ 0.45"; "0.5" when none did."""
        return ", ".join(f"{'video gate' if kind == 'video' else kind} ≥ {getattr(self, kind):.2f}"
                         for kind in self.moved(gating)) or "0.5"

    def short(self, gating: str) -> str:
        """`describe` in a row name's few characters: "a≥0.10 g≥0.45" (a: audio, v: visual, g: video-level gate)."""
        letter = {"audio": "a", "visual": "v", "video": "g"}
        return " ".join(f"{letter[kind]}≥{getattr(self, kind):.2f}" for kind in self.moved(gating)) or "0.5"

    def as_link(self) -> str:
        """The three values for a URL ("0.10,0.50,0.45"); `from_link` reads them back."""
        return ",".join(f"{v:.2f}" for v in asdict(self).values())


def from_link(text: str) -> Thresholds:
    """Thresholds from a link's "audio,visual,video" (each one of GRID, the values the pages offer), or ValueError
    saying what is wrong."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != len(THRESHOLD_KINDS):
        raise ValueError(f"{text!r} is not three thresholds (audio,visual,video)")
    try:
        values = [round(float(p), 2) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not three numbers") from None
    if any(v not in GRID for v in values):
        raise ValueError(f"{text!r}: each threshold is one of {GRID[0]:.2f}, {GRID[1]:.2f}, ..., {GRID[-1]:.2f}")
    return Thresholds(*values)


PROTOCOL = Thresholds()


def kinds_that_matter(gating: str) -> tuple[str, ...]:
    """The thresholds that change a decision under `gating` (no video-level gate: no video threshold)."""
    return THRESHOLD_KINDS if gating in ("fused", "modality") else ("audio", "visual")


def figures_at(preds: Predictions, gt_audio: np.ndarray, gt_visual: np.ndarray, gating: str,
               thresholds: Thresholds) -> dict[str, float]:
    """The ten figures (METRIC_KEYS, percent, the official protocol's scoring) of decisions at `thresholds`."""
    pred_a, pred_v = preds.decisions(gating, **thresholds.gate_kwargs())
    return score(pred_a, pred_v, gt_audio, gt_visual).summary


def sweep(preds: Predictions, gt_audio: np.ndarray, gt_visual: np.ndarray, gating: str, held: Thresholds,
          kind: str, values: tuple[float, ...] = GRID) -> pd.DataFrame:
    """One threshold (`kind`) over `values`, the other two held at `held`: a row per value, columns "threshold" and
    METRIC_KEYS."""
    rows = [{"threshold": v, **figures_at(preds, gt_audio, gt_visual, gating, replace(held, **{kind: v}))}
            for v in values]
    return pd.DataFrame(rows, columns=["threshold", *METRIC_KEYS])


def tune(preds: Predictions, gt_audio: np.ndarray, gt_visual: np.ndarray, gating: str,
         metric: str = "segment/type", values: tuple[float, ...] = GRID) -> tuple[Thresholds, float]:
    """Thresholds that maximise `metric` on these predictions: the best point of a coarse joint grid (COARSE for each
    threshold that matters), then coordinate ascent over `values` from there (each threshold swept in turn, the
    others held, for TUNE_ROUNDS rounds or until nothing moves). The coarse start is there because one threshold alone
    can be stuck: a video-level gate above every video probability decides nothing, whatever the segment thresholds.
    A tie keeps the thresholds nearer 0.5, so the protocol's decisions stay unless others are strictly better.
    Returns the thresholds and the metric there."""
    if metric not in METRIC_KEYS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_KEYS)}")
    kinds = kinds_that_matter(gating)
    seen: dict[Thresholds, float] = {}  # the rounds come back to points already scored

    def value_at(t: Thresholds) -> float:
        if t not in seen:
            seen[t] = figures_at(preds, gt_audio, gt_visual, gating, t)[metric]
        return seen[t]

    def distance(t: Thresholds) -> float:
        return sum(abs(getattr(t, k) - THRESHOLD) for k in kinds)

    grid = (replace(PROTOCOL, **dict(zip(kinds, point, strict=True)))
            for point in itertools.product(COARSE, repeat=len(kinds)))
    starts = sorted(grid, key=lambda t: (distance(t), *asdict(t).values()))
    current, best = PROTOCOL, value_at(PROTOCOL)
    for t in starts:  # nearest the protocol first: a later point must be strictly better
        value = value_at(t)
        if value > best + TIE:
            current, best = t, value
    by_closeness = sorted(values, key=lambda v: (abs(v - THRESHOLD), v))
    for _ in range(TUNE_ROUNDS):
        moved = False
        for kind in kinds:
            for v in by_closeness:  # outwards from 0.5: a tie moves a threshold only nearer to 0.5
                candidate = replace(current, **{kind: v})
                if candidate == current:
                    continue
                value = value_at(candidate)
                nearer = abs(v - THRESHOLD) < abs(getattr(current, kind) - THRESHOLD)
                if value > best + TIE or (nearer and value >= best - TIE):
                    current, best, moved = candidate, max(best, value), True
        if not moved:
            break
    return current, best


def comparison_table(at_protocol: dict[str, float], at_chosen: dict[str, float], chosen: Thresholds) -> pd.DataFrame:
    """Three rows over METRIC_KEYS: the protocol's figures, the chosen thresholds' and their difference."""
    label = ", ".join(f"{k} {v:.2f}" for k, v in asdict(chosen).items())
    return pd.DataFrame([{"decisions": "official: 0.5 everywhere", **at_protocol},
                         {"decisions": f"chosen: {label}", **at_chosen},
                         {"decisions": "Δ (chosen − official)", **{k: at_chosen[k] - at_protocol[k]
                                                                   for k in METRIC_KEYS}}],
                        columns=["decisions", *METRIC_KEYS])


def export_frame(table: pd.DataFrame, sweeps: dict[str, pd.DataFrame] | None, chosen: Thresholds) -> pd.DataFrame:
    """The page's CSV: one row per set of decisions, with the three thresholds it used and the ten figures: the
    comparison table's official and chosen rows, then every swept point (`swept` names the threshold that moved)."""
    rows = [{"decisions": "official", "swept": "", **asdict(PROTOCOL), **table.iloc[0][list(METRIC_KEYS)].to_dict()},
            {"decisions": "chosen", "swept": "", **asdict(chosen), **table.iloc[1][list(METRIC_KEYS)].to_dict()}]
    for kind, frame in (sweeps or {}).items():
        for record in frame.to_dict("records"):
            at = replace(chosen, **{kind: record.pop("threshold")})
            rows.append({"decisions": "sweep", "swept": kind, **asdict(at), **record})
    return pd.DataFrame(rows, columns=["decisions", "swept", *THRESHOLD_KINDS, *METRIC_KEYS])


# One line per figure in each panel: both Type@AV figures, and the segment figure of the modality the threshold moves.
SWEEP_LINES: dict[str, tuple[str, ...]] = {
    "audio": ("segment/type", "event/type", "segment/audio"),
    "visual": ("segment/type", "event/type", "segment/visual"),
    "video": ("segment/type", "event/type", "segment/av"),
}
SWEEP_TITLES = {"audio": "audio threshold (segments)", "visual": "visual threshold (segments)",
                "video": "video-level gate threshold"}


def sweep_figure(sweeps: dict[str, pd.DataFrame], chosen: Thresholds, split: str):
    """A panel per swept threshold: F1 against the threshold, the others held at `chosen`; a dotted line at the
    protocol's 0.5 and a solid one at the chosen value."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..names import metric_name

    kinds = [k for k in THRESHOLD_KINDS if k in sweeps]
    fig = make_subplots(1, len(kinds), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[SWEEP_TITLES[k] for k in kinds])
    dashes = ("solid", "dash", "dot")
    colours = ("#1f4e9c", "#7a3e9d", "#2a9d8f")
    for col, kind in enumerate(kinds, start=1):
        frame = sweeps[kind]
        for i, key in enumerate(SWEEP_LINES[kind]):
            fig.add_trace(go.Scatter(x=frame["threshold"], y=frame[key], mode="lines+markers", name=metric_name(key),
                                     legendgroup=key, showlegend=col == 1 or i == 2,
                                     line={"dash": dashes[i], "color": colours[i]}, marker={"size": 4},
                                     hovertemplate=f"{metric_name(key)}<br>threshold %{{x:.2f}}: %{{y:.2f}}"
                                                   "<extra></extra>"), 1, col)
        fig.add_vline(x=THRESHOLD, line={"dash": "dot", "color": "grey"}, row=1, col=col)
        fig.add_vline(x=getattr(chosen, kind), line={"color": "#c0392b", "width": 1.5}, row=1, col=col)
        fig.update_xaxes(title_text="threshold", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text=f"{split} F1 (%)", row=1, col=1)
    fig.update_layout(height=380, margin={"t": 40, "b": 40, "l": 50, "r": 10},
                      legend={"orientation": "h", "y": -0.25})
    return fig
