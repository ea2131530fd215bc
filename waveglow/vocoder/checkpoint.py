"""Reading and writing WaveGlow checkpoints.

Formats read (all without NVIDIA's code, every file through the loading gate `safe_loading`):
  nvidia      NVIDIA/waveglow release and train.py files: {'model': pickled glow.WaveGlow, ...}, legacy weight norm
  dle         DeepLearningExamples: {'state_dict': {'module.…'}, 'config': {...}}, cond conv split per layer
  state_dict  a bare state dict in NVIDIA's key layout
  ours        a directory written by `save_waveglow`: config.json + model.safetensors
  training   our training runs: a run directory, its checkpoints/ folder or one ckpt_N.pt (run_checkpoints)
Older NVIDIA layouts (per-layer `cond_layers`, separate `res_layers`/`skip_layers`) are merged on the way in.
The model class is passed in (`read_waveglow(path, WaveGlow)`), so this module sits below the model it builds.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from waveglow.audio.features import MelConfig
from waveglow.common.atomic import atomic_path, atomic_write_text
from waveglow.common.errors import CheckpointError, ConfigError
from waveglow.common.safe_pickle import PickledObject
from waveglow.vocoder.config import WaveGlowConfig
from waveglow.vocoder.run_checkpoints import (CheckpointStore, NotTrainingCheckpoint, load_training_checkpoint,
                                              resolve_training_checkpoint)
from waveglow.vocoder.run_config import TrainingConfig
from waveglow.common.safe_loading import (check_finite, check_waveglow_config, guard, load_safetensors, load_torch_file, open_regular,
                           read_json_object)

FORMAT_NAME = "waveglow-toolkit"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

if TYPE_CHECKING:
    from waveglow.vocoder.model import WaveGlow

__all__ = ["CheckpointError", "CheckpointInfo", "TrainedModel", "load_exported", "read_state_dict",
           "read_training_run", "read_waveglow", "save_waveglow"]


@dataclass
class CheckpointInfo:
    """What `waveglow info` reports about a file."""

    path: str
    source_format: str
    config: WaveGlowConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. iteration, epoch
    mel: MelConfig | None = None  # the features the model is fed (its file's "mel", else `default_mel`)


def default_mel(config: WaveGlowConfig) -> MelConfig:
    """NVIDIA's TacotronSTFT settings at the model's rate, hop and n_mels (fmax 8 kHz, or Nyquist below 16 kHz):
    the mel of a file that does not state its own."""
    fmax = 8000.0 if config.sampling_rate >= 16000 else None
    return MelConfig(sampling_rate=config.sampling_rate, hop_length=config.hop_length, n_mels=config.n_mel_channels,
                     fmax=fmax)


# ---- raw state dicts -------------------------------------------------------------------------------------------------
def _flatten_pickled_module(obj: PickledObject, prefix: str = "", _seen: set | None = None) -> dict[str, torch.Tensor]:
    """Parameters and buffers of an unpickled module tree, keyed like `state_dict()` (read from data only)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen:  # a pickle can make a module its own child
        raise CheckpointError(f"module '{prefix.rstrip('.') or '<top>'}' contains itself")
    if len(seen) > 100_000 or prefix.count(".") > 64:
        raise CheckpointError(f"module tree nested too deeply at '{prefix[:80]}'")
    seen.add(id(obj))
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        values = obj.get(group)
        for name, value in (values.items() if isinstance(values, dict) else ()):
            if isinstance(value, torch.Tensor):
                out[f"{prefix}{name}"] = value
    children = obj.get("_modules")
    for name, child in (children.items() if isinstance(children, dict) else ()):
        if isinstance(child, PickledObject):
            out.update(_flatten_pickled_module(child, f"{prefix}{name}.", seen))
    return out


def _module_attributes(obj: PickledObject) -> dict[str, Any]:
    state = obj.state if isinstance(obj.state, dict) else {}
    return {k: v for k, v in state.items()
            if isinstance(k, str) and not k.startswith("_") and isinstance(v, (int, float, str, bool, tuple))}


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # DistributedDataParallel wraps as `module.`; DLE also saw `module.1.` from nn.Sequential wrappers.
    for prefix in ("module.1.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path, map_location="cpu") -> tuple[dict[str, torch.Tensor], CheckpointInfo, dict]:
    """(raw state dict in NVIDIA's key layout, info, hints) from a .pt/.pth file of any supported format.

    hints: config values found in the file (DLE's 'config', attributes of a pickled NVIDIA module).
    """
    obj = load_torch_file(path, map_location=map_location, finite=True)
    info = CheckpointInfo(path=str(path), source_format="?")
    hints: dict[str, Any] = {}
    if isinstance(obj, PickledObject):
        obj = {"model": obj}
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict or a pickled WaveGlow module, got {type(obj).__name__}")
    for key in ("iteration", "epoch", "learning_rate"):
        if isinstance(obj.get(key), (int, float)):
            info.extra[key] = obj[key]

    model = obj.get("model")
    if isinstance(model, PickledObject):
        info.source_format = "nvidia"
        info.extra["class"] = model.classname
        state = _flatten_pickled_module(model)
        attrs = _module_attributes(model)
        hints.update({k: attrs[k] for k in ("n_flows", "n_group", "n_early_every", "n_early_size") if k in attrs})
        upsample = (model.get("_modules") or {}).get("upsample")
        if isinstance(upsample, PickledObject) and isinstance(upsample.get("stride"), tuple):
            hints["hop_length"] = upsample.get("stride")[0]
    elif isinstance(obj.get("state_dict"), dict):
        info.source_format = "dle" if "config" in obj else "state_dict"
        state = dict(obj["state_dict"])
        if isinstance(obj.get("config"), dict):
            hints.update(obj["config"])
    elif isinstance(model, dict):
        info.source_format = "state_dict"
        state = dict(model)
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        info.source_format = "state_dict"
        state = dict(obj)
    else:
        raise CheckpointError(f"{path}: no WaveGlow weights found (top-level keys: {sorted(map(str, obj))[:8]}); "
                              "expected 'model' (NVIDIA), 'state_dict' (DeepLearningExamples) or a state dict")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor) or not isinstance(k, str)]
    if bad:
        raise CheckpointError(f"{path}: state dict entry '{bad[0]}' is not a tensor")
    return _strip_prefixes(state), info, hints


# ---- normalisation to one layout --------------------------------------------------------------------------------------
def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every (weight_g, weight_v) pair, legacy or parametrization-style, by weight = g * v / ||v||.

    Uses torch's own `_weight_norm` kernel, the one NVIDIA's hooks call, so the folded weights are bit-identical to
    what NVIDIA computes before each forward. A stale plain `weight` next to the pair is discarded.
    """
    out = dict(state)
    pairs = [(k[: -len("weight_g")], "weight_g", "weight_v") for k in state if k.endswith(".weight_g")]
    pairs += [(k[: -len("parametrizations.weight.original0")], "parametrizations.weight.original0",
               "parametrizations.weight.original1") for k in state if k.endswith(".parametrizations.weight.original0")]
    for prefix, g_name, v_name in pairs:
        g, v = out.pop(prefix + g_name), out.pop(prefix + v_name, None)
        if v is None:
            raise CheckpointError(f"'{prefix}{g_name}' has no matching '{prefix}{v_name}'")
        out[prefix + "weight"] = torch._weight_norm(v, g, 0)
    return out


def merge_legacy_layers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-layer `cond_layers.i` (DLE, early NVIDIA) -> fused `cond_layer`; `res_layers`/`skip_layers` (NVIDIA
    before res_skip_layers) -> `res_skip_layers` (rows: residual then skip; the last layer has skip only)."""
    out = dict(state)
    flows = sorted({int(m.group(1)) for k in state for m in [re.match(r"WN\.(\d+)\.", k)] if m})
    for k in flows:
        p = f"WN.{k}."
        cond = sorted(int(m.group(1)) for key in state for m in [re.fullmatch(re.escape(p) + r"cond_layers\.(\d+)\.weight", key)] if m)
        if cond:
            for name in ("weight", "bias"):
                parts = [out.pop(f"{p}cond_layers.{i}.{name}") for i in cond if f"{p}cond_layers.{i}.{name}" in out]
                if parts:
                    out[f"{p}cond_layer.{name}"] = torch.cat(parts, 0)
        skips = sorted(int(m.group(1)) for key in state for m in [re.fullmatch(re.escape(p) + r"skip_layers\.(\d+)\.weight", key)] if m)
        for i in skips:
            for name in ("weight", "bias"):
                skip = out.pop(f"{p}skip_layers.{i}.{name}")
                res = out.pop(f"{p}res_layers.{i}.{name}", None)
                out[f"{p}res_skip_layers.{i}.{name}"] = skip if res is None else torch.cat([res, skip], 0)
    return out


def _require(state: dict, key: str, path) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"{path}: missing tensor '{key}'")
    return state[key]


def infer_config(state: dict[str, torch.Tensor], hints: dict[str, Any], path) -> WaveGlowConfig:
    """Hyper-parameters from tensor shapes (NVIDIA layout, weight norm folded); hints only fill what shapes cannot
    tell (hop length, early sizes when no flow drops channels) and must agree with the shapes otherwise."""
    if "upsample.weight" not in state:
        raise CheckpointError(f"{path}: not a WaveGlow checkpoint (no 'upsample.weight'; first keys: "
                              f"{list(state)[:3]})")
    up = state["upsample.weight"]
    if up.dim() != 3 or up.shape[0] != up.shape[1]:
        raise CheckpointError(f"{path}: 'upsample.weight' should be [n_mel, n_mel, kernel], got {list(up.shape)}")
    n_mel, kernel = up.shape[0], up.shape[2]
    flows = sorted({int(m.group(1)) for k in state for m in [re.match(r"convinv\.(\d+)\.conv\.weight$", k)] if m})
    if not flows or flows != list(range(len(flows))):
        raise CheckpointError(f"{path}: expected tensors 'convinv.0.conv.weight' … in sequence, found flows {flows}")
    channels = [state[f"convinv.{k}.conv.weight"].shape[0] for k in flows]
    n_group = channels[0]
    drops = [k for k in range(1, len(channels)) if channels[k] != channels[k - 1]]
    if drops:
        n_early_every, n_early_size = drops[0], channels[drops[0] - 1] - channels[drops[0]]
    else:
        n_early_every = int(hints.get("n_early_every", len(flows)))
        n_early_size = int(hints.get("n_early_size", 0))
    in_layers = sorted({int(m.group(1)) for k in state for m in [re.fullmatch(r"WN\.0\.in_layers\.(\d+)\.weight", k)] if m})
    if not in_layers:
        raise CheckpointError(f"{path}: missing tensor 'WN.0.in_layers.0.weight' (or weight_g/weight_v)")
    start = _require(state, "WN.0.start.weight", path)
    wn_kernel = state["WN.0.in_layers.0.weight"].shape[2]
    cond_in = _require(state, "WN.0.cond_layer.weight", path).shape[1]
    # our "group" conditioning reads n_mel channels, NVIDIA's n_mel * n_group; an excitation adds 2 * n_group
    excitation = 2 if cond_in in (n_mel + 2 * n_group, (n_mel + 2) * n_group) and n_group > 1 else 0
    conditioning = "group" if cond_in - excitation * n_group == n_mel and n_group > 1 else "audio"
    values = dict(n_mel_channels=n_mel, n_flows=len(flows), n_group=n_group, n_early_every=n_early_every,
                  n_early_size=n_early_size, n_layers=len(in_layers), n_channels=start.shape[0],
                  kernel_size=wn_kernel, upsample_kernel_size=kernel,
                  hop_length=int(hints.get("hop_length", 256)), conditioning=conditioning,
                  excitation_channels=excitation)
    # A file's own config must agree with its tensors; n_early_* are only checkable when some flow drops channels.
    wn_hints = hints.get("WN_config") if isinstance(hints.get("WN_config"), dict) else {}
    checkable = ["n_mel_channels", "n_flows", "n_group", "n_layers", "n_channels", "kernel_size"]
    if drops:
        checkable += ["n_early_every", "n_early_size"]
    for name, value in {**hints, **wn_hints}.items():
        if name in checkable and isinstance(value, int) and value != values[name]:
            raise CheckpointError(f"{path}: the file's config says {name}={value} but its tensors imply "
                                  f"{name}={values[name]}")
    post_filter = {int(m.group(1)) for k in state for m in [re.fullmatch(r"post_filter\.in_layers\.(\d+)\.weight", k)] if m}
    if post_filter:
        values.update(post_filter_layers=len(post_filter),
                      post_filter_channels=_require(state, "post_filter.start.weight", path).shape[0])
    if "harmonic.amplitudes.weight" in state:
        values["harmonics"] = state["harmonic.amplitudes.weight"].shape[0] // 2
    if "sampling_rate" in hints and isinstance(hints["sampling_rate"], int):
        values["sampling_rate"] = hints["sampling_rate"]
    try:
        config = WaveGlowConfig(**values)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: inconsistent shapes: {exc}") from None
    check_waveglow_config(config, path)  # the rate and hop come from hints, not shapes
    if config.channels_per_flow() != channels:
        raise CheckpointError(f"{path}: 1x1-conv sizes {channels} do not follow one early-output rule "
                              f"(n_early_every={n_early_every}, n_early_size={n_early_size})")
    return config


# (key pattern, new key with the pattern's groups, weight conversion), first match wins; other keys stay
_NVIDIA_TO_OURS = ((r"convinv\.(\d+)\.conv\.weight", "convinv.{}.weight", lambda w: w.reshape(w.shape[0], w.shape[1])),
                   (r"WN\.(\d+)\.(.*)", "couplings.{}.net.{}", lambda w: w))
_OURS_TO_NVIDIA = ((r"convinv\.(\d+)\.weight", "convinv.{}.conv.weight", lambda w: w.unsqueeze(-1)),
                   (r"couplings\.(\d+)\.net\.(.*)", "WN.{}.{}", lambda w: w))


def _rename_keys(state: dict[str, torch.Tensor], rules) -> dict[str, torch.Tensor]:
    """`state` with each key renamed (and its tensor converted) by the first of `rules` matching it."""
    out = {}
    for key, value in state.items():
        for pattern, new_key, convert in rules:
            m = re.fullmatch(pattern, key)
            if m:
                out[new_key.format(*m.groups())] = convert(value)
                break
        else:
            out[key] = value
    return out


def nvidia_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """NVIDIA key layout (weight norm folded) -> this package's `WaveGlow.state_dict()` keys; 1x1-conv weights
    [c, c, 1] -> [c, c]."""
    return _rename_keys(state, _NVIDIA_TO_OURS)


def ours_to_nvidia(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """This package's keys -> NVIDIA's layout with plain weights (what `remove_weightnorm` leaves); 1x1-conv
    weights [c, c] -> [c, c, 1]."""
    return _rename_keys(state, _OURS_TO_NVIDIA)


def _build(model_class, config: WaveGlowConfig, state: dict[str, torch.Tensor], path, map_location) -> "WaveGlow":
    model = model_class(config)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the inferred WaveGlow config "
                              f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"{path}: tensor '{key}' has shape {list(tensor.shape)}, "
                                  f"expected {list(expected[key].shape)}")
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path}: tensor '{key}' has dtype {tensor.dtype}, expected floating point")
    check_finite(state, path)  # again after weight-norm folding (a zero weight_v gives NaN)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(map_location).eval()


# ---- public entry points -------------------------------------------------------------------------------------------
def _is_ours(path: Path) -> bool:
    return path.is_dir() or path.suffix == ".safetensors" or path.name == CONFIG_FILE


def read_waveglow(path: str | Path, model_class: type["WaveGlow"], map_location="cpu",
                  raw: bool = False) -> tuple["WaveGlow", CheckpointInfo]:
    """(model_class instance in eval mode on `map_location`, info) for any supported format, our training
    checkpoints included (a run directory, its checkpoints/ folder or one ckpt file: the weights of that or the
    latest checkpoint; `raw`: see `read_training_run`). Raises CheckpointError. `waveglow.vocoder.model.load_waveglow`
    is this with WaveGlow."""
    trained = read_training_run(path, model_class, raw)
    if trained is not None:
        info = CheckpointInfo(path=trained.source, source_format="training", config=trained.model.config,
                              extra={"iteration": trained.iteration, "weights": trained.weights},
                              mel=trained.config.mel)
        return trained.model.to(map_location), info
    return load_exported(path, model_class, map_location)


@dataclass
class TrainedModel:
    """The weights of one training checkpoint, in a model with plain weights (weight norm folded), eval mode."""

    model: "WaveGlow"
    source: str  # the ckpt file read
    config: TrainingConfig  # the run's config (the model's, its prior sigma, its mel settings)
    iteration: int
    weights: str  # "average" (the moving average) or "raw"


def _trained_from_payload(model_class, payload: dict, path: Path, raw: bool) -> TrainedModel:
    config = TrainingConfig.from_dict(payload["config"], source=f"{path}: config")
    model = model_class(config.model)
    if payload.get("weight_norm", True):
        model.apply_weight_norm()
    average = payload.get("ema")
    use_average = not raw and bool(average) and int(average["updates"]) > 0
    model.load_state_dict(average["model"] if use_average else payload["model"])
    model.remove_weight_norm().eval()
    return TrainedModel(model, str(path), config, int(payload["iteration"]), "average" if use_average else "raw")


def _read_training_checkpoint(model_class, path: Path, raw: bool) -> TrainedModel:
    payload = load_training_checkpoint(path)
    with guard(path, what="not a usable training checkpoint"):
        return _trained_from_payload(model_class, payload, path, raw)


def read_training_run(path: str | Path, model_class: type["WaveGlow"], raw: bool = False) -> TrainedModel | None:
    """A run directory, its checkpoints/ directory or one of its ckpt files -> its (latest) weights: their moving
    average when the run keeps one (train.ema_decay), else (or with `raw`) the optimizer's weights. None when `path`
    is something else (an exported model's directory, a file in another format). A run directory whose
    checkpoints/ folder holds no checkpoint raises CheckpointError."""
    path = Path(path)
    if path.is_dir():
        if (path / WEIGHTS_FILE).is_file():
            return None
        if (path / "checkpoints").is_dir() or CheckpointStore(path).latest_path() is not None:
            return _read_training_checkpoint(model_class, resolve_training_checkpoint(path), raw)
        return None  # e.g. an export missing its weights: load_exported names what is missing
    if path.is_file() and path.suffix in (".pt", ".pth"):
        try:
            return _read_training_checkpoint(model_class, path, raw)
        except NotTrainingCheckpoint:
            return None  # readable but not ours (NVIDIA / DLE files): the other readers try it
    return None


def load_exported(path: str | Path, model_class: type["WaveGlow"],
                  map_location="cpu") -> tuple["WaveGlow", CheckpointInfo]:
    """`read_waveglow` for everything but training checkpoints: our exported format (config.json +
    model.safetensors), NVIDIA's and DeepLearningExamples' files and plain state dicts."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    with guard(path, what="not a usable WaveGlow checkpoint"):
        if _is_ours(path):
            return _load_ours(path, model_class, map_location)
        state, info, hints = read_state_dict(path, map_location="cpu")
        state = merge_legacy_layers(fold_weight_norm(state))
        config = infer_config(state, hints, path)
        info.config, info.mel = config, default_mel(config)
        return _build(model_class, config, nvidia_to_ours(state), path, map_location), info


def _load_ours(path: Path, model_class, map_location) -> tuple["WaveGlow", CheckpointInfo]:
    directory = path if path.is_dir() else path.parent
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for required in (config_path, weights_path):
        if not required.exists():
            raise CheckpointError(f"{directory}: missing {required.name} (expected a directory written by "
                                  "save_pretrained / `waveglow convert`)")
    data = dict(read_json_object(config_path))
    data.pop("format", None)
    data.pop("format_version", None)
    mel = data.pop("mel", None)  # absent from exports written before MelConfig: NVIDIA's defaults
    try:
        config = WaveGlowConfig.from_dict(data, source=str(config_path))
        mel = default_mel(config) if mel is None else MelConfig.from_dict(mel, source=f"{config_path}: mel")
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    f, weight_bytes = open_regular(weights_path)
    f.close()
    # before building anything: the config's sizes must be sane and fit in the weights file
    check_waveglow_config(config, config_path, weight_bytes)
    state = load_safetensors(weights_path)
    info = CheckpointInfo(path=str(directory), source_format="ours", config=config, mel=mel)
    return _build(model_class, config, state, weights_path, map_location), info


STORAGE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def save_waveglow(model, directory: str | Path, dtype: str = "fp32", mel: MelConfig | None = None) -> Path:
    """Write `config.json` and `model.safetensors` into `directory` (created if needed). Each file is written to a
    temporary name and renamed, so an interrupted save never leaves a half-written file under the final name.
    dtype: how the weights are stored ('fp32', or 'fp16' / 'bf16' for half the size); they load back as fp32.
    mel: the features the model is fed, stored as config.json's "mel" (default: `default_mel(model.config)`)."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(STORAGE_DTYPES)}, got {dtype!r}")
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    had_weight_norm = any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.modules())
    if had_weight_norm:
        raise ValueError("call remove_weight_norm() before save_pretrained (the saved format holds plain weights)")
    state = {k: v.detach().to("cpu", STORAGE_DTYPES[dtype]).contiguous() for k, v in model.state_dict().items()}
    mel = default_mel(model.config) if mel is None else mel
    if mel.n_mels != model.config.n_mel_channels or mel.hop_length != model.config.hop_length:
        raise ValueError(f"mel settings {mel} do not fit the model (n_mel_channels={model.config.n_mel_channels}, "
                         f"hop_length={model.config.hop_length})")
    config = {"format": FORMAT_NAME, "format_version": 1, **model.config.to_dict(), "mel": mel.to_dict()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT_NAME})
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return directory
