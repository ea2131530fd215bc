"""Tacotron2 (Shen et al. 2018) with NVIDIA/tacotron2's module layout, so its checkpoints load unchanged."""
from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import torch
from torch import nn

from waveglow.common.safe_loading import guard
from tts.tacotron2.checkpoint import CheckpointError, load_state_dict_file
from tts.tacotron2.config import MissingKeyError, Tacotron2Config, config_from_state_dict
from tts.tacotron2.decoder import Decoder
from tts.tacotron2.encoder import Encoder
from tts.tacotron2.layers import lengths_to_mask
from tts.tacotron2.postnet import Postnet

# Teacher forcing and batch inference fill gate logits of padded frames with this (sigmoid = 1: "stopped").
PADDED_GATE_LOGIT = 1000.0


class Tacotron2Output(NamedTuple):
    """mel_outputs, mel_outputs_postnet [B, n_mel, T_out] (log-mel); gate_outputs: logits, [B, T_out] in teacher
    forcing, [B, steps, 1] in inference (NVIDIA's shapes); alignments [B, steps, T_in] attention weights."""

    mel_outputs: torch.Tensor
    mel_outputs_postnet: torch.Tensor
    gate_outputs: torch.Tensor
    alignments: torch.Tensor


class Tacotron2Inference(NamedTuple):
    """`Tacotron2Output`'s four tensors plus output_lengths [B] (valid mel frames per item)."""

    mel_outputs: torch.Tensor
    mel_outputs_postnet: torch.Tensor
    gate_outputs: torch.Tensor
    alignments: torch.Tensor
    output_lengths: torch.Tensor


class MaxDecoderStepsWarning(UserWarning):
    """Inference hit max_decoder_steps before the stop gate fired (output is probably cut short)."""


class Tacotron2(nn.Module):
    """Text ids -> log-mel spectrogram, attention-based sequence to sequence.

    `Tacotron2(config)` or `Tacotron2(**settings)` (field names of `Tacotron2Config`; NVIDIA defaults).
    Load NVIDIA / DeepLearningExamples checkpoints with `Tacotron2.from_pretrained(path)`.

    Prenet dropout (`prenet_dropout`, default 0.5) is applied in eval mode too, as in NVIDIA's code: inference is
    random unless you set `model.prenet_dropout = 0` (deterministic, but NVIDIA's published model tends to
    produce worse speech without the noise).
    """

    def __init__(self, config: Tacotron2Config | None = None, **settings: Any):
        super().__init__()
        config = Tacotron2Config(**{**(config.to_dict() if config else {}), **settings})
        self.config = config
        self.embedding = nn.Embedding(config.n_symbols, config.symbols_embedding_dim)
        # Uniform with the variance of Xavier init for an [n_symbols, dim] matrix.
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (config.n_symbols + config.symbols_embedding_dim))
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.encoder = Encoder(config.symbols_embedding_dim, config.encoder_embedding_dim,
                               config.encoder_n_convolutions, config.encoder_kernel_size, config.encoder_dropout)
        self.decoder = Decoder(config.n_mel_channels, config.n_frames_per_step, config.encoder_embedding_dim,
                               config.attention_rnn_dim, config.decoder_rnn_dim, config.prenet_dim,
                               config.prenet_n_layers, config.attention_dim, config.attention_location_n_filters,
                               config.attention_location_kernel_size, config.p_attention_dropout,
                               config.p_decoder_dropout, config.prenet_dropout)
        self.postnet = Postnet(config.n_mel_channels, config.postnet_embedding_dim, config.postnet_kernel_size,
                               config.postnet_n_convolutions, config.postnet_dropout)
        self.prenet_dropout = config.prenet_dropout  # validates the probability

    # ------------------------------------------------------------------ settings
    @property
    def prenet_dropout(self) -> float:
        """Prenet dropout probability, applied in train *and* eval mode (0 = deterministic)."""
        return self.decoder.prenet.dropout

    @prenet_dropout.setter
    def prenet_dropout(self, p: float) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"prenet_dropout must be in [0, 1), got {p}")
        self.decoder.prenet.dropout = float(p)
        self.config.prenet_dropout = float(p)

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    # ------------------------------------------------------------------ inputs
    def _text_batch(self, text) -> torch.Tensor:
        text = torch.as_tensor(text, dtype=torch.long, device=self.device)
        if text.dim() == 1:
            text = text.unsqueeze(0)
        if text.dim() != 2 or text.size(1) == 0:
            raise ValueError(f"text ids must be [T] or [B, T] with T >= 1, got shape {list(text.shape)}")
        return text

    @staticmethod
    def _lengths(lengths, batch: int, max_len: int, device: torch.device, what: str) -> torch.Tensor:
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=device).reshape(-1)
        if lengths.numel() != batch:
            raise ValueError(f"{what} needs one length per item ({batch}), got {lengths.numel()}")
        if bool((lengths < 1).any()) or bool((lengths > max_len).any()):
            raise ValueError(f"{what} must lie in [1, {max_len}], got {lengths.tolist()}")
        return lengths

    # ------------------------------------------------------------------ model
    def encode(self, text: torch.Tensor, input_lengths: torch.Tensor | None = None,
               zero_padding: bool = False) -> torch.Tensor:
        """text [B, T_in] ids -> encoder outputs [B, T_in, encoder_embedding_dim] (zeros past each length).

        `zero_padding`: hide padding symbols from the convolutions too (see `Encoder.forward`).
        """
        return self.encoder(self.embedding(text).transpose(1, 2), input_lengths, zero_padding)

    def forward(self, text_padded: torch.Tensor, input_lengths: torch.Tensor, mel_padded: torch.Tensor,
                output_lengths: torch.Tensor | None = None) -> Tacotron2Output:
        """Teacher forcing (training).

        text_padded [B, T_in] ids (padding id 0), input_lengths [B], mel_padded [B, n_mel, T_out] targets,
        output_lengths [B] valid frames. Returns `Tacotron2Output` with gate_outputs [B, T_out]; with
        `mask_padding` and output_lengths, frames past each length get mel 0 and gate logit 1000.
        """
        text_padded = self._text_batch(text_padded)
        batch, t_in = text_padded.shape
        input_lengths = self._lengths(input_lengths, batch, t_in, self.device, "input_lengths")
        memory = self.encode(text_padded, input_lengths)
        run = self.decoder(memory, mel_padded, lengths_to_mask(input_lengths, t_in))
        mel_postnet = run.mel_outputs + self.postnet(run.mel_outputs)
        outputs = Tacotron2Output(run.mel_outputs, mel_postnet, run.gate_outputs, run.alignments)
        if self.config.mask_padding and output_lengths is not None:
            t_out = mel_padded.size(2)
            output_lengths = self._lengths(output_lengths, batch, t_out, self.device, "output_lengths")
            outputs = self._mask_frames(outputs, output_lengths)
        return outputs

    def _mask_frames(self, outputs: Tacotron2Output, output_lengths: torch.Tensor) -> Tacotron2Output:
        r = self.config.n_frames_per_step
        invalid_frames = ~lengths_to_mask(output_lengths, outputs.mel_outputs.size(2)).unsqueeze(1)  # [B, 1, T]
        # One gate per decoder step of r frames: a step is padding when none of its frames is valid.
        step_lengths = torch.div(output_lengths + r - 1, r, rounding_mode="floor")
        invalid_steps = ~lengths_to_mask(step_lengths, outputs.gate_outputs.size(1))
        return Tacotron2Output(outputs.mel_outputs.masked_fill(invalid_frames, 0.0),
                               outputs.mel_outputs_postnet.masked_fill(invalid_frames, 0.0),
                               outputs.gate_outputs.masked_fill(invalid_steps, PADDED_GATE_LOGIT),
                               outputs.alignments)

    def infer_batch(self, text, input_lengths=None, max_decoder_steps: int | None = None,
                    gate_threshold: float | None = None) -> Tacotron2Inference:
        """Free-running synthesis of a batch (no gradients); see `infer`. Also returns output_lengths [B] in
        mel frames.

        text [B, T_in] ids (or [T_in]); input_lengths [B] for a padded batch (None: every item uses all T_in
        ids, NVIDIA's unmasked B = 1 path). Each item stops at the first step whose sigmoid(gate) exceeds
        `gate_threshold` (that frame included); the batch runs until all stopped or `max_decoder_steps`.
        Past its own length an item gets mel 0, gate logit 1000 and attention weights 0, and its postnet sees
        zeros there, so it matches the item synthesised alone.
        """
        result, all_stopped = self._generate(text, input_lengths, max_decoder_steps, gate_threshold)
        if not all_stopped:
            self._warn_max_steps(result)
        return result

    def infer(self, text, input_lengths=None, max_decoder_steps: int | None = None,
              gate_threshold: float | None = None) -> Tacotron2Output:
        """Synthesis without targets (no gradients). text [B, T_in] or [T_in] symbol ids.

        Returns `Tacotron2Output`: mel_outputs / mel_outputs_postnet [B, n_mel, frames], gate_outputs
        [B, steps, 1] (logits), alignments [B, steps, T_in]. For a padded batch pass input_lengths [B] and use
        `infer_batch` to get each item's length. Defaults for max_decoder_steps (1000) and gate_threshold (0.5)
        come from the config; a MaxDecoderStepsWarning is issued when the limit is hit.
        """
        result, all_stopped = self._generate(text, input_lengths, max_decoder_steps, gate_threshold)
        if not all_stopped:
            self._warn_max_steps(result)
        return Tacotron2Output(*result[:4])

    @staticmethod
    def _warn_max_steps(result: Tacotron2Inference) -> None:
        warnings.warn(f"Tacotron2: reached max_decoder_steps={result.gate_outputs.size(1)} before the stop gate "
                      "fired", MaxDecoderStepsWarning, stacklevel=3)

    @torch.no_grad()
    def _generate(self, text, input_lengths, max_decoder_steps: int | None,
                  gate_threshold: float | None) -> tuple[Tacotron2Inference, bool]:
        text = self._text_batch(text)
        batch, t_in = text.shape
        max_steps = self.config.max_decoder_steps if max_decoder_steps is None else int(max_decoder_steps)
        threshold = self.config.gate_threshold if gate_threshold is None else float(gate_threshold)
        if max_steps < 1:
            raise ValueError(f"max_decoder_steps must be >= 1, got {max_steps}")
        memory_mask = None
        if input_lengths is not None:
            input_lengths = self._lengths(input_lengths, batch, t_in, self.device, "input_lengths")
            memory_mask = lengths_to_mask(input_lengths, t_in)
        memory = self.encode(text, input_lengths, zero_padding=True)
        run, steps, all_stopped = self.decoder.generate(memory, memory_mask, max_steps, threshold)

        output_lengths = steps * self.config.n_frames_per_step
        n_frames = run.mel_outputs.size(2)
        frame_mask = None
        if bool((output_lengths < n_frames).any()):
            frame_mask = lengths_to_mask(output_lengths, n_frames)
        mel = run.mel_outputs if frame_mask is None else run.mel_outputs * frame_mask.unsqueeze(1)
        mel_postnet = mel + self.postnet(mel, frame_mask)
        gate = run.gate_outputs.unsqueeze(-1)  # [B, steps, 1], as NVIDIA's inference returns it
        alignments = run.alignments
        if frame_mask is not None:
            mel_postnet = mel_postnet * frame_mask.unsqueeze(1)
            step_mask = lengths_to_mask(steps, run.gate_outputs.size(1)).unsqueeze(-1)  # [B, steps, 1]
            gate = gate.masked_fill(~step_mask, PADDED_GATE_LOGIT)
            alignments = alignments * step_mask
        return Tacotron2Inference(mel, mel_postnet, gate, alignments, output_lengths), all_stopped

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, path, prenet_dropout: float = 0.5, map_location: Any = "cpu",
                        **settings: Any) -> "Tacotron2":
        """Load an NVIDIA / DeepLearningExamples Tacotron2 checkpoint; returns the model in eval mode.

        Every architecture size is inferred from tensor shapes; `settings` override run-time fields of
        `Tacotron2Config` (gate_threshold, max_decoder_steps, mask_padding, ...). The model is placed on
        `map_location` when that is a device. Raises CheckpointError (naming the file and the offending key)
        for unreadable files and for tensors that are missing, unexpected or of inconsistent shapes.
        """

        state_dict = load_state_dict_file(path, map_location=map_location)
        with guard(path, what="not a usable Tacotron2 checkpoint"):
            try:
                config = config_from_state_dict(state_dict, prenet_dropout=prenet_dropout, **settings)
                # sizes come from tensor shapes; built on the meta device first so a crafted shape combination
                # cannot make us allocate far more than the file holds
                with torch.device("meta"):
                    planned = sum(p.numel() for p in cls(config).parameters())
                stored = sum(t.numel() for t in state_dict.values())
                if planned > 2 * stored + 1_000_000:
                    raise CheckpointError(f"{path}: the tensor shapes imply {planned:,} parameters but the file "
                                          f"holds {stored:,} values")
                model = cls(config)
            except MissingKeyError as exc:
                raise CheckpointError(f"{path}: missing tensor {exc.key!r}; not a Tacotron2 state_dict in NVIDIA's "
                                      "layout") from None
            except ValueError as exc:
                raise CheckpointError(f"{path}: {exc}") from None
            model._load_checked(state_dict, path)
            if isinstance(map_location, (str, torch.device)):
                model.to(torch.device(map_location))
            return model.eval()

    def _load_checked(self, state_dict: dict[str, torch.Tensor], path) -> None:
        expected = self.state_dict()
        state_dict = dict(state_dict)
        for key, value in expected.items():
            # Checkpoints saved before PyTorch 0.4.1 have no BatchNorm step counters; they do not affect eval.
            if key.endswith(".num_batches_tracked") and key not in state_dict:
                state_dict[key] = torch.zeros_like(value)
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        if missing:
            raise CheckpointError(f"{path}: missing tensor {missing[0]!r}"
                                  + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        if unexpected:
            raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]!r}"
                                  + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
                                  + "; not a Tacotron2 state_dict in NVIDIA's layout")
        for key, value in expected.items():
            if state_dict[key].shape != value.shape:
                raise CheckpointError(f"{path}: tensor {key!r} has shape {list(state_dict[key].shape)}, "
                                      f"expected {list(value.shape)} for the architecture inferred from the file")
            if not (state_dict[key].is_floating_point() or key.endswith(".num_batches_tracked")):
                raise CheckpointError(f"{path}: tensor {key!r} has dtype {state_dict[key].dtype}, expected float")
        self.load_state_dict(state_dict)
