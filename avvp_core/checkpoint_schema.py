"""What a checkpoint folder's files may hold, checked before anything is built from them.

A checkpoint arrives from anywhere (an upload, a copied folder, an old version of AVVP Lab): every file is read
with a size bound and a nesting bound, and its content is checked against the schema below, so that a page or a
command never meets a string where it expects a figure. The same checks run where a file enters (an upload) and
wherever it is read (`checkpoints.read_card`, `Card.log`, the trainer's resume).

The weights file is inspected without unpickling it and without allocating its tensors (`declared_tensors`): the
names, shapes and dtypes it declares and the bytes each storage claims are read from its pickle and its zip
directory first, so a file that asks for more memory than it holds (a stride-0 view of a terabyte, a storage larger
than the file) is refused before torch allocates anything.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import math
import os
import pickle
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

from .constants import CLASSES, METRIC_KEYS
from .errors import ZIP_READ_ERRORS, InputError

MB = 1024 * 1024
CHECKPOINT_FORMAT = "avvp-lab-checkpoint/1"  # config.json "format" of every card (checkpoints.FORMAT)
MAX_JSON_DEPTH = 16  # config.json nests 3 levels (data -> synth -> seed), metrics.json 3 (float32 -> val -> figure)
MAX_BYTES = {  # per file; a paper-width card is a few KB, a 60-epoch log 20 KB, a DGM step log 200 KB
    "config.json": 1 * MB,
    "metrics.json": 1 * MB,
    "log.jsonl": 16 * MB,
    "steps.jsonl": 64 * MB,
    "job.json": 1 * MB,
}
MAX_LINE_BYTES = 64 * 1024  # one epoch's row of the log
MAX_WEIGHTS_BYTES = 1024 * MB  # paper-width HAN is 18 MB, the largest registered model at paper width 44 MB
MAX_PARAMETERS = 100_000_000  # about 9x the largest registered model at paper width (MMT, 10.9 M)
MAX_TENSOR_DIMS = 8
MAX_SEEDS = 64  # runs in a card's `seeds` block (the zoo ships 3)
GATINGS = ("fused", "modality", "none")
WEIGHT_DTYPES = ("float16", "float32", "mixed")  # mixed: float16 for the large tensors only (zoo.export)


# --------------------------------------------------------------------------------------------------- JSON files


def read_bounded(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file no larger than `limit` (a FIFO or a device would block or never end)."""
    limit = MAX_BYTES.get(path.name, 1 * MB) if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError("missing", path) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InputError("is not a regular file", path)
        if info.st_size > limit:
            raise InputError(f"is {info.st_size / MB:.1f} MB, over the {limit / MB:.0f} MB limit for this file", path)
        data = fh.read(limit + 1)
    if len(data) > limit:  # grew while being read
        raise InputError(f"is over the {limit / MB:.0f} MB limit for this file", path)
    return data


def depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, {} or [] is 1), without recursion; stops counting past
    MAX_JSON_DEPTH."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_JSON_DEPTH:
                break
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                stack.append((child, level + 1))
    return deepest


def parse_json(text: bytes | str, where: str | Path) -> Any:
    """json.loads with one-line errors for bad UTF-8, bad JSON and nesting deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", where) from None
    if depth(value) > MAX_JSON_DEPTH:
        raise InputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where)
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    value = parse_json(read_bounded(path), path)
    if not isinstance(value, dict):
        raise InputError("expected a JSON object", path)
    return value


_CHECKED: collections.OrderedDict[tuple, list[dict[str, Any]]] = collections.OrderedDict()
_CHECKED_MAX = 256  # files; every page lists every checkpoint several times per run


def read_jsonl(path: Path, check_row=None) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file. A line that is not JSON is skipped only when it is the last one (a write cut by a
    kill); any other bad line, and every row `check_row` refuses, make the whole file an InputError.

    The rows of content that passed are remembered by its hash: listing checkpoints (several times per page run)
    parses and checks only what changed."""
    if not os.path.lexists(path):
        return []
    data = read_bounded(path)
    key = (hashlib.blake2b(data, digest_size=16).digest(), check_row)
    if key in _CHECKED:
        _CHECKED.move_to_end(key)
        return list(_CHECKED[key])
    rows = _parse_jsonl(path, data, check_row)
    _CHECKED[key] = rows
    while len(_CHECKED) > _CHECKED_MAX:
        _CHECKED.popitem(last=False)
    return list(rows)


def _parse_jsonl(path: Path, data: bytes, check_row) -> list[dict[str, Any]]:
    lines = data.split(b"\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        if len(line) > MAX_LINE_BYTES:
            raise InputError(f"line of {len(line)} bytes, over the {MAX_LINE_BYTES} limit", where)
        try:
            row = parse_json(line, where)
        except InputError:
            if number == len(lines) or (number == len(lines) - 1 and not lines[-1]):
                continue  # the last line, cut by a kill mid-write: the trainer drops it on resume too
            raise
        if not isinstance(row, dict):
            raise InputError("expected a JSON object per line", where)
        if check_row is not None:
            check_row(row, where)
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------- the schemas


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: Any) -> bool:
    """A real, finite int or float (not a bool, None or NaN): what a loss, figure or count of seconds read from a JSON
    file must be before anything computes with it."""
    return _is_number(value) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _expect(ok: bool, what: str, value: Any, where: Path | str) -> None:
    if not ok:
        shown = repr(value) if _is_scalar(value) else _kind(value)
        raise InputError(f"{what}, got {shown[:60]}", where)


def check_figures(value: Any, key: str, where: Path | str) -> None:
    """The ten official figures (percent), each a finite number in [0, 100]."""
    _expect(isinstance(value, dict), f"{key!r} must be an object of the ten figures", value, where)
    missing = [k for k in METRIC_KEYS if k not in value]
    if missing:
        raise InputError(f"{key!r} lacks figure {missing[0]!r}" + (f" and {len(missing) - 1} more" if len(missing) > 1
                                                                      else ""), where)
    for k, v in value.items():
        _expect(finite_number(v) and 0 <= v <= 100, f"figure {key}/{k} must be a number in 0..100",
                v, where)


def check_metrics(metrics: dict[str, Any], where: Path | str) -> None:
    for split in ("val", "test"):
        if split in metrics:
            check_figures(metrics[split], split, where)
    if "float32" in metrics:
        f32 = metrics["float32"]
        _expect(isinstance(f32, dict), "'float32' must be an object", f32, where)
        for split, figures in f32.items():
            check_figures(figures, f"float32/{split}", where)
    for key, test, what in (
        ("complete", lambda v: isinstance(v, bool), "a boolean"),
        ("selected_epoch", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an epoch number"),
        ("selection_metric", lambda v: isinstance(v, str), "a string"),
        ("gating", lambda v: v in GATINGS, f"one of {', '.join(GATINGS)}"),
        ("train_seconds", lambda v: finite_number(v) and v >= 0, "a number of seconds"),
    ):
        if key in metrics:
            _expect(test(metrics[key]), f"{key!r} must be {what}", metrics[key], where)
    if "refinement" in metrics:
        check_refinement(metrics["refinement"], "refinement", where)
    if "seeds" in metrics:
        check_seeds(metrics["seeds"], "seeds", where)


def _is_seed(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**32


def check_seeds(block: Any, key: str, where: Path | str) -> None:
    """A zoo card's `seeds` block (zoo.seed_summary): which seeds, each seed's figures, selected epoch and training
    seconds, their mean and standard deviation per split (null with one seed), the inspected seed, the command."""
    _expect(isinstance(block, dict), f"{key!r} must be an object", block, where)
    seeds = block.get("seeds")
    _expect(isinstance(seeds, list) and 1 <= len(seeds) <= MAX_SEEDS, f"'{key}/seeds' must be a list of 1 to "
            f"{MAX_SEEDS} seeds", seeds, where)
    _expect(all(_is_seed(s) for s in seeds) and len(set(seeds)) == len(seeds),
            f"'{key}/seeds' must hold distinct non-negative integers", next((s for s in seeds if not _is_seed(s)),
                                                                             seeds[0]), where)
    _expect(block.get("inspected") in seeds, f"'{key}/inspected' must be one of its seeds", block.get("inspected"),
            where)
    runs = block.get("runs")
    _expect(isinstance(runs, list) and len(runs) == len(seeds), f"'{key}/runs' must be a list of one run per seed",
            runs, where)
    for i, (run, seed) in enumerate(zip(runs, seeds, strict=True)):
        at = f"{key}/runs/{i}"
        _expect(isinstance(run, dict), f"{at!r} must be an object", run, where)
        _expect(run.get("seed") == seed and _is_seed(run.get("seed")), f"'{at}/seed' must be {seed}",
                run.get("seed"), where)
        for split in ("val", "test"):
            if split in run:
                check_figures(run[split], f"{at}/{split}", where)
        epoch = run.get("selected_epoch")
        _expect(epoch is None or (type(epoch) is int and epoch >= 0), f"'{at}/selected_epoch' must be an epoch "
                "number", epoch, where)
        sec = run.get("train_seconds")
        _expect(sec is None or (finite_number(sec) and sec >= 0), f"'{at}/train_seconds' must "
                "be a number of seconds", sec, where)
    for part, optional in (("mean", False), ("std", len(seeds) == 1)):
        value = block.get(part)
        if value is None and optional:
            continue
        _expect(isinstance(value, dict), f"'{key}/{part}' must be an object", value, where)
        for split, figures in value.items():
            _expect(split in ("val", "test"), f"'{key}/{part}' may hold only val and test", split, where)
            check_figures(figures, f"{key}/{part}/{split}", where)
    retrain = block.get("retrain")
    _expect(retrain is None or (isinstance(retrain, str) and len(retrain) <= 512), f"'{key}/retrain' must be a "
            "command (a string of at most 512 characters)", retrain, where)


def check_refinement(record: Any, key: str, where: Path | str) -> None:
    """A label-refinement record (MA, JoMoLD): per modality, counts and rates the claims table divides."""
    if record is None:
        return
    _expect(isinstance(record, dict), f"{key!r} must be an object", record, where)
    for modality in ("audio", "visual"):
        q = record.get(modality)
        if q is None:
            continue
        _expect(isinstance(q, dict), f"'{key}/{modality}' must be an object", q, where)
        for k in ("removed", "precision", "recall", "truly_absent", "positives"):
            v = q.get(k)
            _expect(v is None or (finite_number(v) and v >= 0),
                    f"'{key}/{modality}/{k}' must be a non-negative number", v, where)


def check_config(config: dict[str, Any], where: Path | str, fmt: str) -> None:
    """config.json: the keys the app and the loader read have the types they need (the model's options are checked
    against the model when it is built)."""
    if config.get("format") != fmt or "model" not in config:
        raise InputError(f"not an AVVP Lab checkpoint (format {str(config.get('format'))[:40]!r})", where,
                         "official HAN state dicts are imported with `python -m avvp_core convert`")
    _expect(isinstance(config["model"], str), "'model' must be a model name", config["model"], where)
    model_config = config.get("model_config", {})
    if not isinstance(model_config, dict):
        raise InputError("`model_config` is not a JSON object", where)
    for k, v in model_config.items():
        _expect(_is_scalar(v), f"model option {k!r} must be a number, string or boolean", v, where)
    for key in ("name", "recipe", "width", "code_version"):
        if config.get(key) is not None:
            _expect(isinstance(config[key], str) and len(config[key]) <= 256, f"{key!r} must be a short string",
                    config[key], where)
    if config.get("gating") is not None:
        _expect(config["gating"] in GATINGS, f"'gating' must be one of {', '.join(GATINGS)}", config["gating"], where)
    if config.get("seed") is not None:
        _expect(isinstance(config["seed"], int) and not isinstance(config["seed"], bool), "'seed' must be an integer",
                config["seed"], where)
    if config.get("weights_dtype") is not None:
        _expect(config["weights_dtype"] in WEIGHT_DTYPES, "'weights_dtype' must be float16, float32 or mixed",
                config["weights_dtype"], where)
    if "classes" in config:
        _expect(config["classes"] == list(CLASSES), "'classes' must be the 25 LLP classes in LLP's order",
                config["classes"], where)
    train = config.get("train")
    if train is not None:
        _expect(isinstance(train, dict), "'train' must be an object", train, where)
        for k, v in train.items():
            _expect(_is_scalar(v), f"training option {k!r} must be a number, string or boolean", v, where)
    data = config.get("data")
    if data is not None:
        _expect(isinstance(data, dict), "'data' must be an object", data, where)
        for key in ("fingerprint", "root"):
            if data.get(key) is not None:
                _expect(isinstance(data[key], str), f"'data/{key}' must be a string", data[key], where)
        if data.get("synth") is not None:
            _expect(isinstance(data["synth"], dict), "'data/synth' must be an object", data["synth"], where)
    if "refinement" in config:
        check_refinement(config["refinement"], "refinement", where)
    for key in ("zoo", "dgm", "loss_weights"):
        if config.get(key) is not None:
            _expect(isinstance(config[key], dict), f"{key!r} must be an object", config[key], where)


def check_log_row(row: dict[str, Any], where: str) -> None:
    """An epoch row: "epoch" a positive integer, every other value a number (losses, figures, lr, seconds)."""
    epoch = row.get("epoch")
    _expect(type(epoch) is int and epoch >= 1, "'epoch' must be a positive integer", epoch, where)
    for k, v in row.items():
        if type(v) not in (int, float) and v is not None:
            _expect(False, f"{k!r} must be a number", v, where)


def check_step_row(row: dict[str, Any], where: str) -> None:
    check_log_row(row, where)
    step = row.get("step")
    _expect(type(step) is int and step >= 1, "'step' must be a positive integer", step, where)


# ----------------------------------------------------------------------------------------------------- weights

_STORAGES = {"FloatStorage": ("float32", 4), "HalfStorage": ("float16", 2), "BFloat16Storage": ("bfloat16", 2),
             "DoubleStorage": ("float64", 8), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
             "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
             "BoolStorage": ("bool", 1)}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name: str):
        self.dtype, self.itemsize = _STORAGES[name]


class _Storage:
    __slots__ = ("dtype", "itemsize", "key", "numel")

    def __init__(self, kind: _StorageType, key: str, numel: int):
        self.dtype, self.itemsize, self.key, self.numel = kind.dtype, kind.itemsize, key, numel


class TensorDecl:
    """A tensor as the file declares it: shape, dtype, and how much of its storage it spans."""

    __slots__ = ("offset", "shape", "storage", "stride")

    def __init__(self, storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    @property
    def dtype(self) -> str:
        return self.storage.dtype

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class _Refused(Exception):
    pass


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    if not (isinstance(storage, _Storage) and _int(offset) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) <= MAX_TENSOR_DIMS and all(map(_int, size)) and all(map(_int, stride))):
        raise _Refused("a malformed tensor record")
    return TensorDecl(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    if not isinstance(data, TensorDecl):
        raise _Refused("a malformed parameter record")
    return data


class _ScanUnpickler(pickle.Unpickler):
    """Reads torch's pickle of a state dict into TensorDecl records: only the globals a state dict uses, storages as
    (key, dtype, element count) without reading or allocating their bytes."""

    def __init__(self, fh, legacy: bool):
        super().__init__(fh)
        self.legacy = legacy
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        raise _Refused(f"{module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str) and _int(pid[4])):
            raise _Refused("a malformed storage record")
        if self.legacy and len(pid) > 5 and pid[5] is not None:
            raise _Refused("a storage view")
        known = self.storages.get(pid[2])
        if known is None:
            known = self.storages[pid[2]] = _Storage(pid[1], pid[2], pid[4])
        elif (known.dtype, known.numel) != (pid[1].dtype, pid[4]):
            raise _Refused("a storage declared twice with different sizes")
        return known


def _unpickle(scanner: _ScanUnpickler, path: Path) -> Any:
    try:
        return scanner.load()
    except _Refused as exc:
        what = str(exc)
        if "." in what and " " not in what:
            raise InputError(f"refused to load: the file holds pickled objects such as {what}, not only tensors", path,
                             "weights are loaded tensors-only; re-save the model's state_dict()") from None
        raise InputError(f"refused to load: the file holds {what}", path) from None
    except Exception as exc:  # noqa: BLE001 - any failure of a hostile or damaged pickle is one line
        raise InputError(f"unreadable weights file, truncated or not a torch file ({type(exc).__name__}: "
                         f"{str(exc)[:60]})", path) from None


def declared_tensors(path: Path) -> dict[str, TensorDecl]:
    """Name -> declared tensor of a torch state-dict file, checked against the file's own size, read without
    unpickling anything but plain containers and without allocating any tensor."""
    state = declared_tree(path)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, TensorDecl)
                                              for k, v in state.items()):
        raise InputError("expected a state dict of tensors", path)
    return dict(state)


def declared_tree(path: Path, limit: int = MAX_WEIGHTS_BYTES) -> Any:
    """What a torch file declares (plain containers and scalars, tensors as TensorDecl), every tensor checked to lie
    within its storage and every storage within the file, before torch reads any of it (e.g. a training state)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError("missing", path, "the checkpoint has no weights file") from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError("is not a regular file", path)
    if info.st_size > limit:
        raise InputError(f"is {info.st_size / MB:.0f} MB, over the {limit / MB:.0f} MB limit for this file", path)
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if head == b"PK\x03\x04":
            tree, _ = _scan_zip(fh, path)
        else:
            tree, _ = _scan_legacy(fh, path, info.st_size)
    for name, tensor in _tensors(tree):
        if tensor.numel == 0:
            continue
        extent = tensor.offset + sum((s - 1) * st for s, st in zip(tensor.shape, tensor.stride, strict=True)) + 1
        if extent > tensor.storage.numel or tensor.numel > tensor.storage.numel:
            raise InputError(f"tensor {name!r} declares shape {tensor.shape} (stride {tensor.stride}) over a storage "
                             f"of {tensor.storage.numel} elements; refused", path)
    return tree


def _tensors(tree: Any):
    """(name, TensorDecl) of every tensor in a tree of dicts, lists and tuples; names are dotted paths."""
    stack = [("", tree)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, TensorDecl):
            yield name, item
        elif isinstance(item, dict):
            stack += [(f"{name}.{k}" if name else str(k), v) for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            stack += [(f"{name}.{i}" if name else str(i), v) for i, v in enumerate(item)]


def _scan_zip(fh, path: Path) -> tuple[Any, dict[str, _Storage]]:
    try:
        archive = zipfile.ZipFile(fh)
        names = archive.namelist()
    except (*ZIP_READ_ERRORS, ValueError) as exc:
        raise InputError(f"unreadable weights file, truncated or not a torch file ({exc})", path) from None
    with archive:
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise InputError("unreadable weights file, truncated or not a torch file (no data.pkl)", path)
        prefix = pickles[0][: -len("data.pkl")]
        pkl = archive.getinfo(pickles[0])
        if pkl.file_size > 64 * MB:
            raise InputError(f"its pickle is {pkl.file_size / MB:.0f} MB, not a state dict", path)
        try:
            scanner = _ScanUnpickler(io.BytesIO(archive.read(pkl)), legacy=False)
        except ZIP_READ_ERRORS as exc:
            raise InputError(f"unreadable weights file, truncated or not a torch file ({exc})", path) from None
        state = _unpickle(scanner, path)
        for storage in scanner.storages.values():
            record = f"{prefix}data/{storage.key}"
            try:
                entry = archive.getinfo(record)
            except KeyError:
                raise InputError(f"unreadable weights file, truncated or not a torch file (no {record})",
                                 path) from None
            needed = storage.numel * storage.itemsize
            if entry.compress_type != zipfile.ZIP_STORED or entry.file_size < needed:
                raise InputError(f"storage {storage.key} declares {needed} bytes, the file holds "
                                 f"{entry.file_size}; refused", path)
    return state, scanner.storages


def _scan_legacy(fh, path: Path, size: int) -> tuple[Any, dict[str, _Storage]]:
    """torch's pre-1.6 format: magic, protocol, system info, the state dict's pickle, its storage keys, then each
    storage as an 8-byte element count and its bytes."""
    header = _ScanUnpickler(fh, legacy=True)
    magic = _unpickle(header, path)
    if magic != _LEGACY_MAGIC:
        raise InputError("unreadable weights file, truncated or not a torch file (no torch header)", path)
    _unpickle(header, path)  # protocol version
    _unpickle(header, path)  # system info (a dict of plain values)
    scanner = _ScanUnpickler(fh, legacy=True)
    state = _unpickle(scanner, path)
    keys = _unpickle(_ScanUnpickler(fh, legacy=True), path)
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(scanner.storages):
        raise InputError("unreadable weights file, truncated or not a torch file (storage list)", path)
    for key in keys:
        storage = scanner.storages[key]
        count = fh.read(8)
        if len(count) < 8 or struct.unpack("<q", count)[0] != storage.numel:
            raise InputError(f"storage {key} is truncated or declares another size; refused", path)
        needed = storage.numel * storage.itemsize
        if fh.tell() + needed > size:
            raise InputError(f"storage {key} declares {needed} bytes, past the end of the file; refused", path)
        fh.seek(needed, os.SEEK_CUR)
    return state, scanner.storages


__all__ = ["GATINGS", "MAX_BYTES", "MAX_JSON_DEPTH", "MAX_PARAMETERS", "MAX_WEIGHTS_BYTES", "TensorDecl",
           "check_config", "check_figures", "check_log_row", "check_metrics", "check_step_row", "declared_tensors",
           "declared_tree",
           "parse_json", "read_bounded", "read_json_object", "read_jsonl"]
