"""Reading Tacotron2 weights from NVIDIA-style checkpoint files into a plain state_dict."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from waveglow.common.errors import CheckpointError
from waveglow.common.safe_loading import load_torch_file

# DistributedDataParallel (DeepLearningExamples training) prefixes every key with this.
_DDP_PREFIX = "module."


def _unwrap(obj: Any, path) -> Mapping:
    """The state_dict inside a loaded checkpoint object.

    Accepted: NVIDIA's published `tacotron2_statedict.pt` (`{'state_dict'}`), NVIDIA train.py checkpoints
    (`{'iteration', 'state_dict', 'optimizer', 'learning_rate'}`), DeepLearningExamples checkpoints
    (`{'state_dict', 'config', ...}`) and a bare state_dict.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict checkpoint, found {type(obj).__name__}")
    if "state_dict" in obj:
        state_dict = obj["state_dict"]
        if not isinstance(state_dict, Mapping):
            raise CheckpointError(f"{path}: 'state_dict' is a {type(state_dict).__name__}, expected a dict")
        return state_dict
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    keys = ", ".join(repr(k) for k in list(obj)[:8])
    raise CheckpointError(f"{path}: no 'state_dict' key in the checkpoint (top-level keys: {keys})")


def load_state_dict_file(path, map_location: Any = "cpu") -> dict[str, torch.Tensor]:
    """Tensors of a Tacotron2 checkpoint file, keys without any `module.` prefix.

    Loading goes through the loading gate (`waveglow.common.safe_loading`: nothing in the file is executed, weights must
    be finite); storages saved on a GPU land on `map_location`. Raises CheckpointError for unreadable files and
    non-tensor entries.
    """
    state_dict = _unwrap(load_torch_file(path, map_location=map_location, finite=True), path)
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict entry {key!r} is not a named tensor")
        if key.startswith(_DDP_PREFIX):
            key = key[len(_DDP_PREFIX):]
        tensors[key] = value
    return tensors
