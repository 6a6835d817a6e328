"""Attention: every map a checkpoint's model captures (attention, messengers, assignments, segment weights), for one
video or averaged over the videos of a class; for MMT, what a messenger is (where it comes from, what it carries,
what it changes) and the n_a, n_v > 1 ablation where attention over messengers is a real choice. Its URL reopens the
same view: `?checkpoint=<name or folder>&split=test&video=<id or filename>` for one video,
`?checkpoint=...&split=test&class=Dog&videos=32` for the average over a class's videos."""

import streamlit as st

from avvp_core import ui
from avvp_core.analysis.attention import KIND_NOTES, group_maps, is_mmt_family, map_figure, map_flag, videos_with_class
from avvp_core.analysis.messengers import (
    TRIVIAL_NOTE,
    carries_table,
    effect_table,
    messenger_counts,
    shares_figure,
    shares_note,
)
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError

K = ui.StateKeys
ui.init_state()
st.title("Attention")
st.caption("Rows are query tokens, columns key tokens; segments are numbered 0-9 (seconds). Pick a layer or head "
           "where a map has several; \"mean\" averages them. Colours span 0-1 unless stretched; a map that cannot say "
           "anything (one key, or near-uniform weights) is flagged.")

root = ui.data_in_use()
cards = ui.require_checkpoints(root)
dataset = ui.load_dataset(root)

MAX_VIDEOS = (1, 512, 32)  # "At most this many videos" of a class: at least, at most, first visit

# A shared or reloaded URL names the view (the module docstring): a video means one video, a class the average
incoming = ui.accept_link(ui.url_changes("attention", ("checkpoint", "split", "video", "class", "videos")), cards, {
    "checkpoint": ui.LINK_MODEL, "split": [s for s in ("test", "val") if s in dataset.available_splits],
    "class": CLASSES, "videos": ui.whole_number_link(*MAX_VIDEOS[:2])})
ui.apply_link(incoming, {"checkpoint": K.ATTENTION_CHECKPOINT, "split": K.ATTENTION_SPLIT, "class": K.ATTENTION_CLASS,
                         "videos": K.ATTENTION_MAX_VIDEOS})
if "class" in incoming or "videos" in incoming:
    st.session_state[K.ATTENTION_MODE] = "average per class"
if "video" in incoming and ui.video_from_link(dataset, incoming["video"], K.ATTENTION_SPLIT, K.ATTENTION_VIDEO,
                                                          incoming.get("split")):
    st.session_state[K.ATTENTION_SEARCH], st.session_state[K.ATTENTION_MODE] = "", "one video"

left, middle, right = st.columns([2, 1, 1])
name = ui.kept(left.selectbox, "Checkpoint", list(cards), key=K.ATTENTION_CHECKPOINT)
split_name = ui.kept(middle.radio, "Split", ("test", "val"), key=K.ATTENTION_SPLIT, default="test", horizontal=True)
mode = ui.kept(right.radio, "Show", ("one video", "average per class"), key=K.ATTENTION_MODE, default="one video",
               horizontal=True)
split = dataset.split(split_name)

if mode == "one video":
    a, b = st.columns([1, 2])
    search = ui.kept(a.text_input, "Video id contains", key=K.ATTENTION_SEARCH, default="").strip().lower()
    rows = [i for i, f in enumerate(split.filenames) if search in f.lower()]
    if not rows:
        st.info(f"No {split_name} video matches {search!r}.")
        st.stop()
    video = int(ui.kept(b.selectbox, "Video", rows, key=K.ATTENTION_VIDEO, format_func=lambda i: split.filenames[i]))
    chosen, what = (video,), split.filenames[video]
    ui.write_url("attention", {"checkpoint": name, "split": split_name, "video": split.filenames[video], "class": None,
                               "videos": None})
else:
    a, b = st.columns([2, 1])
    cls = ui.kept(a.selectbox, "Class", CLASSES, key=K.ATTENTION_CLASS)
    cap = ui.kept(b.number_input, "At most this many videos", key=K.ATTENTION_MAX_VIDEOS, default=MAX_VIDEOS[2],
                  min_value=MAX_VIDEOS[0], max_value=MAX_VIDEOS[1])
    ui.write_url("attention", {"checkpoint": name, "split": split_name, "video": None, "class": cls,
                               "videos": int(cap)})
    chosen = tuple(int(r) for r in videos_with_class(split, CLASSES.index(cls), int(cap)))
    if not chosen:
        st.info(f"No {split_name} video contains {cls}: choose another class or split.")
        st.stop()
    what = f"mean over {len(chosen)} {split_name} videos containing {cls}"

card = cards[name]
try:
    maps = ui.attention_maps(str(card.path), root, split_name, chosen)
except InputError as exc:
    ui.show_error(exc)
    st.stop()
if not maps:
    st.info(f"The model of {name} ({card.model}) captures no attention maps.")
    st.stop()
stretch = ui.kept(st.toggle, "Stretch colours to each map's own range", key=K.ATTENTION_STRETCH, default=False,
                  help="Fixed 0-1 (default) compares maps; stretched shows small differences and exaggerates them.")
st.caption(f"{name}: {len(maps)} maps — {what}")
if card.model == "msdu" and (card.config.get("model_config") or {}).get("msdu_detach", True):
    st.caption("MSDU's attention is HAN's: its decision units read the encoders' features detached, to measure the "
               "imbalance (paper 004, eq. 11), and train nothing else, so with the same recipe and seed its maps are "
               "those of the HAN run beside it (MSDU + JoMoLD's are HAN + JoMoLD's).")

for kind, named in group_maps(maps).items():
    if kind == "messengers":  # the affinity captures: shown, with their truth, in the messenger section below
        continue
    st.subheader(kind.capitalize())
    st.caption(KIND_NOTES[kind])
    for map_name, layers in named.items():
        m, head, slice_ = ui.attention_pickers(map_name, layers)
        title = m.name + (f" [layer {m.layer}]" if len(layers) > 1 else "")
        flag = map_flag(m, m.matrix(head, slice_))
        if flag:
            note = TRIVIAL_NOTE if "messengers" in m.name and m.key_title.endswith("messenger") and flag.startswith(
                "trivial") else ""
            st.warning(f"**{title}** — {flag} {note}".strip(), icon=":material/info:")
        st.plotly_chart(map_figure(m, head, slice_, title, stretch), key=f"attention_chart/{map_name}",
                        width="stretch")

if not is_mmt_family(card.model):
    st.stop()

# --- what a messenger is ----------------------------------------------------------------------------------------
st.subheader("Messengers: what they are")
n_a, n_v = messenger_counts(card.config.get("model_config") or {})
fusion = (card.config.get("model_config") or {}).get("fusion", "messenger")
if fusion != "messenger":
    how = "No MSG: the full other-modality context" if fusion == "full" else fusion
    st.info(f"{name} fuses without messengers ({how}): its decoders' cross-attention above goes to every segment "
            "of the other stream (or to MBT's bottleneck tokens). Choose an MMT checkpoint with messengers to see what "
            "a messenger is; compare the two on Timelines.")
    st.stop()
st.markdown(
    "A messenger is **M = tanh(AvgPool(S W_msg; n))** (paper 000, eq. 4): the source encoder's ten segment outputs "
    "projected, averaged into n vectors, squashed; the other modality's decoder reads it through cross-attention "
    f"(eq. 5). This checkpoint has n_a = {n_a} audio and n_v = {n_v} visual messenger(s)"
    + (" — the paper's setting, where attention over messengers is trivial (one key) and the pooling decides "
       "everything." if n_a == n_v == 1 else "."))
if mode != "one video":
    st.info("The messenger view reads one video: choose *one video* above.")
    st.stop()
a, b = st.columns(2)
source = ui.kept(a.radio, "Messengers of", ("audio", "visual"), key=K.ATTENTION_SOURCE, default="audio",
                 horizontal=True)
others = [i for i in range(len(split)) if i != video]
other = int(ui.kept(b.selectbox, "Swap in the messengers of", others, key=K.CROSS_AUDIO_VIDEO + "_messenger",
                    format_func=lambda i: split.filenames[i]))
try:
    view = ui.messenger_view(str(card.path), root, split_name, video, other, source)
except InputError as exc:  # e.g. No FA: no audio messengers
    st.info(str(exc))
    st.stop()

st.markdown(f"**Where it comes from.** Each {source} segment's share of the pooled vector before the tanh (the shares "
            "of a messenger sum to 100 %; a negative share pulls against the others).")
st.plotly_chart(shares_figure(view, f"{split.filenames[video]}: {source} segments → {source} messenger(s)"),
                key="attention_messenger_shares", width="stretch")
if note := shares_note(view):
    st.info(note, icon=":material/drag_handle:")
st.markdown(f"**What it carries.** The {source} classifier read on each messenger (sigmoid class affinity; "
            f"approximate, messengers are not decoder outputs) against this video's {source} truth: AUC 1 = every "
            "annotated class ranks above every other, 0.5 = chance.")
st.dataframe(carries_table(view, split, video), hide_index=True, key="attention_messenger_carries")
st.markdown(f"**What it changes.** The {view.target} decoder's video-level probabilities with this video's own "
            f"{source} messengers, with them removed (zeros: tanh's neutral value) and with those of "
            f"{split.filenames[other]} swapped in; everything else unchanged.")
st.dataframe(effect_table(view, split, video), hide_index=True, key="attention_messenger_effect")
largest = max(abs(view.removed - view.own).max(), abs(view.swapped - view.own).max())
st.caption(f"Largest change of one of the {view.target} decoder's video-level probabilities: {largest:.3f}. "
           + ("The same swap on the whole audio stream, not only its messenger, is Timelines' cross-audio view; "
              if source == "audio" else "Timelines' cross-audio view swaps the whole audio stream, not the visual "
              "messengers; ")
           + "fusion without messengers is the No MSG checkpoint "
           + ("(" + ", ".join(n for n, c in cards.items() if c.model == "mmt_nomsg") + ")"
              if any(c.model == "mmt_nomsg" for c in cards.values()) else "(none trained on this data)") + ".")
nomsg = [n for n, c in cards.items() if c.model == "mmt_nomsg"]
if nomsg:
    ui.open_in_timelines(split_name, video, [name, nomsg[0]], f"Open {split.filenames[video]} in Timelines: {name} "
                         f"beside {nomsg[0]}, with the cross-audio view", key="attention_open_timelines")

st.subheader("More than one messenger (paper 000, table 3)")
several = {n: messenger_counts(c.config.get("model_config") or {}) for n, c in cards.items()
           if c.model == "mmt" and max(messenger_counts(c.config.get("model_config") or {})) > 1}
if several:
    st.markdown("With n > 1 each messenger pools its own stretch of segments and the decoder's softmax chooses among "
                "them: attention over messengers is a real choice. Checkpoints: " + ", ".join(
                    f"**{n}** (n_a = {a}, n_v = {v})" for n, (a, v) in several.items())
                + ". Choose one above: its *decoder → messengers* maps are then not flagged trivial.")
else:
    st.info("No checkpoint with n_a or n_v > 1 is trained on this data, so attention over messengers is trivial "
            "everywhere here. Train one (about as long as MMT) with `python -m avvp_core train --data "
            f"{root} --model mmt --width demo --set audio_messengers=3 --set visual_messengers=3 --out runs/mmt-n3` "
            "(or on the Train page with those two options); it then appears in the checkpoint list above.",
            icon=":material/info:")
