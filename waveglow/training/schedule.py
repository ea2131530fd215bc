"""Learning-rate schedules: linear warm-up, then constant (NVIDIA), exponential or step decay."""
from __future__ import annotations

import math

import torch

from waveglow.vocoder.run_config import ScheduleConfig


def lr_factor(iteration: int, schedule: ScheduleConfig, base_lr: float) -> float:
    """Multiplier of the base learning rate at 0-based `iteration` (see ScheduleConfig for the formulas)."""
    factor = 1.0
    if schedule.warmup and iteration < schedule.warmup:
        factor = (iteration + 1) / schedule.warmup
    decay_steps = max(0, iteration - schedule.warmup)
    if schedule.kind == "exponential":
        factor *= schedule.gamma ** (decay_steps / schedule.decay_every)
    elif schedule.kind == "step":
        factor *= schedule.gamma ** math.floor(decay_steps / schedule.decay_every)
    if schedule.kind != "constant" and iteration >= schedule.warmup:
        factor = max(factor, schedule.min_lr / base_lr)
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: ScheduleConfig,
                    base_lr: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per optimizer step; its state_dict (last_epoch) goes into checkpoints."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, schedule, base_lr))
