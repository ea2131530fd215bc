"""WaveGlow inference as an ONNX graph (`waveglow export CKPT --onnx OUT.onnx`) and onnxruntime as a runtime for it
(`waveglow vocode --runtime onnx`).

The graph is `infer` without the noise: inputs `mel` [B, n_mel, frames], `z` [B, n_group, frames * hop / n_group]
(the standard-normal latent in forward layout) and `sigma` (a scalar), output `audio` [B, frames * hop]; batch and
length are dynamic. The latent is drawn outside the graph by `WaveGlow.draw_latent` itself (NVIDIA's order, CPU
generator), so `vocode --runtime onnx --seed S` gets the very noise `vocode --seed S` gets. The early-output channels
are sliced from `z` inside the graph exactly where `infer` slices them; a post-filter, if the config has one, is in
the graph; the denoiser runs outside it, with the same code (`waveglow.denoiser`), its bias computed through the
graph. The graph is fp32 only.

The 1x1-conv inverses are computed once at export (in fp32, as `infer` computes them) and stored as constants;
weight norm is folded. The export traces an export-only restatement of `WaveGlow._infer` (`_InferGraph`: plain
convolutions, no in-place accumulation, no time tiles), then checks onnxruntime against torch on two mel lengths
and refuses to leave the file behind when they differ by more than the tolerance.

A file we wrote carries `waveglow_toolkit.format` and the model config in its metadata; `OnnxWaveGlow` refuses any
other ONNX file. onnxruntime executes a graph of standard operators (no Python code, no custom-op libraries are
registered); the file is read as bytes, so a graph that names external data files cannot make it read them.
"""
from __future__ import annotations

import copy
import io
import json
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from waveglow.common.atomic import atomic_write_bytes
from waveglow.common.errors import CheckpointError, ConfigError, ToolkitError
from waveglow.common.safe_loading import check_waveglow_config, open_regular
from waveglow.vocoder.config import DEFAULT_SIGMA, WaveGlowConfig
from waveglow.vocoder.inference import Vocoder, VocodeSetupError
from waveglow.vocoder.model import WaveGlow

FORMAT = "waveglow-toolkit/infer"
FORMAT_VERSION = "1"
META_FORMAT, META_VERSION, META_CONFIG = "waveglow_toolkit.format", "waveglow_toolkit.format_version", \
    "waveglow_toolkit.config"
INPUTS = ("mel", "z", "sigma")
OUTPUT = "audio"
OPSET = 17


class ExportError(ToolkitError, ValueError):
    """A model this export cannot write, or a graph whose check failed (the file was not kept); exit 1."""

    exit_code = 1
TOLERANCE = 1e-4  # max |onnxruntime - torch| accepted at export (fp32, same latent)
CHECK_FRAMES = (11, 32)  # mel lengths the export is checked on (two, so a baked-in length would show)
MAX_ONNX_BYTES = 4 << 30
INSTALL_HINT = "pip install onnx onnxruntime (the [onnx] extra)"


# ---- the graph -------------------------------------------------------------------------------------------------
class _InferGraph(nn.Module):
    """`WaveGlow._infer(mel, sigma, z)` in fp32, written for tracing: static slices, out-of-place ops. forward(mel
    [B, n_mel, F], z [B, n_group, F * hop / n_group], sigma []) -> audio [B, F * hop]."""

    def __init__(self, model: WaveGlow):
        super().__init__()
        model = copy.deepcopy(model).float().eval().remove_weight_norm()
        c = self.config = model.config
        self.upsample = model.upsample
        # crop of the upsampled mel: `condition` keeps [left, left + steps) of (F - 1) * stride + K samples
        stride, kernel = c.upsample_stride, c.upsample_kernel_size
        if c.conditioning == "group":
            self.crop_left, self.crop_right = kernel // 2, kernel - kernel // 2 - stride
        else:
            self.crop_left, self.crop_right = 0, kernel - stride
        self.channels = c.channels_per_flow()
        self.early = model._early_slices()
        self.n_remaining = model.n_remaining_channels
        with torch.no_grad():
            for k, conv in enumerate(model.convinv):
                w = conv.matrix().detach()
                self.register_buffer(f"inverse_{k}", torch.linalg.inv(w.float()).unsqueeze(-1))
        if c.excitation_channels:  # its F0 tracking (pYIN on Griffin-Lim audio) is not a graph
            raise ExportError("cannot export a WaveGlow with a sine excitation (excitation_channels) to ONNX yet")
        if c.envelope_iterations:  # the graph would be the flow without the projection its infer applies
            raise ExportError("cannot export a WaveGlow with envelope_iterations to ONNX yet (the mel-envelope "
                              "projection is not in the graph)")
        for coupling in model.couplings:
            if coupling.scale != "exp":
                raise ExportError(f"cannot export a coupling with scale {coupling.scale!r}")
        self.nets = nn.ModuleList(coupling.net for coupling in model.couplings)
        self.post_filter = model.post_filter

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        cond = self.upsample(mel)
        stop = -self.crop_right if self.crop_right else None
        cond = cond[..., self.crop_left:stop]
        if self.config.conditioning == "group":
            return cond
        # group_frames: channel c * n_group + j at step t = cond[c, t * n_group + j]
        return cond.unflatten(2, (-1, self.config.n_group)).transpose(2, 3).flatten(1, 2)

    def wn(self, net, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = net.n_channels
        h = F.conv1d(x, net.start.weight, net.start.bias)
        skip = None
        for i, (layer, res_skip) in enumerate(zip(net.in_layers, net.res_skip_layers)):
            rows = slice(2 * c * i, 2 * c * (i + 1))
            gate = layer(h) + F.conv1d(cond, net.cond_layer.weight[rows], net.cond_layer.bias[rows])
            acts = torch.tanh(gate[:, :c]) * torch.sigmoid(gate[:, c:])
            out = res_skip(acts)
            if i < net.n_layers - 1:
                h = h + out[:, :c]
                out = out[:, c:]
            skip = out if skip is None else skip + out
        return net.end(skip)

    def forward(self, mel: torch.Tensor, z: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c = self.config
        cond = self.condition(mel)
        x = sigma * z[:, c.n_group - self.n_remaining:]
        for k in reversed(range(c.n_flows)):
            n_a = self.channels[k] // 2
            y_a, y_b = x[:, :n_a], x[:, n_a:]
            h = self.wn(self.nets[k], y_a, cond)
            n_b = self.channels[k] - n_a
            shift, log_s = h[:, :n_b], h[:, n_b:]
            x = torch.cat([y_a, (y_b - shift) / torch.exp(log_s)], 1)
            x = F.conv1d(x, getattr(self, f"inverse_{k}"))
            if k in self.early:
                x = torch.cat([sigma * z[:, self.early[k]], x], 1)
        audio = x.transpose(1, 2).flatten(1)
        return audio if self.post_filter is None else self.post_filter(audio)


# ---- export ----------------------------------------------------------------------------------------------------
@dataclass
class ExportReport:
    path: Path
    bytes: int
    max_error: float  # max |onnxruntime - torch| over the check mels
    frames: tuple[int, ...]


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise CheckpointError(f"the ONNX path needs the '{module}' package: {INSTALL_HINT}") from None


def check_mel(config: WaveGlowConfig, frames: int, seed: int = 0) -> torch.Tensor:
    """A deterministic log-mel-like test input [1, n_mel, frames] (values around LJSpeech's range)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, config.n_mel_channels, frames, generator=generator) * 1.5 - 5.0


def export_onnx(model: WaveGlow, path: str | Path, opset: int = OPSET, tolerance: float | None = TOLERANCE,
                check_frames: tuple[int, ...] = CHECK_FRAMES) -> ExportReport:
    """Write `model`'s inference graph to `path` (atomically, with the user's umask) and check onnxruntime against
    torch on `check_frames`-long mels with a seeded latent at sigma 0.666. A check worse than `tolerance` removes
    the file and raises ExportError with the measured error (tolerance None: check and report, keep the file)."""
    onnx = _require("onnx")

    path = Path(path)
    graph = _InferGraph(model)
    c = model.config
    frames = 8
    example = (check_mel(c, frames), torch.zeros(1, c.n_group, frames * c.hop_length // c.n_group),
               torch.tensor(0.666))
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript-based exporter (the one that needs no onnxscript) announces its deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(graph, example, buffer, dynamo=False, opset_version=opset, input_names=list(INPUTS),
                          output_names=[OUTPUT], do_constant_folding=True,
                          dynamic_axes={"mel": {0: "batch", 2: "frames"}, "z": {0: "batch", 2: "steps"},
                                        OUTPUT: {0: "batch", 1: "samples"}})
    proto = onnx.load_from_string(buffer.getvalue())
    del buffer
    proto.producer_name, proto.doc_string = "waveglow-toolkit", (
        "WaveGlow inference: audio = infer(mel, sigma, z); z is the standard-normal latent in forward layout, "
        "drawn in NVIDIA's order (WaveGlow.draw_latent)")
    for key, value in ((META_FORMAT, FORMAT), (META_VERSION, FORMAT_VERSION),
                       (META_CONFIG, json.dumps(c.to_dict(), sort_keys=True))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    del proto
    atomic_write_bytes(path, data)
    try:
        runner = OnnxWaveGlow(path, data=data)
        errors = []
        for n in check_frames:
            mel = check_mel(c, n, seed=n)
            z = model.draw_latent(1, n * c.hop_length // c.n_group, torch.Generator().manual_seed(n))
            expected = model.infer(mel, sigma=0.666, z=z, precision="fp32")
            errors.append((runner.infer(mel, sigma=0.666, z=z) - expected).abs().max().item())
        max_error = max(errors) if errors else math.nan
        if tolerance is not None and not max_error <= tolerance:
            raise ExportError(f"onnxruntime differs from torch by {max_error:.3g} (more than {tolerance:g}) on "
                             f"{', '.join(map(str, check_frames))}-frame mels; {path} was not kept")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ExportReport(path, len(data), max_error, tuple(check_frames))


# ---- runtime ---------------------------------------------------------------------------------------------------
class OnnxWaveGlow(nn.Module):
    """A `waveglow export` graph run by onnxruntime on the CPU, with WaveGlow's inference interface (`config`,
    `infer`, `draw_latent`, `network_precision`), so `Vocoder`, `infer_chunked` and the `Denoiser` use it as they
    use a WaveGlow. fp32 only; `threads`: onnxruntime's intra-op threads (default: torch.get_num_threads())."""

    _check_mel = WaveGlow._check_mel
    _early_slices = WaveGlow._early_slices
    draw_latent = WaveGlow.draw_latent

    def __init__(self, path: str | Path, threads: int | None = None, data: bytes | None = None):
        super().__init__()
        ort = _require("onnxruntime")
        self.path = Path(path)
        if data is None:
            data = _read_bytes(self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between runs: on shared cores a spinning pool steals the CPU torch (or training) needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types: not a model, unknown operators, external data
            raise CheckpointError(f"{self.path}: not a loadable ONNX model ({type(exc).__name__}: "
                                  f"{str(exc).strip()[:300]})") from None
        self.config = _read_config(self.session, self.path)
        names = [i.name for i in self.session.get_inputs()]
        if names != list(INPUTS) or [o.name for o in self.session.get_outputs()] != [OUTPUT]:
            raise CheckpointError(f"{self.path}: inputs {names} are not those `waveglow export` writes "
                                  f"({', '.join(INPUTS)})")
        self.n_remaining_channels = self.config.channels_per_flow()[-1]
        # Vocoder / Denoiser read the device and dtype from a parameter; the graph holds the weights
        self.register_parameter("_anchor", nn.Parameter(torch.zeros(0), requires_grad=False))

    @contextmanager
    def network_precision(self, precision: str | None):
        if precision not in (None, "fp32"):

            raise VocodeSetupError(f"the ONNX graph runs in fp32 only, not {precision} (use precision fp32)")
        yield None

    def excitation_of_mel(self, mel: torch.Tensor) -> None:
        """No excitation: the exporter refuses models that take one (what `infer_chunked` asks before chunking)."""
        return None

    @torch.no_grad()
    def infer(self, mel: torch.Tensor, sigma: float = DEFAULT_SIGMA, z: torch.Tensor | None = None,
              generator: torch.Generator | None = None, precision: str | None = None,
              excitation: None = None) -> torch.Tensor:
        """As `WaveGlow.infer` (fp32): mel [B, n_mel, F] or [n_mel, F] -> audio [B, F * hop] float32 (CPU).
        excitation: always None (an exported graph takes none)."""
        if excitation is not None:
            raise ValueError("an exported WaveGlow takes no excitation")
        if precision not in (None, "auto", "fp32"):
            with self.network_precision(precision):  # raises: fp32 only
                pass
        mel = self._check_mel(mel)
        c = self.config
        steps = mel.shape[2] * c.hop_length // c.n_group
        if z is None:
            z = self.draw_latent(mel.shape[0], steps, generator)
        elif tuple(z.shape) != (mel.shape[0], c.n_group, steps):
            raise ValueError(f"z must be [{mel.shape[0]}, {c.n_group}, {steps}] for this mel, got {list(z.shape)}")
        feeds = {"mel": mel.detach().float().cpu().contiguous().numpy(),
                 "z": z.detach().float().cpu().contiguous().numpy(),
                 "sigma": torch.tensor(float(sigma), dtype=torch.float32).numpy()}
        (audio,) = self.session.run([OUTPUT], feeds)
        return torch.from_numpy(audio)


def _read_bytes(path: Path) -> bytes:
    handle, size = open_regular(path)
    with handle:
        if size > MAX_ONNX_BYTES:
            raise CheckpointError(f"{path}: {size:,} bytes, more than an exported WaveGlow can be "
                                  f"({MAX_ONNX_BYTES:,})")
        data = handle.read(size + 1)
    if len(data) != size:
        raise CheckpointError(f"{path}: changed size while being read")
    return data


def _read_config(session, path: Path) -> WaveGlowConfig:
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get(META_FORMAT) != FORMAT:
        raise CheckpointError(f"{path}: an ONNX model not written by `waveglow export` (no {META_FORMAT} "
                              f"metadata); export one with `waveglow export CKPT --onnx OUT.onnx`")
    if meta.get(META_VERSION) != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {meta.get(META_VERSION)!r}, this toolkit reads "
                              f"{FORMAT_VERSION!r} (export it again)")
    try:
        config = WaveGlowConfig.from_dict(json.loads(meta.get(META_CONFIG, "")), source=f"{path} metadata")
    except (ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path}: bad model config in the metadata ({exc})") from None
    check_waveglow_config(config, path)
    return config


def load_onnx_vocoder(path: str | Path, device: str = "auto", precision: str = "auto", threads: int | None = None):
    """A `waveglow.vocode.Vocoder` over an exported graph (what `vocode --runtime onnx` uses). The graph runs on the
    CPU in fp32: device auto/cpu, precision auto/fp32; anything else is a VocodeSetupError saying so."""

    if str(device) not in ("auto", "cpu"):
        raise VocodeSetupError(f"--runtime onnx runs on the CPU (onnxruntime's CPU provider), not {device!r}: use "
                               f"--device cpu or auto")
    if precision not in ("auto", "fp32"):
        raise VocodeSetupError(f"--runtime onnx runs the fp32 graph, not {precision}: use --precision auto or fp32")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    return Vocoder(OnnxWaveGlow(path, threads=threads), torch.device("cpu"), torch.float32,
                   source=f"{os.path.basename(path)}, onnxruntime")
