"""The gradio demo: every endpoint through gradio_client, and one real browser session (Playwright + Chromium)."""
import io
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install gradio)")
gradio_client = pytest.importorskip("gradio_client", reason="the demo tests need gradio_client")
sf = pytest.importorskip("soundfile")

from tests.conftest import FIXTURES, GOLDEN  # noqa: E402

CHECKPOINT = str(GOLDEN / "waveglow_nvidia_train_style.pt")  # 16 mels, untrained-ish: noise, but the real path
TACOTRON2 = str(GOLDEN / "tacotron2_nvidia_train_style.pt")  # 80 mels, stops at 30 decoder steps
CLIP_A = str(FIXTURES / "ljspeech" / "wavs" / "LJ001-0002.flac")
CLIP_B = str(FIXTURES / "ljspeech" / "wavs" / "LJ002-0020.flac")
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "demo" / "screenshot.png"
needs_festival = pytest.mark.skipif(shutil.which("text2wave") is None,
                                    reason="Festival not installed (apt-get install festival festvox-us-slt-hts)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    from waveglow_demo.app import main

    app = main(host="127.0.0.1", port=_free_port(), block=False)
    yield app.local_url.rstrip("/")
    app.close()


@pytest.fixture(scope="module")
def client(server_url, tmp_path_factory):
    return gradio_client.Client(server_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def _read_wav(path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float32")
    return audio, rate


def _vocoder(checkpoint: str = "") -> tuple:
    """(vocoder choice, checkpoint path) as the API takes them: the dropdown decides, the path goes with it."""
    return ("checkpoint", checkpoint) if checkpoint else ("default", "")


def test_api_names_are_stable(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {f"/{name}" for name in ("text_to_speech", "vocode_mel", "resynthesise", "interpolate_latents",
                                    "sweep_sigma")} <= names


@needs_festival
def test_text_to_speech_with_builtin_defaults(client):
    audio_path, download, mel_img, wave_img, status = client.predict(
        "Flows are invertible.", "festival", "", *_vocoder(), 0.666, 0.0, api_name="/text_to_speech")
    audio, rate = _read_wav(download)
    assert rate == 22050 and audio.size > rate // 2
    assert np.abs(audio).max() > 0.01
    assert status.startswith("OK") and "festival" in status
    assert mel_img and wave_img


def test_empty_and_oversized_text_are_reported(client):
    from tts.limits import MAX_TEXT_CHARS

    with pytest.raises(gradio_client.exceptions.AppError, match="type some text"):
        client.predict("   ", "festival", "", *_vocoder(), 0.666, 0.0, api_name="/text_to_speech")
    with pytest.raises(gradio_client.exceptions.AppError, match=f"too long.*limit is {MAX_TEXT_CHARS}"):
        client.predict("a" * (MAX_TEXT_CHARS + 1), "festival", "", *_vocoder(), 0.666, 0.0,
                       api_name="/text_to_speech")


def test_missing_checkpoint_path_is_reported(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="not found"):
        client.predict("Hello.", "festival", "", "checkpoint", "/no/such/waveglow.pt", 0.6, 0.0,
                       api_name="/text_to_speech")
    with pytest.raises(gradio_client.exceptions.AppError, match="checkpoint path box is empty"):
        client.predict("Hello.", "festival", "", "checkpoint", "", 0.6, 0.0, api_name="/text_to_speech")


def _recording_mel(n_mels: int = 16) -> np.ndarray:
    from waveglow.audio import MelSpectrogram, load_wav

    audio, _ = load_wav(CLIP_A)
    return MelSpectrogram(n_mels=n_mels)(torch.from_numpy(audio)).numpy()


@pytest.mark.parametrize("suffix", [".npy", ".pt"])
def test_vocode_mel_file(client, tmp_path, suffix):
    mel = _recording_mel()
    path = tmp_path / f"mel{suffix}"
    if suffix == ".npy":
        np.save(path, mel.T)  # transposed [frames, n_mels] is accepted too
    else:
        torch.save({"mel": torch.from_numpy(mel)}, path)
    _, download, _, _, status = client.predict(
        gradio_client.handle_file(str(path)), "nvidia", *_vocoder(CHECKPOINT), 0.6, 0.0, api_name="/vocode_mel")
    audio, rate = _read_wav(download)
    assert audio.size == mel.shape[1] * 256
    assert np.abs(audio).max() > 0.0
    assert "sigma 0.6" in status


def test_vocode_refuses_pickled_npy_and_wrong_channels(client, tmp_path):
    pickled = tmp_path / "evil.npy"
    np.save(pickled, np.array([{"not": "a mel"}], dtype=object), allow_pickle=True)
    with pytest.raises(gradio_client.exceptions.AppError, match="cannot read the mel file"):
        client.predict(gradio_client.handle_file(str(pickled)), "nvidia", *_vocoder(CHECKPOINT), 0.6, 0.0,
                       api_name="/vocode_mel")
    wrong = tmp_path / "mel80.npy"
    np.save(wrong, _recording_mel(80))
    with pytest.raises(gradio_client.exceptions.AppError, match="80 channels|no axis of size 16"):
        client.predict(gradio_client.handle_file(str(wrong)), "nvidia", *_vocoder(CHECKPOINT), 0.6, 0.0,
                       api_name="/vocode_mel")


def test_resynthesise_shows_both_mels(client):
    audio_path, download, source_mel, output_mel, wave, status = client.predict(
        gradio_client.handle_file(CLIP_A), *_vocoder(CHECKPOINT), 0.6, 0.0, api_name="/resynthesise")
    audio, rate = _read_wav(download)
    assert rate == 22050 and audio.size > rate
    assert source_mel and output_mel and source_mel != output_mel


def test_resynthesise_rejects_a_non_audio_upload(client, tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(gradio_client.exceptions.AppError, match="cannot use this recording"):
        client.predict(gradio_client.handle_file(str(bogus)), *_vocoder(CHECKPOINT), 0.6, 0.0,
                       api_name="/resynthesise")


def test_interpolation_at_zero_gives_recording_a_back(client):
    """t = 0 decodes A's own exact latent with A's mel: the flow's inverse returns recording A (to 16-bit)."""
    from waveglow.audio import load_wav

    _, download, _, _, status = client.predict(
        gradio_client.handle_file(CLIP_A), gradio_client.handle_file(CLIP_B), 0.0, "slerp", *_vocoder(CHECKPOINT),
        api_name="/interpolate_latents")
    audio, _ = _read_wav(download)
    original, _ = load_wav(CLIP_A)
    assert np.abs(audio - original[: audio.size]).max() < 2e-4
    _, mixed_path, _, _, _ = client.predict(
        gradio_client.handle_file(CLIP_A), gradio_client.handle_file(CLIP_B), 0.5, "lerp", *_vocoder(CHECKPOINT),
        api_name="/interpolate_latents")
    mixed, _ = _read_wav(mixed_path)
    assert mixed.size == audio.size and np.abs(mixed - audio).max() > 1e-3


def test_sigma_sweep_joins_one_piece_per_sigma(client):
    """Own latent at sigma 1 is recording B itself; at sigma 0 it is something else of the same length."""
    from waveglow.audio import load_wav

    _, download, _, _, status = client.predict(
        gradio_client.handle_file(CLIP_B), "0, 1", True, *_vocoder(CHECKPOINT), api_name="/sweep_sigma")
    audio, rate = _read_wav(download)
    gap = int(0.3 * rate)
    piece = (audio.size - gap) // 2
    original, _ = load_wav(CLIP_B)
    at_zero, at_one = audio[:piece], audio[piece + gap:]
    assert at_one.size == piece and np.abs(audio[piece:piece + gap]).max() == 0.0
    assert np.abs(at_one - original[:piece]).max() < 2e-4
    assert np.abs(at_zero - at_one).max() > 0.01
    assert "sigmas 0, 1" in status
    with pytest.raises(gradio_client.exceptions.AppError, match="1 to 8 sigmas"):
        client.predict(gradio_client.handle_file(CLIP_B), "0, 5", True, *_vocoder(CHECKPOINT), api_name="/sweep_sigma")


def test_latent_tools_need_a_waveglow(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="need a WaveGlow"):
        client.predict(gradio_client.handle_file(CLIP_B), "1", True, "griffin-lim", "", api_name="/sweep_sigma")


# ---- the page's messages, without a server ------------------------------------------------------------------------
def _request(name: str = "session-1"):
    """What gradio hands the handlers: only the session hash is used."""
    return SimpleNamespace(session_hash=name)


def _mel80_file(folder: Path, name: str = "mel80.npy") -> Path:
    np.save(folder / name, _recording_mel(80)[:, :20])
    return folder / name


def test_an_error_reaches_the_status_box_and_a_success_replaces_it(tmp_path):
    from waveglow_demo import app

    request = _request("status-test")
    with pytest.raises(gr.Error, match="type some text"):
        app.run_text_to_speech("  ", "festival", "", "default", "", 0.6, 0.0, request)
    assert app.error_status(request) == "Error: Please type some text to speak."
    assert app.error_status(request) == f"Error: {app.NO_MESSAGE}"  # shown once; never another session's
    *_, status = app.run_vocode_mel(str(_mel80_file(tmp_path)), "nvidia", "griffin-lim", "", 0.6, 0.0, request)
    assert status.startswith("OK: ") and "Griffin-Lim (chosen)" in status


def test_the_remembered_errors_are_bounded():
    from waveglow_demo import app

    for i in range(app._KEEP_ERRORS + 10):
        app._remember_error(_request(f"s{i}"), "x")
    assert len(app._LAST_ERRORS) == app._KEEP_ERRORS and "s0" not in app._LAST_ERRORS
    app._LAST_ERRORS.clear()


def test_user_errors_log_one_line_and_programming_errors_keep_their_traceback(monkeypatch, caplog):
    from waveglow_demo import app, backend

    with caplog.at_level(logging.INFO, logger="waveglow_demo.app"), pytest.raises(gr.Error) as user_error:
        app.run_text_to_speech("", "festival", "", "default", "", 0.6, 0.0, _request())
    assert user_error.value.print_exception is False  # gradio would print a ~25-line traceback
    assert [(r.levelno, r.exc_info, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, None, "run_text_to_speech: Please type some text to speak.")]
    caplog.clear()

    def broken(*args):
        raise ZeroDivisionError("secret detail in /srv/app/internal.py")

    monkeypatch.setattr(backend, "text_to_speech", broken)
    with caplog.at_level(logging.INFO, logger="waveglow_demo.app"), pytest.raises(gr.Error) as bug:
        app.run_text_to_speech("Hello.", "festival", "", "default", "", 0.6, 0.0, _request())
    assert "internal error in run_text_to_speech (ZeroDivisionError)" in bug.value.message
    assert "/srv" not in bug.value.message and "secret" not in bug.value.message
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info[0] is ZeroDivisionError  # the traceback, in the log


def test_a_bad_upload_shows_its_own_name_and_no_unsafe_advice(tmp_path, monkeypatch):
    from waveglow_demo import app
    from waveglow.audio.mel_files import MelFileError

    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    upload = cache / "3f2a9c0d1e" / "my mel.pt"  # where gradio keeps an upload: CACHE/<hash>/<original name>
    upload.parent.mkdir(parents=True)
    upload.write_bytes(os.urandom(3000))
    with pytest.raises(gr.Error) as bad_pt:
        app.run_vocode_mel(str(upload), "nvidia", "griffin-lim", "", 0.6, 0.0, _request())
    assert "my mel.pt: not a readable PyTorch checkpoint" in bad_pt.value.message
    assert str(tmp_path) not in bad_pt.value.message and "3f2a9c0d1e" not in bad_pt.value.message
    numpy_advice = ("Failed to interpret file as a pickle. This file contains pickled (object) data. If you trust the "
                    "file you can load it unsafely using the `allow_pickle=` keyword argument or `pickle.load()`.")

    def numpy_says(path):
        raise MelFileError(f"{path}: not a .npy array ({numpy_advice})")

    monkeypatch.setattr("waveglow.audio.mel_files.load_mel_file", numpy_says)
    upload = upload.with_name("random.npy")
    upload.write_bytes(os.urandom(3000))
    with pytest.raises(gr.Error) as bad_npy:
        app.run_vocode_mel(str(upload), "nvidia", "griffin-lim", "", 0.6, 0.0, _request())
    message = bad_npy.value.message
    assert message == "cannot read the mel file: random.npy: not a .npy array"
    assert not re.search(r"allow_pickle|pickle\.load|trust", message)


def test_public_message_keeps_the_useful_part():
    from waveglow_demo.backend import public_message

    assert public_message("Header is large.\nTo allow loading, fully trust the file using `allow_pickle=True`.\n"
                          "Sandboxing may be necessary.") == "Header is large. Sandboxing may be necessary."
    assert public_message("x.pt: Weights only load failed (set weights_only=False)") == \
        "x.pt: Weights only load failed"
    assert public_message("allow_pickle=True is required") == "the file cannot be read safely"
    assert public_message("no such file: /no/such/waveglow.pt") == "no such file: /no/such/waveglow.pt"  # typed


def test_the_dropdown_decides_which_vocoder_speaks_and_says_so(tmp_path):
    from waveglow_demo import app, backend

    mel = str(_mel80_file(tmp_path))
    *_, status = app.run_vocode_mel(mel, "nvidia", "griffin-lim", CHECKPOINT, 0.6, 0.0, _request())
    assert "Griffin-Lim (chosen)" in status
    assert "the checkpoint path was not used: the vocoder is set to 'Griffin-Lim'" in status
    *_, status = app.run_vocode_mel(mel, "nvidia", "checkpoint", "griffin-lim", 0.6, 0.0, _request())
    assert "Griffin-Lim (requested)" in status and "not used" not in status
    np.save(tmp_path / "mel16.npy", _recording_mel(16)[:, :20])
    *_, status = app.run_vocode_mel(str(tmp_path / "mel16.npy"), "nvidia", "checkpoint", CHECKPOINT, 0.6, 0.0,
                                    _request())
    assert "WaveGlow waveglow_nvidia_train_style.pt — the neural voice" in status
    assert backend.describe_vocoder("default", CHECKPOINT).endswith("(choose 'WaveGlow checkpoint' to use it)")
    assert backend.describe_vocoder("checkpoint", "/no/such.pt") == \
        "Speaking: nothing yet (vocoder checkpoint not found: /no/such.pt)"
    assert app.on_path_typed(" /x.pt ", "griffin-lim")["value"] == "checkpoint"  # typing selects the path
    assert app.on_path_typed("", "checkpoint")["value"] == "default"


def test_the_header_and_the_label_say_which_vocoder_speaks(monkeypatch, tmp_path):
    from waveglow_demo import app, backend

    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: None)
    header = app.header_text(app.Defaults())
    assert "**Vocoder: Griffin-Lim** (no trained WaveGlow is installed)" in header
    assert "not by the neural voice" in header and "Speech from a normalizing flow" not in header
    assert backend.describe_vocoder("default").startswith("Speaking: Griffin-Lim fallback (no trained WaveGlow")
    assert "chosen at start-up" in app.header_text(app.Defaults.from_arguments("griffin-lim"))
    header = app.header_text(app.Defaults.from_arguments(CHECKPOINT))
    assert "**Vocoder: WaveGlow waveglow_nvidia_train_style.pt**: speech from a normalizing flow" in header
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: Path(CHECKPOINT))
    assert "Griffin-Lim" not in app.header_text(app.Defaults())
    assert backend.describe_vocoder("default") == \
        "Speaking: built-in WaveGlow waveglow_nvidia_train_style.pt — the neural voice"


def test_one_text_limit_for_cli_api_and_demo():
    import inspect

    from waveglow_demo import backend
    from tts.limits import MAX_TEXT_CHARS
    from tts.pipeline import Synthesizer, check_text
    from waveglow.cli import build_parser

    tts_parser = build_parser(load_all=True)._subparsers._group_actions[0].choices["tts"]
    assert backend.MAX_TEXT_CHARS == MAX_TEXT_CHARS == tts_parser.get_default("max_chars") == \
        inspect.signature(Synthesizer).parameters["max_chars"].default == \
        inspect.signature(check_text).parameters["max_chars"].default
    assert backend.check_text("a" * MAX_TEXT_CHARS)
    with pytest.raises(backend.DemoError, match=f"the limit is {MAX_TEXT_CHARS}"):
        backend.check_text("a" * (MAX_TEXT_CHARS + 1))


@pytest.mark.filterwarnings("ignore::tts.tacotron2.MaxDecoderStepsWarning")
def test_the_tacotron2_field_drives_the_frontend(client, tmp_path):
    _, download, _, _, status = client.predict("Turn left.", "tacotron2", TACOTRON2, "griffin-lim", "", 0.6, 0.0,
                                               api_name="/text_to_speech")
    audio, rate = _read_wav(download)
    assert status.startswith("OK: ") and "tacotron2 frontend, Griffin-Lim (chosen)" in status
    assert rate == 22050 and audio.size > 0
    with pytest.raises(gradio_client.exceptions.AppError, match="type its path in the 'Tacotron2 checkpoint' box"):
        client.predict("Turn left.", "tacotron2", "", "griffin-lim", "", 0.6, 0.0, api_name="/text_to_speech")
    text_file = tmp_path / "tacotron2.pt"
    text_file.write_text("not a checkpoint")
    with pytest.raises(gradio_client.exceptions.AppError, match=r"^Tacotron2 checkpoint: tacotron2\.pt: "):
        client.predict("Turn left.", "tacotron2", str(text_file), "griffin-lim", "", 0.6, 0.0,
                       api_name="/text_to_speech")


def test_api_upload_errors_name_the_upload_not_the_server_path(client, tmp_path):
    bogus = tmp_path / "noise.pt"
    bogus.write_bytes(os.urandom(2000))
    with pytest.raises(gradio_client.exceptions.AppError) as error:
        client.predict(gradio_client.handle_file(str(bogus)), "nvidia", "griffin-lim", "", 0.6, 0.0,
                       api_name="/vocode_mel")
    message = str(error.value)
    assert "noise.pt: not a readable PyTorch checkpoint" in message
    assert "/" not in message.split("noise.pt")[0]  # no folder before the name: neither gradio's cache nor ours


def test_demo_command_checks_its_checkpoints_and_passes_tacotron2(monkeypatch, capsys):
    import waveglow_demo.app
    from waveglow.cli import main as cli_main

    assert cli_main(["demo", "--checkpoint", "/no/such/waveglow.pt"]) == 2
    assert capsys.readouterr().err.strip() == ("waveglow demo: error: --checkpoint /no/such/waveglow.pt: no such "
                                               "file or folder (expected a WaveGlow checkpoint or 'griffin-lim')")
    assert cli_main(["demo", "--tacotron2", "/no/such/t2.pt"]) == 2
    assert "--tacotron2 /no/such/t2.pt: no such file" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr(waveglow_demo.app, "main", lambda **kwargs: seen.update(kwargs))
    assert cli_main(["demo", "--checkpoint", "griffin-lim", "--tacotron2", TACOTRON2, "--port", "7999"]) == 0
    assert seen["default_checkpoint"] == "griffin-lim" and seen["default_tacotron2"] == TACOTRON2
    defaults = waveglow_demo.app.Defaults.from_arguments("griffin-lim", TACOTRON2)
    assert (defaults.vocoder, defaults.checkpoint, defaults.tacotron2) == ("griffin-lim", "", TACOTRON2)


# ---- browser ------------------------------------------------------------------------------------------------------
def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download needed)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    return sync_playwright


def _loopback_only(urls: list[str]) -> list[str]:
    """The URLs that left the machine (data: and blob: URLs have no host and never do)."""
    return [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).hostname not in ("127.0.0.1", "localhost")]


@needs_festival
def test_browser_text_to_speech(server_url, tmp_path):
    sync_playwright = _sync_playwright()
    from playwright.sync_api import expect
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1200, "height": 1500})
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.goto(server_url, wait_until="networkidle")
        text_box = page.locator("#tts-text textarea")

        page.locator("#tts-button").click()  # empty text: an error in the page, and the server stays up
        page.get_by_text("Please type some text to speak.").first.wait_for(timeout=20_000)
        expect(page.locator("#tts-status textarea")).to_have_value("Error: Please type some text to speak.")

        text_box.fill("A normalizing flow can be run backwards.")
        page.locator("#tts-button").click()
        link = page.locator("#tts-download a[href]").first
        link.wait_for(timeout=60_000)
        response = page.request.get(link.get_attribute("href"))
        assert response.ok
        audio, rate = sf.read(io.BytesIO(response.body()), dtype="float32")
        expect(page.locator("#tts-status textarea")).to_have_value(re.compile(r"^OK: "), timeout=10_000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        if os.environ.get("WAVEGLOW_UPDATE_SCREENSHOT"):  # refresh docs/demo/screenshot.png only when asked
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert rate == 22050 and audio.size > rate // 2 and np.abs(audio).max() > 0.01
    assert requests, "the request log is empty"
    assert _loopback_only(requests) == []


ERROR_SHOWN_FOR_S = 20  # a toast fades after 10 s; the status box must still say what went wrong after this long


def test_browser_error_stays_in_the_status_box_and_tacotron2_is_reachable(server_url):
    """A Tacotron2 path that does not exist: its error is in the status box 20 s later (the toast is long gone);
    the real Tacotron2 file in the same field then speaks, and its OK replaces the error."""
    sync_playwright = _sync_playwright()
    from playwright.sync_api import expect
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1200, "height": 1500})
        page.goto(server_url, wait_until="networkidle")
        expect(page.locator("#header")).to_contain_text("Vocoder: Griffin-Lim")
        expect(page.locator("#tts-vocoder-label")).to_contain_text("not the neural voice")
        page.locator("#tts-text textarea").fill("Turn left.")
        page.locator("#tts-frontend").get_by_text("tacotron2").click()
        tacotron2 = page.locator("#tts-tacotron2 textarea")
        expect(tacotron2).to_be_editable()
        tacotron2.fill("/no/such/tacotron2_statedict.pt")
        page.locator("#tts-button").click()
        status = page.locator("#tts-status textarea")
        error = "Error: Tacotron2 checkpoint not found: /no/such/tacotron2_statedict.pt"
        expect(status).to_have_value(re.compile("^" + re.escape(error)), timeout=20_000)
        shown = time.monotonic()
        page.wait_for_timeout(ERROR_SHOWN_FOR_S * 1000)
        assert time.monotonic() - shown >= ERROR_SHOWN_FOR_S
        assert status.input_value().startswith(error)  # read now, without waiting

        tacotron2.fill(TACOTRON2)
        page.locator("#tts-button").click()
        expect(status).to_have_value(re.compile(r"^OK: .*tacotron2 frontend, Griffin-Lim fallback"), timeout=60_000)

        page.locator("#tts-checkpoint textarea").fill("/no/such/waveglow.pt")  # typing selects the path, visibly
        expect(page.locator("#tts-vocoder input")).to_have_value("WaveGlow checkpoint (the path at right)")
        expect(page.locator("#tts-vocoder-label")).to_contain_text("vocoder checkpoint not found")
        browser.close()


def test_latent_tools_round_trip_a_voice_with_excitation_and_envelope(tmp_path):
    """The built-in voice's kind of model (sine excitation, aligned harmonics, envelope projection at inference):
    the latent tools decode with the recording's own excitation and the flow's exact inverse, so t = 0 and sigma 1
    of the own latent give the recording back, not a Griffin-Lim-excited, envelope-projected resynthesis."""
    from waveglow import WaveGlow
    from waveglow.audio import load_wav
    from waveglow.vocoder.config import WaveGlowConfig
    from waveglow_demo import backend

    config = WaveGlowConfig(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=16,
                            upsample_kernel_size=64, conditioning="group", excitation_channels=2, harmonics=3,
                            aligned_harmonics=True, envelope_iterations=2)
    torch.manual_seed(0)
    model = WaveGlow(config).eval()
    with torch.no_grad():  # random weights everywhere (the zero-initialised last layers included)
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    choice = backend.resolve_vocoder(backend.CHECKPOINT, str(model.save_pretrained(tmp_path / "voice")))
    result = backend.interpolate(CLIP_A, CLIP_B, 0.0, "slerp", choice)
    original, _ = load_wav(CLIP_A)
    assert np.abs(result.audio - original[: result.audio.size]).max() < 1e-3
    _, pieces = backend.sweep_sigma(CLIP_A, "1.0, 0.5", True, choice)
    assert np.abs(pieces[0] - original[: pieces[0].size]).max() < 1e-3
    assert np.abs(pieces[1] - pieces[0]).max() > 1e-3
