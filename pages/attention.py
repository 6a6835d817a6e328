"""Attention: every map a checkpoint's model captures (attention, messengers, assignments, segment weights), for one
video or averaged over the videos of a class."""

import streamlit as st

from avvp_core import ui
from avvp_core.analysis.attention import KIND_NOTES, group_maps, map_figure, messenger_table, videos_with_class
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError

K = ui.StateKeys
ui.init_state()
st.title("Attention")
st.caption("Rows are query tokens, columns key tokens; segments are numbered 0-9 (seconds). Pick a layer or head "
           "where a map has several; \"mean\" averages them.")

root = ui.data_in_use()
cards = ui.require_checkpoints(root)
dataset = ui.load_dataset(root)

left, middle, right = st.columns([2, 1, 1])
name = left.selectbox("Checkpoint", list(cards), key=K.ATTENTION_CHECKPOINT)
split_name = middle.radio("Split", ("test", "val"), horizontal=True, key=K.ATTENTION_SPLIT)
mode = right.radio("Show", ("one video", "average per class"), horizontal=True, key=K.ATTENTION_MODE)
split = dataset.split(split_name)

if mode == "one video":
    a, b = st.columns([1, 2])
    search = a.text_input("Video id contains", key=K.ATTENTION_SEARCH).strip().lower()
    rows = [i for i, f in enumerate(split.filenames) if search in f.lower()]
    if not rows:
        st.info(f"No {split_name} video matches {search!r}.")
        st.stop()
    video = b.selectbox("Video", rows, format_func=lambda i: split.filenames[i], key=K.ATTENTION_VIDEO)
    chosen, what = (int(video),), split.filenames[video]
else:
    a, b = st.columns([2, 1])
    cls = a.selectbox("Class", CLASSES, key=K.ATTENTION_CLASS)
    cap = b.number_input("At most this many videos", 1, 512, 32, key=K.ATTENTION_MAX_VIDEOS)
    chosen = tuple(int(r) for r in videos_with_class(split, CLASSES.index(cls), int(cap)))
    if not chosen:
        st.info(f"No {split_name} video contains {cls}: choose another class or split.")
        st.stop()
    what = f"mean over {len(chosen)} {split_name} videos containing {cls}"

try:
    maps = ui.attention_maps(str(cards[name].path), root, split_name, chosen)
except InputError as exc:
    ui.show_error(exc)
    st.stop()
if not maps:
    st.info(f"The model of {name} ({cards[name].model}) captures no attention maps.")
    st.stop()
st.caption(f"{cards[name].model}: {len(maps)} maps — {what}")

for kind, named in group_maps(maps).items():
    st.subheader(kind.capitalize())
    st.caption(KIND_NOTES[kind])
    if kind == "messengers":
        st.dataframe(messenger_table(maps), hide_index=True, key="attention_messengers")
    for map_name, layers in named.items():
        m, head, slice_ = ui.attention_pickers(map_name, layers)
        title = m.name + (f" [layer {m.layer}]" if len(layers) > 1 else "")
        st.plotly_chart(map_figure(m, head, slice_, title), key=f"attention_chart/{map_name}", width="stretch")
