"""The one loading gate: every file the project reads that could come from someone else goes through here.

* `open_regular`: only regular files are opened (a FIFO or device would block or never end), with O_NONBLOCK so
  even a file swapped for a FIFO after the check cannot hang the open.
* `load_torch_file`: `torch.save` files read by our own reader, never by `torch.load` (which hands TorchScript zips
  to `torch.jit.load`, whose code then runs). The format is sniffed from the bytes: zip-of-pickle, legacy pickle
  stream, legacy tar; TorchScript archives and everything else are refused. Pickles go through
  `safe_pickle.RestrictedUnpickler`. Each storage must be held by the file (its bytes are counted before anything is
  allocated) and each tensor's offset / sizes / strides must fall inside its storage.
* `load_npy` / `load_npz`: numpy's header parser, then dtype (plain numbers only) and shape checked against the
  bytes the file holds, then exactly those bytes read.
* `load_safetensors`, `read_json`: size-capped; JSON parse errors (and too-deep nesting) become one-line errors.
* `check_finite`, `check_waveglow_config`: weights must be finite; a config's sizes must be in range and imply no
  more parameters than the weights file can hold.

Every problem is raised as `CheckpointError` (or the caller's error class) whose message starts with the path.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from waveglow.common.errors import CheckpointError, one_line
from waveglow.common.safe_pickle import PickledObject, RestrictedUnpickler, StorageType

__all__ = ["CheckpointError", "one_line", "open_regular", "load_torch_file", "load_npy", "load_npz", "load_safetensors",
           "read_json", "read_json_object", "check_finite", "check_waveglow_config", "guard", "MAX_EXPANSION"]

MAX_EXPANSION = 4  # a zip's entries may expand to at most this many times the file's size (torch stores: 1x)
MAX_ZIP_ENTRIES = 65536
MAX_JSON_BYTES = 1 << 20
MAX_PARAMETERS = 2_000_000_000
MAX_TENSOR_DIMS = 16

# Exceptions a crafted file can provoke in parsing or in the code that consumes its contents.
FILE_ERRORS = (AssertionError, LookupError, MemoryError, RecursionError, ValueError, TypeError, RuntimeError,
               OverflowError, AttributeError, ArithmeticError, EOFError, OSError, struct.error, zipfile.BadZipFile,
               tarfile.TarError, UnicodeError, NotImplementedError)


@contextlib.contextmanager
def guard(path, error: type[Exception] = CheckpointError, what: str = "not a readable checkpoint") -> Iterator[None]:
    """Turn any exception a crafted file can cause into one `error` line naming `path`."""
    try:
        yield
    except (CheckpointError, error) as exc:
        if isinstance(exc, error) and str(exc).startswith(f"{path}"):
            raise
        raise error(_named(path, str(exc))) from None
    except MemoryError:
        raise error(f"{path}: {what} (it asks for more memory than is available)") from None
    except RecursionError:
        raise error(f"{path}: {what} (nested too deeply)") from None
    except FILE_ERRORS as exc:
        message = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise error(_named(path, f"{what} ({type(exc).__name__}{': ' + message if message else ''})")) from None


def _named(path, message: str) -> str:
    return message if message.startswith(f"{path}:") or message.startswith(f"{path} ") else f"{path}: {message}"


# ---- opening ---------------------------------------------------------------------------------------------------------
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path, error: type[Exception] = CheckpointError) -> tuple[io.BufferedReader, int]:
    """(binary file, size) of a regular file; FIFOs, devices, sockets and directories are refused unopened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path}: is {_kind(mode)}, not a regular file; refusing to open it") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
        os.close(fd)
        raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file; refusing to open it")
    return os.fdopen(fd, "rb"), st.st_size


def _read_exact(f, n: int, buf: bytearray | None = None) -> bytearray:
    """n bytes from f into a fresh (or the given) bytearray, in chunks; short data is a truncated file."""
    buf = bytearray(n) if buf is None else buf
    view, done = memoryview(buf), 0
    while done < n:
        chunk = f.read(min(n - done, 1 << 22))
        if not chunk:
            raise CheckpointError(f"truncated: {n - done} of {n} bytes missing")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    return buf


# ---- format sniffing -----------------------------------------------------------------------------------------------
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_HEAD = b"\x80\x02\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little")


def sniff(head: bytes) -> str:
    """What a file is, from its first 512 bytes."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(_LEGACY_HEAD):
        return "torch-legacy"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:1] == b"\x80" and head[1:2] and head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 27):
        return "safetensors"
    if head[:1] in (b"{", b"["):
        return "JSON text"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "a text file"
    return "unknown"


_DESCRIBE = {"npy": "a numpy .npy file", "pickle": "a raw Python pickle (not written by torch.save)",
             "safetensors": "a safetensors file", "JSON text": "a JSON/text file", "unknown": "not a known format"}


# ---- tensors over storages -----------------------------------------------------------------------------------------
class _Storage:
    """A storage read from the file: a flat tensor over bytes we allocated after checking the file holds them."""

    __slots__ = ("flat", "dtype")

    def __init__(self, flat: torch.Tensor):
        self.flat, self.dtype = flat, flat.dtype


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _new_storage(dtype: torch.dtype, numel: int, budget: list[int]) -> tuple[_Storage, bytearray]:
    """An uninitialised storage of numel elements, only if the file still holds that many bytes (budget[0])."""
    if not isinstance(numel, int) or numel < 0:
        raise CheckpointError(f"storage size {numel!r} is not a non-negative integer")
    nbytes = numel * _element_size(dtype)
    if nbytes > budget[0]:
        raise CheckpointError(f"a storage declares {nbytes:,} bytes but the file holds only {budget[0]:,} more "
                              "(refusing to allocate memory the file cannot fill)")
    budget[0] -= nbytes
    buf = bytearray(nbytes)
    flat = torch.frombuffer(buf, dtype=dtype) if nbytes else torch.empty(0, dtype=dtype)
    return _Storage(flat), buf


def _checked_view(storage, offset, size, stride) -> torch.Tensor:
    """storage viewed with (offset, size, stride), after checking every element lies inside the storage."""
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"tensor rebuilt from {type(storage).__name__}, expected a storage of the file")
    size, stride = tuple(size), tuple(stride)
    ints = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, *size, *stride))
    if not ints or len(size) != len(stride) or len(size) > MAX_TENSOR_DIMS:
        raise CheckpointError(f"tensor metadata offset={offset!r:.40} size={size!r:.60} stride={stride!r:.60} "
                              "is not a valid layout")
    numel, available = math.prod(size), storage.flat.numel()
    if numel:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= available:
            raise CheckpointError(f"tensor of size {list(size)} (offset {offset}, stride {list(stride)}) reaches "
                                  f"element {last:,} of a storage of {available:,}")
        if numel > available:  # zero / overlapping strides: many elements from few bytes
            raise CheckpointError(f"tensor of size {list(size)} has {numel:,} elements over a storage of "
                                  f"{available:,} (zero or overlapping strides)")
    return storage.flat.as_strided(size, stride, offset)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    tensor = _checked_view(storage, storage_offset, size, stride)
    return tensor.requires_grad_(bool(requires_grad)) if tensor.is_floating_point() else tensor


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild(*args):
    # torch pickles both _rebuild_tensor(storage, offset, size, stride) and _rebuild_tensor_v2(..., grad, hooks, md)
    if not 4 <= len(args) <= 7:
        raise CheckpointError("tensor rebuilt with unexpected arguments")
    return _rebuild_tensor_v2(*args)


def _storage_dtype(storage_type) -> torch.dtype:
    if not isinstance(storage_type, StorageType):
        raise CheckpointError(f"persistent id names {type(storage_type).__name__}, expected a storage type")
    return storage_type.dtype


def _unpickler(file, persistent_load) -> RestrictedUnpickler:
    return RestrictedUnpickler(file, persistent_load=persistent_load, tensor_rebuild=_rebuild)


# ---- torch.save zip archives ---------------------------------------------------------------------------------------
_TORCH_RECORDS = {"data.pkl", "version", ".format_version", ".storage_alignment", "byteorder",
                  ".data/serialization_id"}
_TORCHSCRIPT_MARKS = ("constants.pkl", "bytecode.pkl", "code/", ".data/version", "extra/", "constants/",
                      "mobile_info.json", "producer_info.json")


def _read_torch_zip(f, size: int) -> Any:
    try:
        archive = zipfile.ZipFile(f)
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"not a readable PyTorch checkpoint: a damaged zip archive ({exc})") from None
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CheckpointError(f"zip archive with {len(infos):,} entries (at most {MAX_ZIP_ENTRIES:,})")
    names = [i.filename for i in infos]
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1] or \
              [n for n in names if n == "data.pkl"]
    prefix = pickles[0][: -len("data.pkl")] if pickles else ""
    records = [n[len(prefix):] if n.startswith(prefix) else n for n in names]
    marks = sorted({m.rstrip("/") for r in records for m in _TORCHSCRIPT_MARKS
                    if r == m or (m.endswith("/") and r.startswith(m))})
    if marks:
        raise CheckpointError(f"is a TorchScript archive (it holds {', '.join(marks)}): TorchScript runs its own "
                              "code when loaded, so it is refused (save the weights with torch.save(state_dict))")
    if any(n.endswith(".npy") for n in names):
        raise CheckpointError("is a numpy .npz archive, not a torch.save file")
    if len(pickles) != 1:
        raise CheckpointError("zip archive without exactly one data.pkl: not a torch.save file")
    total = 0
    for info, record in zip(infos, records):
        if not info.filename.startswith(prefix) or not (
                record in _TORCH_RECORDS or (record.startswith("data/") and record[5:].isalnum())):
            raise CheckpointError(f"unexpected zip entry '{info.filename}': not a torch.save archive")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"zip entry '{info.filename}' uses compression method {info.compress_type}")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CheckpointError(f"zip entry '{info.filename}' claims {info.file_size:,} bytes stored in "
                                  f"{info.compress_size:,}")
        total += info.file_size
        if info.file_size > MAX_EXPANSION * size or total > MAX_EXPANSION * size:
            raise CheckpointError(f"zip entries expand to {total:,} bytes, more than {MAX_EXPANSION}x the file's "
                                  f"{size:,} (a zip bomb?)")
    by_name = {info.filename: info for info in infos}
    if prefix + "byteorder" in by_name and archive.read(prefix + "byteorder").strip() not in (b"little", b""):
        raise CheckpointError("big-endian torch archive: not supported")
    budget = [MAX_EXPANSION * size]
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80} (expected a storage)")
        _, storage_type, key, location, numel = pid
        dtype = _storage_dtype(storage_type)
        if not isinstance(key, str) or not isinstance(location, str):
            raise CheckpointError("storage key / location are not strings")
        if key not in storages:
            info = by_name.get(f"{prefix}data/{key}")
            if info is None:
                raise CheckpointError(f"storage '{key}' has no entry in the archive")
            if not isinstance(numel, int) or numel * _element_size(dtype) != info.file_size:
                raise CheckpointError(f"storage '{key}' declares {numel!r:.30} elements of {dtype} but its entry "
                                      f"holds {info.file_size:,} bytes")
            storage, buf = _new_storage(dtype, numel, budget)
            with archive.open(info) as entry:
                _read_exact(entry, len(buf), buf)
            storages[key] = storage
        storage = storages[key]
        if storage.dtype != dtype:
            raise CheckpointError(f"storage '{key}' is used as both {storage.dtype} and {dtype}")
        return storage

    with archive.open(by_name[pickles[0]]) as entry:
        data = bytes(_read_exact(entry, by_name[pickles[0]].file_size))
    return _unpickler(io.BytesIO(data), persistent_load).load()


# ---- legacy (torch < 1.6) pickle stream ----------------------------------------------------------------------------
def _module_source(pid):
    # ('module', class, source file, source): NVIDIA's legacy files record each module class's source. Only the
    # class, one of our stand-ins, is used.
    cls = pid[1] if len(pid) > 1 else None
    if not (isinstance(cls, type) and issubclass(cls, PickledObject)):
        raise CheckpointError(f"persistent id 'module' names {cls!r:.60}, not a pickled module class")
    return cls


def _read_torch_legacy(f, size: int) -> Any:
    def plain(what: str):
        return _unpickler(f, _no_persistent(what)).load()

    if plain("magic number") != LEGACY_MAGIC:
        raise CheckpointError("invalid magic number")
    if plain("protocol version") != 1001:
        raise CheckpointError("unsupported legacy protocol version")
    sys_info = plain("sys_info")
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        raise CheckpointError("big-endian legacy checkpoint: not supported")
    budget = [size]
    storages: dict[str, tuple[_Storage, bytearray]] = {}
    views: dict[str, _Storage] = {}

    def persistent_load(pid):
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"unexpected persistent id {pid!r:.60}")
        if pid[0] == "module":
            return _module_source(pid)
        if pid[0] != "storage" or len(pid) != 6:
            raise CheckpointError(f"unexpected persistent id {pid[0]!r:.40}")
        _, storage_type, key, _location, numel, view = pid
        dtype = _storage_dtype(storage_type)
        if not isinstance(key, str):
            raise CheckpointError("storage key is not a string")
        if key not in storages:
            storages[key] = _new_storage(dtype, numel, budget)
        root = storages[key][0]
        if root.dtype != dtype:
            raise CheckpointError(f"storage '{key}' is used as both {root.dtype} and {dtype}")
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise CheckpointError("storage view metadata is not (key, offset, size)")
        view_key, offset, view_size = view
        if view_key not in views:
            if not all(isinstance(v, int) and v >= 0 for v in (offset, view_size)) or \
                    offset + view_size > root.flat.numel():
                raise CheckpointError(f"storage view ({offset!r:.20}, {view_size!r:.20}) outside its storage")
            views[view_key] = _Storage(root.flat[offset:offset + view_size])
        return views[view_key]

    result = _unpickler(f, persistent_load).load()
    keys = plain("storage keys")
    if not isinstance(keys, list) or set(keys) != set(storages) or len(keys) != len(storages):
        raise CheckpointError("storage key list does not match the storages the pickle uses")
    for key in keys:
        storage, buf = storages[key]
        header = f.read(8)
        if len(header) != 8 or int.from_bytes(header, "little", signed=True) != storage.flat.numel():
            raise CheckpointError(f"storage '{key}': size header does not match its declared size (truncated?)")
        _read_exact(f, len(buf), buf)
    return result


def _starts_with_legacy_magic(f) -> bool:
    """A legacy torch file written with another pickle protocol: its first pickle is torch's magic number."""
    try:
        first = _unpickler(f, _no_persistent("magic number")).load()
    except Exception:  # anything else is simply not a torch file; the caller says so
        first = None
    f.seek(0)
    return first == LEGACY_MAGIC and type(first) is int


def _no_persistent(what: str):
    def refuse(pid):
        raise CheckpointError(f"unexpected persistent id in the {what}")
    return refuse


# ---- legacy tar (torch < 0.4) ----------------------------------------------------------------------------------------
def _read_torch_tar(f, size: int) -> Any:
    with tarfile.open(fileobj=f, mode="r:") as tar:
        members = {}
        for member in tar.getmembers():
            if member.name in ("sys_info", "pickle", "storages", "tensors"):
                if not member.isreg():
                    raise CheckpointError(f"tar member '{member.name}' is not a regular file (type "
                                          f"{member.type!r}); refusing to read it")
                if member.size > size:
                    raise CheckpointError(f"tar member '{member.name}' claims more bytes than the file holds")
                members[member.name] = member
        missing = {"pickle", "storages", "tensors"} - set(members)
        if missing:
            raise CheckpointError(f"legacy tar checkpoint without {', '.join(sorted(missing))}")

        def read(name: str) -> io.BytesIO:
            handle = tar.extractfile(members[name])
            return io.BytesIO(bytes(_read_exact(handle, members[name].size)))

        objects: dict[Any, Any] = {}
        budget = [size]
        s = read("storages")
        for _ in range(_count(_unpickler(s, _no_persistent("storages")).load())):
            entry = _unpickler(s, _no_persistent("storages")).load()
            if not (isinstance(entry, tuple) and len(entry) == 3):
                raise CheckpointError("storage record is not (key, location, type)")
            key, _location, storage_type = entry
            header = s.read(8)
            if len(header) != 8:
                raise CheckpointError("truncated storage record")
            storage, buf = _new_storage(_storage_dtype(storage_type),
                                        int.from_bytes(header, "little", signed=True), budget)
            _read_exact(s, len(buf), buf)
            objects[key] = storage
        views = _unpickler(s, _no_persistent("storages")).load()
        for view in views if isinstance(views, list) else _fail_list("storage views"):
            target, root_key, offset, numel = view
            root = objects.get(root_key)
            if not isinstance(root, _Storage) or not all(isinstance(v, int) and v >= 0 for v in (offset, numel)) \
                    or offset + numel > root.flat.numel():
                raise CheckpointError("storage view outside its storage")
            objects[target] = _Storage(root.flat[offset:offset + numel])
        t = read("tensors")
        for _ in range(_count(_unpickler(t, _no_persistent("tensors")).load())):
            entry = _unpickler(t, _no_persistent("tensors")).load()
            if not (isinstance(entry, tuple) and len(entry) == 3):
                raise CheckpointError("tensor record is not (key, storage, type)")
            key, storage_id, _ = entry
            ndim = struct.unpack("<i", t.read(4))[0]
            t.read(4)
            if not 0 <= ndim <= MAX_TENSOR_DIMS:
                raise CheckpointError(f"tensor with {ndim} dimensions")
            sizes = struct.unpack(f"<{ndim}q", t.read(8 * ndim))
            strides = struct.unpack(f"<{ndim}q", t.read(8 * ndim))
            offset = struct.unpack("<q", t.read(8))[0]
            objects[key] = _checked_view(objects.get(storage_id), offset, sizes, strides)

        def persistent_load(pid):
            if isinstance(pid, tuple):
                return _module_source(("module",) + pid)
            if not isinstance(pid, (str, int)) or int(pid) not in objects:
                raise CheckpointError(f"unknown persistent id {pid!r:.40}")
            return objects[int(pid)]

        return _unpickler(read("pickle"), persistent_load).load()


def _count(value) -> int:
    if not isinstance(value, int) or not 0 <= value <= MAX_ZIP_ENTRIES:
        raise CheckpointError(f"record count {value!r:.30} out of range")
    return value


def _fail_list(what: str):
    raise CheckpointError(f"{what} are not a list")


# ---- public: torch files ---------------------------------------------------------------------------------------------
def load_torch_file(path, map_location: Any = "cpu", finite: bool = False) -> Any:
    """The object a `torch.save` file holds (zip, legacy pickle or legacy tar format), read without torch.load.

    finite: also require every floating-point tensor to be finite. Raises CheckpointError naming the file."""
    f, size = open_regular(path)
    with f, guard(path, what="not a readable PyTorch checkpoint"):
        if size == 0:
            raise CheckpointError(f"{path}: empty file")
        head = f.read(512)
        f.seek(0)
        kind = sniff(head)
        if kind == "zip":
            obj = _read_torch_zip(f, size)
        elif kind == "torch-legacy" or (kind == "pickle" and _starts_with_legacy_magic(f)):
            obj = _read_torch_legacy(f, size)
        elif kind == "tar":
            obj = _read_torch_tar(f, size)
        else:
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: it is {_DESCRIBE.get(kind, kind)} "
                                  "(expected a torch.save zip archive or legacy torch file)")
        if finite:
            check_finite(obj, path)
        if map_location is not None and str(map_location) != "cpu" and not callable(map_location):
            obj = _map_tensors(obj, lambda t: t.to(map_location))
        return obj


def _walk(obj: Any, name: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, value) of every object reachable through dicts, lists, tuples and stand-ins, each once."""
    seen: set[int] = set()
    stack = [(name, obj)]
    while stack:
        name, value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield name, value
        if isinstance(value, dict):
            stack.extend((f"{name}.{k}" if name else str(k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{name}.{i}" if name else str(i), v) for i, v in enumerate(value))
        elif isinstance(value, PickledObject):
            stack.append((name, value.state))


def check_finite(obj: Any, path) -> None:
    """Refuse NaN / infinite values in any floating-point tensor or array reachable from `obj`."""
    for name, value in _walk(obj):
        tensor = torch.from_numpy(value) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.numel() \
                and not bool(torch.isfinite(tensor).all()):
            label = name.replace("._parameters.", ".").replace("._buffers.", ".").replace("._modules.", ".")
            raise CheckpointError(f"{path}: tensor '{label or '<top>'}' holds NaN or infinite values")


def _map_tensors(obj: Any, fn) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return obj.__class__((k, _map_tensors(v, fn)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj


# ---- numpy -----------------------------------------------------------------------------------------------------------
def _read_npy(f, available: int, path) -> np.ndarray:
    """One .npy stream of `available` bytes: header parsed by numpy, then shape x dtype checked against the bytes."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
    except ValueError as exc:
        raise CheckpointError(f"not a .npy array ({exc})") from None
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise CheckpointError(f"unsupported .npy version {version}")
    header_len = struct.unpack("<H" if version == (1, 0) else "<I", f.read(2 if version == (1, 0) else 4))[0]
    if header_len > 65536:
        raise CheckpointError(f".npy header of {header_len:,} bytes")
    header = f.read(header_len)
    if len(header) != header_len:
        raise CheckpointError("truncated .npy header")
    try:  # the header is a Python literal; literal_eval builds data only
        meta = ast.literal_eval(header.decode("utf-8" if version == (3, 0) else "latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise CheckpointError(f"unreadable .npy header ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or set(meta) != {"descr", "fortran_order", "shape"}:
        raise CheckpointError(f".npy header {meta!r:.80} is not {{descr, fortran_order, shape}}")
    descr, fortran, shape = meta["descr"], meta["fortran_order"], meta["shape"]
    if not isinstance(descr, str) or len(descr) > 8:
        raise CheckpointError(f"dtype {descr!r:.60} is not a plain numeric type (object or structured dtypes "
                              "are never loaded)")
    dtype = np.dtype(descr)
    if dtype.hasobject:
        raise CheckpointError("holds Python objects (a pickle), not numbers; refusing to unpickle it (dtype "
                              f"{descr!r} is not a plain numeric type)")
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"dtype {descr!r} is not a plain numeric type (only numbers are loaded)")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape) or len(shape) > 32 \
            or not isinstance(fortran, bool):
        raise CheckpointError(f"shape {shape!r:.60} is not a tuple of sizes")
    nbytes = math.prod(shape) * dtype.itemsize
    header_total = 6 + 2 + (2 if version == (1, 0) else 4) + header_len
    if nbytes > available - header_total:
        raise CheckpointError(f"truncated or corrupt: its header declares {shape} {dtype} ({nbytes:,} bytes) but "
                              f"the file holds {max(available - header_total, 0):,} bytes of data")
    data = _read_exact(f, nbytes)
    array = np.frombuffer(data, dtype=dtype) if nbytes else np.empty(0, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def load_npy(path, error: type[Exception] = CheckpointError) -> np.ndarray:
    """A numeric array from a .npy file (no pickles, no objects)."""
    f, size = open_regular(path, error)
    with f, guard(path, error, "not a readable .npy file"):
        return _read_npy(f, size, path)


def load_npz(path, error: type[Exception] = CheckpointError) -> dict[str, np.ndarray]:
    """{name: numeric array} of a .npz archive, each entry checked like a .npy and bounded by the file size."""
    f, size = open_regular(path, error)
    with f, guard(path, error, "not a readable .npz file"):
        if sniff(f.read(8)) != "zip":
            raise CheckpointError("not a zip archive (.npz)")
        f.seek(0)
        archive = zipfile.ZipFile(f)
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise CheckpointError(f".npz with {len(infos):,} entries")
        total, out = 0, {}
        for info in infos:
            total += info.file_size
            if total > MAX_EXPANSION * size:
                raise CheckpointError(f"entries expand to more than {MAX_EXPANSION}x the file's {size:,} bytes")
            if not info.filename.endswith(".npy"):
                raise CheckpointError(f"entry '{info.filename}' is not a .npy array")
            with archive.open(info) as entry:
                out[info.filename[:-4]] = _read_npy(entry, info.file_size, path)
        return out


# ---- safetensors, JSON -----------------------------------------------------------------------------------------------
def load_safetensors(path, finite: bool = True) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (the library checks offsets against the file); optionally all finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    f, size = open_regular(path)
    with f, guard(path, what="not a readable safetensors file"):
        data = bytes(_read_exact(f, size))
        try:
            state = load_bytes(data)
        except SafetensorError as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
        del data
        if finite:
            check_finite(state, path)
        return state


def read_json(path, error: type[Exception] = CheckpointError, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file's value, at most max_bytes, nesting depth bounded by Python's recursion limit."""
    f, size = open_regular(path, error)
    with f:
        if size > max_bytes:
            raise error(f"{path}: {size:,} bytes, more than the {max_bytes:,} a config file may have")
        try:
            return json.loads(f.read(max_bytes + 1).decode("utf-8"))
        except RecursionError:
            raise error(f"{path}: JSON nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise error(f"{path}: not valid JSON ({exc})") from None


def read_json_object(path, error: type[Exception] = CheckpointError,
                     message: str = "expected a JSON object") -> dict[str, Any]:
    """`read_json` of a file that must hold a JSON object (every config this toolkit reads); else error(message)."""
    data = read_json(path, error)
    if not isinstance(data, dict):
        raise error(f"{path}: {message}")
    return data


# ---- configs -----------------------------------------------------------------------------------------------------
WAVEGLOW_LIMITS = {"n_mel_channels": 1024, "n_flows": 128, "n_group": 256, "n_early_every": 128,
                   "n_early_size": 256, "n_layers": 64, "n_channels": 4096, "kernel_size": 63,
                   "upsample_kernel_size": 16384, "hop_length": 16384}
SAMPLING_RATES = (1000, 768000)


def waveglow_parameter_count(config) -> int:
    """Parameters a WaveGlow of `config` has (an upper bound within a few percent), computed without building it."""
    c, n_layers, k = config.n_channels, config.n_layers, config.kernel_size
    total = config.n_mel_channels ** 2 * config.upsample_kernel_size + config.n_mel_channels
    for channels in config.channels_per_flow():
        half = channels // 2
        total += channels * channels * 3  # 1x1 conv (LU form keeps up to three matrices)
        total += half * c + c + config.cond_channels * 2 * c * n_layers + 2 * c * n_layers
        total += n_layers * (2 * c * c * k + 2 * c) + n_layers * (2 * c * c + 2 * c) + 2 * c * half + 2 * half
    return total


def check_waveglow_config(config, path, weight_bytes: int | None = None) -> None:
    """Refuse sizes outside sane ranges, or implying more parameters than `weight_bytes` could hold."""
    for name, limit in WAVEGLOW_LIMITS.items():
        if getattr(config, name) > limit:
            raise CheckpointError(f"{path}: config {name}={getattr(config, name)} is out of range (at most {limit})")
    if not SAMPLING_RATES[0] <= config.sampling_rate <= SAMPLING_RATES[1]:
        raise CheckpointError(f"{path}: config sampling_rate={config.sampling_rate} is out of range "
                              f"({SAMPLING_RATES[0]} to {SAMPLING_RATES[1]} Hz)")
    count = waveglow_parameter_count(config)
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: config implies {count:,} parameters (at most {MAX_PARAMETERS:,})")
    # every parameter is stored with at least 2 bytes; the count is an upper bound, so allow it 1 byte each
    if weight_bytes is not None and count > weight_bytes + 65536:
        raise CheckpointError(f"{path}: config implies {count:,} parameters but the weights file has only "
                              f"{weight_bytes:,} bytes")


def file_size(path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
