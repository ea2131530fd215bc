"""A WaveGlow for scoring, from any checkpoint: a training checkpoint (file, checkpoints/ dir or run dir), our
format, or an NVIDIA / DeepLearningExamples file (through waveglow.checkpoint.load_waveglow, as
WaveGlow.from_pretrained does)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from waveglow.model import WaveGlow

from waveglow.safe_loading import guard
from .checkpoints import (CheckpointStore, NotTrainingCheckpoint, load_training_checkpoint,
                          resolve_training_checkpoint)
from .config import DataConfig, TrainingConfig


@dataclass
class LoadedModel:
    model: WaveGlow  # plain weights (weight norm folded), eval mode, CPU
    source: str  # the file read
    kind: str  # "training", or the source format load_waveglow read ("ours", "nvidia", "dle", ...)
    train_sigma: float | None  # the prior sigma the model was trained with, when the file says
    data_config: DataConfig | None = None  # the mel settings it was trained with, when known
    iteration: int | None = None
    weights: str | None = None  # training checkpoints: "average" (the moving average) or "raw"

    def mel_spectrogram(self):
        """The training mel if known, else NVIDIA's TacotronSTFT defaults at the model's rate and hop."""
        from waveglow.audio import MelSpectrogram

        if self.data_config is not None:
            return self.data_config.mel_spectrogram(self.model.config.n_mel_channels)
        c = self.model.config
        return MelSpectrogram(sampling_rate=c.sampling_rate, hop_length=c.hop_length, n_mels=c.n_mel_channels)


def _from_training_checkpoint(path: Path, raw: bool = False) -> LoadedModel:
    payload = load_training_checkpoint(path)
    with guard(path, what="not a usable training checkpoint"):
        return _model_from_payload(payload, path, raw)


def _model_from_payload(payload: dict, path: Path, raw: bool) -> LoadedModel:
    config = TrainingConfig.from_dict(payload["config"], source=f"{path}: config")
    model = WaveGlow(config.model)
    if payload.get("weight_norm", True):
        model.apply_weight_norm()
    average = payload.get("ema")
    use_average = not raw and bool(average) and int(average["updates"]) > 0
    model.load_state_dict(average["model"] if use_average else payload["model"])
    model.remove_weight_norm().eval()
    return LoadedModel(model, str(path), "training", config.train.sigma, config.data, int(payload["iteration"]),
                       weights="average" if use_average else "raw")


def load_training_model(path: str | Path, raw: bool = False) -> LoadedModel | None:
    """A run directory, its checkpoints/ directory or one of its ckpt files -> its (latest) weights: their moving
    average when the run keeps one (train.ema_decay), else (or with `raw`) the optimizer's weights. None when `path`
    is something else (an exported model's directory, a file in another format). A run directory whose
    checkpoints/ folder holds no checkpoint raises CheckpointError."""
    from waveglow.checkpoint import WEIGHTS_FILE

    path = Path(path)
    if path.is_dir():
        if (path / WEIGHTS_FILE).is_file():
            return None
        if (path / "checkpoints").is_dir() or CheckpointStore(path).latest_path() is not None:
            return _from_training_checkpoint(resolve_training_checkpoint(path), raw)
        return None  # e.g. an export missing its weights: load_exported names what is missing
    if path.is_file() and path.suffix in (".pt", ".pth"):
        try:
            return _from_training_checkpoint(path, raw)
        except NotTrainingCheckpoint:
            return None  # readable but not ours (NVIDIA / DLE files): the other readers try it
    return None


def load_for_scoring(path: str | Path, raw: bool = False) -> LoadedModel:
    """Directories: our format (config.json + model.safetensors) or a run / checkpoints directory (its latest
    checkpoint). Files: a training checkpoint, else anything waveglow.checkpoint.load_waveglow reads. `raw`: see
    load_training_model."""
    from waveglow.checkpoint import load_exported

    trained = load_training_model(path, raw)
    if trained is not None:
        return trained
    path = Path(path)
    model, info = load_exported(path)
    # RUN_DIR/final/ sits beside the run's training config.json: take sigma and mel settings from it.
    run_config = path.parent / "config.json"
    if path.is_dir() and run_config.is_file():
        try:
            config = TrainingConfig.from_json(run_config)
        except ValueError:  # not a training config
            config = None
        if config is not None and config.model == model.config:
            return LoadedModel(model, str(path), info.source_format, config.train.sigma, config.data)
    return LoadedModel(model, str(path), info.source_format, None)
