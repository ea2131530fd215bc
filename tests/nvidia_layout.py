"""Test helpers: write a WaveGlow in NVIDIA's file layouts (for any config), the way NVIDIA's code saves them.

* `save_nvidia_pickle`: {'model': pickled module of classes `glow.WaveGlow` / `glow.WN` / `glow.Invertible1x1Conv`,
  legacy weight-norm hooks, optionally stale plain `weight` attributes}, zip or legacy (non-zip) torch format.
* `dle_state_dict`: DeepLearningExamples keys (`module.` prefix, per-layer `cond_layers.i`, weight_g / weight_v).
Only test code writes these files, so building real modules and pickling them here is safe.
"""
from __future__ import annotations

import sys
import types
import warnings
from contextlib import contextmanager

import torch
from torch import nn

from waveglow.vocoder.checkpoint import ours_to_nvidia


def _split_weight_norm(weight: torch.Tensor, v_scale: float = 3.0):
    """(g, v) with g * v / ||v|| == weight: v is a scaled copy so folding is really exercised."""
    g = torch.linalg.vector_norm(weight.reshape(weight.shape[0], -1), dim=1).reshape(-1, *[1] * (weight.dim() - 1))
    return g, weight * v_scale


def nvidia_state_dict(model, weight_norm: bool = True) -> dict[str, torch.Tensor]:
    """NVIDIA/waveglow keys; WN convs other than `end` as weight_g / weight_v when weight_norm."""
    state = ours_to_nvidia({k: v.detach().clone() for k, v in model.state_dict().items()})
    if not weight_norm:
        return state
    out = {}
    for key, value in state.items():
        normed = key.startswith("WN.") and key.endswith(".weight") and ".end." not in key
        if normed:
            g, v = _split_weight_norm(value)
            out[key[:-len("weight")] + "weight_g"] = g
            out[key[:-len("weight")] + "weight_v"] = v
        else:
            out[key] = value
    return out


def dle_state_dict(model) -> dict[str, torch.Tensor]:
    """DeepLearningExamples layout: `module.` prefix and the fused cond conv split into cond_layers.i."""
    state = nvidia_state_dict(model)
    c, n_layers = model.config.n_channels, model.config.n_layers
    out = {}
    for key, value in state.items():
        if ".cond_layer." in key:
            prefix, name = key.split(".cond_layer.")
            for i in range(n_layers):
                out[f"{prefix}.cond_layers.{i}.{name}"] = value[2 * c * i: 2 * c * (i + 1)].clone()
        else:
            out[key] = value
    return {"module." + k: v for k, v in out.items()}


@contextmanager
def fake_glow_module():
    """A module importable as `glow` with the three class names NVIDIA's pickles reference."""
    mod = types.ModuleType("glow")
    for name in ("WaveGlow", "WN", "Invertible1x1Conv"):
        cls = type(name, (nn.Module,), {"__module__": "glow"})
        setattr(mod, name, cls)
    saved = sys.modules.get("glow")
    sys.modules["glow"] = mod
    try:
        yield mod
    finally:
        if saved is None:
            sys.modules.pop("glow", None)
        else:
            sys.modules["glow"] = saved


def _conv(weight: torch.Tensor, bias: torch.Tensor | None, dilation: int = 1, transpose=False, stride=1):
    k = weight.shape[2]
    if transpose:
        conv = nn.ConvTranspose1d(weight.shape[0], weight.shape[1], k, stride=stride)
    else:
        conv = nn.Conv1d(weight.shape[1], weight.shape[0], k, dilation=dilation, padding=dilation * (k - 1) // 2,
                         bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def _weight_normed(weight, bias, dilation=1, stale=True):
    conv = _conv(weight, bias, dilation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.utils.weight_norm(conv, dim=0)
    g, v = _split_weight_norm(weight)
    with torch.no_grad():
        conv.weight_g.copy_(g)
        conv.weight_v.copy_(v)
    if stale:  # what NVIDIA's files hold: the hook's plain `weight` from before the trained weights were loaded
        conv.weight = torch.randn_like(weight)
    return conv


def build_nvidia_module(model, glow, stale: bool = True):
    """An object tree shaped like NVIDIA's pickled WaveGlow holding `model`'s weights."""
    cfg = model.config
    s = ours_to_nvidia({k: v.detach() for k, v in model.state_dict().items()})
    top = glow.WaveGlow()
    top.upsample = _conv(s["upsample.weight"], s["upsample.bias"], transpose=True, stride=cfg.hop_length)
    top.WN = nn.ModuleList()
    top.convinv = nn.ModuleList()
    for k in range(cfg.n_flows):
        p = f"WN.{k}."
        wn = glow.WN()
        wn.n_layers, wn.n_channels = cfg.n_layers, cfg.n_channels
        wn.in_layers = nn.ModuleList([_weight_normed(s[f"{p}in_layers.{i}.weight"], s[f"{p}in_layers.{i}.bias"],
                                                     2**i, stale) for i in range(cfg.n_layers)])
        wn.res_skip_layers = nn.ModuleList([_weight_normed(s[f"{p}res_skip_layers.{i}.weight"],
                                                           s[f"{p}res_skip_layers.{i}.bias"], 1, stale)
                                            for i in range(cfg.n_layers)])
        wn.start = _weight_normed(s[f"{p}start.weight"], s[f"{p}start.bias"], 1, stale)
        wn.end = _conv(s[f"{p}end.weight"], s[f"{p}end.bias"])
        wn.cond_layer = _weight_normed(s[f"{p}cond_layer.weight"], s[f"{p}cond_layer.bias"], 1, stale)
        top.WN.append(wn)
        inv = glow.Invertible1x1Conv()
        inv.conv = _conv(s[f"convinv.{k}.conv.weight"], None)
        top.convinv.append(inv)
    top.n_flows, top.n_group = cfg.n_flows, cfg.n_group
    top.n_early_every, top.n_early_size = cfg.n_early_every, cfg.n_early_size
    top.n_remaining_channels = model.n_remaining_channels
    return top


def save_nvidia_pickle(model, path, legacy_format: bool = False, stale: bool = True, cuda_tag: bool = False):
    """Write {'model': <pickled glow.WaveGlow>, 'iteration', 'optimizer', 'learning_rate'} like NVIDIA's train.py."""
    with fake_glow_module() as glow:
        top = build_nvidia_module(model, glow, stale)
        payload = {"model": top, "iteration": 7, "optimizer": {"state": {}, "param_groups": []}, "learning_rate": 1e-4}
        torch.save(payload, path, _use_new_zipfile_serialization=not legacy_format)
    if cuda_tag:
        retag_storages_cuda(path)


def retag_storages_cuda(path):
    """Rewrite a zip-format file's storage location tags from 'cpu' to 'cuda:0' (as files saved on a GPU carry)."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        entries = [(info, zf.read(info.filename)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for info, data in entries:
            if info.filename.endswith("data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            zf.writestr(info, data)
