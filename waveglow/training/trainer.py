"""The WaveGlow training loop: Adam on NVIDIA's loss under weight norm, checkpoints, held-out evaluation.

Exact resumption. Everything a step depends on is either saved or a pure function of saved numbers:
  * parameters (weight-norm form), their moving average (train.ema_decay), Adam moments, lr scheduler, GradScaler
    and every RNG state are in the checkpoint;
  * the sampler's permutation is seeded by (seed, epoch) and each item's segment by (seed, epoch, index), so the
    checkpoint's (epoch, batches done in that epoch) fixes the rest of the data order; the DataLoader gets its own
    generator so it never draws from the global RNG.
A run resumed from any checkpoint therefore ends with parameters bit-identical to an uninterrupted run (same
device, thread count and world size).

Rank 0 alone evaluates, writes TensorBoard, metrics.jsonl and checkpoints; the other ranks wait at a barrier.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from waveglow.audio.periodicity import PeriodicityDistance
from waveglow.audio.stft_distance import MultiResolutionSTFTDistance
from waveglow.common.atomic import atomic_write
from waveglow.common.errors import ConfigError, DataError, ToolkitError
from waveglow.common.safe_loading import guard
from waveglow.flows.gaussian import LN2, StandardNormal
from waveglow.training.adversarial import Discriminators, discriminator_loss, feature_matching_loss, generator_loss
from waveglow.training.averaging import WeightAverage
from waveglow.training.data import RunData
from waveglow.training.distributed import DistributedContext
from waveglow.training.memory import WaveGlowForTraining
from waveglow.training.nll import HeldOutSet
from waveglow.training.precision import Precision
from waveglow.training.rng import capture_rng_state, restore_rng_state, seed_everything
from waveglow.training.sampler import ResumableDistributedSampler
from waveglow.training.schedule import build_scheduler
from waveglow.vocoder.loading import LoadedModel, load_for_scoring
from waveglow.vocoder.model import WaveGlow
from waveglow.vocoder.run_checkpoints import CheckpointStore, load_training_checkpoint
from waveglow.vocoder.run_config import TrainingConfig
from waveglow_data.dataset import AudioMelDataset


class TrainingDiverged(ToolkitError, RuntimeError):
    """Loss or gradient norm became NaN/inf. The step was not applied and no checkpoint was written for it.
    The command line reports it as one line and exits with 1 (a failed run, not a bad argument)."""

    exit_code = 1

    def __init__(self, iteration: int, loss: float, grad_norm: float, last_checkpoint: Path | None):
        self.iteration, self.loss, self.grad_norm, self.last_checkpoint = iteration, loss, grad_norm, last_checkpoint
        kept = f"last good checkpoint: {last_checkpoint}" if last_checkpoint else "no checkpoint was written yet"
        super().__init__(f"training diverged at iteration {iteration}: loss {loss}, grad norm {grad_norm}; "
                         f"the step was not applied; {kept}")


@dataclass
class Position:
    """Where a run is: optimizer steps done, the epoch, batches (per rank) done in it, wall time spent."""

    iteration: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    elapsed_seconds: float = 0.0


@dataclass
class StepStats:
    iteration: int  # 1-based: the step that produced these numbers
    loss: float  # NVIDIA's loss (nats per sample, no constant), mean over ranks
    grad_norm: float  # global L2 norm before clipping (after fp16 unscaling)
    lr: float
    skipped: bool = False  # fp16 overflow: GradScaler skipped the update
    stop: bool = False  # some rank was asked to stop (agreed by all ranks through the step's all-reduce)
    spectral_loss: float | None = None  # MR-STFT distance of the inverse-flow sample (rank 0's), on spectral steps
    mel_loss: float | None = None  # mean |log-mel difference| of that sample, on spectral steps with a mel weight
    periodicity_loss: float | None = None  # mean |r(sample) - r(recording)|, on spectral steps with that weight
    generator_adversarial: float | None = None  # generator loss + weighted feature matching, on adversarial steps
    discriminator_loss: float | None = None


def adam_kernel(device: torch.device) -> dict:
    """Adam's implementation flags: the fused kernel on CPU and CUDA (3.25x faster than the per-tensor loop on 2 CPU
    threads for the small config, `benchmarks/train_throughput.py --adam-only`; the same update to rounding), torch's
    default elsewhere."""
    fused = device.type in ("cpu", "cuda")
    return {"fused": fused or None, "foreach": False if fused else None}


class Trainer:
    """One training run in `run_dir` (checkpoints/, tensorboard/, metrics.jsonl, config.json, final/)."""

    def __init__(self, config: TrainingConfig, data_source: str | os.PathLike, run_dir: str | os.PathLike,
                 context: DistributedContext | None = None, resample: bool = False, show_progress: bool = True,
                 held_out_evaluation: bool = True):
        self.config = config
        self.run_dir = Path(run_dir)
        self.context = context or DistributedContext()
        self.device = self.context.device
        self.show_progress = show_progress
        self.stop_requested = False  # set from a signal handler: checkpoint after the current step and return
        train = config.train
        self.precision = Precision(train.precision, self.device)

        # The same seed on every rank gives the same initial weights (DDP also broadcasts rank 0's).
        seed_everything(train.seed)
        self.model = WaveGlow(config.model).apply_weight_norm().to(self.device)
        self.forward_module = WaveGlowForTraining(self.model, train.memory_efficient)
        if self.context.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # a post-filter learns on spectral steps only: on the others its parameters get no gradient
            self.forward_module = DistributedDataParallel(
                self.forward_module, device_ids=ids, find_unused_parameters=bool(config.model.post_filter_layers))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train.lr, weight_decay=train.weight_decay,
                                          **adam_kernel(self.device))
        self.scheduler = build_scheduler(self.optimizer, train.schedule, train.lr)
        self.average = WeightAverage(self.model, train.ema_decay) if train.ema_decay else None
        self.stft_distance = MultiResolutionSTFTDistance(sampling_rate=config.model.sampling_rate).to(self.device)
        self.periodicity_distance = PeriodicityDistance(config.model.sampling_rate, hop=config.model.hop_length)
        # an inverse sample may leave [-1, 1] (the loss pulls it back), so no range check on these features
        self.mel_features = config.mel.mel_spectrogram(check_range=False).to(self.device)
        self.discriminators = self.discriminator_optimizer = None
        self.discriminator_module = None  # what the steps call: the discriminators, DDP-wrapped on several ranks
        if train.adversarial.enabled:
            self.discriminators = Discriminators().to(self.device)
            self.discriminator_module = self.discriminators
            if self.context.enabled:
                ids = [self.device.index] if self.device.type == "cuda" else None
                self.discriminator_module = DistributedDataParallel(self.discriminators, device_ids=ids)
            self.discriminator_optimizer = torch.optim.AdamW(self.discriminators.parameters(), lr=train.adversarial.lr,
                                                             betas=(0.8, 0.99), **adam_kernel(self.device))
        self.position = Position()
        self.history: deque[StepStats] = deque(maxlen=100_000)
        self.checkpoints = CheckpointStore(self.run_dir / "checkpoints", keep=train.keep_checkpoints)

        mel = config.mel.mel_spectrogram()
        self.data = RunData.read(data_source)
        self.dataset = AudioMelDataset(self.data.train, segment_length=train.segment_length, mel=mel,
                                       seed=train.seed, cache_dir=config.data.cache_dir, resample=resample,
                                       excitation=bool(config.model.excitation_channels),
                                       excitation_harmonics=config.model.excitation_harmonics,
                                       f0_cache_dir=Path(config.data.cache_dir or self.run_dir) / "f0")
        self.sampler = ResumableDistributedSampler(self.dataset, num_replicas=self.context.world_size,
                                                   rank=self.context.rank, seed=train.seed)
        self.batches_per_epoch = len(self.sampler) // train.batch_size
        if self.batches_per_epoch == 0:
            raise DataError(f"{len(self.data.train)} training clips over {self.context.world_size} process(es) "
                            f"do not fill one batch of {train.batch_size}: lower train.batch_size")
        self.held_out: HeldOutSet | None = None
        if self.context.is_main and self.data.held_out and held_out_evaluation:
            self.held_out = HeldOutSet.load(self.data.held_out, mel, config.data.eval_max_seconds, resample)
        self._writer = None
        self._resumed = False
        self._reference_logged = False

    # ---- checkpoints --------------------------------------------------------------------------------------------
    def state_payload(self, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
        p = self.position
        return {
            "format_version": 1,
            "iteration": p.iteration, "epoch": p.epoch, "batches_in_epoch": p.batches_in_epoch,
            "elapsed_seconds": p.elapsed_seconds, "world_size": self.context.world_size,
            "model": self.model.state_dict(), "weight_norm": True,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.scaler.state_dict(), "rng": rng_states,
            "config": self.config.to_dict(),
            **({"ema": self.average.state_dict()} if self.average is not None else {}),
            **({"discriminators": self.discriminators.state_dict(),
                "discriminator_optimizer": self.discriminator_optimizer.state_dict()}
               if self.discriminators is not None else {}),
        }

    def save_checkpoint(self) -> Path | None:
        """Collective: every rank contributes its RNG state; rank 0 writes. Returns the path on rank 0."""
        rng_states = self.context.gather(capture_rng_state())
        path = None
        if self.context.is_main:
            path = self.checkpoints.save(self.state_payload(rng_states), self.position.iteration)
        self.context.barrier()
        return path

    def resume(self, checkpoint: str | os.PathLike | None = None) -> Path:
        """Load model, optimizer, scheduler, scaler, RNG and data position from `checkpoint` (default: latest)."""
        path = Path(checkpoint) if checkpoint is not None else self.checkpoints.latest_path()
        if path is None:
            raise FileNotFoundError(f"{self.checkpoints.directory}: no checkpoint to resume from")
        payload = load_training_checkpoint(path, map_location="cpu")
        with guard(path, what="cannot resume from this training checkpoint"):
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            for group in self.optimizer.param_groups:  # the kernel is this machine's choice, not the checkpoint's
                group.update(adam_kernel(self.device))
            self.scheduler.load_state_dict(payload["scheduler"])
            if self.average is not None:
                if payload.get("ema"):
                    self.average.load_state_dict(payload["ema"])
                elif self.context.is_main:
                    print(f"{path}: no weight average saved; averaging starts from iteration "
                          f"{payload['iteration']}")
            if self.discriminators is not None:
                if payload.get("discriminators"):
                    self.discriminators.load_state_dict(payload["discriminators"])
                    self.discriminator_optimizer.load_state_dict(payload["discriminator_optimizer"])
                    for group in self.discriminator_optimizer.param_groups:
                        group.update(adam_kernel(self.device))
                elif self.context.is_main:
                    print(f"{path}: no discriminators saved; they start afresh at iteration "
                          f"{payload['iteration']}")
            if payload.get("scaler"):
                self.precision.scaler.load_state_dict(payload["scaler"])
            old_world = int(payload.get("world_size", 1))
            rng = payload["rng"]
            restore_rng_state(rng[self.context.rank] if old_world == self.context.world_size else rng[0])
            batches = int(payload["batches_in_epoch"])
            if old_world != self.context.world_size:
                # The per-rank shares of the permutation change with the world size: continue after roughly the
                # same number of samples. Data order (and so the result) is no longer bit-identical.
                batches = batches * old_world // self.context.world_size
                if self.context.is_main:
                    print(f"warning: resuming a {old_world}-process run with {self.context.world_size} processes; "
                          "data order within this epoch is approximate")
            self.position = Position(iteration=int(payload["iteration"]), epoch=int(payload["epoch"]),
                                     batches_in_epoch=min(batches, self.batches_per_epoch),
                                     elapsed_seconds=float(payload.get("elapsed_seconds", 0.0)))
        self._resumed = True
        return path

    def initialize_from(self, source: str | os.PathLike) -> LoadedModel:
        """Start this (new) run from the weights of anything `load_for_scoring` reads: NVIDIA's release and train.py
        files, DeepLearningExamples, our exports, a run (its weight average when kept). The file's shapes must be
        those of config.model, except that a config with a post-filter, an excitation or a harmonic source may start
        from a WaveGlow without (a new post-filter starts as the identity, the excitation's conditioning weights and
        the harmonic source's amplitudes at zero); optimizer, schedule and data position start afresh."""
        if self.position.iteration or self._resumed:
            raise ValueError("initialize_from starts a new run; a resumed run continues its own weights")
        loaded = load_for_scoring(source)
        theirs, ours = loaded.model.config, self.config.model
        adds_post_filter = ours.post_filter_layers and not theirs.post_filter_layers
        adds_excitation = ours.excitation_channels and not theirs.excitation_channels
        adds_harmonics = ours.harmonics and not theirs.harmonics
        ignored = ({"sampling_rate", "aligned_harmonics", "envelope_iterations"}  # choices, not shapes
                   | ({"post_filter_layers", "post_filter_channels"} if adds_post_filter else set())
                   | ({"excitation_channels"} if adds_excitation else set()) | ({"harmonics"} if adds_harmonics else set()))
        differing = [f.name for f in dataclasses.fields(ours)
                     if f.name not in ignored and getattr(theirs, f.name) != getattr(ours, f.name)]
        if differing:
            detail = ", ".join(f"{name} {getattr(theirs, name)!r} (config: {getattr(ours, name)!r})"
                               for name in differing)
            raise ConfigError(f"{source}: its model does not have the training config's shape: {detail}")
        weight_normed = WaveGlow(ours)
        state = loaded.model.state_dict()
        if adds_excitation:  # the excitation's conditioning columns start at zero: the new run starts as theirs
            for key, value in list(state.items()):
                if key.endswith("cond_layer.weight"):
                    extra = ours.cond_channels - value.shape[1]
                    state[key] = torch.cat([value, value.new_zeros(value.shape[0], extra, *value.shape[2:])], 1)
        missing, unexpected = weight_normed.load_state_dict(state, strict=False)
        if unexpected or any(not key.startswith(("post_filter.", "harmonic.")) for key in missing):
            raise ConfigError(f"{source}: tensors do not match the training config's model (missing: "
                              f"{missing[:3]}, unexpected: {unexpected[:3]})")
        weight_normed.apply_weight_norm()
        self.model.load_state_dict(weight_normed.state_dict())
        if self.context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            record = {"source": str(source), "kind": loaded.kind, "iteration": loaded.iteration,
                      "weights": loaded.weights}
            text = json.dumps(record, indent=2) + "\n"
            atomic_write(self.run_dir / "init_from.json", lambda f: f.write(text.encode("utf-8")))
        return loaded

    @property
    def inference_model(self) -> WaveGlow:
        """The weights a run exports and samples from: the moving average when kept (and started), else the raw ones."""
        if self.average is not None and self.average.updates:
            return self.average.model
        return self.model

    def export_final(self) -> Path:
        """`inference_model`, weight norm folded into plain weights, saved in our inference format to RUN_DIR/final/."""
        plain = WaveGlow(self.config.model).apply_weight_norm()
        plain.load_state_dict({k: v.detach().cpu() for k, v in self.inference_model.state_dict().items()})
        return plain.remove_weight_norm().save_pretrained(self.run_dir / "final", mel=self.config.mel)

    # ---- logging --------------------------------------------------------------------------------------------------
    @property
    def writer(self):
        if self._writer is None and self.context.is_main:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a crashed run logged after the checkpoint we resumed from.
            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"),
                                         purge_step=self.position.iteration if self._resumed else None)
        return self._writer

    def _metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    def _append_metrics(self, record: dict[str, Any]) -> None:
        with open(self._metrics_path(), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_metrics(self) -> None:
        """On resume, forget records of iterations after the checkpoint (they will be redone)."""
        path = self._metrics_path()
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash
                continue
            if record.get("iteration", 0) <= self.position.iteration:
                kept.append(line)
        atomic_write(path, lambda f: f.write("".join(line + "\n" for line in kept).encode("utf-8")))

    def _log_train(self, window: list[StepStats], seconds: float) -> None:
        sigma = self.config.train.sigma
        loss = sum(s.loss for s in window) / len(window)
        last = window[-1]
        samples = len(window) * self.config.train.batch_size * self.context.world_size * \
            self.config.train.segment_length
        record = {"kind": "train", "iteration": last.iteration, "elapsed_s": round(self.position.elapsed_seconds, 2),
                  "loss": loss, "bits_per_sample": (loss + StandardNormal(sigma).log_normalizer()) / LN2,
                  "grad_norm": last.grad_norm, "lr": last.lr, "samples_per_s": samples / max(seconds, 1e-9)}
        w = self.writer
        for name in ("spectral_loss", "mel_loss", "periodicity_loss", "generator_adversarial", "discriminator_loss"):
            values = [getattr(s, name) for s in window if getattr(s, name) is not None]
            if values:
                record[name] = sum(values) / len(values)
                w.add_scalar(f"train/{name}", record[name], last.iteration)
        self._append_metrics(record)
        w.add_scalar("train/loss", loss, last.iteration)
        w.add_scalar("train/bits_per_sample", record["bits_per_sample"], last.iteration)
        w.add_scalar("train/grad_norm", last.grad_norm, last.iteration)
        w.add_scalar("train/lr", last.lr, last.iteration)
        w.add_scalar("train/samples_per_second", record["samples_per_s"], last.iteration)

    def evaluate(self) -> dict[str, Any] | None:
        """Rank 0: held-out bits per sample (exact, whole clips) of the raw weights and of their moving average
        (when kept), and clips vocoded by `inference_model` into TensorBoard."""
        if self.held_out is None or not len(self.held_out):
            return None
        data = self.config.data
        start = time.monotonic()
        result = self.held_out.evaluate(self.model, self.config.train.sigma)
        it = self.position.iteration
        record = {"kind": "eval", "iteration": it, "elapsed_s": round(self.position.elapsed_seconds, 2),
                  "bits_per_sample": result.bits_per_sample, "bits_per_16bit_sample": result.bits_per_16bit_sample,
                  "held_out_seconds": round(self.held_out.seconds, 2), "n_utterances": result.n_utterances}
        w = self.writer
        w.add_scalar("eval/bits_per_sample", result.bits_per_sample, it)
        w.add_scalar("eval/bits_per_16bit_sample", result.bits_per_16bit_sample, it)
        model = self.inference_model
        if model is not self.model:
            averaged = self.held_out.evaluate(model, self.config.train.sigma)
            record["ema_bits_per_sample"] = averaged.bits_per_sample
            w.add_scalar("eval/ema_bits_per_sample", averaged.bits_per_sample, it)
        record["eval_seconds"] = round(time.monotonic() - start, 2)
        self._append_metrics(record)
        model.eval()
        for item in self.held_out.items[: data.eval_audio_samples]:
            # A fixed generator: differences between evals come from the model, not from the noise.
            audio = model.infer(item.mel.to(self.device), sigma=data.eval_audio_sigma,
                                     generator=torch.Generator().manual_seed(0))
            w.add_audio(f"eval/{item.utt_id}", audio[0].clamp(-1, 1).float().cpu(), it,
                        sample_rate=self.config.model.sampling_rate)
            if not self._reference_logged:
                w.add_audio(f"reference/{item.utt_id}", item.audio, 0, sample_rate=self.config.model.sampling_rate)
        self._reference_logged = True
        model.train()
        w.flush()
        return record

    # ---- the step ------------------------------------------------------------------------------------------------
    def _gradient_norm(self) -> torch.Tensor:
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.config.train.grad_clip
        if clip is not None:
            return torch.nn.utils.clip_grad_norm_(params, clip)
        return torch.nn.utils.get_total_norm([p.grad for p in params])

    def train_step(self, mel: torch.Tensor, audio: torch.Tensor, excitation: torch.Tensor | None = None) -> StepStats:
        """One optimizer step on a batch (mel [B, n_mel, F], audio [B, T], and excitation [B, 2, T] for a model
        with one). Raises TrainingDiverged.

        With train.micro_batches = k the batch runs as k chunks whose gradients accumulate; each chunk's loss is
        weighted by its share of the samples, so the step minimises the same loss with 1/k of the activations.
        """
        scaler = self.precision.scaler
        audio = audio.to(self.device, non_blocking=True)
        mel = mel.to(self.device, non_blocking=True)
        lr = self.scheduler.get_last_lr()[0]
        k = self.config.train.micro_batches
        if excitation is not None:
            excitation = excitation.to(self.device, non_blocking=True)
        chunks = list(zip(audio.chunk(k), mel.chunk(k), [None] * k if excitation is None else excitation.chunk(k)))
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=self.device)
        spectral_config = self.config.train.spectral_loss
        spectral_step = spectral_config.enabled and self.position.iteration % spectral_config.every == 0
        spectral = torch.zeros((), device=self.device)
        mel_distance = torch.zeros((), device=self.device)
        periodicity = torch.zeros((), device=self.device)
        adversarial = self.config.train.adversarial
        generator_adversarial = torch.zeros((), device=self.device)
        samples: list[torch.Tensor] = []  # the spectral step's samples, for the discriminators' own step
        for i, (audio_chunk, mel_chunk, excitation_chunk) in enumerate(chunks):
            # DDP all-reduces gradients in the last chunk's backward only.
            last = i == len(chunks) - 1
            no_sync = self.forward_module.no_sync() if self.context.enabled and not last else contextlib.nullcontext()
            share = audio_chunk.numel() / audio.numel()
            with no_sync:
                with self.precision.autocast():
                    if spectral_step:
                        # drawn from the global RNG, which checkpoints save: resumption stays exact
                        steps = mel_chunk.shape[2] * self.config.model.hop_length // self.config.model.n_group
                        reverse_z = torch.randn(mel_chunk.shape[0], self.config.model.n_group, steps,
                                                device=self.device)
                        z, logdet, sample = self.forward_module(audio_chunk, mel_chunk, reverse_z=reverse_z,
                                                                reverse_sigma=spectral_config.sigma,
                                                                excitation=excitation_chunk)
                    else:
                        z, logdet = self.forward_module(audio_chunk, mel_chunk, excitation=excitation_chunk)
                chunk_loss = WaveGlow.loss(z, logdet, self.config.train.sigma) * share
                objective = chunk_loss
                if spectral_step:
                    chunk_spectral = self.stft_distance(sample, audio_chunk) * share
                    objective = objective + spectral_config.weight * chunk_spectral
                    spectral = spectral + chunk_spectral.detach()
                    if spectral_config.mel_weight:
                        chunk_mel = self.mel_distance(sample, audio_chunk) * share
                        objective = objective + spectral_config.mel_weight * chunk_mel
                        mel_distance = mel_distance + chunk_mel.detach()
                    if spectral_config.periodicity_weight:
                        chunk_periodicity = self.periodicity_distance(sample, audio_chunk, excitation_chunk) * share
                        objective = objective + spectral_config.periodicity_weight * chunk_periodicity
                        periodicity = periodicity + chunk_periodicity.detach()
                    if adversarial.enabled:
                        # the generator's side: the discriminators are only read here (their step comes after), so
                        # the unwrapped module serves; the recording's features are targets, without a graph
                        with self.precision.autocast():
                            with torch.no_grad():
                                real = self.discriminators(audio_chunk)
                            fake = self.discriminators(sample)
                        chunk_adversarial = (generator_loss(fake) + adversarial.feature_matching *
                                             feature_matching_loss(real, fake)) * share
                        objective = objective + adversarial.weight * chunk_adversarial
                        generator_adversarial = generator_adversarial + chunk_adversarial.detach()
                        samples.append(sample.detach())
                scaler.scale(objective).backward()
            loss = loss + chunk_loss.detach()
        scaler.unscale_(self.optimizer)
        grad_norm = self._gradient_norm()
        # One all-reduce carries the loss (for logging) and the stop flag, so every rank stops at the same step.
        shared = self.context.mean(torch.stack([loss.detach().float(),
                                                torch.tensor(float(self.stop_requested), device=loss.device)]))
        loss_value, norm_value, stop = float(shared[0]), float(grad_norm), bool(shared[1] > 0)
        iteration = self.position.iteration + 1
        overflow = not math.isfinite(norm_value)
        if not math.isfinite(loss_value) or (overflow and not self.precision.uses_scaler):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingDiverged(iteration, loss_value, norm_value, self.checkpoints.latest_path())
        scaler.step(self.optimizer)  # with fp16, skips the update when the unscaled gradients overflowed
        scaler.update()
        discriminator = self._discriminator_step(samples, chunks) if samples else None
        self.scheduler.step()
        if self.average is not None and not overflow:
            self.average.update(self.model)
        self.position.iteration = iteration
        return StepStats(iteration, loss_value, norm_value, lr, skipped=overflow, stop=stop,
                         spectral_loss=float(spectral) if spectral_step else None,
                         mel_loss=float(mel_distance) if spectral_step and spectral_config.mel_weight else None,
                         periodicity_loss=(float(periodicity) if spectral_step and spectral_config.periodicity_weight
                                           else None),
                         generator_adversarial=float(generator_adversarial) if samples else None,
                         discriminator_loss=discriminator)

    def mel_distance(self, sample: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Mean |log-mel(sample) - log-mel(audio)| over channels and frames (sample, audio [B, T] float; the run's
        own mel features, in fp32 whatever the autocast): the frame-level envelope a vocoder must reproduce."""
        with torch.autocast(self.device.type, enabled=False):
            return (self.mel_features(sample.float()) - self.mel_features(audio.float())).abs().mean()

    def _discriminator_step(self, samples: list[torch.Tensor], chunks) -> float:
        """One AdamW step of the discriminators: recordings towards 1, this step's (detached) samples towards 0."""
        self.discriminator_optimizer.zero_grad(set_to_none=True)  # drops what the generator's loss left there
        total = 0.0
        for sample, (audio_chunk, *_) in zip(samples, chunks):
            share = audio_chunk.numel() / sum(chunk[0].numel() for chunk in chunks)
            batch = audio_chunk.shape[0]
            with self.precision.autocast():  # one forward over both halves: what DDP expects per backward
                outputs = self.discriminator_module(torch.cat([audio_chunk, sample]))
            real = [(scores[:batch], None) for scores, _ in outputs]
            fake = [(scores[batch:], None) for scores, _ in outputs]
            chunk_loss = discriminator_loss(real, fake) * share
            chunk_loss.backward()
            total += float(chunk_loss.detach())
        self.discriminator_optimizer.step()
        return total

    # ---- the loop ------------------------------------------------------------------------------------------------
    def _loader(self, epoch: int, start_batch: int) -> torch.utils.data.DataLoader:
        batch = self.config.train.batch_size
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start_index=start_batch * batch)
        workers = self.config.data.num_workers
        return torch.utils.data.DataLoader(
            self.dataset, batch_size=batch, sampler=self.sampler, drop_last=True, num_workers=workers,
            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(epoch),
            # Workers are recreated every epoch (never persistent) so they see the dataset's new epoch.
            persistent_workers=False, prefetch_factor=2 if workers else None)

    def _start(self) -> None:
        if not self.context.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints.directory.mkdir(parents=True, exist_ok=True)
        self.checkpoints.remove_stale_temporaries()
        text = json.dumps(self.config.to_dict(), indent=2) + "\n"
        atomic_write(self.run_dir / "config.json", lambda f: f.write(text.encode("utf-8")))
        if self._resumed:
            self._truncate_metrics()

    def fit(self) -> Position:
        """Train until config.train.iterations (or a stop request); checkpoint, evaluate, export. Returns where
        the run stopped. Raises TrainingDiverged on NaN/inf."""
        train = self.config.train
        total = train.iterations
        self._start()
        self.model.train()
        from tqdm import tqdm

        bar = tqdm(total=total, initial=self.position.iteration, unit="it", dynamic_ncols=True, mininterval=5,
                   disable=not (self.context.is_main and self.show_progress))
        clock = time.monotonic()
        window: list[StepStats] = []
        window_seconds = 0.0  # time in steps (data loading included), not in evaluation or checkpointing

        def tick() -> float:
            """Add the wall time since the last tick to the run's clock; returns it."""
            nonlocal clock
            now = time.monotonic()
            spent, clock = now - clock, now
            self.position.elapsed_seconds += spent
            return spent

        stop = False
        try:
            if not self._resumed and self.position.iteration == 0 and self.context.is_main:
                record = self.evaluate()
                if record:
                    bar.write(f"iteration 0: held-out {record['bits_per_sample']:.4f} bits/sample")
            self.context.barrier()
            clock = time.monotonic()
            while self.position.iteration < total and not stop:
                p = self.position
                for batch in self._loader(p.epoch, p.batches_in_epoch):
                    stats = self.train_step(*batch)
                    stop = stats.stop  # the same on every rank, unlike self.stop_requested
                    p.batches_in_epoch += 1
                    self.history.append(stats)
                    window.append(stats)
                    window_seconds += tick()
                    bar.update(1)
                    it = p.iteration
                    if it % train.log_every == 0 or it == total:
                        if self.context.is_main:
                            self._log_train(window, window_seconds)
                            bar.set_postfix(loss=f"{stats.loss:.4f}", grad=f"{stats.grad_norm:.3g}", refresh=False)
                        window, window_seconds = [], 0.0
                    if it % train.eval_every == 0:
                        record = self.evaluate() if self.context.is_main else None
                        if record:
                            averaged = (f", weight average {record['ema_bits_per_sample']:.4f}"
                                        if "ema_bits_per_sample" in record else "")
                            bar.write(f"iteration {it}: held-out {record['bits_per_sample']:.4f} bits/sample "
                                      f"({record['bits_per_16bit_sample']:.4f} per 16-bit sample){averaged}")
                        self.context.barrier()
                        tick()
                    if it % train.checkpoint_every == 0 or it == total or stop:
                        path = self.save_checkpoint()
                        if path is not None:
                            bar.write(f"iteration {it}: checkpoint {path}")
                        tick()
                    if it >= total or stop:
                        break
                else:
                    p.epoch += 1
                    p.batches_in_epoch = 0
            if self.position.iteration >= total and self.context.is_main:
                if total % train.eval_every:
                    self.evaluate()
                path = self.export_final()
                bar.write(f"final model (weight norm removed): {path}")
            self.context.barrier()
        finally:
            bar.close()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        return self.position
