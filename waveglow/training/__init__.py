"""WaveGlow training: config, loop, checkpoints, exact held-out likelihood.

Modules (one idea each):
  config       TrainingConfig = {model, train, data} JSON
  schedule     learning-rate warm-up and decay
  precision    autocast / GradScaler policy
  memory       WaveGlowForTraining: the training forward, optionally per-flow activation-checkpointed
  sampler      ResumableDistributedSampler: DistributedSampler that can start mid-epoch
  distributed  DistributedContext: torchrun / DDP process group (NCCL on GPU, gloo on CPU)
  rng          capture / restore every RNG
  checkpoints  CheckpointStore: atomic ckpt_{iteration}.pt + `latest`, keep last K
  data         RunData: training clips vs the held-out set
  nll          exact NLL of whole utterances in bits per sample
  loading      a model for scoring from any checkpoint kind
  trainer      Trainer: the loop
"""
from .checkpoints import CheckpointStore, load_training_checkpoint
from .config import DataConfig, ScheduleConfig, SpectralLossConfig, TrainConfig, TrainingConfig
from .distributed import DistributedContext
from .memory import WaveGlowForTraining
from .nll import HeldOutSet, NLLResult, utterance_nll
from .trainer import Trainer, TrainingDiverged

__all__ = ["CheckpointStore", "DataConfig", "DistributedContext", "HeldOutSet", "NLLResult", "ScheduleConfig",
           "SpectralLossConfig", "TrainConfig", "Trainer", "TrainingConfig", "TrainingDiverged", "WaveGlowForTraining",
           "load_training_checkpoint", "utterance_nll"]
