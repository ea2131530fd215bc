"""Browser demo of the toolkit (gradio): text to speech, vocode a mel, resynthesise a recording, explore the latent.

Runs fully offline: analytics are off, the theme uses system fonts only, and nothing is fetched from a CDN.
Start it with `waveglow demo` (or `python -m demo.app`); every button is also an API endpoint (see API_NAMES).
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
import uuid
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # must be set before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from demo import backend  # noqa: E402
from demo.plots import mel_image, waveform_image  # noqa: E402
from waveglow.common.errors import DataError
from waveglow.vocoder.config import DEFAULT_SIGMA  # noqa: E402

log = logging.getLogger(__name__)

API_NAMES = ("text_to_speech", "vocode_mel", "resynthesise", "interpolate_latents", "sweep_sigma")
FRONTENDS = ("festival", "tacotron2")
MAX_UPLOAD = "50mb"
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
SYSTEM_MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
OUTPUT_DIR = Path(tempfile.gettempdir()) / "waveglow-demo"


def offline_theme() -> gr.themes.Base:
    """Gradio's default look with system fonts only (its default would load font files)."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS)


def write_wav(audio: np.ndarray, sampling_rate: int) -> str:
    """16-bit PCM WAV in the demo's temp folder (old ones pruned, this process's removed at exit); returns its path
    (served by gradio for play and download)."""
    return str(backend.write_output_wav(audio, sampling_rate, OUTPUT_DIR))


def shown_in_page(handler):
    """Turn user-facing errors into a gr.Error message in the page; log anything unexpected."""

    @functools.wraps(handler)
    def wrapper(*args):
        try:
            return handler(*args)
        except gr.Error:
            raise
        except (backend.DemoError, DataError) as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # the server must stay up; say what failed
            log.exception("demo handler %s failed", handler.__name__)
            raise gr.Error(f"{type(exc).__name__}: {exc}") from None

    return wrapper


def _result_outputs(result: backend.Result, mel_title: str) -> tuple:
    """(audio path, download path, mel image, waveform image, status) for a Result."""
    path = write_wav(result.audio, result.sampling_rate)
    mel_picture = mel_image(result.mel, mel_title) if result.mel is not None else None
    seconds = result.audio.size / result.sampling_rate
    status = f"OK: {seconds:.2f} s at {result.sampling_rate} Hz. {result.note}"
    return path, path, mel_picture, waveform_image(result.audio, result.sampling_rate), status


# ---- handlers (plain functions of the component values) ----------------------------------------------------------
@shown_in_page
def run_text_to_speech(text, frontend, vocoder_choice, vocoder_path, sigma, denoise):
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    result = backend.text_to_speech(text, frontend, vocoder, float(sigma), float(denoise))
    return _result_outputs(result, "mel spectrogram of the speech")


@shown_in_page
def run_vocode_mel(mel_file, mel_format, vocoder_choice, vocoder_path, sigma, denoise):
    if not mel_file:
        raise backend.DemoError("Please upload a mel file (.npy or .pt).")
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    n_mels = backend.vocoder_mel_settings(vocoder)["n_mels"]
    mel = backend.convert_mel(backend.load_mel_file(mel_file), mel_format, n_mels)
    return _result_outputs(backend.vocode(mel, vocoder, float(sigma), float(denoise)), "uploaded mel")


@shown_in_page
def run_resynthesise(recording, vocoder_choice, vocoder_path, sigma, denoise):
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    result, source_mel = backend.resynthesise(recording, vocoder, float(sigma), float(denoise))
    settings = backend.vocoder_mel_settings(vocoder)
    output_mel = backend.audio_to_mel(result.audio, settings)
    audio_path, download, _, wave, status = _result_outputs(result, "")
    return (audio_path, download, mel_image(source_mel, "mel of the recording"),
            mel_image(output_mel, "mel of the resynthesis"), wave, status)


@shown_in_page
def run_interpolate(recording_a, recording_b, t, method, vocoder_choice, vocoder_path):
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    result = backend.interpolate(recording_a, recording_b, float(t), method, vocoder)
    return _result_outputs(result, "mel of recording A (the conditioning)")


@shown_in_page
def run_sweep_sigma(recording, sigmas, own_latent, vocoder_choice, vocoder_path):
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    result, _ = backend.sweep_sigma(recording, sigmas, bool(own_latent), vocoder)
    return _result_outputs(result, "mel of the recording (the conditioning)")


# ---- layout -------------------------------------------------------------------------------------------------------
def _default_vocoder_label() -> str:
    checkpoint = backend.default_checkpoint()
    if checkpoint is None:
        return f"built-in default: {backend.griffin_lim_label()}"
    return f"built-in default: WaveGlow {Path(checkpoint).name}"


def vocoder_controls(prefix: str, default_path: str, with_sampling: bool = True) -> list:
    """Vocoder dropdown + checkpoint path box (+ sigma and denoiser sliders): the inputs every tab shares."""
    with gr.Row():
        choice = gr.Dropdown([(_default_vocoder_label(), backend.DEFAULT_VOCODER), ("Griffin-Lim", backend.GRIFFIN_LIM)],
                             value=backend.DEFAULT_VOCODER, label="vocoder", elem_id=f"{prefix}-vocoder")
        path = gr.Textbox(value=default_path, label="or a WaveGlow checkpoint path (directory or .pt)",
                          placeholder="/path/to/waveglow_256channels.pt", elem_id=f"{prefix}-checkpoint")
    if not with_sampling:
        return [choice, path]
    with gr.Row():
        sigma = gr.Slider(0.0, 1.5, value=DEFAULT_SIGMA, step=0.01, label="sigma (latent temperature)")
        denoise = gr.Slider(0.0, 0.5, value=0.0, step=0.005, label="denoiser strength (0 = off)")
    return [choice, path, sigma, denoise]


def result_components(prefix: str, two_mels: bool = False) -> list:
    """Audio player, WAV download, plot images and status box."""
    audio = gr.Audio(type="filepath", label="audio", interactive=False, elem_id=f"{prefix}-audio")
    download = gr.File(label="download WAV", interactive=False, elem_id=f"{prefix}-download")
    mels = [gr.Image(label=f"mel {i + 1}", type="numpy", interactive=False) for i in range(2 if two_mels else 1)]
    wave = gr.Image(label="waveform", type="numpy", interactive=False)
    status = gr.Textbox(label="status", interactive=False, elem_id=f"{prefix}-status")
    return [audio, download, *mels, wave, status]


def _text_tab(default_path: str) -> None:
    text = gr.Textbox(label="text", lines=3, max_lines=8, elem_id="tts-text",
                      placeholder=f"Type up to {backend.MAX_TEXT_CHARS} characters")
    frontend = gr.Radio(list(FRONTENDS), value="festival", label="text frontend")
    controls = vocoder_controls("tts", default_path)
    button = gr.Button("Speak", variant="primary", elem_id="tts-button")
    outputs = result_components("tts")
    button.click(run_text_to_speech, [text, frontend, *controls], outputs, api_name="text_to_speech")


def _mel_tab(default_path: str) -> None:
    mel_file = gr.File(label="mel file (.npy or .pt, [n_mels, frames])", file_types=[".npy", ".pt"], type="filepath")
    mel_format = gr.Dropdown(backend.mel_format_choices(), value=backend.NATIVE_MEL_FORMAT, label="mel format")
    controls = vocoder_controls("mel", default_path)
    button = gr.Button("Vocode", variant="primary")
    outputs = result_components("mel")
    button.click(run_vocode_mel, [mel_file, mel_format, *controls], outputs, api_name="vocode_mel")


def _resynthesis_tab(default_path: str) -> None:
    recording = gr.Audio(sources=["upload"], type="filepath", label="recording")
    controls = vocoder_controls("resynth", default_path)
    button = gr.Button("Resynthesise", variant="primary")
    outputs = result_components("resynth", two_mels=True)
    button.click(run_resynthesise, [recording, *controls], outputs, api_name="resynthesise")


def _latent_tab(default_path: str) -> None:
    gr.Markdown("A flow encodes a recording *exactly*: z = f(audio | mel), and f⁻¹(z | mel) gives the recording "
                "back. Mix two recordings' latents under one spectrogram, or scale a latent by sigma. "
                "Needs a WaveGlow checkpoint (type its path).")
    with gr.Row():
        recording_a = gr.Audio(sources=["upload"], type="filepath", label="recording A (its mel conditions)")
        recording_b = gr.Audio(sources=["upload"], type="filepath", label="recording B")
    with gr.Row():
        t = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="t (0 = A exactly, 1 = B's latent)")
        method = gr.Radio(["slerp", "lerp"], value="slerp", label="interpolation")
    controls = vocoder_controls("latent", default_path, with_sampling=False)
    button = gr.Button("Interpolate", variant="primary")
    outputs = result_components("latent")
    button.click(run_interpolate, [recording_a, recording_b, t, method, *controls], outputs,
                 api_name="interpolate_latents")
    gr.Markdown("### Sigma sweep (recording A's mel)")
    with gr.Row():
        sigmas = gr.Textbox(value="0, 0.4, 0.8, 1.0", label="sigmas (comma separated, 0 to 2)")
        own_latent = gr.Checkbox(value=True, label="scale the recording's own latent (else a seeded random one)")
    sweep_button = gr.Button("Sweep sigma")
    sweep_outputs = result_components("sweep")
    sweep_button.click(run_sweep_sigma, [recording_a, sigmas, own_latent, *controls], sweep_outputs,
                       api_name="sweep_sigma")


def build_app(default_checkpoint: str | None = None) -> gr.Blocks:
    """The demo's Blocks, queued one request at a time. default_checkpoint pre-fills the checkpoint path boxes."""
    default_path = default_checkpoint or ""
    with gr.Blocks(title="WaveGlow toolkit demo", analytics_enabled=False) as app:
        gr.Markdown("# WaveGlow toolkit demo\nSpeech from a normalizing flow, on your machine, offline.")
        with gr.Tab("Text → speech"):
            _text_tab(default_path)
        with gr.Tab("Vocode a mel"):
            _mel_tab(default_path)
        with gr.Tab("Resynthesise a recording"):
            _resynthesis_tab(default_path)
        with gr.Tab("Latent space"):
            _latent_tab(default_path)
        missing = [name for name, present in backend.capabilities().items() if not present]
        if missing:
            gr.Markdown(f"<small>Not in this checkout (fallbacks used): {', '.join(missing)}</small>")
    app.queue(default_concurrency_limit=1)
    return app


def launch_options(host: str, port: int) -> dict:
    """Keyword arguments of `Blocks.launch` that keep the demo local and offline."""
    return dict(server_name=host, server_port=port, share=False, theme=offline_theme(), ssr_mode=False,
                max_file_size=MAX_UPLOAD, footer_links=["api"], show_error=True, pwa=False, mcp_server=False,
                enable_monitoring=False)


def main(host: str = "127.0.0.1", port: int = 7860, default_checkpoint: str | None = None,
         block: bool = True) -> gr.Blocks:
    """Build and serve the demo (blocking unless block=False); returns the Blocks."""
    app = build_app(default_checkpoint)
    app.launch(prevent_thread_lock=not block, **launch_options(host, port))
    return app


if __name__ == "__main__":
    main()
