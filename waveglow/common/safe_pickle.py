"""Allow-listed unpickling of pickles we did not write (used by `waveglow.common.safe_loading`, the one loading gate).

NVIDIA's WaveGlow files pickle whole modules (`glow.WaveGlow`), so torch's `weights_only=True` mode refuses them.
We unpickle with a subclass of Python's own pure-Python Unpickler, so every state-changing opcode passes through
us:

* `find_class` resolves only an allow-list. Data-building callables resolve to checking wrappers (tensor rebuilds,
  containers, numeric numpy arrays); module classes (`glow.*`, `torch.nn.modules.*`, the legacy `WeightNorm` hook)
  resolve to `PickledObject` stand-ins created per load: inert records that keep their pickled state.
* REDUCE calls only those wrappers; NEWOBJ / INST / OBJ instantiate only stand-ins, without arguments.
* BUILD (`__setstate__`, `__setattr__`, `__dict__` updates) applies only to objects this load created: stand-ins,
  OrderedDicts (their `_metadata`), numpy dtypes and arrays (checked to be plain numbers first). A real function,
  class or module-level object is never changed, so nothing a file does outlives its load.

Any other global or opcode target raises `CheckpointError` naming it; nothing of the file is ever executed.
"""
from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import pickle
from typing import Any, Callable

import numpy as np
import torch

from waveglow.common.errors import CheckpointError


class PickledObject:
    """Inert stand-in for a pickled class instance (a module, a hook): `.classname` and `.state` only."""

    classname = "?"
    state: Any = None

    def __repr__(self) -> str:
        return f"<pickled {self.classname}>"

    def get(self, key: str, default: Any = None) -> Any:
        state = self.state
        return state.get(key, default) if isinstance(state, dict) else default


class StorageType:
    """What a pickled storage class (`torch.FloatStorage`, ...) resolves to: its dtype, nothing else."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self) -> str:
        return f"<storage type {self.name}>"


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}
STORAGE_TYPES = {name: StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()}
# legacy tar checkpoints tag each tensor with its type (torch.FloatTensor ...): a tag only, never called
STORAGE_TYPES.update({name.replace("Storage", "Tensor"): StorageType(name.replace("Storage", "Tensor"), dtype)
                      for name, dtype in _STORAGE_DTYPES.items() if name != "UntypedStorage"})
TORCH_DTYPES = {name: getattr(torch, name) for name in (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")}

# numpy: plain numbers only (no object, void/structured, string or datetime kinds).
_NUMERIC_KINDS = "biufc"


def _fail(message: str):
    raise CheckpointError(message)


# ---- checking wrappers for the allowed callables ---------------------------------------------------------------------
def _ordered_dict(*args):
    if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, dict))):
        _fail("OrderedDict called with unexpected arguments")
    return collections.OrderedDict(*args)


def _container(kind: type) -> Callable:
    def build(*args):
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, set, frozenset))):
            _fail(f"{kind.__name__} called with unexpected arguments")
        return kind(*args)
    build.__name__ = kind.__name__
    return build


def _slice(*args):
    if not 1 <= len(args) <= 3 or not all(a is None or isinstance(a, int) for a in args):
        _fail("slice called with unexpected arguments")
    return slice(*args)


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # numpy arrays pickled with protocol 2 carry their bytes as latin-1 text
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        _fail("_codecs.encode is allowed only to turn latin-1 text into bytes")
    return obj.encode("latin1")


def _torch_size(dims=()):
    if not isinstance(dims, (tuple, list)) or not all(isinstance(d, int) and d >= 0 for d in dims):
        _fail("torch.Size called with something other than non-negative integers")
    return torch.Size(dims)


def _torch_device(*args):
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or len(args[0]) > 32 or \
            (len(args) == 2 and not isinstance(args[1], int)):
        _fail("torch.device called with unexpected arguments")
    return torch.device(*args)


def _numpy_dtype(spec, align=False, copy=True):
    # copy=True always: a dtype singleton handed to BUILD would change numpy for the whole process.
    if not isinstance(spec, str) or len(spec) > 8:
        _fail(f"numpy dtype {spec!r} is not a plain numeric type")
    try:
        dtype = np.dtype(spec)
    except TypeError:
        _fail(f"numpy dtype {spec!r} is not a plain numeric type")
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        _fail(f"numpy dtype {spec!r} is not a plain numeric type (only numbers are loaded, never objects)")
    return np.dtype(spec, align=False, copy=True)


class _NumpyNdarray:
    """What `numpy.ndarray` resolves to: a tag `_reconstruct` accepts; calling it is refused."""

    def __repr__(self) -> str:
        return "<numpy.ndarray tag>"


NDARRAY = _NumpyNdarray()


def _numpy_reconstruct(subtype, shape, dtype_char):
    if subtype is not NDARRAY or tuple(shape) != (0,) or dtype_char not in (b"b", "b"):
        _fail("numpy _reconstruct called with unexpected arguments (only plain ndarrays are loaded)")
    return np.empty(0, dtype=np.int8)


def _check_dtype(dtype, what: str) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or dtype.hasobject \
            or dtype.fields is not None or dtype.subdtype is not None:
        _fail(f"{what}: numpy dtype {dtype!r} is not a plain numeric type")
    return dtype


def _numpy_scalar(dtype, data=None):
    _check_dtype(dtype, "numpy scalar")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        _fail("numpy scalar: its bytes do not match its dtype")
    return np.frombuffer(data, dtype=dtype)[0].copy()


def _rebuild_parameter(data, requires_grad, backward_hooks, *_state):
    # Backward hooks in a file are never attached: they would be code from the file.
    if not isinstance(data, torch.Tensor):
        _fail("_rebuild_parameter of something other than a tensor")
    return torch.nn.Parameter(data, bool(requires_grad))


def _refuse_tensor_rebuild(*_args, **_kwargs):
    _fail("a tensor outside a torch.save archive (no storage reader)")


# The tensor rebuilders are supplied per load by the storage reader (`safe_loading`), which checks sizes and strides.
_TENSOR_REBUILDS = ("_rebuild_tensor", "_rebuild_tensor_v2")

_ALLOWED_CALLABLES: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _container(set),
    ("builtins", "frozenset"): _container(frozenset),
    ("builtins", "slice"): _slice,
    ("_codecs", "encode"): _codecs_encode,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): _torch_size,
    ("torch", "device"): _torch_device,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): NDARRAY,
}
for _core in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED_CALLABLES[(_core, "_reconstruct")] = _numpy_reconstruct
    _ALLOWED_CALLABLES[(_core, "scalar")] = _numpy_scalar
_CALLABLE_IDS = {id(f) for f in _ALLOWED_CALLABLES.values() if callable(f)}

# Globals resolved to an inert PickledObject, matched by module prefix.
_STAND_IN_MODULES = ("glow", "torch.nn.modules.", "model", "waveglow.vocoder.model", "denoiser")
_STAND_IN_EXACT = {("torch.nn.utils.weight_norm", "WeightNorm")}


def _is_stand_in(module: str, name: str) -> bool:
    if (module, name) in _STAND_IN_EXACT:
        return True
    if not name[:1].isupper() or not name.isidentifier():  # only classes; glow.remove or model.os do not qualify
        return False
    return any(module == p or (p.endswith(".") and module.startswith(p)) for p in _STAND_IN_MODULES)


def _check_dtype_state(inst: np.dtype, state) -> None:
    # What numpy pickles for a builtin numeric dtype: (3, byteorder, None, None, None, -1, -1, 0). Anything else
    # (fields, subarrays, forged elsize / flags) could describe objects behind numbers.
    if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ("<", ">", "=", "|")
            and state[2:5] == (None, None, None) and state[5:] == (-1, -1, 0)):
        _fail(f"numpy dtype state {state!r:.80} is not that of a plain numeric type")
    _check_dtype(inst, "numpy dtype")


def _check_array_state(state) -> None:
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        _fail("numpy array state is not (version, shape, dtype, fortran, bytes)")
    _, shape, dtype, fortran, data = state
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape) or len(shape) > 32:
        _fail(f"numpy array shape {shape!r:.80} is not a tuple of sizes")
    _check_dtype(dtype, "numpy array")
    if not isinstance(data, bytes):  # a list here would be an object array
        _fail("numpy array data is not raw bytes (object arrays are never loaded)")
    if math.prod(shape) * dtype.itemsize != len(data):
        _fail(f"numpy array of shape {shape} and dtype {dtype} does not match its {len(data)} bytes")
    if not isinstance(fortran, bool):
        _fail("numpy array order flag is not a bool")


class RestrictedUnpickler(pickle._Unpickler):
    """Pure-Python Unpickler whose globals, calls and state changes are restricted (see module docstring).

    tensor_rebuild: the function `torch._utils._rebuild_tensor(_v2)` resolve to (checks against real storages);
    persistent_load: resolves persistent ids (storages, legacy module sources)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, persistent_load: Callable | None = None, tensor_rebuild: Callable | None = None,
                 encoding: str = "utf-8"):
        super().__init__(file, encoding=encoding)
        self._persistent = persistent_load
        self._tensor_rebuild = tensor_rebuild or _refuse_tensor_rebuild
        self._stand_ins: dict[str, type] = {}  # per load: nothing a file sets on one is seen by the next

    # ---- names ----
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
        if module == "torch._utils" and name in _TENSOR_REBUILDS:
            return self._tensor_rebuild
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        if module == "torch" and name in TORCH_DTYPES:
            return TORCH_DTYPES[name]
        if _is_stand_in(module, name):
            qualname = f"{module}.{name}"
            if qualname not in self._stand_ins:
                self._stand_ins[qualname] = type("PickledObject", (PickledObject,), {"classname": qualname})
            return self._stand_ins[qualname]
        raise CheckpointError(
            f"refusing to unpickle global '{module}.{name}': it is not on the allow-list of data types "
            "(a checkpoint should hold tensors and containers only)"
        )

    def persistent_load(self, pid):
        if self._persistent is None:
            raise CheckpointError("unexpected persistent id in a plain pickle")
        return self._persistent(pid)

    def _is_own_stand_in(self, cls) -> bool:
        return isinstance(cls, type) and cls in self._stand_ins.values()

    # ---- opcodes that call or change things ----
    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if id(func) not in _CALLABLE_IDS and func is not self._tensor_rebuild:
            what = getattr(func, "classname", None) or type(func).__name__
            _fail(f"refusing to call {what}: only allow-listed data builders are called while loading")
        if not isinstance(args, tuple):
            _fail("REDUCE arguments are not a tuple")
        stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._instantiate_stand_in(cls, args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if kwargs:
            _fail("refusing NEWOBJ_EX with keyword arguments")
        self.append(self._instantiate_stand_in(cls, args))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _instantiate(self, klass, args):  # INST and OBJ
        self.append(self._instantiate_stand_in(klass, args))

    def _instantiate_stand_in(self, cls, args):
        if not self._is_own_stand_in(cls):
            _fail(f"refusing to instantiate {getattr(cls, '__name__', type(cls).__name__)}: only stand-ins for "
                  "pickled modules are created while loading")
        if args:
            _fail(f"refusing to instantiate {cls.classname} with arguments")
        return object.__new__(cls)

    def load_build(self):
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, PickledObject) and type(inst) in self._stand_ins.values():
            inst.state = state  # kept as data; nothing is set on the class or run
        elif type(inst) is collections.OrderedDict:
            # torch's state dicts carry `_metadata`; only plain attribute names, only on this fresh instance
            if not isinstance(state, dict) or not all(isinstance(k, str) and k.isidentifier()
                                                      and not k.startswith("__") for k in state):
                _fail("refusing BUILD on an OrderedDict with anything but plain attributes")
            inst.__dict__.update(state)
        elif type(inst) is np.dtype or isinstance(inst, np.dtype):
            _check_dtype_state(inst, state)
            inst.__setstate__(state)
        elif type(inst) is np.ndarray:
            _check_array_state(state)
            inst.__setstate__(state)
        else:
            what = getattr(inst, "__qualname__", None) or type(inst).__name__
            _fail(f"refusing to change the state of {what} (BUILD): a pickle may only fill in objects it "
                  "created")

    dispatch[pickle.BUILD[0]] = load_build


def load(file, **kwargs) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs) -> Any:
    return load(io.BytesIO(data), **kwargs)
