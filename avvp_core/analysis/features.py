"""Fused segment features and class-level tokens of a trained model, embedded in 2-D and labelled by the truth.

Segment features are `ParseOutput.features["audio" / "visual"]`: each model's features after its cross-modal stage
(B, T, D), what paper 001 (CM-Co, Figs. 3-4) embeds with t-SNE. Class tokens (paper 002, MGN, Fig. 2) are one point per
(video, class) from the captures: MGN's "<m> class-group tokens" (B, C, D) or CM-Co's "class tokens: <m>"
(B, T, C, d_c, averaged over the T segments), for the classes of the video's weak labels (or its truth).

Points are labelled at display time (cheap, from the dense truth): "event combination" (every class in the segment
with how it occurs: "Dog (audio-visual) + Speech (audio-only)"; "background" when nothing), "event type"
(audio-only / visual-only / audio-visual and their mixes) and "class". Embeddings (t-SNE via openTSNE, PCA via
scikit-learn, UMAP when `umap` is importable) are cached on disk, keyed by the checkpoint's weights, the data
fingerprint, the split, what is embedded, the method, the point cap and the seed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..constants import CLASSES, MODALITIES, NUM_CLASSES, NUM_SEGMENTS
from ..data.cache import default_cache_root
from ..data.dataset import Split
from ..errors import InputError
from ..fileio import save_npz
from ..schema import Batch

SEGMENT_KINDS: tuple[str, ...] = ("audio segments", "visual segments", "audio + visual segments")
TOKEN_KINDS: tuple[str, ...] = ("audio class tokens", "visual class tokens")
TOKEN_CAPTURES: dict[str, tuple[str, ...]] = {  # per modality, the first capture present is used
    "audio": ("audio class-group tokens", "class tokens: audio"),
    "visual": ("visual class-group tokens", "class tokens: visual"),
}
COLOURINGS: tuple[str, ...] = ("event combination", "event type", "class")
BACKGROUND = "background"
OTHER = "other"
MAX_COLOURS = 20  # legend entries; rarer labels are drawn as "other"
HOW = {1: "audio-only", 2: "visual-only", 3: "audio-visual"}  # code = audible + 2 · visible
CACHE_VERSION = 1
ProgressFn = Callable[[float, str], None]


def methods() -> list[str]:
    """Projection methods available here: t-SNE and PCA always, UMAP only when `umap` is installed."""
    return ["t-SNE", "PCA"] + (["UMAP"] if importlib.util.find_spec("umap") else [])


def _token_capture(captures: dict[str, torch.Tensor], modality: str) -> torch.Tensor | None:
    for name in TOKEN_CAPTURES[modality]:
        if name in captures:
            tokens = captures[name]
            return tokens.mean(dim=1) if tokens.dim() == 4 else tokens  # (B, T, C, d) -> (B, C, d)
    return None


@torch.no_grad()
def available_kinds(model: torch.nn.Module) -> list[str]:
    """What this model can embed, found by one captured forward pass on a blank video."""
    blank = Batch(torch.zeros(1, NUM_SEGMENTS, 128), torch.zeros(1, NUM_SEGMENTS, 2048),
                  torch.zeros(1, NUM_SEGMENTS, 512), torch.zeros(1, NUM_CLASSES))
    was_training = model.training
    out = model.eval()(blank, capture=True)
    model.train(was_training)
    kinds = list(SEGMENT_KINDS) if all(m in out.features for m in MODALITIES) else []
    return kinds + [f"{m} class tokens" for m in MODALITIES if _token_capture(out.captures, m) is not None]


@torch.no_grad()
def extract_features(model: torch.nn.Module, split: Split, tokens: bool = False, batch_size: int = 64,
                     progress: ProgressFn | None = None, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Segment features {"audio", "visual"}: (N, T, D) float32; with `tokens`, also "<m> tokens" (N, C, D).
    `rows`: only these videos of the split, in that order (N = len(rows)); every video otherwise."""
    from ..training.feeder import SplitFeeder

    feeder = SplitFeeder(split)
    order = torch.arange(len(feeder)) if rows is None else torch.as_tensor(np.asarray(rows, dtype=np.int64))
    batches = (feeder.rows(order[i:i + batch_size]) for i in range(0, len(order), batch_size))
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for done, batch in enumerate(batches):
        out = model(batch, capture=tokens)
        for m in MODALITIES:
            parts.setdefault(m, []).append(out.features[m].float().numpy())
            if tokens:
                tok = _token_capture(out.captures, m)
                if tok is None:
                    raise InputError(f"model {getattr(model, 'arch', '?')!r} has no class tokens to embed")
                parts.setdefault(f"{m} tokens", []).append(tok.float().numpy())
        if progress:
            progress(min(1.0, (done + 1) * batch_size / max(1, len(order))), "extracting features")
    model.train(was_training)
    return {k: np.concatenate(v) for k, v in parts.items()}


def candidate_points(kind: str, split: Split) -> dict[str, np.ndarray]:
    """Every point of a kind, as aligned (P,) int arrays: row (video), segment (-1 for tokens), modality (0 audio,
    1 visual), token_class (-1 for segments)."""
    n = len(split)
    if kind in SEGMENT_KINDS:
        mods = {"audio segments": [0], "visual segments": [1], "audio + visual segments": [0, 1]}[kind]
        m, row, seg = (a.ravel() for a in np.meshgrid(mods, np.arange(n), np.arange(NUM_SEGMENTS), indexing="ij"))
        return {"row": row, "segment": seg, "modality": m, "token_class": np.full(len(row), -1)}
    if kind not in TOKEN_KINDS:
        raise InputError(f"unknown kind {kind!r}; choose one of {', '.join(SEGMENT_KINDS + TOKEN_KINDS)}")
    present = split.labels > 0  # (N, C)
    if split.has_truth:
        present = present | split.gt_audio.any(1) | split.gt_visual.any(1)
    row, cls = np.nonzero(present)
    m = MODALITIES.index(kind.split()[0])
    return {"row": row, "segment": np.full(len(row), -1), "modality": np.full(len(row), m), "token_class": cls}


def sample_points(points: dict[str, np.ndarray], max_points: int, seed: int = 0) -> dict[str, np.ndarray]:
    """At most `max_points`, drawn without replacement with a fixed seed, kept in their original order."""
    total = len(points["row"])
    if total <= max_points:
        return points
    keep = np.sort(np.random.default_rng(seed).choice(total, max_points, replace=False))
    return {k: v[keep] for k, v in points.items()}


def gather(features: dict[str, np.ndarray], points: dict[str, np.ndarray]) -> np.ndarray:
    """(P, D) vectors of the points from `extract_features`' arrays."""
    if (points["segment"] >= 0).all():
        audio, visual = features["audio"], features["visual"]
        if audio.shape[-1] != visual.shape[-1]:
            raise InputError(f"audio and visual features differ in width ({audio.shape[-1]} vs {visual.shape[-1]})")
        out = np.empty((len(points["row"]), audio.shape[-1]), dtype=audio.dtype)
        for m, feats in enumerate((audio, visual)):  # per modality: no (M, N, T, D) copy of the whole split
            sel = points["modality"] == m
            out[sel] = feats[points["row"][sel], points["segment"][sel]]
        return out
    m = MODALITIES[int(points["modality"][0])]
    return features[f"{m} tokens"][points["row"], points["token_class"]]


def project(x: np.ndarray, method: str, seed: int = 0, progress: ProgressFn | None = None) -> np.ndarray:
    """(P, D) -> (P, 2) float32. t-SNE runs on the first 50 principal components (openTSNE, FFT gradients)."""
    from sklearn.decomposition import PCA

    x = np.asarray(x, dtype=np.float32)
    if len(x) < 5:
        raise InputError(f"only {len(x)} points to embed; choose another split or kind")
    if method == "PCA":
        return PCA(2, random_state=seed).fit_transform(x).astype(np.float32)
    if method == "UMAP":
        import umap  # optional: offered only when importable

        return umap.UMAP(random_state=seed).fit_transform(x).astype(np.float32)
    if method != "t-SNE":
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(methods())}")
    from openTSNE import TSNE

    if x.shape[1] > 50:
        x = PCA(min(50, len(x)), random_state=seed).fit_transform(x)
    total, seen = 750, [0]  # 250 early-exaggeration + 500 iterations, reported every 50

    def tick(iteration, error, embedding):
        seen[0] += 50
        if progress:
            progress(min(1.0, seen[0] / total), f"t-SNE iteration {seen[0]} of {total}")
        return False

    tsne = TSNE(perplexity=min(30.0, max(2.0, (len(x) - 1) / 3.0)), n_jobs=max(1, min(4, (os.cpu_count() or 2) // 2)),
                random_state=seed, callbacks=tick, callbacks_every_iters=50)
    return np.asarray(tsne.fit(x.astype(np.float64)), dtype=np.float32)


@functools.lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def weights_hash(checkpoint: str | Path) -> str:
    """Identity of a checkpoint's weights: sha256 of model.pt and config.json (memoised per file version)."""
    h = hashlib.sha256()
    for name in ("config.json", "model.pt"):
        path = Path(checkpoint) / name
        if not path.is_file():
            raise InputError("missing", path, "a checkpoint folder holds config.json and model.pt")
        stat = path.stat()
        h.update(_digest(str(path.resolve()), stat.st_mtime_ns, stat.st_size))
    return h.hexdigest()[:20]


def cache_path(checkpoint: str | Path, split: Split, kind: str, method: str, max_points: int, seed: int = 0,
               data_fingerprint: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """Where this embedding is (or will be) stored: `<data cache>/embeddings/<key>.npz`."""
    dataset = split.dataset
    if dataset is None:
        raise InputError(f"split {split.name!r} is not attached to a data folder")
    fingerprint = data_fingerprint or dataset.fingerprint()
    key = json.dumps([CACHE_VERSION, weights_hash(checkpoint), fingerprint, split.name, kind, method, int(max_points),
                      int(seed)])
    base = Path(cache_dir) if cache_dir else (dataset.cache_root or default_cache_root(dataset.root))
    return base / "embeddings" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def embedding(checkpoint: str | Path, split: Split, kind: str, method: str = "t-SNE", max_points: int = 3000,
              seed: int = 0, data_fingerprint: str | None = None, cache_dir: str | Path | None = None,
              progress: ProgressFn | None = None) -> pd.DataFrame:
    """The labelled 2-D embedding of a checkpoint's features on a split (from the disk cache when there).

    Returns:
        One row per point: point (id), x, y, row, video, segment, modality, token_class, and the label columns of
        `label_points`.
    """
    path = cache_path(checkpoint, split, kind, method, max_points, seed, data_fingerprint, cache_dir)
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    else:
        from ..checkpoints import load_checkpoint

        model, _ = load_checkpoint(checkpoint)
        if kind not in available_kinds(model):
            raise InputError(f"{Path(checkpoint).name}: model {model.arch!r} has no {kind} to embed")
        step = (lambda lo, hi: lambda f, msg: progress(lo + (hi - lo) * f, msg)) if progress else (lambda lo, hi: None)
        points = sample_points(candidate_points(kind, split), max_points, seed)
        # only the videos behind the sampled points go through the model: the embedding costs max_points, not the
        # split's size (the model sees one video at a time in eval mode, so the features are the same)
        videos, local = np.unique(points["row"], return_inverse=True)
        features = extract_features(model, split, tokens=kind in TOKEN_KINDS, progress=step(0.0, 0.2), rows=videos)
        coords = project(gather(features, {**points, "row": local.reshape(-1)}), method, seed, step(0.2, 1.0))
        arrays = {**points, "coords": coords}
        save_npz(path, **arrays)
    frame = pd.DataFrame({"point": np.arange(len(arrays["row"])), "x": arrays["coords"][:, 0],
                          "y": arrays["coords"][:, 1], "row": arrays["row"],
                          "video": np.asarray(split.filenames)[arrays["row"]], "segment": arrays["segment"],
                          "modality": np.asarray(MODALITIES)[arrays["modality"]], "token_class": arrays["token_class"]})
    return label_points(frame, split)


def _combination(code: np.ndarray) -> str:
    """(C,) codes (0 none, 1 audio-only, 2 visual-only, 3 audio-visual) -> "Dog (audio-visual) + Cat (audio-only)"."""
    parts = [f"{CLASSES[c]} ({HOW[int(code[c])]})" for c in np.flatnonzero(code)]
    return " + ".join(parts) or BACKGROUND


def _event_type(code: np.ndarray) -> str:
    kinds = [HOW[k] for k in (3, 1, 2) if (code == k).any()]
    return " + ".join(kinds) or BACKGROUND


def _class(code: np.ndarray) -> str:
    present = np.flatnonzero(code)
    return CLASSES[present[0]] if len(present) == 1 else ("several classes" if len(present) else BACKGROUND)


def label_points(frame: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Add the colour columns ("event combination", "event type", "class") from the split's dense truth.

    A segment point is labelled by every class annotated in its segment (either modality), with how it occurs
    there; a token point by its class and how that class occurs anywhere in the video.
    """
    frame = frame.copy()
    rows, segs, token_class = (frame[c].to_numpy() for c in ("row", "segment", "token_class"))
    is_token = token_class >= 0
    if not split.has_truth:
        unknown = np.array(["no dense truth"] * len(frame), dtype=object)
        names = np.where(is_token, np.asarray(CLASSES)[np.maximum(token_class, 0)], unknown)
        return frame.assign(**{"event combination": names, "event type": unknown, "class": names})
    gt = split.gt_audio.astype(np.int8) + 2 * split.gt_visual.astype(np.int8)  # (N, T, C) codes
    codes = gt[rows, np.maximum(segs, 0)]  # (P, C) one segment's codes
    if is_token.any():
        video = (split.gt_audio[rows].any(1).astype(np.int8) + 2 * split.gt_visual[rows].any(1).astype(np.int8))
        only = np.zeros_like(codes)
        tc = np.maximum(token_class, 0)
        only[np.arange(len(frame)), tc] = video[np.arange(len(frame)), tc]  # the token's own class, over the video
        codes = np.where(is_token[:, None], only, codes)
    patterns, inverse = np.unique(codes, axis=0, return_inverse=True)  # label each distinct pattern once
    inverse = inverse.reshape(-1)
    for column, fn in (("event combination", _combination), ("event type", _event_type), ("class", _class)):
        frame[column] = np.asarray([fn(p) for p in patterns], dtype=object)[inverse]
    if is_token.any():  # a token's class is its own, annotated or not
        names = np.asarray(CLASSES, dtype=object)[np.maximum(token_class, 0)]
        frame["class"] = np.where(is_token, names, frame["class"])
        missing = is_token & (frame["event type"].to_numpy() == BACKGROUND)
        frame.loc[missing, "event type"] = "not annotated"
        frame.loc[missing, "event combination"] = names[missing] + " (not annotated)"
    return frame


def colour_labels(frame: pd.DataFrame, colour_by: str, max_colours: int = MAX_COLOURS) -> pd.Series:
    """The colour column with all but the `max_colours - 1` most frequent labels merged into "other"."""
    labels = frame[colour_by].astype(str)
    counts = labels.value_counts()
    if len(counts) <= max_colours:
        return labels
    keep = set(counts.index[: max_colours - 1])
    return labels.where(labels.isin(keep), OTHER)


def merged_note(frame: pd.DataFrame, colour_by: str, max_colours: int = MAX_COLOURS) -> str:
    """What "other" stands for when `colour_labels` merges labels, and the colourings that would not merge any: in the
    default colouring "other" can be most of the plot (CM-Co, test, event combination: 1,643 of 3,000 points), which
    the legend's count alone does not explain. "" when nothing is merged."""
    merged = (colour_labels(frame, colour_by, max_colours) == OTHER).to_numpy()  # colour_labels' own rule
    if not merged.any():
        return ""
    labels = frame[colour_by].astype(str)
    fewer = [c for c in COLOURINGS if c != colour_by and frame[c].astype(str).nunique() <= max_colours]
    return (f'Grey "other" holds {int(merged.sum()):,} of the {len(frame):,} points: the {labels[merged].nunique():,} '
            f"rarer of {labels.nunique():,} labels ({colour_by}), merged so that every label shown keeps a colour of "
            "its own."
            + (f" Colour by {' or '.join(fewer)} to see every label." if fewer else ""))


# 24 distinct colours (plotly's Dark24) for the MAX_COLOURS labels: a 10-colour cycle made the 11th label look like
# the 1st. Background and "other" are greys, drawn last. Modality is the marker shape (audio circle, visual diamond).
PALETTE: tuple[str, ...] = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
                            "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
                            "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038")
GREYS = {BACKGROUND: "#C8C8C8", OTHER: "#8C8C8C"}


def scatter_figure(frame: pd.DataFrame, colour_by: str = "event combination", title: str = "",
                   highlight: np.ndarray | None = None, half_width: bool = False):
    """One WebGL scatter trace per label (most frequent first, background and "other" last), lasso by default; every
    label its own colour. Each point carries [point id, row] as customdata (plain lists, so the browser hands them
    back as lists), so a selection maps back to `frame` rows.

    With `highlight` (point ids) the figure is the companion of another's selection: those points drawn at full
    strength, the rest dimmed, and no box or lasso of its own (pan and zoom). `half_width`, for two charts side by
    side: the legend goes below the plot, which would otherwise keep half of a narrow chart."""
    import plotly.graph_objects as go

    labels = colour_labels(frame, colour_by)
    counts = labels.value_counts()
    order = [lab for lab in counts.index if lab not in (BACKGROUND, OTHER)]
    order += [lab for lab in (BACKGROUND, OTHER) if lab in counts.index]
    if len(order) > len(PALETTE) + len(GREYS):  # colour_labels caps the labels well below this
        raise ValueError(f"{len(order)} labels for {len(PALETTE)} colours")
    colours = iter(PALETTE)
    fig = go.Figure()
    for label in order:
        part = frame[labels.to_numpy() == label]
        # audio points first: the legend draws a trace's marker with its first point's symbol, and a label's circle
        # then means "this colour" (a diamond there marked a whole label as visual when only its first point was)
        part = part.iloc[np.argsort(part["modality"].to_numpy() != "audio", kind="stable")]
        symbols = np.where(part["modality"].to_numpy() == "audio", "circle", "diamond")
        hover = (part["video"] + np.where(part["segment"] >= 0, " · segment " + part["segment"].astype(str), "")
                 + " · " + part["modality"] + "<br>" + part["event combination"].astype(str))
        custom = np.stack([part["point"], part["row"]], axis=-1).astype(int).tolist()
        trace = go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=f"{label} ({len(part)})", hovertext=hover,
            hoverinfo="text", customdata=custom,
            marker={"size": 6, "symbol": symbols, "opacity": 0.8, "color": GREYS.get(label) or next(colours)})
        if highlight is not None and len(highlight):
            trace.update(selectedpoints=np.flatnonzero(np.isin(part["point"].to_numpy(), highlight)).tolist(),
                         selected={"marker": {"opacity": 1.0}}, unselected={"marker": {"opacity": 0.07}})
        fig.add_trace(trace)
    legend = {"title": colour_by, "itemsizing": "constant"}
    if half_width:
        legend.update(orientation="h", x=0.0, xanchor="left", y=-0.02, yanchor="top")
    fig.update_layout(title=title, height=800 if half_width else 680, legend=legend,
                      dragmode="pan" if highlight is not None else "lasso",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def same_points(first: pd.DataFrame, second: pd.DataFrame) -> bool:
    """Do two embeddings place the same points (ids, videos, segments, modalities)? Two checkpoints' embeddings of
    one kind, split, point count and seed sample the same segments (`sample_points` never reads the model), so a
    selection in one names points of the other."""
    columns = ["point", "video", "segment", "modality", "token_class"]
    return len(first) == len(second) and first[columns].reset_index(drop=True).equals(
        second[columns].reset_index(drop=True))


def _point_id(data) -> int | None:
    """The point id in one selected point's customdata: [id, row] as a list (what plotly.js sends back for a list
    built by `scatter_figure`), a bare number, or a mapping such as {"0": id, "1": row} (what arrives when a
    customdata array was sent to the browser as a typed array)."""
    if data is None:
        return None
    if isinstance(data, dict):
        first = data.get("0", data.get(0)) if data else None
        if first is None and data:
            first = next(iter(data.values()))
        return None if isinstance(first, dict) or first is None else int(first)
    if isinstance(data, (list, tuple, np.ndarray)):
        return int(data[0]) if len(data) else None
    return int(data)


def selected_ids(points: list[dict], figure=None) -> np.ndarray:
    """Point ids of a Streamlit plotly selection (`event.selection.points`), from each point's customdata; a point
    whose customdata is missing or unreadable is found by its trace and index in `figure` (the one plotted)."""
    ids = []
    for p in points or []:
        try:
            point = _point_id(p.get("customdata"))
        except (TypeError, ValueError):
            point = None
        if point is None and figure is not None:
            curve, index = p.get("curve_number"), p.get("point_index", p.get("point_number"))
            if isinstance(curve, int) and isinstance(index, int) and 0 <= curve < len(figure.data):
                data = figure.data[curve].customdata
                if data is not None and 0 <= index < len(data):
                    point = int(data[index][0])
        if point is not None:
            ids.append(point)
    return np.unique(np.asarray(ids, dtype=np.int64))


def points_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The plotted points for a download: video, segment (-1 for a class token), modality, token class, the three
    label columns, then each checkpoint's 2-D position ("x · <name>", "y · <name>"; the frames place the same points,
    `same_points`); not the split's internal row index or the point id."""
    first = next(iter(frames.values()))
    out = first[["video", "segment", "modality", *COLOURINGS]].copy()
    out.insert(3, "token class", [CLASSES[c] if c >= 0 else "" for c in first["token_class"]])
    for name, frame in frames.items():
        out[f"x · {name}"], out[f"y · {name}"] = frame["x"].to_numpy(), frame["y"].to_numpy()
    return out


def videos_behind(frame: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The videos behind some points: row, video, how many selected points, their segments, their labels; the
    videos with most selected points first."""
    picked = frame[frame["point"].isin(ids)]
    if picked.empty:
        return pd.DataFrame(columns=["row", "video", "points", "segments", "labels"])
    grouped = picked.groupby("row", sort=True)
    table = pd.DataFrame({
        "video": grouped["video"].first(),
        "points": grouped.size(),
        "segments": grouped["segment"].agg(lambda s: " ".join(str(v) for v in sorted(set(s)) if v >= 0)),
        "labels": grouped["event combination"].agg(lambda s: "; ".join(dict.fromkeys(s))),
    }).reset_index()
    return table.sort_values(["points", "row"], ascending=[False, True], ignore_index=True)
