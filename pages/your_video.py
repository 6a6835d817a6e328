"""Your video: any clip through the official LLP feature pipeline and the checkpoints trained on real features —
what each hears, sees and both, second by second (no ground truth: probabilities and decisions only)."""

import streamlit as st

from avvp_core import ui
from avvp_core.errors import InputError
from avvp_core.extract.pipeline import MODALITY_EVENTS
from avvp_core.uploads import MAX_VIDEO_BYTES, MB, VIDEO_KINDS

K = ui.YourVideoKeys
ui.init_state()
st.title("Your video")
st.caption("Upload a clip: its features are extracted as the LLP features were (VGGish on 16 kHz sound, ResNet-152 on "
           "8 frames a second, R(2+1)D-18 on 1-second clips), then each chosen checkpoint says which events are "
           "audible, visible or both in every second. Longer clips are cut into 10-second windows, each parsed on its "
           "own.")

vggish = st.radio("VGGish output", ("embedding", "postprocessed"), horizontal=True, key=K.VGGISH,
                  format_func={"embedding": "128-D embedding as it is (default, JoMoLD's extractor)",
                               "postprocessed": "AudioSet postprocessing (PCA + 8 bit)"}.get,
                  help="Which of the two the released LLP features used is not confirmed by their authors.")
settings = ui.extractor_settings(vggish)
if settings.weights == "random":
    st.warning(f"Test mode ({ui.RANDOM_ENV_NOTE}): {settings.label}. Timelines below show the pipeline working, "
               "not what is in the video.", icon=":material/science:")
# what can parse a real video comes first: a 500 MB download is no use without a checkpoint to read its features
cards, refused = ui.real_video_checkpoints()
if refused:
    with st.expander(f"{len(refused)} checkpoint(s) not offered: trained on SynthLLP"):
        for reason in refused:
            st.caption(reason)
if not cards:
    st.info("No checkpoint trained on real LLP features yet. Convert the official HAN checkpoint "
            "(`python -m avvp_core convert --from official-han SRC.pt --out runs/han-official`) or train on the "
            "released LLP features, then come back.", icon=":material/info:")
    st.stop()

missing = ui.missing_extractor_weights(settings)
if missing:
    st.info("The extractors' weights are downloaded on first use (about 500 MB, checked by checksum).",
            icon=":material/download:")
    for line in missing:
        st.caption(line)
    if st.button("Download the extractor weights", key=K.DOWNLOAD):
        try:
            ui.download_extractor_weights(settings)
        except InputError as exc:
            ui.show_error(exc)
        else:
            st.rerun()
    st.stop()

upload = st.file_uploader(f"Video ({', '.join(sorted(VIDEO_KINDS))}, up to {MAX_VIDEO_BYTES // MB} MB)",
                          type=[k.lstrip(".") for k in VIDEO_KINDS], key=K.UPLOAD,
                          max_upload_size=max(1, MAX_VIDEO_BYTES // MB))
chosen = st.multiselect("Checkpoints", list(cards), default=list(cards)[:1], key=K.CHECKPOINTS)
if upload is None or not chosen:
    st.caption("Choose a clip and at least one checkpoint.")
    st.stop()
try:
    path = ui.store_uploaded_video(upload)
    parsed = ui.parse_clip(path, [str(cards[n].path) for n in chosen], settings)
except InputError as exc:
    ui.show_error(exc)
    st.stop()

entry = parsed.entry
st.markdown(f"**{upload.name}** · {entry['duration']:g} s · {len(entry['windows'])} window(s) of 10 s"
            + ("" if entry["has_audio"] else " · no sound track (parsed as silence)"))
player, events_column = st.columns([3, 2])
with player:
    n = len(entry["windows"])
    window = 0
    if n > 1:  # the player's timeline covers one 10-s window; the video plays on past it
        window = st.selectbox("Window", range(n), key=K.PLAYER_WINDOW,
                              format_func=lambda k: f"{10 * k}–{10 * k + 10} s")
    st.caption("Play: the current segment is marked on the timeline; click a cell and the video jumps there.")
    ui.parsed_player(parsed, path, window)
with events_column:
    st.subheader("Events")
    for name, result in parsed.results.items():
        st.markdown(f"**{name}** ({result['gating']} gating)")
        lines = []
        for kind in MODALITY_EVENTS:
            events = result["events"][kind]
            text = ", ".join(f"{e['class']} {e['onset']:g}–{e['offset']:g} s (p {e['probability']:.2f})"
                             for e in events)
            lines.append(f"- {kind}: {text or 'nothing'}")
        st.markdown("\n".join(lines))
    ui.parsed_downloads(parsed)

st.subheader("Timelines, end to end")
st.caption("Rows: class · modality · checkpoint; heat = probability, red square = decision (after the checkpoint's "
           "video-level gating). There is no ground truth for your clip, so no cell is marked right or wrong.")
n = len(entry["windows"])
shown = range(n)
if n > 3:
    first, last = st.select_slider("Windows", options=list(range(n)), value=(0, 2), key=K.WINDOWS,
                                   format_func=lambda k: f"{10 * k}–{10 * k + 10} s")
    shown = range(first, last + 1)
ui.parsed_timelines(parsed, shown)
