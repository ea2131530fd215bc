"""Tacotron2 autoregressive decoder: prenet -> attention LSTM -> attention -> decoder LSTM -> mel + gate."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tts.tacotron2.attention import LocationSensitiveAttention
from tts.tacotron2.layers import LinearNorm


class Prenet(nn.Module):
    """Bottleneck on the previous mel frame: x [..., in_dim] -> [..., sizes[-1]], ReLU + dropout per layer.

    Dropout with probability `dropout` is applied in *both* training and eval mode, as in NVIDIA's Tacotron2
    (the noise is part of how the model was trained to generate; NVIDIA's published model relies on it).
    Set `dropout = 0` for deterministic output.
    """

    def __init__(self, in_dim: int, sizes: list[int], dropout: float = 0.5):
        super().__init__()
        self.dropout = dropout
        in_sizes = [in_dim] + sizes[:-1]
        self.layers = nn.ModuleList(LinearNorm(i, o, bias=False) for i, o in zip(in_sizes, sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear in self.layers:
            x = F.relu(linear(x))
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, training=True)
        return x


@dataclass
class DecoderState:
    """Recurrent state between decoder steps (B = batch, T_in = encoder length)."""

    attention_hidden: torch.Tensor  # [B, attention_rnn_dim]
    attention_cell: torch.Tensor  # [B, attention_rnn_dim]
    decoder_hidden: torch.Tensor  # [B, decoder_rnn_dim]
    decoder_cell: torch.Tensor  # [B, decoder_rnn_dim]
    attention_weights: torch.Tensor  # [B, T_in], previous step
    attention_weights_cum: torch.Tensor  # [B, T_in], sum over all previous steps
    attention_context: torch.Tensor  # [B, encoder_dim]


@dataclass
class DecoderRun:
    """Stacked per-step outputs of one decoding run."""

    mel_outputs: torch.Tensor  # [B, n_mel, steps * n_frames_per_step]
    gate_outputs: torch.Tensor  # [B, steps] logits
    alignments: torch.Tensor  # [B, steps, T_in]


class Decoder(nn.Module):
    """Predicts `n_frames_per_step` mel frames and one stop-gate logit per step, attending over the encoder."""

    def __init__(self, n_mel_channels: int, n_frames_per_step: int, encoder_dim: int, attention_rnn_dim: int,
                 decoder_rnn_dim: int, prenet_dim: int, prenet_n_layers: int, attention_dim: int,
                 attention_location_n_filters: int, attention_location_kernel_size: int,
                 p_attention_dropout: float = 0.1, p_decoder_dropout: float = 0.1, prenet_dropout: float = 0.5):
        super().__init__()
        self.n_mel_channels = n_mel_channels
        self.n_frames_per_step = n_frames_per_step
        self.attention_rnn_dim = attention_rnn_dim
        self.decoder_rnn_dim = decoder_rnn_dim
        self.p_attention_dropout = p_attention_dropout
        self.p_decoder_dropout = p_decoder_dropout
        frame_dim = n_mel_channels * n_frames_per_step

        self.prenet = Prenet(frame_dim, [prenet_dim] * prenet_n_layers, prenet_dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dim + encoder_dim, attention_rnn_dim)
        self.attention_layer = LocationSensitiveAttention(attention_rnn_dim, encoder_dim, attention_dim,
                                                          attention_location_n_filters,
                                                          attention_location_kernel_size)
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_dim, decoder_rnn_dim)
        self.linear_projection = LinearNorm(decoder_rnn_dim + encoder_dim, frame_dim)
        self.gate_layer = LinearNorm(decoder_rnn_dim + encoder_dim, 1, w_init_gain="sigmoid")

    def go_frame(self, memory: torch.Tensor) -> torch.Tensor:
        """All-zero first decoder input [B, n_mel * n_frames_per_step]."""
        return memory.new_zeros(memory.size(0), self.n_mel_channels * self.n_frames_per_step)

    def initial_state(self, memory: torch.Tensor) -> DecoderState:
        batch, t_in, encoder_dim = memory.shape
        return DecoderState(
            attention_hidden=memory.new_zeros(batch, self.attention_rnn_dim),
            attention_cell=memory.new_zeros(batch, self.attention_rnn_dim),
            decoder_hidden=memory.new_zeros(batch, self.decoder_rnn_dim),
            decoder_cell=memory.new_zeros(batch, self.decoder_rnn_dim),
            attention_weights=memory.new_zeros(batch, t_in),
            attention_weights_cum=memory.new_zeros(batch, t_in),
            attention_context=memory.new_zeros(batch, encoder_dim),
        )

    def step(self, prenet_frame: torch.Tensor, state: DecoderState, memory: torch.Tensor,
             processed_memory: torch.Tensor, memory_mask: torch.Tensor | None):
        """One decoder step. prenet_frame [B, prenet_dim] (the previous frame after the prenet).

        Returns (frame [B, n_mel * n_frames_per_step], gate logit [B, 1], attention weights [B, T_in], new state).
        """
        attention_hidden, attention_cell = self.attention_rnn(
            torch.cat((prenet_frame, state.attention_context), -1), (state.attention_hidden, state.attention_cell))
        attention_hidden = F.dropout(attention_hidden, self.p_attention_dropout, self.training)

        weights_cat = torch.cat((state.attention_weights.unsqueeze(1), state.attention_weights_cum.unsqueeze(1)), 1)
        context, weights = self.attention_layer(attention_hidden, memory, processed_memory, weights_cat, memory_mask)

        decoder_hidden, decoder_cell = self.decoder_rnn(
            torch.cat((attention_hidden, context), -1), (state.decoder_hidden, state.decoder_cell))
        decoder_hidden = F.dropout(decoder_hidden, self.p_decoder_dropout, self.training)

        hidden_and_context = torch.cat((decoder_hidden, context), dim=1)
        frame = self.linear_projection(hidden_and_context)
        gate = self.gate_layer(hidden_and_context)
        new_state = DecoderState(attention_hidden, attention_cell, decoder_hidden, decoder_cell, weights,
                                 state.attention_weights_cum + weights, context)
        return frame, gate, weights, new_state

    def _stack(self, frames: list, gates: list, alignments: list) -> DecoderRun:
        batch = frames[0].size(0)
        # [steps, B, n_mel * r] -> [B, steps * r, n_mel] -> [B, n_mel, steps * r]
        mels = torch.stack(frames, dim=1).reshape(batch, -1, self.n_mel_channels).transpose(1, 2)
        return DecoderRun(mels, torch.cat(gates, dim=1), torch.stack(alignments, dim=1))

    def forward(self, memory: torch.Tensor, mel_targets: torch.Tensor,
                memory_mask: torch.Tensor | None) -> DecoderRun:
        """Teacher forcing: memory [B, T_in, encoder_dim], mel_targets [B, n_mel, T_out] (T_out a multiple of
        n_frames_per_step); step t+1 is fed target frames of step t."""
        batch, n_mel, t_out = mel_targets.shape
        r = self.n_frames_per_step
        if n_mel != self.n_mel_channels or t_out % r:
            raise ValueError(f"mel targets must be [B, {self.n_mel_channels}, multiple of {r}], "
                             f"got {list(mel_targets.shape)}")
        # [B, n_mel, T_out] -> [T_out / r, B, n_mel * r]: the r frames of one step side by side.
        targets = mel_targets.transpose(1, 2).reshape(batch, t_out // r, n_mel * r).transpose(0, 1)
        # The last target is run through the prenet too (and unused) so that prenet dropout draws the same
        # random numbers as NVIDIA's implementation under the same seed.
        inputs = self.prenet(torch.cat((self.go_frame(memory).unsqueeze(0), targets), dim=0))[:-1]

        state = self.initial_state(memory)
        processed_memory = self.attention_layer.process_memory(memory)
        frames, gates, alignments = [], [], []
        for prenet_frame in inputs:
            frame, gate, weights, state = self.step(prenet_frame, state, memory, processed_memory, memory_mask)
            frames.append(frame)
            gates.append(gate)
            alignments.append(weights)
        return self._stack(frames, gates, alignments)

    def generate(self, memory: torch.Tensor, memory_mask: torch.Tensor | None, max_steps: int,
                 gate_threshold: float) -> tuple[DecoderRun, torch.Tensor, bool]:
        """Free-running decoding: each step is fed its own previous prediction.

        Item b stops at the first step whose sigmoid(gate) exceeds `gate_threshold`; that step's frames are kept.
        Decoding ends when every item stopped or after `max_steps` steps.
        Returns (outputs, steps per item [B] long, whether every item stopped by its gate).
        """
        batch = memory.size(0)
        state = self.initial_state(memory)
        processed_memory = self.attention_layer.process_memory(memory)
        stopped = torch.zeros(batch, dtype=torch.bool, device=memory.device)
        steps = torch.full((batch,), max_steps, dtype=torch.long, device=memory.device)
        frame = self.go_frame(memory)
        frames, gates, alignments = [], [], []
        for step in range(max_steps):
            frame, gate, weights, state = self.step(self.prenet(frame), state, memory, processed_memory,
                                                    memory_mask)
            frames.append(frame)
            gates.append(gate)
            alignments.append(weights)
            stops_now = (torch.sigmoid(gate[:, 0]) > gate_threshold) & ~stopped
            steps = torch.where(stops_now, step + 1, steps)
            stopped = stopped | stops_now
            if bool(stopped.all()):
                break
        all_stopped = bool(stopped.all())
        if not all_stopped:
            steps = torch.where(stopped, steps, len(frames))
        return self._stack(frames, gates, alignments), steps, all_stopped
