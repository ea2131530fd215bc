"""Allow-listed unpickling of PyTorch checkpoint files we did not write.

`torch.load(..., weights_only=False)` executes whatever the pickle asks for. NVIDIA's WaveGlow files pickle whole
modules (`glow.WaveGlow`), so torch's `weights_only=True` mode refuses them. We instead unpickle with an Unpickler
whose `find_class` resolves only an explicit allow-list:

* tensor/storage rebuild helpers and plain containers, resolved to the real objects;
* module classes (`glow.*`, `torch.nn.modules.*`, the legacy `WeightNorm` hook) resolved to `PickledObject`, an inert
  record that keeps its pickled `__dict__` and has no behaviour at all: nothing of the file's classes ever runs.

Any other global raises `CheckpointError` naming it, before the pickle's REDUCE opcode could call it.
"""
from __future__ import annotations

import _compat_pickle
import io
import pickle
import warnings
from typing import Any

import torch


class CheckpointError(Exception):
    """A checkpoint file that cannot be loaded: unsafe, corrupt, or of an unknown layout."""


class PickledObject:
    """Inert stand-in for a pickled class instance (a module, a hook): `.classname` and `.state` only."""

    classname = "?"
    dump_patches = False  # read by torch's legacy loader when a file's pickled class source differs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<pickled {self.classname}>"

    def get(self, key: str, default: Any = None) -> Any:
        state = getattr(self, "state", None)
        return state.get(key, default) if isinstance(state, dict) else default


_stand_ins: dict[str, type] = {}


def _stand_in(qualname: str) -> type:
    """One PickledObject subclass per pickled class name (so `.classname` tells what it was)."""
    if qualname not in _stand_ins:
        _stand_ins[qualname] = type("PickledObject", (PickledObject,), {"classname": qualname})
    return _stand_ins[qualname]


def _rebuild_parameter(data, requires_grad, backward_hooks, *_state):
    # Backward hooks in a file are never attached: they would be code from the file.
    return torch.nn.Parameter(data, requires_grad)


# Globals resolved to real callables. Each one only builds data (containers, tensors, numpy arrays).
_ALLOWED_CALLABLES: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("_codecs", "encode"): __import__("codecs").encode,  # numpy arrays pickled with protocol 2 use it for bytes
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("torch", "float32"): torch.float32,
    ("torch", "float16"): torch.float16,
    ("torch", "bfloat16"): torch.bfloat16,
}


def _numpy_allowed() -> dict[tuple[str, str], Any]:
    # Training checkpoints (e.g. DeepLearningExamples) carry numpy RNG states: plain arrays and scalars.
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    table: dict[tuple[str, str], Any] = {}
    for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(core, "_reconstruct")] = multiarray._reconstruct
        table[(core, "scalar")] = getattr(multiarray, "scalar", None)
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    for name in dir(np.dtypes):
        if name.endswith("DType"):
            table[("numpy.dtypes", name)] = getattr(np.dtypes, name)
    return {k: v for k, v in table.items() if v is not None}


# Globals resolved to an inert PickledObject, matched by module prefix.
_STAND_IN_MODULES = ("glow", "torch.nn.modules.", "model", "waveglow.model", "denoiser")
_STAND_IN_EXACT = {("torch.nn.utils.weight_norm", "WeightNorm")}


def _is_stand_in(module: str, name: str) -> bool:
    if (module, name) in _STAND_IN_EXACT:
        return True
    if not name[:1].isupper():  # only classes; a function such as glow.remove or model.os would not qualify
        return False
    return any(module == p or (p.endswith(".") and module.startswith(p)) for p in _STAND_IN_MODULES)


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only allow-listed globals (see module docstring)."""

    _numpy: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 0-2 pickles store Python 2 names (__builtin__.exec, commands.Popen); map them as pickle does,
        # so both the allow-list and the error message see the real Python 3 global.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        key = (module, name)
        if key in _ALLOWED_CALLABLES:
            return _ALLOWED_CALLABLES[key]
        if RestrictedUnpickler._numpy is None:
            RestrictedUnpickler._numpy = _numpy_allowed()
        if key in RestrictedUnpickler._numpy:
            return RestrictedUnpickler._numpy[key]
        if _is_stand_in(module, name):
            return _stand_in(f"{module}.{name}")
        raise CheckpointError(
            f"refusing to unpickle global '{module}.{name}': it is not on the allow-list of data types "
            "(a checkpoint should hold tensors and containers only)"
        )


def load(file, **kwargs) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs) -> Any:
    return load(io.BytesIO(data), **kwargs)


class _PickleModule:
    """What `torch.load(pickle_module=...)` needs: `Unpickler` and `load`."""

    Unpickler = RestrictedUnpickler
    load = staticmethod(load)
    loads = staticmethod(loads)
    __name__ = "waveglow.safe_pickle"


pickle_module = _PickleModule()


def safe_torch_load(path, map_location: Any = "cpu") -> Any:
    """Load a `torch.save` file (zip or legacy format) through the allow-list. Storages land on `map_location`.

    Raises CheckpointError for a missing, truncated, corrupt or unsafe file; nothing in the file is executed.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file") from None
    if not head:
        raise CheckpointError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            # Legacy files compare pickled module source with the class's; ours are stand-ins, so they differ.
            warnings.simplefilter("ignore")
            # The allow-listed pickle_module replaces torch's own (weights_only) restriction: see module docstring.
            return torch.load(path, map_location=map_location, pickle_module=pickle_module, weights_only=False)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
