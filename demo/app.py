"""Browser demo of the toolkit (gradio): text to speech, vocode a mel, resynthesise a recording, explore the latent.

Runs fully offline: analytics are off, the theme uses system fonts only, and nothing is fetched from a CDN.
Start it with `waveglow demo` (or `python -m waveglow_demo.app`); every button is also an API endpoint (see API_NAMES).
"""
from __future__ import annotations

import functools
import html
import inspect
import logging
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # must be set before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from waveglow.audio.griffin_lim import is_griffin_lim_name  # noqa: E402
from waveglow.common.errors import ToolkitError  # noqa: E402
from waveglow.vocoder.config import DEFAULT_SIGMA  # noqa: E402

from waveglow_demo import backend  # noqa: E402
from waveglow_demo.plots import mel_image, waveform_image  # noqa: E402

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


# The last error of each browser session (gradio's session hash), for the status box: gradio shows a raised gr.Error
# only in a toast that fades, so each event's .failure() listener puts the same text into the status box.
_LAST_ERRORS: "OrderedDict[str, str]" = OrderedDict()
_KEEP_ERRORS = 256
NO_MESSAGE = "the request failed (no message; see the server log)"


def _remember_error(request, message: str) -> None:
    key = getattr(request, "session_hash", None)
    if key:
        _LAST_ERRORS[key] = message
        _LAST_ERRORS.move_to_end(key)
        while len(_LAST_ERRORS) > _KEEP_ERRORS:
            _LAST_ERRORS.popitem(last=False)


def error_status(request: gr.Request = None) -> str:
    """The status box's text after a failed request: 'Error: MESSAGE' (the failure listener of every button)."""
    key = getattr(request, "session_hash", None)
    return f"Error: {_LAST_ERRORS.pop(key, NO_MESSAGE) if key else NO_MESSAGE}"


def user_message(exc: BaseException) -> str:
    """The page's text for a user error: server paths cut, unsafe-loading advice dropped (backend.public_message)."""
    return backend.public_message(str(exc))


def shown_in_page(handler):
    """Run a button's handler so that its outcome is readable in the page and short in the server log.

    A user error (a ToolkitError: DemoError, DataError, ...) logs one line and becomes a gr.Error (the toast, and the
    API's error) whose text `error_status` then puts in the status box. Anything else is a programming error: its
    traceback goes to the log, and the page says only that it happened (no server paths). The wrapper takes gradio's
    Request as an extra last argument, to know whose status box the message is for."""

    parameters = list(inspect.signature(handler).parameters.values())
    request_parameter = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                          annotation=gr.Request)

    @functools.wraps(handler)
    def wrapper(*args, request: gr.Request = None):
        if len(args) > len(parameters):  # gradio passes the request positionally, as the signature's last
            *args, request = args
        try:
            return handler(*args)
        except gr.Error as exc:
            message = str(exc.message)
            log.warning("%s: %s", handler.__name__, message.replace("\n", " "))
            _remember_error(request, message)
            raise
        except ToolkitError as exc:  # DemoError, DataError, CheckpointError, ...
            message = user_message(exc)
            log.warning("%s: %s", handler.__name__, message.replace("\n", " "))
        except Exception as exc:  # the server must stay up; the traceback is for the log only
            log.exception("demo handler %s failed", handler.__name__)
            message = (f"internal error in {handler.__name__} ({type(exc).__name__}); the server log has the "
                       "details")
        _remember_error(request, message)
        raise gr.Error(html.escape(message, quote=False), print_exception=False) from None

    wrapper.__signature__ = inspect.Signature([*parameters, request_parameter])
    wrapper.__annotations__ = {**getattr(handler, "__annotations__", {}), "request": gr.Request}
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
def run_text_to_speech(text, frontend, tacotron2, vocoder_choice, vocoder_path, sigma, denoise):
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    result = backend.text_to_speech(text, frontend, vocoder, float(sigma), float(denoise), tacotron2)
    return _result_outputs(result, "mel spectrogram of the speech")


@shown_in_page
def run_vocode_mel(mel_file, mel_format, vocoder_choice, vocoder_path, sigma, denoise):
    if not mel_file:
        raise backend.DemoError("Please upload a mel file (.npy or .pt).")
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    n_mels = backend.vocoder_mel(vocoder).n_mels
    mel = backend.convert_mel(backend.load_mel_file(mel_file), mel_format, n_mels)
    return _result_outputs(backend.vocode(mel, vocoder, float(sigma), float(denoise)), "uploaded mel")


@shown_in_page
def run_resynthesise(recording, vocoder_choice, vocoder_path, sigma, denoise):
    vocoder = backend.resolve_vocoder(vocoder_choice, vocoder_path)
    result, source_mel = backend.resynthesise(recording, vocoder, float(sigma), float(denoise))
    output_mel = backend.audio_to_mel(result.audio, backend.vocoder_mel(vocoder))
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
@dataclass(frozen=True)
class Defaults:
    """What every tab starts with: `waveglow demo --checkpoint CKPT|griffin-lim --tacotron2 CKPT`."""

    vocoder: str = backend.DEFAULT_VOCODER
    checkpoint: str = ""
    tacotron2: str = ""

    @classmethod
    def from_arguments(cls, checkpoint: str | None = None, tacotron2: str | None = None) -> "Defaults":
        checkpoint = (checkpoint or "").strip()
        if not checkpoint:
            return cls(tacotron2=tacotron2 or "")
        if is_griffin_lim_name(checkpoint):
            return cls(vocoder=backend.GRIFFIN_LIM, tacotron2=tacotron2 or "")
        return cls(vocoder=backend.CHECKPOINT, checkpoint=checkpoint, tacotron2=tacotron2 or "")


def header_text(defaults: Defaults) -> str:
    """The page header: which vocoder the tabs start with (Griffin-Lim is never passed off as the flow)."""
    title = "# WaveGlow toolkit demo\n"
    offline = " Runs on your machine, offline."
    try:
        vocoder = backend.resolve_vocoder(defaults.vocoder, defaults.checkpoint)
    except backend.DemoError as exc:
        return f"{title}**Vocoder: none yet** ({backend.public_message(str(exc))}).{offline}"
    if vocoder.is_griffin_lim:
        why = ("no trained WaveGlow is installed" if defaults.vocoder == backend.DEFAULT_VOCODER
               else "chosen at start-up")
        return (f"{title}**Vocoder: Griffin-Lim** ({why}): speech made by phase reconstruction, not by the neural "
                "voice. To hear the normalizing flow, choose 'WaveGlow checkpoint' in a tab and type its path."
                f"{offline}")
    return f"{title}**Vocoder: {vocoder.label.split(' — ')[0]}**: speech from a normalizing flow.{offline}"


def on_path_typed(path: str, choice: str):
    """Typing a checkpoint path selects 'WaveGlow checkpoint' in the dropdown (visibly); clearing it goes back."""
    if (path or "").strip():
        return gr.update(value=backend.CHECKPOINT)
    return gr.update(value=backend.DEFAULT_VOCODER) if choice == backend.CHECKPOINT else gr.update()


def vocoder_controls(prefix: str, defaults: Defaults, with_sampling: bool = True) -> list:
    """Vocoder dropdown + checkpoint path box + a line saying what speaks (+ sigma and denoiser sliders): the inputs
    every tab shares. The dropdown decides; the path is used with 'WaveGlow checkpoint' only."""
    with gr.Row():
        choice = gr.Dropdown([(f"built-in default: {backend.default_vocoder_label()}", backend.DEFAULT_VOCODER),
                              ("Griffin-Lim (not the neural voice)", backend.GRIFFIN_LIM),
                              ("WaveGlow checkpoint (the path at right)", backend.CHECKPOINT)],
                             value=defaults.vocoder, label="vocoder (decides what speaks)",
                             elem_id=f"{prefix}-vocoder")
        path = gr.Textbox(value=defaults.checkpoint, label="WaveGlow checkpoint path (directory or .pt)",
                          info="used when the vocoder is 'WaveGlow checkpoint'; typing here selects it",
                          placeholder="/path/to/waveglow_256channels.pt", elem_id=f"{prefix}-checkpoint")
    speaking = gr.Markdown(backend.describe_vocoder(defaults.vocoder, defaults.checkpoint),
                           elem_id=f"{prefix}-vocoder-label")
    path.change(on_path_typed, [path, choice], choice, queue=False, api_visibility="private")
    for component in (choice, path):
        component.change(backend.describe_vocoder, [choice, path], speaking, queue=False, api_visibility="private")
    if not with_sampling:
        return [choice, path]
    with gr.Row():
        sigma = gr.Slider(0.0, 1.5, value=DEFAULT_SIGMA, step=0.01, label="sigma (latent temperature)")
        denoise = gr.Slider(0.0, 0.5, value=0.0, step=0.005, label="denoiser strength (0 = off)")
    return [choice, path, sigma, denoise]


def on_click(button, handler, inputs: list, outputs: list, api_name: str) -> None:
    """button -> handler; on failure the status box (the last output) gets the error's text."""
    event = button.click(handler, inputs, outputs, api_name=api_name)
    event.failure(error_status, None, outputs[-1], queue=False, api_visibility="private")


def result_components(prefix: str, two_mels: bool = False) -> list:
    """Audio player, WAV download, plot images and status box."""
    audio = gr.Audio(type="filepath", label="audio", interactive=False, elem_id=f"{prefix}-audio")
    download = gr.File(label="download WAV", interactive=False, elem_id=f"{prefix}-download")
    mels = [gr.Image(label=f"mel {i + 1}", type="numpy", interactive=False) for i in range(2 if two_mels else 1)]
    wave = gr.Image(label="waveform", type="numpy", interactive=False)
    status = gr.Textbox(label="status", interactive=False, elem_id=f"{prefix}-status")
    return [audio, download, *mels, wave, status]


def _text_tab(defaults: Defaults) -> None:
    text = gr.Textbox(label="text", lines=3, max_lines=8, elem_id="tts-text",
                      placeholder=f"Type up to {backend.MAX_TEXT_CHARS} characters")
    with gr.Row():
        frontend = gr.Radio(list(FRONTENDS), value="festival", label="text frontend", elem_id="tts-frontend")
        tacotron2 = gr.Textbox(value=defaults.tacotron2, label="Tacotron2 checkpoint (.pt)",
                               info="used by the tacotron2 frontend (NVIDIA's tacotron2_statedict.pt or a "
                                    "DeepLearningExamples checkpoint)",
                               placeholder="/path/to/tacotron2_statedict.pt", elem_id="tts-tacotron2")
    controls = vocoder_controls("tts", defaults)
    button = gr.Button("Speak", variant="primary", elem_id="tts-button")
    outputs = result_components("tts")
    on_click(button, run_text_to_speech, [text, frontend, tacotron2, *controls], outputs, "text_to_speech")


def _mel_tab(defaults: Defaults) -> None:
    mel_file = gr.File(label="mel file (.npy or .pt, [n_mels, frames])", file_types=[".npy", ".pt"], type="filepath",
                       elem_id="mel-file")
    mel_format = gr.Dropdown(backend.mel_format_choices(), value=backend.NATIVE_MEL_FORMAT, label="mel format")
    controls = vocoder_controls("mel", defaults)
    button = gr.Button("Vocode", variant="primary", elem_id="mel-button")
    outputs = result_components("mel")
    on_click(button, run_vocode_mel, [mel_file, mel_format, *controls], outputs, "vocode_mel")


def _resynthesis_tab(defaults: Defaults) -> None:
    recording = gr.Audio(sources=["upload"], type="filepath", label="recording")
    controls = vocoder_controls("resynth", defaults)
    button = gr.Button("Resynthesise", variant="primary")
    outputs = result_components("resynth", two_mels=True)
    on_click(button, run_resynthesise, [recording, *controls], outputs, "resynthesise")


def _latent_tab(defaults: Defaults) -> None:
    gr.Markdown("A flow encodes a recording *exactly*: z = f(audio | mel), and f⁻¹(z | mel) gives the recording "
                "back. Mix two recordings' latents under one spectrogram, or scale a latent by sigma. "
                "Needs a WaveGlow checkpoint (vocoder 'WaveGlow checkpoint' and its path).")
    with gr.Row():
        recording_a = gr.Audio(sources=["upload"], type="filepath", label="recording A (its mel conditions)")
        recording_b = gr.Audio(sources=["upload"], type="filepath", label="recording B")
    with gr.Row():
        t = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="t (0 = A exactly, 1 = B's latent)")
        method = gr.Radio(["slerp", "lerp"], value="slerp", label="interpolation")
    controls = vocoder_controls("latent", defaults, with_sampling=False)
    button = gr.Button("Interpolate", variant="primary")
    outputs = result_components("latent")
    on_click(button, run_interpolate, [recording_a, recording_b, t, method, *controls], outputs, "interpolate_latents")
    gr.Markdown("### Sigma sweep (recording A's mel)")
    with gr.Row():
        sigmas = gr.Textbox(value="0, 0.4, 0.8, 1.0", label="sigmas (comma separated, 0 to 2)")
        own_latent = gr.Checkbox(value=True, label="scale the recording's own latent (else a seeded random one)")
    sweep_button = gr.Button("Sweep sigma")
    sweep_outputs = result_components("sweep")
    on_click(sweep_button, run_sweep_sigma, [recording_a, sigmas, own_latent, *controls], sweep_outputs,
             "sweep_sigma")


def build_app(default_checkpoint: str | None = None, default_tacotron2: str | None = None) -> gr.Blocks:
    """The demo's Blocks, queued one request at a time. default_checkpoint (a WaveGlow, or 'griffin-lim') sets every
    tab's vocoder; default_tacotron2 pre-fills the Tacotron2 checkpoint box."""
    defaults = Defaults.from_arguments(default_checkpoint, default_tacotron2)
    with gr.Blocks(title="WaveGlow toolkit demo", analytics_enabled=False) as app:
        gr.Markdown(header_text(defaults), elem_id="header")
        with gr.Tab("Text → speech"):
            _text_tab(defaults)
        with gr.Tab("Vocode a mel"):
            _mel_tab(defaults)
        with gr.Tab("Resynthesise a recording"):
            _resynthesis_tab(defaults)
        with gr.Tab("Latent space"):
            _latent_tab(defaults)
    app.queue(default_concurrency_limit=1)
    return app


def launch_options(host: str, port: int) -> dict:
    """Keyword arguments of `Blocks.launch` that keep the demo local and offline."""
    return dict(server_name=host, server_port=port, share=False, theme=offline_theme(), ssr_mode=False,
                max_file_size=MAX_UPLOAD, footer_links=["api"], show_error=True, pwa=False, mcp_server=False,
                enable_monitoring=False)


def main(host: str = "127.0.0.1", port: int = 7860, default_checkpoint: str | None = None,
         block: bool = True, default_tacotron2: str | None = None) -> gr.Blocks:
    """Build and serve the demo (blocking unless block=False); returns the Blocks."""
    app = build_app(default_checkpoint, default_tacotron2)
    app.launch(prevent_thread_lock=not block, **launch_options(host, port))
    return app


if __name__ == "__main__":
    main()
