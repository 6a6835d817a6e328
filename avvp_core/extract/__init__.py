"""The official LLP feature pipeline for any video (issue 23): `python -m avvp_core extract` and `parse`.

    decode.py    ffmpeg (moviepy's imageio-ffmpeg binary): frames at 8 fps, 16 kHz audio; the 10-s window rule;
                 the image transforms (res152: shorter side 256, centre crop 224, ImageNet mean/std;
                 r2plus1d_18: 112 x 112 without crop, Kinetics mean/std)
    audio.py     VGGish's log-mel frontend (25 ms / 10 ms, 64 mel bands 125-7500 Hz, log offset 0.01, 0.96-s
                 examples) and the AudioSet postprocessing (PCA + 8 bit, optional)
    nets.py      ResNet-152, R(2+1)D-18, VGGish with the published weights' parameter names
    weights.py   the published weight files: download on first use, SHA-256 prefix check, tensors-only loading
    pipeline.py  videos -> LLP folder (extract), video + checkpoints -> events (parse)

Deviation, named: torchvision is not a dependency. Its PyPI build for our pinned torch (torchvision 0.28.0 beside
the torch 2.13.0 CPU wheel) fails at import (`operator torchvision::nms does not exist`), and the project installs
from PyPI only; so the two torchvision networks are defined in nets.py with torchvision's exact state-dict layout,
and torchvision's own weight files (IMAGENET1K_V1, KINETICS400_V1) load into them unchanged.
"""
