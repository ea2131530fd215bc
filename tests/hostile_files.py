"""Generator of hostile files, one family per hole of issue 20, for `test_hostile_files.py` and the RSS table.

`make(family, kind, folder)` writes one file (or checkpoint folder) and returns a `Hostile`: its path, the marker a
payload would create if it ran, and a pattern the error message must match. kinds:

  torch        a .pt file (checkpoints, training checkpoints); pt_mel: a .pt mel input
  npy, npz     mel inputs
  waveglow_dir / glow_dir   our config.json + model.safetensors folders

Run as a script (`python tests/hostile_files.py`) it prints the peak-RSS table of docs/security.md.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

KINDS = ("torch", "pt_mel", "npy", "npz", "waveglow_dir", "glow_dir")


@dataclass
class Hostile:
    path: Path
    match: str  # regex the one-line error must match (besides naming the file) ...
    marker: Path | None = None
    readers: tuple[str, ...] | None = None  # ... in these entry points (None: all); others refuse it otherwise

WAVEGLOW_READERS = ("info", "vocode_checkpoint", "tts_checkpoint", "waveglow_from_pretrained", "demo_vocoder")


# ---- raw builders ----------------------------------------------------------------------------------------------------
def torch_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None,
              compress: dict[str, int] | None = None, extra: dict[str, bytes] | None = None) -> Path:
    """A zip laid out like torch.save's, with our own data.pkl (and storage entries)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/version", b"3\n")
        for key, data in (storages or {}).items():
            method = (compress or {}).get(key, zipfile.ZIP_STORED)
            zf.writestr(zipfile.ZipInfo(f"archive/data/{key}"), data, compress_type=method)
        for name, data in (extra or {}).items():
            zf.writestr(f"archive/{name}", data)
    return path


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _long(v: int) -> bytes:
    raw = v.to_bytes((v.bit_length() + 8) // 8 or 1, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def storage_pid(key: str, numel: int, storage="FloatStorage") -> bytes:
    """Pickle opcodes pushing torch's persistent id ('storage', type, key, 'cpu', numel) and BINPERSID."""
    return b"(" + _str("storage") + _global("torch", storage) + _str(key) + _str("cpu") + _long(numel) + b"tQ"


def tensor_pickle(key: str, numel: int, offset: int, size: tuple, stride: tuple) -> bytes:
    """data.pkl: {'w': _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}."""
    tup = lambda xs: b"(" + b"".join(_long(x) for x in xs) + b"t"  # noqa: E731
    return (b"\x80\x02}" + _str("w") + _global("torch._utils", "_rebuild_tensor_v2") + b"(" +
            storage_pid(key, numel) + _long(offset) + tup(size) + tup(stride) + b"\x89" +
            _global("collections", "OrderedDict") + b")Rt" + b"Rs.")


def write_npy_header(path: Path, descr, shape: tuple, data: bytes = b"") -> Path:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data)
    return path


def npz_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def npy_bytes(folder: Path, descr: str, shape: tuple, data: bytes = b"") -> bytes:
    return write_npy_header(folder / "_tmp.npy", descr, shape, data).read_bytes()


def tiny_waveglow_config():
    from waveglow import WaveGlowConfig

    return WaveGlowConfig(n_mel_channels=8, n_flows=2, n_group=4, n_early_every=4, n_early_size=2, n_layers=1,
                          n_channels=4, kernel_size=3, upsample_kernel_size=32, hop_length=16)


def tiny_waveglow(seed: int = 0):
    from waveglow import WaveGlow

    torch.manual_seed(seed)
    model = WaveGlow(tiny_waveglow_config())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def ours_dir(folder: Path, config: dict | None = None, weights: bytes | None = None) -> Path:
    """A waveglow_dir: a real export, then config.json / model.safetensors replaced as asked."""
    tiny_waveglow().save_pretrained(folder)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if weights is not None:
        (folder / "model.safetensors").write_bytes(weights)
    return folder


def glow_dir(folder: Path, model_config: dict | None = None, weights: bytes | None = None) -> Path:
    from waveglow.glow.checkpoint import FORMAT, save_glow
    from waveglow.glow.config import GlowConfig
    from waveglow.glow.model import Glow

    save_glow(Glow(GlowConfig(in_channels=1, image_size=(4, 4), levels=1, depth=1, hidden=4)), folder)
    if model_config is not None:
        (folder / "config.json").write_text(json.dumps({"format": FORMAT, "model": model_config}))
    if weights is not None:
        (folder / "model.safetensors").write_bytes(weights)
    return folder


# ---- family 1: TorchScript ----------------------------------------------------------------------------------------
_SCRIPTED: list = []


def torchscript_bytes(marker: Path) -> bytes:
    """A TorchScript archive whose __setstate__ creates `marker` (torch.from_file with shared=True) when loaded."""
    if not _SCRIPTED:  # compiling is the slow part: once per process, the target is an attribute
        class Payload(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.target = ""
                self.buf = torch.zeros(1, dtype=torch.uint8)

            def forward(self, x):
                return x

            @torch.jit.export
            def __getstate__(self):
                return (self.target, self.training)

            @torch.jit.export
            def __setstate__(self, state: tuple[str, bool]):
                self.target = state[0]
                self.training = state[1]
                self.buf = torch.from_file(self.target, True, 4, dtype=torch.uint8)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            _SCRIPTED.append(torch.jit.script(Payload()))
    scripted = _SCRIPTED[0]
    scripted.target = str(marker)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, buffer)
    return buffer.getvalue()


def family_torchscript(kind: str, folder: Path) -> Hostile:
    marker = folder / "torchscript_ran"
    data = torchscript_bytes(marker)
    if kind in ("waveglow_dir", "glow_dir"):
        target = (ours_dir if kind == "waveglow_dir" else glow_dir)(folder / "ts_model", weights=data)
        return Hostile(target, "not a readable safetensors file|safetensors", marker)
    path = folder / {"torch": "scripted.pt", "npy": "scripted.npy", "npz": "scripted.npz"}[kind]
    path.write_bytes(data)
    return Hostile(path, {"torch": "TorchScript", "npy": "npy", "npz": "not a .npy array"}[kind], marker)


# ---- family 2: state changes through allowed names -------------------------------------------------------------------
def build_defaults_pickle() -> bytes:
    """BUILD on torch._utils._rebuild_tensor_v2 with slot state {'__defaults__': (...)}: pickle's own BUILD would
    setattr the real function's defaults (every later load would then rebuild tensors differently)."""
    return (b"\x80\x02" + _global("torch._utils", "_rebuild_tensor_v2") + b"N}" + _str("__defaults__") +
            b"(" + _long(1) + b"\x88N" + b"t" + b"s\x86b" + b"." )


def victim(a=0):
    """A function of this module for showing that Python's own unpickler applies the BUILD payload."""
    return a


def build_class_pickle() -> bytes:
    """BUILD with a __dict__ update on the OrderedDict class itself (allowed name, real class)."""
    return b"\x80\x02" + _global("collections", "OrderedDict") + b"}" + _str("evil") + _long(1) + b"sb."


def family_build(kind: str, folder: Path) -> Hostile:
    data = build_defaults_pickle()
    if kind == "torch":
        return Hostile(torch_zip(folder / "build.pt", data), "refusing to change the state")
    if kind == "npy":  # an object array whose pickle would do the same
        return Hostile(write_npy_header(folder / "build.npy", "|O", (1,), data), "not a plain numeric type")
    if kind == "npz":
        return Hostile(npz_of(folder / "build.npz", {"mel.npy": npy_bytes(folder, "|O", (1,), data)}),
                       "not a plain numeric type")
    target = (ours_dir if kind == "waveglow_dir" else glow_dir)(folder / "build_model", weights=data)
    return Hostile(target, "safetensors")


# ---- family 3: memory bombs (sub-families, each measured in docs/security.md) -----------------------------------
def bomb_storage_size(folder: Path) -> Path:
    """A storage declaring 2**34 floats (64 GiB) whose entry holds 16 bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    return torch_zip(folder / "bomb_storage.pt", tensor_pickle("0", 2 ** 34, 0, (2 ** 34,), (1,)),
                     {"0": b"\x00" * 16})


def bomb_zero_stride(folder: Path) -> Path:
    """One float viewed as [2**20, 2**20] with zero strides (4 TiB once anything copies it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return torch_zip(folder / "bomb_stride.pt", tensor_pickle("0", 1, 0, (2 ** 20, 2 ** 20), (0, 0)),
                     {"0": b"\x00" * 4})


def bomb_zip(folder: Path) -> Path:
    """A deflated storage entry of 256 MiB of zeros (~250 KiB on disk), declared consistently."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 1 << 28
    path = folder / "bomb_zip.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", tensor_pickle("0", n // 4, 0, (n // 4,), (1,)))
        zf.writestr("archive/byteorder", b"little")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as entry:
            chunk = b"\x00" * (1 << 24)
            for _ in range(n // len(chunk)):
                entry.write(chunk)
    return path


def bomb_legacy(folder: Path) -> Path:
    """Legacy (non-zip) format: a storage of 2**34 floats declared in the pickle, 0 bytes of data after it."""
    folder.mkdir(parents=True, exist_ok=True)
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    head = magic + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
    pid = (b"(" + _str("storage") + _global("torch", "FloatStorage") + _str("0") + _str("cpu") + _long(2 ** 34) +
           b"Nt" + b"Q")
    main = b"\x80\x02}" + _str("w") + pid + b"s."
    path = folder / "bomb_legacy.pt"
    path.write_bytes(head + main + pickle.dumps(["0"], protocol=2))
    return path


def bomb_npy(folder: Path, name: str = "bomb.npy") -> Path:
    """A .npy header declaring 2**40 float32 (4 TiB) over 64 bytes of data."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_npy_header(folder / name, "<f4", (2 ** 20, 2 ** 20), b"\x00" * 64)


def bomb_npz(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return npz_of(folder / "bomb.npz", {"mel.npy": npy_bytes(folder, "<f4", (2 ** 20, 2 ** 20), b"\x00" * 64)})


def bomb_config(folder: Path) -> Path:
    """Our export whose config.json asks for 64 flows of 32 layers of 4096 channels (each in range; together
    ~10**11 parameters, a terabyte) beside a weights file of a few KiB."""
    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_waveglow_config().to_dict()
    config["n_flows"], config["n_early_every"] = 64, 64
    config["WN_config"].update(n_channels=4096, n_layers=32)
    return ours_dir(folder / "bomb_config", config=config)


def bomb_glow_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return glow_dir(folder / "bomb_glow", model_config={"in_channels": 1, "image_size": [4, 4], "levels": 1,
                                                         "depth": 200, "hidden": 4096})


BOMBS = {"storage size": bomb_storage_size, "zero strides": bomb_zero_stride, "zip expansion": bomb_zip,
         "legacy storage": bomb_legacy, ".npy header": bomb_npy, ".npz header": bomb_npz,
         "config.json sizes": bomb_config, "Glow config sizes": bomb_glow_config}


def family_memory(kind: str, folder: Path) -> Hostile:
    if kind == "torch":
        return Hostile(bomb_storage_size(folder), "declares|holds only")
    if kind == "npy":
        return Hostile(bomb_npy(folder), "header declares")
    if kind == "npz":
        return Hostile(bomb_npz(folder), "header declares")
    if kind == "waveglow_dir":
        return Hostile(bomb_config(folder), "out of range|implies")
    return Hostile(bomb_glow_config(folder), "implies|out of range")


def family_memory_stride(kind: str, folder: Path) -> Hostile:
    if kind != "torch":
        return family_memory(kind, folder)
    return Hostile(bomb_zero_stride(folder), "zero or overlapping strides")


def family_memory_legacy(kind: str, folder: Path) -> Hostile:
    if kind != "torch":
        return family_memory(kind, folder)
    return Hostile(bomb_legacy(folder), "declares")


# ---- family 4: forged numpy objects ----------------------------------------------------------------------------------
def forged_dtype_pickle() -> bytes:
    """np.dtype('f8') then BUILD with an object field and flags claiming none, filled from raw bytes (numpy's
    own unpickling accepts it; the first element access then dereferences 0x4141414141414141)."""
    state = (b"(" + _long(3) + _str("|") + b"N" + b"(" + _str("a") + b"t" +  # names
             b"}" + _str("a") + b"(" + _global("numpy", "dtype") + b"(" + _str("O8") + b"\x89\x88tR" + _long(0) +
             b"ts" + _long(8) + _long(1) + _long(0) + b"t")
    dtype = _global("numpy", "dtype") + b"(" + _str("f8") + b"\x89\x88tR" + state + b"b"
    array = (_global("numpy.core.multiarray", "_reconstruct") + b"(" + _global("numpy", "ndarray") + b"(" +
             _long(0) + b"tC\x01btR" + b"(" + _long(1) + b"(" + _long(1) + b"t" + dtype + b"\x89C\x08" +
             b"\x41" * 8 + b"tb")
    return b"\x80\x02}" + _str("rng") + array + b"s."


def family_numpy_objects(kind: str, folder: Path) -> Hostile:
    if kind == "torch":
        return Hostile(torch_zip(folder / "forged_numpy.pt", forged_dtype_pickle()), "not a plain numeric type")
    if kind == "npy":
        return Hostile(write_npy_header(folder / "objects.npy", [("a", "|O")], (1,), b"\x41" * 8),
                       "not a plain numeric type")
    if kind == "npz":
        return Hostile(npz_of(folder / "objects.npz", {"mel.npy": npy_bytes(folder, "|O", (1,), b"\x41" * 8)}),
                       "not a plain numeric type")
    # our folders hold no numpy: a config.json whose sizes are objects instead of numbers
    config = tiny_waveglow_config().to_dict()
    config["n_flows"] = {"__class__": "numpy.ndarray"}
    if kind == "waveglow_dir":
        return Hostile(ours_dir(folder / "objects_model", config=config), "must be an integer")
    return Hostile(glow_dir(folder / "objects_glow", model_config={"depth": {"object": 1}}), "config")


# ---- family 5: files that block ------------------------------------------------------------------------------------
def legacy_tar(path: Path, fifo_member: str | None = None) -> Path:
    """A legacy (torch < 0.4) tar checkpoint of {'w': arange(6) as [2, 3]}; `fifo_member` becomes a FIFO entry."""
    values = torch.arange(6, dtype=torch.float32)
    record = lambda *items: b"\x80\x02(" + b"".join(items) + b"t."  # noqa: E731
    storages = (pickle.dumps(1, protocol=2) + record(_long(1), _str("cpu"), _global("torch", "FloatStorage"))
                + struct.pack("<q", values.numel()) + values.numpy().tobytes() + pickle.dumps([], protocol=2))
    tensors = (pickle.dumps(1, protocol=2) + record(_long(2), _long(1), _global("torch", "FloatTensor"))
               + struct.pack("<ii", 2, 0) + struct.pack("<2q", 2, 3) + struct.pack("<2q", 3, 1) + struct.pack("<q", 0))
    main = b"\x80\x02}" + _str("w") + b"P2\n" + b"s."
    members = {"sys_info": pickle.dumps({"little_endian": True}, protocol=2), "storages": storages,
               "tensors": tensors, "pickle": main}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if name == fifo_member:
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def family_fifo(kind: str, folder: Path) -> Hostile:
    name = {"torch": "fifo.pt", "npy": "fifo.npy", "npz": "fifo.npz"}.get(kind)
    if name is None:
        target = (ours_dir if kind == "waveglow_dir" else glow_dir)(folder / "fifo_model")
        (target / "model.safetensors").unlink()
        os.mkfifo(target / "model.safetensors")
        return Hostile(target, "FIFO")
    os.mkfifo(folder / name)
    return Hostile(folder / name, "FIFO")


def family_fifo_tar(kind: str, folder: Path) -> Hostile:
    if kind != "torch":
        return family_fifo(kind, folder)
    return Hostile(legacy_tar(folder / "fifo_member.pt", fifo_member="storages"), "not a regular file")


# ---- family 6: non-finite weights ----------------------------------------------------------------------------------
def family_nan(kind: str, folder: Path) -> Hostile:
    model = tiny_waveglow()
    if kind == "torch":
        from nvidia_layout import dle_state_dict

        state = dle_state_dict(model)
        key = next(k for k in state if k.endswith("end.weight"))
        state[key][0] = float("nan")
        path = folder / "nan.pt"
        torch.save({"config": model.config.to_dict(), "state_dict": state}, path)
        return Hostile(path, "NaN")
    if kind in ("npy", "npz", "pt_mel"):
        mel = np.zeros((8, 10), dtype=np.float32)
        mel[0, 0] = np.nan
        path = folder / f"nan.{kind.replace('pt_mel', 'pt')}"
        if kind == "pt_mel":
            torch.save({"mel": torch.from_numpy(mel)}, path)
        else:
            np.save(path, mel) if kind == "npy" else np.savez(path, mel=mel)
        return Hostile(path, "NaN")
    if kind == "waveglow_dir":
        with torch.no_grad():
            model.upsample.weight[0, 0, 0] = float("inf")
        return Hostile(model.save_pretrained(folder / "nan_model"), "NaN or infinite")
    from safetensors.torch import save

    target = glow_dir(folder / "nan_glow")
    from safetensors.torch import load_file

    state = load_file(target / "model.safetensors")
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel())
    state[key].view(-1)[0] = float("nan")
    (target / "model.safetensors").write_bytes(save(state))
    return Hostile(target, "NaN")


# ---- family 7: crafted files that used to crash with a traceback ------------------------------------------------
def family_crash_text(kind: str, folder: Path) -> Hostile:
    """A text file under the expected name (IndexError / pickle errors before)."""
    name = {"torch": "text.pt", "npy": "text.npy", "npz": "text.npz"}.get(kind)
    if name is None:
        target = (ours_dir if kind == "waveglow_dir" else glow_dir)(folder / "text_model")
        (target / "config.json").write_text("[" * 100_000)
        return Hostile(target, "nested too deeply|not valid JSON")
    (folder / name).write_text("hello, this is not a checkpoint\n")
    return Hostile(folder / name, "text file|npy|zip")


def family_crash_metadata(kind: str, folder: Path) -> Hostile:
    """Odd persistent ids, tensor metadata, sampling rates, layer sizes, DLE hints."""
    if kind == "torch":
        pkl = b"\x80\x02}" + _str("w") + b"(" + _str("bogus") + b"tQ" + b"s."
        return Hostile(torch_zip(folder / "odd_pid.pt", pkl), "persistent id")
    if kind == "npy":
        return Hostile(write_npy_header(folder / "odd_shape.npy", "<f4", (-1, 3)), "shape")
    if kind == "npz":
        return Hostile(npz_of(folder / "odd_entry.npz", {"mel.txt": b"hello"}), "not a .npy")
    if kind == "waveglow_dir":
        config = tiny_waveglow_config().to_dict()
        config["sampling_rate"] = 2 ** 40
        return Hostile(ours_dir(folder / "rate_model", config=config), "sampling_rate")
    return Hostile(glow_dir(folder / "odd_glow", model_config={"levels": 1, "image_size": "xy"}), "config")


def family_crash_dle_hints(kind: str, folder: Path) -> Hostile:
    if kind != "torch":
        return family_crash_metadata(kind, folder)
    from nvidia_layout import dle_state_dict

    model = tiny_waveglow()
    path = folder / "odd_hints.pt"
    torch.save({"config": {**model.config.to_dict(), "hop_length": "sixteen", "sampling_rate": 2 ** 40},
                "state_dict": dle_state_dict(model)}, path)
    return Hostile(path, "hop_length|sampling_rate|ValueError|out of range", readers=WAVEGLOW_READERS)


def family_crash_cycle(kind: str, folder: Path) -> Hostile:
    """A pickled module that is its own child (RecursionError before), or a cyclic tensor metadata."""
    if kind != "torch":
        return family_crash_text(kind, folder)
    stand_in = _global("glow", "WaveGlow")
    # obj = glow.WaveGlow(); obj.__dict__ = {'_modules': {'self': obj}}
    pkl = (b"\x80\x02}" + _str("model") + stand_in + b")\x81q\x00}" + _str("_modules") + b"}" + _str("self") +
           b"h\x00ssb" + b"s.")
    return Hostile(torch_zip(folder / "cycle.pt", pkl), "contains itself", readers=WAVEGLOW_READERS)


FAMILIES = {
    "torchscript": family_torchscript,
    "build_state": family_build,
    "memory_storage": family_memory,
    "memory_stride": family_memory_stride,
    "memory_legacy": family_memory_legacy,
    "numpy_objects": family_numpy_objects,
    "fifo": family_fifo,
    "fifo_tar_member": family_fifo_tar,
    "nan_weights": family_nan,
    "crash_text": family_crash_text,
    "crash_metadata": family_crash_metadata,
    "crash_dle_hints": family_crash_dle_hints,
    "crash_cycle": family_crash_cycle,
}


def make(family: str, kind: str, folder: Path) -> Hostile:
    """kind 'pt_mel' is a .pt mel input: the torch file of the family (a NaN mel for nan_weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "pt_mel" and family != "nan_weights":
        kind = "torch"
    return FAMILIES[family](kind, folder)


# ---- peak RSS of the loader per bomb family (the table in docs/security.md) ----------------------------------------
def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field))


def load_and_measure(name: str, path: Path) -> tuple[float, float, str]:
    """(peak RSS growth in MiB while loading `path`, seconds, outcome), measured in this process: VmHWM is reset
    to the current RSS first (/proc/self/clear_refs), so earlier peaks do not hide this one."""
    import time

    from waveglow import WaveGlow
    from waveglow.glow.checkpoint import load_glow
    from waveglow.audio.mel_files import load_mel_file

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status_mib("VmRSS:")
    start = time.perf_counter()
    try:
        if name.startswith("Glow"):
            load_glow(path)
        elif path.suffix in (".npy", ".npz"):
            load_mel_file(path)
        else:
            WaveGlow.from_pretrained(path)
        outcome = "LOADED"
    except Exception as exc:  # the table reports whatever happened
        outcome = type(exc).__name__ + ": " + " ".join(str(exc).split())
    return _status_mib("VmHWM:") - base, time.perf_counter() - start, outcome


def measure_bombs(folder: Path, names=None) -> list[tuple[str, float, float, int, str]]:
    """(name, peak RSS growth MiB, seconds, file bytes, outcome) per bomb."""
    rows = []
    for name in names or BOMBS:
        path = BOMBS[name](folder / name.replace(" ", "_").replace(".", ""))
        size = sum(p.stat().st_size for p in (path.iterdir() if path.is_dir() else [path]))
        load_and_measure(name, path)  # the first call also pays for lazy imports
        rss, seconds, outcome = load_and_measure(name, path)
        rows.append((name, rss, seconds, size, outcome))
    return rows


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        print("| bomb | file size | peak RSS growth while loading | time | outcome |")
        print("|---|---|---|---|---|")
        for name, rss, seconds, size, outcome in measure_bombs(Path(tmp)):
            print(f"| {name} | {size / 1024:,.0f} KiB | {rss:.1f} MiB | {seconds:.3f} s | {outcome[:110]} |")
        for golden in sorted(Path(__file__).parent.glob("fixtures/golden/waveglow_*.pt")):  # for comparison
            rss, seconds, outcome = load_and_measure(golden.name, golden)
            print(f"| legitimate: {golden.name} | {golden.stat().st_size / 1024:,.0f} KiB | {rss:.1f} MiB | "
                  f"{seconds:.3f} s | {outcome} |")
