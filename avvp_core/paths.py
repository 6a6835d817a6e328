"""Where things live by default: the repo's checkpoints/ and assets/, and the embedded SynthLLP folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
ASSETS_DIR = REPO_ROOT / "assets"
# SynthLLP `mini` is generated here on first use (deterministic, so it is not committed).
DATA_DIR = Path(os.environ.get("AVVP_DATA_DIR", REPO_ROOT / "data"))
DEFAULT_DATA = Path(os.environ.get("AVVP_DEFAULT_DATA", DATA_DIR / "synthllp-mini"))
RUNS_DIR = Path(os.environ.get("AVVP_RUNS_DIR", REPO_ROOT / "runs"))  # trainings started from the app
