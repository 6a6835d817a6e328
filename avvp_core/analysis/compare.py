"""Comparing checkpoints: runs of one configuration (same model, recipe, build and training config, any seed) are
aggregated as mean ± standard deviation over seeds; every configuration gets its delta against a baseline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..constants import CLASSES, METRIC_KEYS
from ..names import card_method, metric_short, paper_name, signed


def configuration_key(card: Any) -> str:
    """Identity of a configuration: everything that built and trained the model except the seed."""
    from ..models.registry import with_later_options

    cfg = card.config
    train = {k: v for k, v in (cfg.get("train") or {}).items() if k not in ("seed", "device")}
    model_config = cfg.get("model_config")
    if isinstance(model_config, dict):  # a seed trained before an option existed is still a seed of this configuration
        model_config = with_later_options(str(cfg.get("model")), model_config)
    return json.dumps({"model": cfg.get("model"), "model_config": model_config, "recipe": cfg.get("recipe"),
                       "train": train}, sort_keys=True)


def configuration_label(card: Any) -> str:
    """The configuration's display name: the method as its paper writes it (names.card_method), "HAN + MA"."""
    return card_method(card)


def _distinct_labels(first_cards: dict[str, Any]) -> dict[str, str]:
    """Readable labels; configurations that would share one get the width, build and training settings that tell
    them apart ("HAN [width=paper]", "HAN [batch_size=128]")."""
    labels = {key: configuration_label(card) for key, card in first_cards.items()}
    widths = {key: card.config.get("width", "custom") for key, card in first_cards.items()}
    for label in {v for v in labels.values() if list(labels.values()).count(v) > 1}:
        keys = [k for k, v in labels.items() if v == label]
        flat = {k: {"width": widths[k], **{f"train.{a}": b for a, b in json.loads(k)["train"].items()},
                    **{a: b for a, b in (json.loads(k)["model_config"] or {}).items()}} for k in keys}
        differing = [f for f in dict.fromkeys(f for k in keys for f in flat[k])
                     if len({json.dumps(flat[j].get(f)) for j in keys}) > 1]
        if "width" in differing:  # the width explains most build differences (dim, ffn_dim): name it alone
            differing = ["width"] + [f for f in differing if f.startswith("train.")]
        differing = sorted(differing, key=lambda f: (f != "width", f))
        for k in keys:
            settings = ", ".join(f"{f.removeprefix('train.')}={flat[k].get(f)}" for f in differing)
            labels[k] = f"{label} [{settings}]"
    return labels


def without_figures(cards: list[Any], split: str = "test") -> list[Any]:
    """The cards that have no figures on `split` (e.g. trained with eval_test off: val figures only)."""
    return [card for card in cards if not card.metrics.get(split)]


def seed_runs(metrics: dict[str, Any], seed: Any, split: str = "test") -> list[tuple[Any, dict[str, float]]]:
    """(seed, figures on `split`) of every run a card stands for: a zoo card trained with several seeds carries
    each seed's figures in its `seeds` block (zoo.seed_summary; only the inspected seed's weights ship), any other
    card is its own one run under its `seed`."""
    block = metrics.get("seeds")
    if isinstance(block, dict) and isinstance(block.get("runs"), list) and block["runs"]:
        runs = [(r.get("seed"), r.get(split)) for r in block["runs"] if isinstance(r, dict)]
        if len(runs) == len(block["runs"]) and all(isinstance(f, dict) for _, f in runs):
            return runs
    own = metrics.get(split)
    return [(seed, own)] if own else []


def carries_seeds(card: Any, split: str = "test") -> bool:
    """The card stands for several seeds (its `seeds` block), not only the model whose weights it holds."""
    return len(seed_runs(card.metrics, card.config.get("seed"), split)) > 1


def weights_seed_note(name: str, card: Any, split: str = "test") -> str | None:
    """For a page that scores a card's weights (the Thresholds page, beside its "official" figures): when the card
    stands for several seeds, the sentence that says its figures are the shipped seed's while Home and Compare show
    the seeds' mean (with both segment-level Type@AV values), so the two do not read as a contradiction. None for a
    one-run card."""
    runs = seed_runs(card.metrics, card.config.get("seed"), split)
    if len(runs) < 2:
        return None
    own, mean = (card.metrics.get(split) or {}).get("segment/type"), over_seeds(card.metrics, None, split)[0]
    if own is None or mean.get("segment/type") is None:
        return None
    return (f"{name} stands for {len(runs)} seeds; these are the figures of seed {card.config.get('seed')}, the "
            f"weights shipped (segment Type@AV {own:.2f} on {split}), while Home's leaderboard and Compare show the "
            f"mean over the {len(runs)} seeds ({mean['segment/type']:.2f}).")


def over_seeds(metrics: dict[str, Any], seed: Any, split: str = "test") -> tuple[dict[str, float], str]:
    """What a leaderboard row shows for one card: the figures to rank by (the mean over the card's seeds when it
    carries several, else its own) and a text cell, "56.6 ± 1.2 / 51.7 ± 1.4 (3 seeds)" (segment / event Type@AV,
    mean ± sample std) or "1 seed"."""
    runs = seed_runs(metrics, seed, split)
    if len(runs) < 2:
        return dict(metrics.get(split) or {}), "1 seed"
    table = np.array([[figures[k] for k in METRIC_KEYS] for _, figures in runs], dtype=float)
    mean, std = table.mean(axis=0), table.std(axis=0, ddof=1)
    i, j = METRIC_KEYS.index("segment/type"), METRIC_KEYS.index("event/type")
    text = f"{mean[i]:.1f} ± {std[i]:.1f} / {mean[j]:.1f} ± {std[j]:.1f} ({len(runs)} seeds)"
    return {k: float(v) for k, v in zip(METRIC_KEYS, mean, strict=True)}, text


# Why two differently named checkpoints can score the same, seed for seed, where the models say so themselves.
SAME_NETWORK = {frozenset({"han", "msdu"}): "MSDU's decision heads read detached features and only measure the "
                "imbalance DGM uses (paper 004, eq. 11; models/msdu.py), so without DGM MSDU trains HAN's network as "
                "HAN does, from the same initial weights"}


def same_figures(cards: dict[str, Any], split: str = "test") -> list[str]:
    """One line per group of checkpoints whose figures on `split` are equal, seed for seed (every seed the card
    carries, all ten figures): a leaderboard showing two such rows should say that they are not a coincidence
    and, where the models give it (SAME_NETWORK), why."""
    groups: dict[tuple, list[str]] = {}
    for name, card in cards.items():
        runs = seed_runs(card.metrics, card.config.get("seed"), split)
        if not runs or not all(isinstance(f.get(k), int | float) for _, f in runs for k in METRIC_KEYS):
            continue  # a run without all ten figures is not compared
        key = (card.config.get("recipe"), tuple((s, tuple(round(f[k], 9) for k in METRIC_KEYS)) for s, f in runs))
        groups.setdefault(key, []).append(name)
    lines = []
    for names in (g for g in groups.values() if len(g) > 1):
        models = frozenset(cards[n].model for n in names)
        why = SAME_NETWORK.get(models, "the same training, or a copy of one checkpoint")
        lines.append(f"{' and '.join(names)} have the same {split} figures, seed for seed: {why}.")
    return lines


def _distinct_seeds(members: list[Any]) -> list[Any]:
    """One card per seed (the first: roots list the shipped zoo before the user's runs, where the zoo's own training
    folder holds the same seed again); cards without an integer seed are all kept."""
    seen, kept = set(), []
    for card in members:
        run = run_identity(card)
        if run not in seen:
            seen.add(run)
            kept.append(card)
    return kept


def group_runs(cards: list[Any], split: str = "test", distinct: bool = True) -> dict[str, list[Any]]:
    """The runs with `split` figures grouped by configuration, keyed by the configuration's display label, one card
    per seed (every card, in the same order, with `distinct=False`: the copies of a seed a page can fall back on
    when the first one's weights fail); cards without figures on `split` are left out (`without_figures` names
    them)."""
    groups: dict[str, list[Any]] = {}
    for card in cards:
        if (card.metrics.get(split) or {}):
            groups.setdefault(configuration_key(card), []).append(card)
    labels = _distinct_labels({key: members[0] for key, members in groups.items()})
    return {labels[key]: _distinct_seeds(members) if distinct else members for key, members in groups.items()}


def run_identity(card: Any) -> Any:
    """What makes two cards of one configuration the same run: their integer seed (the zoo's folder and its training
    folder, or a copy); a card without one is its own run."""
    seed = card.config.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else ("card", id(card))


def aggregate(cards: list[Any], split: str = "test") -> pd.DataFrame:
    """One row per configuration: label, runs, seeds, then for every figure its mean and '<figure> ±' std. A card
    carrying several seeds (`seed_runs`) counts as all of them; a seed is counted once per configuration."""
    rows = []
    for label, members in group_runs(cards, split).items():
        by_seed: dict[Any, tuple[Any, dict[str, float]]] = {}
        for member in members:
            for seed, figures in seed_runs(member.metrics, member.config.get("seed"), split):
                key = seed if isinstance(seed, int) and not isinstance(seed, bool) else ("card", id(member))
                by_seed.setdefault(key, (seed, figures))
        runs = list(by_seed.values())
        table = np.array([[figures[k] for k in METRIC_KEYS] for _, figures in runs])  # (runs, 10)
        std = table.std(axis=0, ddof=1) if len(runs) > 1 else np.full(len(METRIC_KEYS), np.nan)
        row: dict[str, Any] = {"configuration": label, "runs": len(runs),
                               "seeds": ", ".join(str(seed) for seed, _ in runs)}
        for i, key in enumerate(METRIC_KEYS):
            row[key] = table[:, i].mean()
            row[f"{key} ±"] = std[i]
        rows.append(row)
    columns = ["configuration", "runs", "seeds", *(c for k in METRIC_KEYS for c in (k, f"{k} ±"))]
    return pd.DataFrame(rows, columns=columns)


def seeds_beyond_weights(table: pd.DataFrame, groups: dict[str, list[Any]]) -> dict[str, str]:
    """Configurations whose table row averages more seeds than there are weights to run here (a zoo entry ships
    seed 1's only): label -> the seeds whose weights are here (for a caption under what needs weights)."""
    runs = dict(zip(table["configuration"], table["runs"], strict=True))
    return {label: ", ".join(str(m.config.get("seed")) for m in members) for label, members in groups.items()
            if label in runs and runs[label] > len(members)}


def with_deltas(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds 'Δ <figure>' columns: each configuration's mean minus the baseline configuration's mean."""
    out = frame.copy()
    base = frame[frame["configuration"] == baseline]
    if base.empty:
        return out
    for key in METRIC_KEYS:
        out[f"Δ {key}"] = frame[key] - float(base[key].iloc[0])
    return out


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The aggregate for reading: per figure one compact cell "mean ± std" ("mean ± –" for a single run, n = 1), the
    seeds as "1, 2, 3 (3 seeds)"."""
    out = frame[["configuration", "runs", "seeds"]].copy()
    out["seeds"] = [f"{seeds} ({n} seed{'' if n == 1 else 's'})" for seeds, n in zip(frame["seeds"], frame["runs"],
                                                                                     strict=True)]
    for key in METRIC_KEYS:
        std = frame[f"{key} ±"]
        out[key] = [f"{m:.1f} ± {s:.1f}" if n > 1 and np.isfinite(s) else f"{m:.1f} ± –"
                    for m, s, n in zip(frame[key], std, frame["runs"], strict=True)]
    return out


def delta_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Configuration and its ten Δ columns (empty when `with_deltas` found no baseline)."""
    columns = [f"Δ {k}" for k in METRIC_KEYS if f"Δ {k}" in frame]
    if not columns:
        return pd.DataFrame()
    out = frame[["configuration", *columns]].copy()
    # rounded to the one decimal shown, and + 0.0 turns -0.0 into 0.0: a cell reads "+0.0", never "-0.0"
    out[columns] = out[columns].round(1) + 0.0
    return out


def _heat(z: np.ndarray, rows: list[str], columns: list[str], text: list[list[str]], title: str, colorscale,
          zmid: float | None = None, zrange: tuple[float, float] | None = None, colorbar: str = ""):
    import plotly.graph_objects as go

    heat = go.Heatmap(z=z, x=columns, y=rows, text=text, texttemplate="%{text}", colorscale=colorscale,
                      zmid=zmid, zmin=None if zrange is None else zrange[0], zmax=None if zrange is None else zrange[1],
                      colorbar={"title": {"text": colorbar}}, hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
                      xgap=1, ygap=1)
    fig = go.Figure(heat)
    fig.update_layout(title=title, height=max(260, 90 + 30 * len(rows)), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      yaxis={"autorange": "reversed"})
    return fig


def figures_chart(frame: pd.DataFrame, title: str = "The ten figures (mean over seeds, %)"):
    """Configurations × figures as a heat map with every value printed (0.0 included, never a blank)."""
    z = frame[list(METRIC_KEYS)].to_numpy(dtype=float)
    text = [[f"{v:.1f}" for v in row] for row in z]
    return _heat(z, list(frame["configuration"]), [metric_short(k) for k in METRIC_KEYS], text, title, "Viridis",
                 zrange=(0.0, 100.0), colorbar="F1 (%)")


def deltas_chart(frame: pd.DataFrame, baseline: str):
    """Δ against the baseline as a diverging heat map (red below, blue above, white = no change), values printed."""
    columns = [f"Δ {k}" for k in METRIC_KEYS]
    z = frame[columns].to_numpy(dtype=float)
    text = [[signed(v) for v in row] for row in z]
    bound = max(1.0, float(np.nanmax(np.abs(z))) if z.size else 1.0)
    return _heat(z, list(frame["configuration"]), [metric_short(k) for k in METRIC_KEYS], text,
                 f"Δ against {baseline} (points)", "RdBu", zmid=0.0, zrange=(-bound, bound), colorbar="Δ")


def per_class_frame(per_class: dict[str, dict[str, np.ndarray]], level: str = "segment") -> pd.DataFrame:
    """Long table of per-class F1 (percent) per model and modality, from ScoreReport.per_class of each model."""
    rows = []
    for model, classes in per_class.items():
        for modality, key in (("audio", "audio"), ("visual", "visual"), ("audio-visual", "av")):
            values = classes[f"{level}/{key}"]
            rows += [{"model": model, "modality": modality, "class": CLASSES[c], "F1": float(values[c])}
                     for c in range(len(CLASSES))]
    return pd.DataFrame(rows)


def mean_per_class(reports: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-class F1 arrays averaged over the runs of one configuration."""
    return {key: np.mean([r[key] for r in reports], axis=0) for key in reports[0]}


NO_EVENTS = "–"  # a per-class cell with no annotated and no predicted event: F1 is undefined, not 0


def per_class_chart(frame: pd.DataFrame, modality: str, level: str):
    """One modality's per-class F1: configurations × the 25 classes, every value printed (a 0 reads "0"; a class with
    nothing annotated and nothing predicted in the split, whose F1 is undefined (NaN), reads NO_EVENTS). Classes are
    named as LLP's files and every other page name them (Basketball_bounce)."""
    part = frame[frame["modality"] == modality]
    table = part.pivot(index="model", columns="class", values="F1")
    table = table.reindex(index=list(dict.fromkeys(part["model"])), columns=list(CLASSES))
    z = table.to_numpy(dtype=float)
    text = [[NO_EVENTS if np.isnan(v) else f"{v:.0f}" for v in row] for row in z]
    return _heat(z, list(table.index), list(CLASSES), text,
                 f"{modality} · {level}-level F1 per class (%)", "Viridis", zrange=(0.0, 100.0), colorbar="F1 (%)")


def _spaced(method: str) -> str:
    """"MA (w R)+CM-Co+CM-S" -> "MA (w R) + CM-Co + CM-S": the names.py style; '+' inside brackets is kept."""
    out, depth = [], 0
    for ch in method:
        depth += (ch == "(") - (ch == ")")
        out.append(" + " if ch == "+" and depth == 0 else ch)
    return "".join(out)


def _agree(row: dict[str, Any], figures: dict[str, float | None]) -> bool:
    """Same printed result: every figure both give is equal (one table may leave a cell out)."""
    return all(row[k] is None or v is None or row[k] == v for k, v in figures.items())


def published_frame(cards: list[Any]) -> pd.DataFrame:
    """The papers' published LLP test figures for the (model, recipe) pairs among `cards`, each printed row once:
    a method's figures that several papers copy (HAN's in all five) are one row naming every source."""
    from ..published import published_for

    seen, merged = set(), []
    for card in cards:
        pair = (card.config.get("model"), card.config.get("recipe") or "plain")
        if pair in seen:
            continue
        seen.add(pair)
        for result in published_for(*pair):
            source = f"{paper_name(result.paper)}, {result.table}"
            row = next((r for r in merged if r["method"] == result.method and _agree(r, result.figures)), None)
            if row is None:
                merged.append({"ours": configuration_label(card), "method": result.method, "sources": [source],
                               **result.figures})
                continue
            row["sources"].append(source)
            for key, value in result.figures.items():  # a figure one table leaves out, another prints
                if row[key] is None:
                    row[key] = value
    names = [_spaced(r["method"]) for r in merged]
    rows = [{"ours": r["ours"], "published method": name if names.count(name) == 1 else f"{name} ({r['sources'][0]})",
             "source": "; ".join(dict.fromkeys(r["sources"])), **{k: r[k] for k in METRIC_KEYS}}
            for r, name in zip(merged, names, strict=True)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame[["ours", "published method", "source", *METRIC_KEYS]]


def standings_frame(cards: list[Any]) -> pd.DataFrame:
    """Where the selected configurations' methods stand on the real LLP against the later methods (2023-2025):
    their published rows (deduplicated) and every later method, best segment-level Type@AV first."""
    from ..published import LATER

    ours = published_frame(cards)
    rows = [{"method": r["published method"], "kind": "seed method (reproduced here)", "source": r["source"],
             **{k: r[k] for k in METRIC_KEYS}} for _, r in ours.iterrows()] if not ours.empty else []
    rows += [{"method": r.method, "kind": "later method", "source": r.source + (f"; {r.note}" if r.note else ""),
              **r.figures} for r in LATER]
    frame = pd.DataFrame(rows)
    return frame.sort_values("segment/type", ascending=False, ignore_index=True, na_position="last")


def standings_chart(frame: pd.DataFrame):
    """Segment- and event-level Type@AV of every row of `standings_frame`, values printed; seed methods coloured
    apart from the later ones."""
    import plotly.graph_objects as go

    fig = go.Figure()
    colours = frame["kind"].map({"seed method (reproduced here)": "#1f77b4", "later method": "#9a9a9a"}).tolist()
    for key, level, pattern in (("segment/type", "segment", ""), ("event/type", "event", "/")):
        # A figure its paper does not print (e.g. MMT + CAPC (No MSG): Table 3 gives segment level only) is a bar
        # of length 0 labelled "not published", never a bare "nan" or a gap that reads as a missing model.
        values = pd.to_numeric(frame[key], errors="coerce")
        labels = [f"{v:.1f}" if pd.notna(v) else "not published" for v in values]
        fig.add_trace(go.Bar(y=frame["method"], x=values.fillna(0.0), orientation="h", marker_color=colours,
                             marker_pattern_shape=pattern, text=labels, textposition="outside",
                             customdata=labels, name=f"{level}-level Type@AV",
                             hovertemplate=f"%{{y}}<br>{level}-level Type@AV: %{{customdata}}<extra></extra>"))
    fig.update_layout(barmode="group", height=max(320, 60 + 34 * len(frame)), margin={"l": 10, "r": 10, "t": 40},
                      title="Type@AV on the real LLP test set (published, %)", xaxis={"range": [0, 80]},
                      yaxis={"autorange": "reversed", "categoryorder": "array", "categoryarray": list(frame["method"])},
                      legend={"orientation": "h", "y": -0.12})
    return fig
