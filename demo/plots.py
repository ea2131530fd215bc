"""Mel and waveform pictures as RGB arrays (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import numpy as np


def _figure_to_rgb(fig) -> np.ndarray:
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def _new_axes(title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=90)
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.18, top=0.86)
    return fig, ax


def mel_image(mel, title: str = "mel spectrogram") -> np.ndarray:
    """Log-mel [n_mels, frames] (torch or numpy) -> RGB image."""
    mel = mel.detach().cpu().numpy() if hasattr(mel, "detach") else np.asarray(mel)
    fig, ax = _new_axes(title)
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_xlabel("frame")
    ax.set_ylabel("mel channel")
    return _figure_to_rgb(fig)


def waveform_image(audio: np.ndarray, sampling_rate: int, title: str = "waveform") -> np.ndarray:
    """Audio [T] -> RGB image of the waveform against seconds."""
    fig, ax = _new_axes(title)
    seconds = np.arange(audio.size) / sampling_rate
    ax.plot(seconds, audio, linewidth=0.4, color="#1f5fa8")
    ax.set_xlim(0, max(seconds[-1] if audio.size else 0.0, 1e-3))
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("seconds")
    return _figure_to_rgb(fig)
