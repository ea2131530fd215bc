"""WaveGlow training: the loop, its losses and schedule, distributed runs, exact held-out likelihood.

Modules (one idea each):
  schedule     learning-rate warm-up and decay
  precision    autocast / GradScaler policy
  memory       WaveGlowForTraining: the training forward, optionally per-flow activation-checkpointed
  sampler      ResumableDistributedSampler: DistributedSampler that can start mid-epoch
  distributed  DistributedContext: torchrun / DDP process group (NCCL on GPU, gloo on CPU)
  rng          capture / restore every RNG
  averaging    the moving average of the weights
  adversarial  HiFi-GAN-style discriminators
  data         RunData: training clips vs the held-out set
  nll          exact NLL of whole utterances in bits per sample
  trainer      Trainer: the loop

A run's file formats (its TrainingConfig JSON and checkpoints) belong to the vocoder room
(waveglow.vocoder.run_config / run_checkpoints), which reads every checkpoint kind; they are re-exported here.
"""
from waveglow.training.distributed import DistributedContext
from waveglow.training.memory import WaveGlowForTraining
from waveglow.training.nll import HeldOutSet, NLLResult, utterance_nll
from waveglow.training.trainer import Trainer, TrainingDiverged
from waveglow.vocoder.run_checkpoints import CheckpointStore, load_training_checkpoint
from waveglow.vocoder.run_config import DataConfig, ScheduleConfig, SpectralLossConfig, TrainConfig, TrainingConfig

__all__ = ["CheckpointStore", "DataConfig", "DistributedContext", "HeldOutSet", "NLLResult", "ScheduleConfig",
           "SpectralLossConfig", "TrainConfig", "Trainer", "TrainingConfig", "TrainingDiverged", "WaveGlowForTraining",
           "load_training_checkpoint", "utterance_nll"]
