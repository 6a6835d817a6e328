"""Validated uploads: files from the browser are untrusted until checked (size, extension, content).

Videos are accepted by extension and container structure (MP4/MOV box layout, WebM/Matroska EBML header), never
by the name alone. Checkpoints arrive as a zip of a checkpoint folder and are unpacked entry by entry (no
absolute paths, no '..', no links, only the checkpoint's own file names, a cap on the unpacked size) into a
temporary folder beside the destination, loaded once with weights-only loading, and only then renamed into
place; anything refused leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import struct
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .errors import ZIP_READ_ERRORS, InputError

MB = 1024 * 1024
MAX_VIDEO_BYTES = 200 * MB  # the server's maxUploadSize (.streamlit/config.toml) is the outer bound
MAX_CHECKPOINT_BYTES = 200 * MB  # a zipped checkpoint; paper-width HAN is about 18 MB
MAX_UNPACKED_BYTES = 512 * MB  # what a checkpoint zip may expand to (zip bombs are refused before writing)
CHECKPOINT_FILES = ("config.json", "model.pt", "metrics.json", "log.jsonl", "steps.jsonl")
VIDEO_KINDS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".webm": "ebml", ".mkv": "ebml"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def _check_size(name: str, data: bytes, limit: int) -> None:
    if not data:
        raise InputError("the uploaded file is empty", name)
    if len(data) > limit:
        raise InputError(f"{len(data) / MB:.1f} MB is over the {limit / MB:.0f} MB upload limit", name)


def _mp4_boxes(name: str, data: bytes) -> list[str]:
    """Top-level box types of an ISO-BMFF file (MP4, MOV); InputError when a box runs past the end."""
    boxes, offset = [], 0
    while offset < len(data):
        if len(data) - offset < 8:
            raise InputError(f"unreadable video: truncated at byte {offset} (incomplete box header)", name)
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:  # 64-bit size follows
            if len(data) - offset < 16:
                raise InputError(f"unreadable video: truncated at byte {offset}", name)
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
            header = 16
        elif size == 0:  # box runs to the end of the file
            size = len(data) - offset
        box = kind.decode("latin-1")
        if size < header or offset + size > len(data):
            raise InputError(f"unreadable video: box {box!r} at byte {offset} claims {size} bytes, "
                             f"the file ends at {len(data)} (truncated upload?)", name)
        boxes.append(box)
        offset += size
    return boxes


def validate_video(name: str, data: bytes, limit: int | None = None) -> str:
    """Check an uploaded video by extension, size and content; returns its container ("mp4" or "ebml")."""
    limit = MAX_VIDEO_BYTES if limit is None else limit
    ext = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if ext not in VIDEO_KINDS:
        raise InputError(f"unsupported file type {ext or '(no extension)'!r}", name,
                         f"upload a video: {', '.join(sorted(VIDEO_KINDS))}")
    _check_size(name, data, limit)
    kind = VIDEO_KINDS[ext]
    if kind == "mp4":
        if data[4:8] != b"ftyp":
            raise InputError(f"not an {ext[1:].upper()} video (content starts with {data[:8]!r})", name)
        boxes = _mp4_boxes(name, data)
        if "moov" not in boxes:
            raise InputError("unreadable video: no 'moov' box (an incomplete or streaming-only file)", name)
    elif not (data.startswith(_EBML_MAGIC) and (b"webm" in data[:64] or b"matroska" in data[:64])):
        raise InputError(f"not a {ext[1:].upper()} video (content starts with {data[:8]!r})", name)
    return kind


def _safe_entries(name: str, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Checkpoint file name -> zip entry, after refusing anything that could land outside the target folder."""
    files: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        raw = info.filename
        path = PurePosixPath(raw.replace("\\", "/"))
        if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw) or ".." in path.parts:
            raise InputError(f"entry {raw!r} points outside the checkpoint folder; refused", name)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"entry {raw!r} is a symbolic link; refused", name)
        if info.is_dir():
            continue
        if len(path.parts) > 2 or path.name not in CHECKPOINT_FILES:
            raise InputError(f"unexpected entry {raw!r}", name,
                             f"a checkpoint zip holds {', '.join(CHECKPOINT_FILES)}, optionally in one folder")
        if path.name in files:
            raise InputError(f"{path.name} appears twice", name)
        bound = _member_limit(path.name)
        if info.file_size > bound:  # the zip directory's declared size, checked before anything is inflated
            raise InputError(f"{path.name} unpacks to {info.file_size / MB:.1f} MB, over the {bound / MB:.0f} MB "
                             "limit for that file", name)
        files[path.name] = info
        total += info.file_size
    if len({PurePosixPath(i.filename).parent for i in files.values()}) > 1:
        raise InputError("the checkpoint files are spread over several folders", name)
    if total > MAX_UNPACKED_BYTES:
        raise InputError(f"unpacks to {total / MB:.0f} MB, over the {MAX_UNPACKED_BYTES / MB:.0f} MB limit", name)
    for needed in ("config.json", "model.pt"):
        if needed not in files:
            raise InputError(f"no {needed} in the zip", name, "zip the checkpoint folder itself")
    return files


def _member_limit(file_name: str) -> int:
    from .checkpoint_schema import MAX_BYTES, MAX_WEIGHTS_BYTES

    return MAX_WEIGHTS_BYTES if file_name == "model.pt" else MAX_BYTES[file_name]


STALE_UPLOAD_SECONDS = 3600  # an upload still unpacking after an hour was killed: its temporary folder is stale


def _clean_stale_uploads(dest_root: Path) -> None:
    """Remove temporary folders of uploads killed mid-unpack (hidden, never listed; removed once stale)."""
    import time

    if not dest_root.is_dir():
        return
    for tmp in dest_root.glob(".*.upload"):
        with contextlib.suppress(OSError):
            if tmp.is_dir() and not tmp.is_symlink() and time.time() - tmp.stat().st_mtime > STALE_UPLOAD_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)


def _check_config_member(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """config.json alone, from the zip, before anything is written: its schema and the parameter count of the model
    it asks for (built on the meta device), so a small zip asking for a huge model is refused in milliseconds."""
    from .checkpoint_schema import check_config, parse_json
    from .checkpoints import FORMAT, meta_model
    from .models import model_info

    with archive.open(info) as src:
        raw = src.read(_member_limit("config.json") + 1)
    config = parse_json(raw, "config.json")
    if not isinstance(config, dict):
        raise InputError("expected a JSON object", "config.json")
    check_config(config, "config.json", FORMAT)
    model_info(config["model"])
    meta_model(config["model"], config.get("model_config", {}), "config.json")


def checkpoint_folder_name(name: str) -> str:
    """A folder name from the upload's file name: its stem, reduced to letters, digits, '-', '_' and '.'."""
    stem = PurePosixPath(name.replace("\\", "/")).name
    stem = stem[:-4] if stem.lower().endswith(".zip") else stem
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip(".-")[:64]
    return clean or "checkpoint"


def install_checkpoint_zip(name: str, data: bytes, dest_root: str | Path, limit: int | None = None) -> Path:
    """Unpack an uploaded checkpoint zip into `dest_root/<name stem>` after checking it; returns the folder.

    The folder appears whole and loadable or not at all; an existing folder of that name is never replaced.
    """
    limit = MAX_CHECKPOINT_BYTES if limit is None else limit
    if PurePosixPath(name.replace("\\", "/")).suffix.lower() != ".zip":
        raise InputError("expected a .zip of a checkpoint folder", name)
    _check_size(name, data, limit)
    if not data.startswith(b"PK\x03\x04"):
        raise InputError(f"not a zip archive (content starts with {data[:8]!r})", name)
    dest_root = Path(dest_root).resolve()
    target = dest_root / checkpoint_folder_name(name)
    if target.resolve().parent != dest_root:  # defence in depth: the name is already reduced to one component
        raise InputError("the checkpoint name resolves outside the upload folder", name)
    if target.exists():
        raise InputError(f"a checkpoint named {target.name!r} already exists in {dest_root}",
                         name, "rename the zip to add it beside the existing one")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (*ZIP_READ_ERRORS, ValueError) as exc:
        raise InputError(f"not a readable zip archive ({exc})", name) from None
    with archive:
        entries = _safe_entries(name, archive)  # everything refusable by its listing is refused before any write
        try:
            _check_config_member(name, archive, entries["config.json"])
        except InputError as exc:
            raise InputError(f"refused: {exc}", name) from None
        except ZIP_READ_ERRORS as exc:
            raise InputError(f"could not unpack ({exc})", name) from None
        _clean_stale_uploads(dest_root)
        created = not dest_root.exists()
        dest_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".upload", dir=dest_root))
        try:
            _unpack(name, archive, entries, tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            if created and not target.exists():
                with contextlib.suppress(OSError):  # made for this upload: remove it again, only if still empty
                    dest_root.rmdir()
    return target


def _unpack(name: str, archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], tmp: Path, target: Path) -> None:
    """Write the checked entries into `tmp`, load the checkpoint once from there, then rename `tmp` to `target`."""
    from .checkpoints import load_checkpoint

    try:
        for file_name, info in entries.items():
            with archive.open(info) as src, open(tmp / file_name, "wb") as dst:
                shutil.copyfileobj(src, dst, MB)  # reads stop at the declared size (capped in _safe_entries)
        try:
            load_checkpoint(tmp)  # config parses, model builds, weights load tensors-only and fit
        except InputError as exc:
            raise InputError(f"refused: {str(exc).replace(str(tmp), target.name)}", name) from None
        os.rename(tmp, target)
    except ZIP_READ_ERRORS as exc:  # CRC errors, damaged streams, disk
        raise InputError(f"could not unpack ({exc})", name) from None


__all__ = ["CHECKPOINT_FILES", "MAX_CHECKPOINT_BYTES", "MAX_UNPACKED_BYTES", "MAX_VIDEO_BYTES", "VIDEO_KINDS",
           "checkpoint_folder_name", "install_checkpoint_zip", "validate_video"]
