"""Training curves from a run folder's logs (log.jsonl per epoch, steps.jsonl per step) as plotly figures: total and
per-part losses, val figures, per-modality losses with and without DGM (as paper 004's fig. 5), DGM's omega and mu.

Every function takes plain rows (dicts as the trainer writes them) so it draws live runs and finished checkpoints
alike; keys: "loss", "loss/<part>" (audio, visual, video, ...), "val/<level>/<figure>", "log/<scalar>".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..checkpoint_schema import finite_number
from ..constants import METRIC_KEYS, MODALITIES
from ..names import signed

Rows = Sequence[Mapping[str, Any]]
FIGURES = ("audio", "visual", "av", "type", "event")
MODALITY_COLOURS = {"audio": "#1f77b4", "visual": "#ff7f0e"}
DASHES = ("dash", "dot", "dashdot", "longdash")  # runs without DGM; runs with DGM are solid (as fig. 5)


def is_dgm(config: Mapping[str, Any]) -> bool:
    """Was the run trained with dynamic gradient modulation (a DGM recipe, or dgm_gamma > 0)?"""
    gamma = (config.get("train") or {}).get("dgm_gamma")  # any scalar passes check_config: a card may be hand-edited
    return config.get("recipe") in ("dgm", "jomold_dgm") or (finite_number(gamma) and gamma > 0)


def epoch_frame(rows: Rows) -> pd.DataFrame:
    """One row per epoch (the last row of an epoch wins, as after a resume), sorted by epoch."""
    if not rows:
        return pd.DataFrame({"epoch": pd.Series(dtype=int)})
    frame = pd.DataFrame(list(rows))
    return frame.drop_duplicates("epoch", keep="last").sort_values("epoch", ignore_index=True)


def loss_columns(rows: Rows) -> list[str]:
    """"loss" (the optimised total) first, then every logged part, in log order."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [k for k in keys if k == "loss"] + [k for k in keys if k.startswith("loss/")]


def _lines(frame: pd.DataFrame, columns: list[str], names: list[str] | None = None, title: str = "",
           ytitle: str = "", xtitle: str = "epoch", x: str = "epoch"):
    import plotly.graph_objects as go

    fig = go.Figure()
    for col, name in zip(columns, names or columns, strict=True):
        if col in frame:
            fig.add_trace(go.Scatter(x=frame[x], y=frame[col], mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, height=340, margin={"t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def loss_figure(rows: Rows, title: str = "Training loss per epoch"):
    """Total loss and every part (audio, visual, video, auxiliary terms) per epoch."""
    cols = loss_columns(rows)
    return _lines(epoch_frame(rows), cols, [c.removeprefix("loss/") if c != "loss" else "total" for c in cols],
                  title, "loss")


def val_figure(rows: Rows, level: str = "segment", title: str = ""):
    """The five val figures of one level (audio, visual, audio-visual, Type@AV, Event@AV) per epoch."""
    cols = [f"val/{level}/{f}" for f in FIGURES]
    return _lines(epoch_frame(rows), cols, list(FIGURES), title or f"Validation F1 per epoch ({level} level)", "F1 (%)")


def _per_modality_figure(runs: Mapping[str, tuple[Rows, bool]], column: str, mode: str, title: str, y_title: str):
    """One trace per run and modality of an epoch column ("{m}" = modality): colour = modality, solid = with DGM,
    dashed (dotted, ...) = without, as paper 004's fig. 5."""
    import plotly.graph_objects as go

    fig = go.Figure()
    undashed = iter(DASHES * 4)
    for name, (rows, dgm) in runs.items():
        frame = epoch_frame(rows)
        dash = "solid" if dgm else next(undashed)
        for m in MODALITIES:
            col = column.format(m=m)
            if col in frame:
                fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[col], mode=mode, name=f"{name} · {m}",
                                         legendgroup=name, line={"color": MODALITY_COLOURS[m], "dash": dash}))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title=y_title, height=420, margin={"t": 40},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def modality_loss_figure(runs: Mapping[str, tuple[Rows, bool]], title: str = "Audio and visual training loss"):
    """Per-modality training loss of several runs overlaid (paper 004's fig. 5). `runs`: name -> (epoch rows,
    trained with DGM)."""
    return _per_modality_figure(runs, "loss/{m}", "lines", title, "BCE loss")


def loss_gap_frame(runs: Mapping[str, tuple[Rows, bool]]) -> pd.DataFrame:
    """Per run: final audio and visual loss and the mean over epochs of |audio - visual| (what DGM should shrink;
    claims.loss_gap, the number loss_gap_verdict and the claims table compare)."""
    from ..claims import loss_gap

    out = []
    for name, (rows, dgm) in runs.items():
        frame = epoch_frame(rows)
        if not {"loss/audio", "loss/visual"} <= set(frame):
            continue
        out.append({"run": name, "DGM": dgm, "epochs": len(frame), "final audio loss": frame["loss/audio"].iloc[-1],
                    "final visual loss": frame["loss/visual"].iloc[-1], "mean |audio - visual|": loss_gap(list(rows))})
    return pd.DataFrame(out)


def runs_frame(runs: Mapping[str, tuple[Rows, bool]]) -> pd.DataFrame:
    """The epoch logs behind the page's curves as one long table: run, DGM, epoch, then every logged number (the
    losses and the validation figures), for a download; a run's columns it did not log are empty."""
    parts = [epoch_frame(rows).assign(run=name, DGM=dgm) for name, (rows, dgm) in runs.items() if rows]
    if not parts:
        return pd.DataFrame(columns=["run", "DGM", "epoch"])
    frame = pd.concat(parts, ignore_index=True)
    numbers = [c for c in frame if c not in ("run", "DGM", "epoch") and pd.api.types.is_numeric_dtype(frame[c])]
    return frame[["run", "DGM", "epoch", *numbers]]


def step_frame(steps: Rows) -> pd.DataFrame:
    """Per-step scalars with a running step index over the whole training ("global step")."""
    frame = pd.DataFrame(list(steps))
    if frame.empty:
        return pd.DataFrame({"global step": pd.Series(dtype=int)})
    frame = frame.drop_duplicates(["epoch", "step"], keep="last").sort_values(["epoch", "step"], ignore_index=True)
    frame.insert(0, "global step", np.arange(1, len(frame) + 1))
    return frame


DGM_SMOOTHING = 50  # steps: span of the exponential moving average drawn over the raw per-step ω and μ


def ema(values: pd.Series, span: int) -> pd.Series:
    """Exponential moving average with the given span (alpha = 2 / (span + 1)), started at the first value."""
    return values.ewm(span=max(int(span), 1), adjust=True).mean()


def _hex_rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def dgm_steps_figure(steps: Rows, title: str = "DGM over training steps", smooth: int = DGM_SMOOTHING):
    """omega_{v-a} (> 1: visual ahead) above, mu^a and mu^v (gradient scales) below, per training step: each as an
    exponential moving average over `smooth` steps (bold) with the raw per-step trace faint behind it (smooth <= 1:
    the raw trace only)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = step_frame(steps)
    window = f" (EMA over {smooth} steps; raw per step faint)" if smooth > 1 else " (raw, per step)"
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("ω (visual progress / audio progress)", "μ (gradient scale per modality)"))
    series = [("omega", "ω v-a", "#2ca02c", 1)] + [(f"mu_{m}", f"μ {m}", MODALITY_COLOURS[m], 2) for m in MODALITIES]
    for column, name, colour, row in series:
        if column not in frame:
            continue
        x = frame["global step"]
        if smooth > 1:
            fig.add_trace(go.Scatter(x=x, y=frame[column], mode="lines", name=f"{name} (raw)", legendgroup=name,
                                     line={"color": _hex_rgba(colour, 0.25), "width": 1}), row=row, col=1)
            fig.add_trace(go.Scatter(x=x, y=ema(frame[column], smooth), mode="lines", name=name, legendgroup=name,
                                     line={"color": colour, "width": 2.5}), row=row, col=1)
        else:
            fig.add_trace(go.Scatter(x=x, y=frame[column], mode="lines", name=name, line={"color": colour}),
                          row=row, col=1)
    if "omega" in frame:
        fig.add_hline(y=1.0, line_dash="dot", line_color="grey", row=1, col=1)
    fig.update_layout(title=title + window, height=480, margin={"t": 60}, legend={"orientation": "h", "y": -0.15})
    fig.update_xaxes(title_text="training step", row=2, col=1)
    return fig


def loss_gap_verdict(runs: Mapping[str, tuple[Rows, bool]]) -> str:
    """One line: does DGM narrow the gap between the audio and visual training losses in the chosen runs, measured as
    the claims table measures it (claims.loss_gap: mean over epochs of |audio loss - visual loss|), with vs without."""
    from ..claims import gap_change, loss_gap

    gaps = {True: [], False: []}
    for rows, dgm in runs.values():
        gap = loss_gap(list(rows))
        if gap is not None:
            gaps[dgm].append(gap)
    with_, without = gaps[True], gaps[False]
    if not with_ or not without:
        return ("No verdict yet: choose at least one run with DGM and one without that log per-modality losses "
                "(the verdict compares their mean |audio − visual| training-loss gap).")
    change = gap_change(with_, without)
    verdict = "narrows" if change.narrows else "does not narrow"
    return (f"**DGM {verdict} the gap between the audio and visual training losses here**: mean over epochs of "
            f"|audio − visual| {change.with_:.4f} with DGM ({len(with_)} run{'s' * (len(with_) > 1)}) vs "
            f"{change.without:.4f} without ({len(without)} run{'s' * (len(without) > 1)}), "
            f"{signed(100 * change.change, 2)} %{'.' if change.narrows else '; ' + change.reason()} Measured as in the "
            "claims table (paper 004, Fig. 5).")


def modality_f1_figure(runs: Mapping[str, tuple[Rows, bool]], level: str = "segment", title: str = ""):
    """Validation audio and visual F1 per epoch for several runs (colour = modality, solid = with DGM)."""
    return _per_modality_figure(runs, f"val/{level}/{{m}}", "lines+markers",
                                title or f"Validation F1 per modality ({level} level)", "F1 (%)")


def compare_val_figure(runs: Mapping[str, Rows], metric: str = "val/segment/type", title: str = ""):
    """One val figure per epoch for several runs (e.g. the Lab's two models side by side)."""
    frames = {name: epoch_frame(rows) for name, rows in runs.items()}
    merged = pd.DataFrame({"epoch": sorted({int(e) for f in frames.values() for e in f["epoch"]})})
    for name, f in frames.items():
        if metric in f:
            merged = merged.merge(f[["epoch", metric]].rename(columns={metric: name}), on="epoch", how="left")
    names = [n for n in runs if n in merged]
    return _lines(merged, names, names, title or metric, "F1 (%)")


def figures_table(metrics: Mapping[str, Mapping[str, Any]], split: str = "test") -> pd.DataFrame:
    """The ten figures of each run on `split` (rows: runs); with exactly two runs, a third row holds the delta."""
    table = pd.DataFrame({name: {k: (m.get(split) or {}).get(k, np.nan) for k in METRIC_KEYS}
                          for name, m in metrics.items()}).T
    table = table.reindex(columns=list(METRIC_KEYS)).astype(float)
    if len(table) == 2:
        a, b = table.index
        table.loc[f"{b} − {a}"] = table.loc[b] - table.loc[a]
    return table.round(1)


__all__ = ["DGM_SMOOTHING", "compare_val_figure", "dgm_steps_figure", "ema", "epoch_frame", "figures_table", "is_dgm",
           "loss_columns", "loss_figure", "loss_gap_frame", "loss_gap_verdict", "modality_f1_figure",
           "modality_loss_figure", "step_frame", "val_figure"]
