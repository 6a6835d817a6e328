"""The LLP vocabulary, written once: class names, segment count, feature streams, file names."""

from __future__ import annotations

# The 25 LLP classes in the canonical order every public AVVP repository uses (index = class id).
CLASSES: tuple[str, ...] = (
    "Speech",
    "Car",
    "Cheering",
    "Dog",
    "Cat",
    "Frying_(food)",
    "Basketball_bounce",
    "Fire_alarm",
    "Chainsaw",
    "Cello",
    "Banjo",
    "Singing",
    "Chicken_rooster",
    "Violin_fiddle",
    "Vacuum_cleaner",
    "Baby_laughter",
    "Accordion",
    "Lawn_mower",
    "Motorcycle",
    "Helicopter",
    "Acoustic_guitar",
    "Telephone_bell_ringing",
    "Baby_cry_infant_cry",
    "Blender",
    "Clapping",
)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
NUM_CLASSES = len(CLASSES)  # C
NUM_SEGMENTS = 10  # T: one segment per second of a 10-s clip
FRAMES_PER_SEGMENT = 8  # res152 is extracted at 8 fps: 80 frames = 10 segments x 8

# Feature streams: directory under feats/ -> feature width. res152 may hold 80 frames or 10 segments.
FEATURE_DIMS: dict[str, int] = {"vggish": 128, "res152": 2048, "r2plus1d_18": 512}
STREAMS: tuple[str, ...] = tuple(FEATURE_DIMS)

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_FILES: dict[str, str] = {
    "train": "AVVP_train.csv",
    "val": "AVVP_val_pd.csv",
    "test": "AVVP_test_pd.csv",
}
EVAL_FILES: dict[str, str] = {"audio": "AVVP_eval_audio.csv", "visual": "AVVP_eval_visual.csv"}
MODALITIES: tuple[str, ...] = ("audio", "visual")

# Dense truth of the *train* split exists only in SynthLLP (LLP has none). It lives in files of its own
# so that the standard layout is untouched and nothing reads them by accident (oracle mode only).
TRAIN_EVAL_FILES: dict[str, str] = {
    "audio": "SYNTH_train_eval_audio.csv",
    "visual": "SYNTH_train_eval_visual.csv",
}
SYNTH_META_FILE = "synthllp.json"

VIDEO_ID_LEN = 11  # filename = 11-char YouTube id + "_<start>_<end>"; ids may contain "_" and "-"

# The ten reported figures, in the order of the papers' tables. Keys are part of the score JSON contract.
LEVELS: tuple[str, ...] = ("segment", "event")
FIGURES: tuple[str, ...] = ("audio", "visual", "av", "type", "event")
METRIC_KEYS: tuple[str, ...] = tuple(f"{lvl}/{fig}" for lvl in LEVELS for fig in FIGURES)
