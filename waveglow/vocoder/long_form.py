"""Long-form WaveGlow inference: a mel of any length vocoded in overlapping chunks, memory O(chunk).

Why chunks can agree with full inference exactly: WaveGlow's output at a sample depends on a bounded window.
  * Each coupling's WN stacks n_layers dilated convolutions (dilation 2**i, kernel k): it sees
    sum_i 2**i * (k - 1) / 2 = (2**n_layers - 1) * (k - 1) / 2 grouped steps (of n_group samples) on each side.
  * Inverting the flows composes n_flows couplings, each reading the previous ones' outputs: n_flows times that.
    NVIDIA's 12 flows x 8 layers, k 3: 12 * 255 = 3060 steps = 24480 samples = 95.6 frames on each side.
  * The conditioning at sample s comes from the transposed-convolution upsampler (kernel K = 1024, stride hop):
    frames f with hop * f <= s < hop * f + K, i.e. the current frame and ceil(K / hop) - 1 = 3 earlier ones.
So with `receptive_field(config)` frames of context on each side (discarded afterwards) and the latent z drawn
ONCE for the whole utterance and sliced, every kept sample sees exactly the inputs it sees in full inference;
only float rounding differs (convolutions of other lengths may sum in another order).

Chunk boundaries are whole mel frames, so in samples they are multiples of hop_length, hence of n_group.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from waveglow.vocoder.config import DEFAULT_SIGMA, WaveGlowConfig


@dataclass(frozen=True)
class ReceptiveField:
    """Mel frames of context a chunk needs before (left) and after (right) the frames it keeps."""

    left_frames: int
    right_frames: int

    @property
    def frames(self) -> int:
        """One symmetric overlap that covers both sides."""
        return max(self.left_frames, self.right_frames)


def receptive_field(config: WaveGlowConfig) -> ReceptiveField:
    """Exact context (frames) beyond which the weights cannot influence the output (see module docstring)."""
    wn_steps = (2 ** config.n_layers - 1) * (config.kernel_size - 1) // 2
    flow_frames = math.ceil(config.n_flows * wn_steps * config.n_group / config.hop_length)
    if config.conditioning == "group":
        # step t sees frames f with |t * n_group - hop * f| <= K * n_group / 2 (K in grouped steps)
        reach = math.ceil(config.upsample_kernel_size * config.n_group / 2 / config.hop_length) + 1
        return ReceptiveField(left_frames=flow_frames + reach, right_frames=flow_frames + reach)
    upsampler_frames = math.ceil(config.upsample_kernel_size / config.hop_length) - 1
    return ReceptiveField(left_frames=flow_frames + upsampler_frames, right_frames=flow_frames)


@dataclass(frozen=True)
class Chunk:
    """Frames [start, stop) are computed, frames [keep_start, keep_stop) of those are kept (absolute indices)."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def plan_chunks(n_frames: int, chunk_frames: int, left_frames: int, right_frames: int) -> list[Chunk]:
    """Cover [0, n_frames) with kept pieces of `chunk_frames`, each computed with up to left/right context."""
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    if left_frames < 0 or right_frames < 0:
        raise ValueError("overlap frames must be >= 0")
    chunks = []
    for keep_start in range(0, n_frames, chunk_frames):
        keep_stop = min(n_frames, keep_start + chunk_frames)
        chunks.append(Chunk(max(0, keep_start - left_frames), min(n_frames, keep_stop + right_frames),
                            keep_start, keep_stop))
    return chunks


@torch.no_grad()
def infer_chunked(model, mel: torch.Tensor, sigma: float = DEFAULT_SIGMA, z: torch.Tensor | None = None,
                  generator: torch.Generator | None = None, chunk_frames: int = 512,
                  overlap_frames: int | tuple[int, int] | None = None,
                  precision: str | None = None) -> torch.Tensor:
    """`model.infer` in chunks: mel [B, n_mel, F] (or [n_mel, F]) -> audio [B, F * hop] float32 on the CPU.

    z: the full latent [B, n_group, F * hop / n_group] (default: `model.draw_latent` for the whole length with
    `generator`, so a seed gives the same noise as `model.infer`). overlap_frames: context frames on each side, or
    (left, right) (default: the receptive field, which makes the result equal to full inference up to rounding).
    Peak memory: activations of one chunk of chunk_frames + 2 * overlap frames, plus the O(F) latent and audio.
    """
    mel = model._check_mel(mel)
    c = model.config
    batch, n_frames = mel.shape[0], mel.shape[2]
    steps_per_frame = c.hop_length // c.n_group
    if z is None:
        z = model.draw_latent(batch, n_frames * steps_per_frame, generator)
    elif tuple(z.shape) != (batch, c.n_group, n_frames * steps_per_frame):
        raise ValueError(f"z must be [{batch}, {c.n_group}, {n_frames * steps_per_frame}] for this mel, "
                         f"got {list(z.shape)}")
    if overlap_frames is None:
        field = receptive_field(c)
        left, right = field.left_frames, field.right_frames
    elif isinstance(overlap_frames, tuple):
        left, right = overlap_frames
    else:
        left = right = overlap_frames
    audio = torch.empty(batch, n_frames * c.hop_length, dtype=torch.float32)
    excitation = model.excitation_of_mel(mel)  # once for the utterance: its phase runs on across the chunks
    for chunk in plan_chunks(n_frames, chunk_frames, left, right):
        piece_excitation = (None if excitation is None else
                            excitation[..., chunk.start * c.hop_length:chunk.stop * c.hop_length])
        piece = model.infer(mel[:, :, chunk.start:chunk.stop], sigma=sigma,
                            z=z[:, :, chunk.start * steps_per_frame:chunk.stop * steps_per_frame],
                            excitation=piece_excitation, precision=precision)
        keep = slice((chunk.keep_start - chunk.start) * c.hop_length, (chunk.keep_stop - chunk.start) * c.hop_length)
        audio[:, chunk.keep_start * c.hop_length:chunk.keep_stop * c.hop_length] = piece[:, keep].float().cpu()
    return audio
