"""The gradio demo: every endpoint through gradio_client, and one real browser session (Playwright + Chromium)."""
import io
import os
import re
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install gradio)")
gradio_client = pytest.importorskip("gradio_client", reason="the demo tests need gradio_client")
sf = pytest.importorskip("soundfile")

from tests.conftest import FIXTURES, GOLDEN  # noqa: E402

CHECKPOINT = str(GOLDEN / "waveglow_nvidia_train_style.pt")  # 16 mels, untrained-ish: noise, but the real path
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
    from demo.app import main

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
    """(vocoder choice, checkpoint path) as the API takes them."""
    return "default", checkpoint


def test_api_names_are_stable(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {f"/{name}" for name in ("text_to_speech", "vocode_mel", "resynthesise", "interpolate_latents",
                                    "sweep_sigma")} <= names


@needs_festival
def test_text_to_speech_with_builtin_defaults(client):
    audio_path, download, mel_img, wave_img, status = client.predict(
        "Flows are invertible.", "festival", *_vocoder(), 0.666, 0.0, api_name="/text_to_speech")
    audio, rate = _read_wav(download)
    assert rate == 22050 and audio.size > rate // 2
    assert np.abs(audio).max() > 0.01
    assert status.startswith("OK") and "festival" in status
    assert mel_img and wave_img


def test_empty_and_oversized_text_are_reported(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="type some text"):
        client.predict("   ", "festival", *_vocoder(), 0.666, 0.0, api_name="/text_to_speech")
    with pytest.raises(gradio_client.exceptions.AppError, match="too long"):
        client.predict("a" * 5000, "festival", *_vocoder(), 0.666, 0.0, api_name="/text_to_speech")


def test_missing_checkpoint_path_is_reported(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="not found"):
        client.predict("Hello.", "festival", "default", "/no/such/waveglow.pt", 0.6, 0.0, api_name="/text_to_speech")


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
