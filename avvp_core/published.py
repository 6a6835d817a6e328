"""Published LLP *test-set* figures, in percent, as printed in the tables of the five papers of
shared/papers/ (000 Xu, Hu, Lee — MMT + CAPC; 001 Lin et al. — CM-Co / CM-S; 002 Mo & Tian — MGN;
003 Chen et al. — CM-PIE; 004 Fu, Gao, Xu — DGM + MSDU).

Every number below was transcribed by hand from the named table of the named paper (the plain-text extraction
in shared/papers/). The printed cells are kept as literal strings in the order the table prints them and
parsed by `_seg_evt` / `_pairs`, so each row can be checked against the text by eye. Nothing is computed, rounded
or filled in: a figure a table does not give is None (the row's note says which and why). Printed figures that
disagree with Type@AV = (A + V + AV) / 3 are kept as printed: MA's segment Type@AV 58.9 (the mean is 58.5; all four
papers copy it so) and 001's "MA+CM-Co" event Type@AV 53.0 (the mean is 53.2).

Which audio eval file: all five papers (and every method they copy figures from) predate the 2024-04-16 fix of
AVVP_eval_audio.csv in the official repository and none says otherwise, so these are figures on the *legacy*
pre-2024 audio annotations (shared/llp_annotations/legacy_pre2024/AVVP_eval_audio.csv). The fix changes test
audio / AV / Event@AV figures slightly: they are not strictly comparable with figures computed on the 2024 file
(the default AVVP_eval_audio.csv). Figures are as printed, 1 decimal, including each paper's own copying of
its peers' numbers (e.g. HAN's row is HAN's own ECCV 2020 figures in all five papers).

Figure order everywhere: constants.METRIC_KEYS ("segment/audio" ... "event/event"): Audio, Visual,
Audio-Visual, Type@AV, Event@AV, at segment level then at event level (mIoU 0.5).

Method names are ours, chosen to be the same across papers for the same method; the printed label is in the note
when it differs. MA's variants follow paper 002's naming: "MA" = HAN + MA's contrastive learning (C) and label
refinement (R), "MA (w R)" = label refinement only (printed "HAN†" in 000, "MA*" / "MA" in 001, "MA [40] w/o CL"
in 004), "MA (w C)" = contrastive only. "JoMoLD" is JoMoLD with MA's contrastive term ("w CL" in 004).
Rows a paper repeats with identical figures in several of its tables are stored once (the note names the others).
Left out on purpose: methods that are none of ours (AVE, AVSDN, TALNet, STPN, CMCS, MM-Pyramid, CM-CS,
HAN + Co-teaching / JoCoR, AVSDN + CM-Co/CM-S) and hyper-parameter sweeps (000 Tab. 3 messenger counts, Tab. 5
mu, Tab. 6 N; 004 Tab. VI gamma), whose chosen setting is the method's own row.

`LATER` holds the later methods' LLP test rows (2023-2025, none implemented here), from
../shared/reference/llp_sota_2026.md with the source it names for each, so the app can show where the seed methods
stand against today's best without ../shared.

`MODEL_KEYS` maps our registered "<model>" / "<model>+<recipe>" names to the published methods they reproduce;
`published_for(model, recipe)` returns those rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import METRIC_KEYS


@dataclass(frozen=True)
class PublishedResult:
    """One published table row: ten figures in percent keyed by METRIC_KEYS (None where not given)."""

    method: str
    paper: str  # "000" ... "004": the file prefix in shared/papers/
    table: str  # e.g. "Table 2"
    figures: dict[str, float | None]
    note: str = ""


def _num(cell: str) -> float | None:
    return None if cell in ("-", "None") else float(cell)


def _seg_evt(segment: str, event: str) -> dict[str, float | None]:
    """Two printed runs of five cells (A V AV Type Event), segment level then event level."""
    cells = segment.split() + event.split()
    if len(cells) != 10:
        raise ValueError(f"expected 10 cells, got {len(cells)}: {cells}")
    return dict(zip(METRIC_KEYS, map(_num, cells), strict=True))


def _pairs(printed: str) -> dict[str, float | None]:
    """Ten printed cells as (segment, event) pairs per column A, V, AV, Type, Event (papers 000, 001; 004 Tab. IV-V)."""
    cells = printed.split()
    if len(cells) != 10:
        raise ValueError(f"expected 10 cells, got {len(cells)}: {cells}")
    return _seg_evt(" ".join(cells[0::2]), " ".join(cells[1::2]))


def _seg_only(segment: str) -> dict[str, float | None]:
    """A segment-level-only row: event-level figures are not given."""
    return _seg_evt(segment, "- - - - -")


SEG_ONLY = "segment-level only (the table reports no event-level figures)"

PUBLISHED: tuple[PublishedResult, ...] = (
    # --- 000: Xu, Hu, Lee, "Rethink Cross-Modal Fusion in WS-AVVP" (WACV 2024) -----------------------------------
    # Table 2 prints, per column Audio / Visual / Audio-Visual / Type@AV / Event@AV, "Seg. Event" pairs.
    PublishedResult("HAN", "000", "Table 2", _pairs("60.1 51.3 52.9 48.9 48.9 43.0 54.0 47.7 55.4 48.0"),
                    "printed 'HAN [34]'; copied from HAN's paper"),
    PublishedResult("MA (w R)", "000", "Table 2", _pairs("59.8 52.1 57.5 54.4 52.6 45.8 56.6 50.8 56.6 49.4"),
                    "printed 'HAN †': HAN with (MA's) label refinement only"),
    PublishedResult("MA", "000", "Table 2", _pairs("60.3 53.6 60.0 56.4 55.1 49.0 58.9 53.0 57.9 50.6"),
                    "printed 'MA [39]'"),
    PublishedResult("MA (w R)+CM-Co+CM-S", "000", "Table 2",
                    _pairs("60.8 53.8 63.5 58.9 57.0 49.5 60.5 54.0 59.5 52.1"),
                    "printed 'Lin et al. [24]' (paper 001's full method)"),
    PublishedResult("JoMoLD", "000", "Table 2", _pairs("61.3 53.9 63.8 59.9 57.2 49.6 60.8 54.5 59.9 52.5"),
                    "printed 'JoMoLD [8]'"),
    PublishedResult("MMT+CAPC", "000", "Table 2", _pairs("61.9 53.9 64.8 61.6 57.6 50.2 61.4 55.2 60.9 53.1"),
                    "printed 'Ours': MMT (n_a = n_v = 1) + CAPC, three stages with MA pseudo labels; same segment "
                    "figures in Tables 3 ('1 1'), 4, 5 (mu 0.5) and 6 (N 1)"),
    PublishedResult("MMT+CAPC (No MSG)", "000", "Table 3", _seg_only("61.5 63.2 55.7 60.1 59.9"),
                    f"printed 'No MSG': fusion without messengers; {SEG_ONLY}"),
    PublishedResult("MMT+CAPC (MBT)", "000", "Table 3", _seg_only("60.9 64.1 56.0 60.3 59.8"),
                    f"printed 'MBT': fusion bottleneck tokens instead of messengers; {SEG_ONLY}"),
    PublishedResult("MMT+CAPC (No FA)", "000", "Table 4", _seg_only("62.1 62.5 56.3 60.3 60.3"),
                    f"printed 'No FA': no fusion with audio in the visual stream; {SEG_ONLY}"),
    PublishedResult("MMT (No CAPC)", "000", "Table 4", _seg_only("61.9 64.2 56.4 60.8 60.7"),
                    "printed 'No CAPC': the three-stage MA-pseudo-label recipe without CAPC (our `mmt --recipe capc` "
                    f"with capc_weight=0); {SEG_ONLY}"),
    # --- 001: Lin, Tseng, Lee, Lin, Yang, "Exploring Cross-Video and Cross-Modality Signals" (NeurIPS 2021) -----
    # Tables 1-3 print, per column Audio / Visual / Audio-visual / Type@AV / Event@AV, "Seg. Event" pairs.
    PublishedResult("HAN", "001", "Table 2", _pairs("60.1 51.3 52.9 48.9 48.9 43.0 54.0 47.7 55.4 48.0"),
                    "printed 'HAN [4]'; same row in Tables 1 and 3, segment figures in Table 4 ('HAN 1 Layer')"),
    PublishedResult("HAN+CM-S", "001", "Table 2", _pairs("58.1 49.6 58.3 53.6 53.2 46.3 56.5 49.8 55.9 47.5"),
                    "printed 'HAN + CM-S'"),
    PublishedResult("HAN+CM-Co", "001", "Table 2", _pairs("59.7 51.4 57.4 52.4 51.9 44.2 56.3 49.3 57.4 48.5"),
                    "printed 'HAN + CM-Co'; same row in Table 3, segment figures in Table 4"),
    PublishedResult("HAN+CM-Co+CM-S", "001", "Table 2", _pairs("59.2 51.3 59.9 55.5 53.4 46.2 57.5 51.0 58.1 49.7"),
                    "printed 'HAN + Ours'; same row in Table 1"),
    PublishedResult("MA", "001", "Table 2", _pairs("60.3 53.6 60.0 56.4 55.1 49.0 58.9 53.0 57.9 50.6"),
                    "printed 'MA [28]' (citation typo: [28] is another paper; 'MA [6]' in Table 1); full MA"),
    PublishedResult("MA+CM-Co", "001", "Table 2", _pairs("61.1 53.3 61.7 57.3 56.3 49.0 59.7 53.0 58.9 51.2"),
                    "printed 'MA + CM-Co' in the group under the full-MA row 'MA [28]'; event Type@AV 53.0 as printed "
                    "(mean of A, V, AV: 53.2)"),
    PublishedResult("MA (w R)", "001", "Table 2", _pairs("59.8 52.1 57.5 54.4 52.6 45.8 56.6 50.8 56.6 49.4"),
                    "printed 'MA' (Table 2), 'MA*' (Table 1: label refinement only), 'MA [6]' (Table 3)"),
    PublishedResult("MA (w R)+CM-S", "001", "Table 2", _pairs("60.4 53.5 60.7 56.5 55.8 47.5 58.9 52.5 58.6 51.0"),
                    "printed 'MA + CM-S' in the group under the refinement-only row 'MA'"),
    PublishedResult("MA (w R)+CM-Co", "001", "Table 2", _pairs("60.5 53.6 61.3 56.5 54.9 46.7 58.9 52.3 59.1 51.4"),
                    "printed 'MA + CM-Co' in the group under the refinement-only row 'MA'; same row in Table 3"),
    PublishedResult("MA (w R)+CM-Co+CM-S", "001", "Table 2",
                    _pairs("60.8 53.8 63.5 58.9 57.0 49.5 60.5 54.0 59.5 52.1"),
                    "printed 'MA + Ours' (Table 2), 'MA* + Ours' (Table 1): the paper's full method"),
    PublishedResult("HAN+CM-Co (A Only)", "001", "Table 3", _pairs("60.5 52.3 49.8 43.9 45.6 38.3 52.0 44.8 55.7 45.9"),
                    "printed 'HAN + A Only': class-level self-attention for audio only"),
    PublishedResult("HAN+CM-Co (V Only)", "001", "Table 3", _pairs("56.1 44.5 56.8 53.2 49.7 40.7 54.2 46.1 54.1 44.6"),
                    "printed 'HAN + V Only': class-level self-attention for visual only"),
    PublishedResult("HAN+CM-Co (AV)", "001", "Table 3", _pairs("59.5 50.3 55.1 50.5 48.6 40.3 54.4 47.0 56.0 47.4"),
                    "printed 'HAN + AV': self-attention in both modalities, no cross-modality co-attention"),
    PublishedResult("MA (w R)+CM-Co (A Only)", "001", "Table 3",
                    _pairs("60.7 52.7 53.9 47.9 50.1 42.2 54.9 47.6 57.0 47.1"), "printed 'MA + A Only'"),
    PublishedResult("MA (w R)+CM-Co (V Only)", "001", "Table 3",
                    _pairs("46.8 34.4 60.8 57.0 42.8 31.1 50.1 40.9 52.6 40.4"), "printed 'MA + V Only'"),
    PublishedResult("MA (w R)+CM-Co (AV)", "001", "Table 3",
                    _pairs("58.3 50.4 59.4 55.2 53.9 46.9 57.2 50.8 56.7 48.5"), "printed 'MA + AV'"),
    PublishedResult("HAN (2 layers)", "001", "Table 4", _seg_only("58.2 55.4 50.6 54.7 54.9"),
                    f"printed 'HAN 2 Layers' (model-capacity check); {SEG_ONLY}"),
    PublishedResult("HAN (3 layers)", "001", "Table 4", _seg_only("58.1 55.2 50.3 54.5 54.6"),
                    f"printed 'HAN 3 Layers' (model-capacity check); {SEG_ONLY}"),
    # --- 002: Mo & Tian, "Multi-modal Grouping Network" (MGN) ---------------------------------------------------
    # Table 1 prints the five segment-level cells, then the five event-level cells.
    PublishedResult("HAN", "002", "Table 1", _seg_evt("60.1 52.9 48.9 54.0 55.4", "51.3 48.9 43.0 47.7 48.0"),
                    "printed 'HAN [5]'"),
    PublishedResult("MGN", "002", "Table 1", _seg_evt("60.8 55.4 50.4 55.5 57.2", "51.1 52.4 44.4 49.3 49.1"),
                    "printed 'MGN (ours)'"),
    PublishedResult("MA (w C)", "002", "Table 1", _seg_evt("61.9 53.1 49.7 54.9 56.2", "52.8 49.4 43.8 48.7 49.0"),
                    "printed 'MA [8] (w C)': HAN + MA's contrastive learning only"),
    PublishedResult("MGN (w C)", "002", "Table 1", _seg_evt("60.6 56.7 52.5 56.6 57.4", "51.4 53.2 46.4 50.3 49.4"),
                    "MGN + MA's contrastive learning only"),
    PublishedResult("MA (w R)", "002", "Table 1", _seg_evt("59.8 57.5 52.6 56.6 56.6", "52.1 54.4 45.8 50.8 49.4"),
                    "printed 'MA [8] (w R)': HAN + MA's label refinement only"),
    PublishedResult("MGN (w R)", "002", "Table 1", _seg_evt("60.0 60.6 54.0 58.2 58.2", "50.3 58.4 47.9 52.2 49.1"),
                    "MGN + MA's label refinement only"),
    PublishedResult("MA", "002", "Table 1", _seg_evt("60.3 60.0 55.1 58.9 57.9", "53.6 56.4 49.0 53.0 50.6"),
                    "printed 'MA [8] (w C+R)'"),
    PublishedResult("MGN (w C+R)", "002", "Table 1", _seg_evt("60.2 61.9 55.5 59.2 58.7", "50.9 59.7 49.6 53.4 49.9"),
                    "MGN + MA (contrastive learning and label refinement)"),
    # --- 003: Chen et al., "CM-PIE" (ICASSP 2024) ---------------------------------------------------------------
    # Table 1 prints five segment-level then five event-level cells; Table 2 splits them into two blocks.
    PublishedResult("HAN", "003", "Table 1", _seg_evt("60.1 52.9 48.9 54.0 55.4", "51.3 48.9 43.0 47.7 48.0"),
                    "printed 'HAN [7]'; same row in Table 2"),
    PublishedResult("CM-PIE", "003", "Table 1", _seg_evt("61.7 55.2 50.1 55.7 56.8", "53.7 51.3 43.6 49.5 51.3"),
                    "printed 'CM-PIE (Ours)'; same row in Table 2"),
    PublishedResult("HAN+SA", "003", "Table 2", _seg_evt("60.7 55.5 48.6 54.9 56.1", "53.2 49.8 42.1 48.3 50.5"),
                    "printed '+Seg Attention': HAN + the segment-attention module, no CMA (our cmpie with cma='none')"),
    PublishedResult("CM-PIE (w/o V)", "003", "Table 2",
                    _seg_evt("60.4 55.3 51.2 55.6 56.1", "52.2 50.0 43.8 48.6 49.3"),
                    "printed 'w/o. V': the CMA block for audio features only"),
    PublishedResult("CM-PIE (w/o A)", "003", "Table 2",
                    _seg_evt("61.5 54.8 50.0 55.4 57.0", "53.0 51.1 43.5 49.2 50.9"),
                    "printed 'w/o. A': the CMA block for visual features only"),
    # --- 004: Fu, Gao, Xu, "Multimodal Imbalance-Aware Gradient Modulation" (DGM + MSDU) ------------------------
    # Tables I, VII print five segment-level then five event-level cells. In Table I the MA and JoMoLD rows print
    # only nine cells each (two sub-rows 'w/o CL' / 'w CL'); the missing cell is placed where Type@AV =
    # (A + V + AV) / 3 of the printed cells says it must be, and left None. Tables IV and V print one line per
    # column (A, V, AV, Type, Event) with "Segment-level Event-level" cells, i.e. (segment, event) pairs.
    PublishedResult("HAN", "004", "Table I", _seg_evt("60.1 52.9 48.9 54.0 55.4", "51.3 48.9 43.0 47.7 48.0"),
                    "printed 'HAN [15]'; same row in Table VII"),
    PublishedResult("MA (w R)", "004", "Table I", _seg_evt("59.8 57.5 52.6 56.6 -", "52.1 54.4 45.8 50.8 49.4"),
                    "printed 'MA [40] w/o CL' with nine cells '59.8 57.5 52.6 56.6 52.1 54.4 45.8 50.8 49.4': one of "
                    "segment Type@AV / Event@AV is missing (both are 56.6 in papers 000-002); the printed 56.6 is "
                    "taken as Type@AV (= mean of A, V, AV), segment Event@AV left None"),
    PublishedResult("MA", "004", "Table I", _seg_evt("60.3 60.0 55.1 58.9 57.9", "53.6 56.4 49.0 - 50.6"),
                    "printed 'MA [40] w CL' with nine cells '60.3 60.0 55.1 58.9 57.9 53.6 56.4 49.0 50.6': event "
                    "Type@AV missing (53.0 in papers 000-002; (53.6 + 56.4 + 49.0) / 3 = 53.0)"),
    PublishedResult("JoMoLD (w/o CL)", "004", "Table I", _seg_evt("60.6 62.2 56.0 59.6 58.6", "53.1 58.9 49.4 53.8 -"),
                    "printed 'JoMoLD [17] w/o CL' with nine cells '60.6 62.2 56.0 59.6 58.6 53.1 58.9 49.4 53.8': "
                    "53.8 = (53.1 + 58.9 + 49.4) / 3 is event Type@AV, so event Event@AV is the missing cell"),
    PublishedResult("JoMoLD", "004", "Table IV", _pairs("61.3 53.9 63.8 59.9 57.2 49.6 60.8 54.5 59.9 52.5"),
                    "printed 'JoMoLD'; same row in Table VII; Table I ('JoMoLD [17] w CL') prints the same figures "
                    "but nine cells only, without the event-level Event@AV 52.5"),
    PublishedResult("MA (w R)+CM-Co+CM-S", "004", "Table I", _seg_evt("60.8 63.5 57.0 60.5 59.5",
                                                                      "53.8 58.9 49.5 54.0 52.1"),
                    "printed 'CVCVM [16]' (typo for CVCM: [16] is paper 001)"),
    PublishedResult("JoMoLD+DGM+MSDU", "004", "Table I",
                    _seg_evt("63.5 65.0 57.8 62.1 62.0", "55.6 61.3 50.5 55.8 54.4"),
                    "printed 'Ours'; same row as 'JoMoLD+DGM+MSDU' (Table IV), 'fusion' (Table V), gamma 0.1 "
                    "(Table VI) and 'JoMoLD + Ours' (Table VII)"),
    PublishedResult("JoMoLD+DGM", "004", "Table IV", _pairs("61.9 54.4 64.4 60.9 56.8 49.3 61.0 54.9 60.6 53.4"),
                    "printed 'JoMoLD+DGM': DGM measured on the fused model's own predictions, no MSDU"),
    PublishedResult("JoMoLD+DGM+MSDU (score)", "004", "Table V",
                    _pairs("63.1 56.0 64.4 60.9 57.5 49.9 61.7 55.6 61.7 54.7"),
                    "printed 'score': imbalance measured by the summed correct-class scores only"),
    PublishedResult("JoMoLD+DGM+MSDU (discrepancy)", "004", "Table V",
                    _pairs("62.4 55.1 64.4 60.6 57.0 49.6 61.2 55.1 60.9 53.8"),
                    "printed 'discrepancy': imbalance measured by the correct-vs-wrong score discrepancy only"),
    PublishedResult("HAN+DGM+MSDU", "004", "Table VII",
                    _seg_evt("61.0 55.2 51.5 55.9 56.2", "53.4 51.0 45.1 49.8 50.0"),
                    "printed 'HAN + Ours'. 'Ours' read as DGM + MSDU because the same table's 'JoMoLD + Ours' equals "
                    "'JoMoLD+DGM+MSDU' of Table IV, not 'JoMoLD+DGM'; the text only says DGM is 'embedded' into HAN"),
)

# Our registered "<model>" (recipe "plain") / "<model>+<recipe>" -> the PUBLISHED methods it reproduces.
# Recipes: plain (omitted), ma, jomold, capc, cms, cms_ma, dgm, jomold_dgm. Our "ma" recipe is full MA (contrastive
# + refinement) and "jomold" includes the NCE/contrastive term, so refinement-only ("MA (w R)"), contrastive-only
# and "w/o CL" rows have no key. Not expressible as a key, hence unmapped: "MMT (No CAPC)" (= `mmt --recipe capc`
# with capc_weight=0), "HAN+SA" (cmpie with cma='none'), the "HAN+CM-Co (A Only / V Only / AV)" rows (cmco
# occ_attention 'audio' / 'visual' / 'self'), "HAN (2 / 3 layers)" (han layers=2 / 3), "MA (w R)+CM-Co" and DGM's
# score / discrepancy measures. "mmt" alone has no published row: 000 never trains MMT on the weak labels only.
MODEL_KEYS: dict[str, list[str]] = {
    "han": ["HAN"],
    "han_ca": [],  # 000's table 1 gives HAN-CA's single- / multi-modality event F only (bench/cross_modal_reliance.py)
    "han+ma": ["MA"],
    "han+jomold": ["JoMoLD"],
    "han+cms": ["HAN+CM-S"],
    "han+cms_ma": ["MA (w R)+CM-S"],
    "han+jomold_dgm": ["JoMoLD+DGM"],
    "cmco": ["HAN+CM-Co"],
    "cmco+ma": ["MA+CM-Co"],
    "cmco+cms": ["HAN+CM-Co+CM-S"],
    "cmco+cms_ma": ["MA (w R)+CM-Co+CM-S"],
    "mmt": [],
    "mmt+capc": ["MMT+CAPC"],
    "mmt_nomsg+capc": ["MMT+CAPC (No MSG)"],
    "mmt_mbt+capc": ["MMT+CAPC (MBT)"],
    "mmt_nofa+capc": ["MMT+CAPC (No FA)"],
    "mgn": ["MGN"],
    "mgn+ma": ["MGN (w C+R)"],
    "cmpie": ["CM-PIE"],
    "cmpie_cma_audio": ["CM-PIE (w/o V)"],
    "cmpie_cma_visual": ["CM-PIE (w/o A)"],
    # MSDU + DGM without label denoising is Table VII's "HAN + Ours" (MSDU on plain HAN: visual_head_dropout=0).
    "msdu+dgm": ["HAN+DGM+MSDU"],
    "msdu+jomold_dgm": ["JoMoLD+DGM+MSDU"],
}


@dataclass(frozen=True)
class LaterResult:
    """A later method's published LLP test row (not implemented here): where today's best stands."""

    method: str  # name and venue, "PPL (CVPR 2024)"
    figures: dict[str, float | None]
    source: str  # where the figures were read
    note: str = ""


_UWAV = "UWAV paper (arXiv 2505.09615), Table 1"
# From ../shared/reference/llp_sota_2026.md (figures as printed there, legacy pre-2024 audio annotations like every row
# above): original features (VGGish + ResNet-152 + R(2+1)D-18) unless the name says otherwise. Printed as
# "A / V / AV / Type@AV / Event@AV" per level; kept as literal strings so each row can be checked by eye.
LATER: tuple[LaterResult, ...] = (
    LaterResult("UWAV (CVPR 2025)", _seg_evt("64.2 70.0 63.4 65.9 63.9", "58.6 66.7 57.5 60.9 57.4"), _UWAV,
                "pre-trains on UnAV-100"),
    LaterResult("PPL (CVPR 2024)", _seg_evt("65.9 66.7 61.9 64.8 63.7", "57.3 64.3 54.3 59.9 57.9"), _UWAV),
    LaterResult("MUG (ICCV 2025)", _seg_evt("65.4 66.5 59.9 63.9 64.7", "59.5 63.9 55.3 59.6 57.7"),
                "third-party summary", "unverified: not yet checked against the paper"),
    LaterResult("CMPAE (CVPR 2023)", _seg_evt("64.2 66.4 59.2 63.3 62.8", "56.6 63.7 51.8 57.4 55.7"), _UWAV),
    LaterResult("LSLD (NeurIPS 2023)", _seg_evt("62.7 67.1 59.4 63.1 62.2", "55.7 64.3 52.6 57.6 55.2"), _UWAV),
    LaterResult("CoLeaF (ECCV 2024)", _seg_evt("64.2 64.4 59.3 62.6 62.5", "57.6 63.2 54.2 57.9 55.6"), _UWAV),
    LaterResult("LEAP, HAN encoder (ECCV 2024)", _seg_evt("62.7 65.6 59.3 62.5 61.8", "56.4 63.1 54.1 57.8 55.0"),
                _UWAV),
    LaterResult("VALOR (NeurIPS 2023)", _seg_evt("61.8 65.9 58.4 62.0 61.5", "55.4 62.6 52.2 56.7 54.2"), _UWAV),
    LaterResult("PoiBin (ICCV 2023)", _seg_evt("63.1 63.5 57.7 61.4 60.6", "54.1 60.3 51.5 55.2 52.3"), _UWAV),
    LaterResult("VPLAN (2023)", _seg_evt("60.5 64.8 58.3 61.2 59.4", "51.4 61.5 51.2 54.7 50.8"), _UWAV),
    LaterResult("UWAV, CLIP/CLAP features (CVPR 2025)", _seg_evt("68.9 72.3 65.6 68.9 68.3",
                                                                "63.5 68.7 59.6 63.9 62.4"),
                "UWAV paper (arXiv 2505.09615), supplementary Table A6", "stronger features than every other row"),
    LaterResult("VALOR++, CLAP + CLIP + R(2+1)D (NeurIPS 2023)", _seg_evt("68.1 68.4 61.9 66.2 66.8",
                                                                          "61.2 64.7 55.5 60.4 59.0"),
                "UWAV paper (arXiv 2505.09615), supplementary Table A6", "stronger features than every other row"),
)


def published_for(model: str, recipe: str = "plain") -> list[PublishedResult]:
    """The published rows for our `model` trained with `recipe` (all papers, in PUBLISHED order; [] if none)."""
    key = model if recipe == "plain" else f"{model}+{recipe}"
    methods = set(MODEL_KEYS.get(key, ()))
    return [row for row in PUBLISHED if row.method in methods]


def _check() -> None:
    """Import-time consistency: ten keyed figures per row, every mapped method present."""
    known = {row.method for row in PUBLISHED}
    for row in (*PUBLISHED, *LATER):
        if tuple(row.figures) != METRIC_KEYS:
            raise ValueError(f"{row.method}: figures not keyed by METRIC_KEYS")
    for key, methods in MODEL_KEYS.items():
        missing = set(methods) - known
        if missing:
            raise ValueError(f"MODEL_KEYS[{key!r}] names unknown methods {sorted(missing)}")


_check()

__all__ = ["LATER", "MODEL_KEYS", "PUBLISHED", "LaterResult", "PublishedResult", "published_for"]
