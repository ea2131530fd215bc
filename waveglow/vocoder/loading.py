"""A WaveGlow for scoring, from any checkpoint (a training run, our format, an NVIDIA / DeepLearningExamples file),
with the prior sigma and mel settings it was trained with when the files say."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from waveglow.audio.features import MelConfig, MelSpectrogram
from waveglow.vocoder.checkpoint import default_mel, load_exported, read_training_run
from waveglow.vocoder.model import WaveGlow
from waveglow.vocoder.run_config import DataConfig, TrainingConfig


@dataclass
class LoadedModel:
    model: WaveGlow  # plain weights (weight norm folded), eval mode, CPU
    source: str  # the file read
    kind: str  # "training", or the source format read_waveglow read ("ours", "nvidia", "dle", ...)
    train_sigma: float | None  # the prior sigma the model was trained with, when the file says
    data_config: DataConfig | None = None  # the mel settings it was trained with, when known
    iteration: int | None = None
    weights: str | None = None  # training checkpoints: "average" (the moving average) or "raw"
    mel: MelConfig | None = None  # the mel its file states (exports), when no data_config says more

    def mel_config(self) -> MelConfig:
        """The training mel if known, else the export's, else NVIDIA's TacotronSTFT defaults at the model's rate
        and hop."""
        if self.data_config is not None:
            return self.data_config.mel
        return self.mel if self.mel is not None else default_mel(self.model.config)

    def mel_spectrogram(self) -> MelSpectrogram:
        return self.mel_config().mel_spectrogram()


def load_training_model(path: str | Path, raw: bool = False) -> LoadedModel | None:
    """A run directory, its checkpoints/ directory or one of its ckpt files -> its (latest) weights (see
    `read_training_run`: the moving average unless `raw`); None when `path` is something else."""
    trained = read_training_run(path, WaveGlow, raw)
    if trained is None:
        return None
    return LoadedModel(trained.model, trained.source, "training", trained.config.train.sigma, trained.config.data,
                       trained.iteration, weights=trained.weights)


def load_for_scoring(path: str | Path, raw: bool = False) -> LoadedModel:
    """Directories: our format (config.json + model.safetensors) or a run / checkpoints directory (its latest
    checkpoint). Files: a training checkpoint, else anything waveglow.vocoder.checkpoint.load_waveglow reads. `raw`: see
    load_training_model."""
    trained = load_training_model(path, raw)
    if trained is not None:
        return trained
    path = Path(path)
    model, info = load_exported(path, WaveGlow)
    # RUN_DIR/final/ sits beside the run's training config.json: take sigma and mel settings from it.
    run_config = path.parent / "config.json"
    if path.is_dir() and run_config.is_file():
        try:
            config = TrainingConfig.from_json(run_config)
        except ValueError:  # not a training config
            config = None
        if config is not None and config.model == model.config:
            return LoadedModel(model, str(path), info.source_format, config.train.sigma, config.data, mel=info.mel)
    return LoadedModel(model, str(path), info.source_format, None, mel=info.mel)
