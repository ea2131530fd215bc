"""`waveglow vocode`, `waveglow.vocode`, the Denoiser and long-form (chunked) inference, on the golden weights."""
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow import WaveGlow, cli
from waveglow.audio import MelSpectrogram, load_wav
from waveglow.audio.wav_writer import to_pcm16
from waveglow.vocoder.config import WaveGlowConfig
from waveglow.vocoder.denoiser import Denoiser
from waveglow.vocoder.inference import clear_cache, get_vocoder, vocode
from waveglow.vocoder.long_form import infer_chunked, plan_chunks, receptive_field

from conftest import FIXTURES, GOLDEN

CKPT = GOLDEN / "waveglow_nvidia_train_style.pt"
IO = np.load(GOLDEN / "waveglow_io.npz")
MEL = IO["infer_mel"][0]  # [16, 24]: natural-log mel of LJ001-0002, frames 40..63
SIGMA = 0.6


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # the cores are shared: one thread avoids oversubscription stalls (restored for other test modules)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model():
    return WaveGlow.from_pretrained(CKPT)


@pytest.fixture(scope="module")
def long_mel():
    """16-mel log-mel of a whole LJSpeech clip (164 frames), so chunks have real neighbours."""
    audio, _ = load_wav(FIXTURES / "ljspeech" / "wavs" / "LJ001-0002.flac")
    return MelSpectrogram(n_mels=16)(torch.from_numpy(audio))[None]


def run_cli(monkeypatch, *argv):
    """waveglow.cli.main with only the vocode command registered (other commands may be work in progress); fp32
    unless the test names a precision, so outputs compare with `model.infer` on any CPU."""
    monkeypatch.setattr(cli, "COMMANDS", [("vocode", "waveglow.commands.vocode", "vocode mels")])
    precision = [] if "--precision" in argv else ["--precision", "fp32"]
    return cli.main(["vocode", *map(str, argv), *precision, "--no-progress"])


def expected_pcm(model, mel, seed, sigma=SIGMA):
    audio = model.infer(torch.from_numpy(np.ascontiguousarray(mel)), sigma,
                        generator=torch.Generator().manual_seed(seed))[0].numpy()
    return np.clip(audio, -1, 1) * 32768.0  # ideal (unrounded) PCM value


def read_pcm(path):
    data, rate = sf.read(str(path), dtype="int16")
    return data.astype(np.float64), rate


# ---- CLI: outputs --------------------------------------------------------------------------------------------------
def test_cli_wavs_equal_model_infer_for_the_seed(tmp_path, monkeypatch, model, capsys):
    np.save(tmp_path / "a.npy", MEL)
    torch.save({"mel": torch.from_numpy(MEL)[None], "text": "hi"}, tmp_path / "b.pt")
    np.savez(tmp_path / "c.npz", mel=MEL.T)  # frames-first
    short = MEL[:, :10]
    np.save(tmp_path / "d.npy", short)
    out = tmp_path / "out"
    code = run_cli(monkeypatch, tmp_path / "a.npy", tmp_path / "b.pt", tmp_path / "c.npz", tmp_path / "d.npy",
                   "-o", out, "--checkpoint", CKPT, "--seed", 7, "--sigma", SIGMA, "--batch-size", 3)
    assert code == 0
    expected = expected_pcm(model, MEL, 7)
    for stem, mel in (("a", MEL), ("b", MEL), ("c", MEL), ("d", short)):
        pcm, rate = read_pcm(out / f"{stem}.wav")
        assert rate == model.config.sampling_rate == 22050
        assert len(pcm) == mel.shape[1] * model.config.hop_length
        want = expected if mel is MEL else expected_pcm(model, short, 7)
        assert np.abs(pcm - want).max() <= 1.0  # rounding, plus float noise of batched convolutions
    log = capsys.readouterr()
    assert "vocoded 4 of 4 file(s)" in log.out
    n_clipped = int(np.sum(np.abs(model.infer(torch.from_numpy(MEL), SIGMA,
                                              generator=torch.Generator().manual_seed(7))[0].numpy()) > 1))
    assert f"a.npy: clipped {n_clipped} of 6144 samples" in log.err  # the golden weights are loud
    assert not list(out.glob(".*.tmp"))  # temp files renamed away


def test_cli_seed_semantics_and_overwrite(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "a.npy", MEL)
    args = ["-o", tmp_path / "o", "--checkpoint", CKPT, "--sigma", SIGMA]
    assert run_cli(monkeypatch, tmp_path / "a.npy", *args, "--seed", 1) == 0
    first, _ = read_pcm(tmp_path / "o" / "a.wav")
    assert run_cli(monkeypatch, tmp_path / "a.npy", *args, "--seed", 1) == 1  # exists, not overwritten
    assert "exists (use --overwrite" in capsys.readouterr().err
    assert run_cli(monkeypatch, tmp_path / "a.npy", *args, "--overwrite") == 0  # no seed: fresh noise
    unseeded, _ = read_pcm(tmp_path / "o" / "a.wav")
    assert np.abs(unseeded - first).max() > 100
    assert run_cli(monkeypatch, tmp_path / "a.npy", *args, "--seed", 1, "--overwrite") == 0
    np.testing.assert_array_equal(read_pcm(tmp_path / "o" / "a.wav")[0], first)


def mel80(n_frames: int = 24) -> np.ndarray:
    """80-channel natural-log mel of real speech (what Tacotron2 makes and Griffin-Lim reads)."""
    audio, _ = load_wav(FIXTURES / "ljspeech" / "wavs" / "LJ001-0002.flac")
    return MelSpectrogram(n_mels=80)(torch.from_numpy(audio))[:, 40:40 + n_frames].numpy()


def griffin_lim_pcm(mel, n_iter):
    from waveglow.audio.griffin_lim import GriffinLimVocoder

    return np.clip(GriffinLimVocoder(n_iter=n_iter).mel_to_audio(mel), -1, 1) * 32768.0


def test_cli_without_checkpoint_falls_back_to_the_labelled_griffin_lim(tmp_path, monkeypatch, capsys):
    mel = mel80()
    np.save(tmp_path / "a.npy", mel)
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: None)
    assert run_cli(monkeypatch, tmp_path / "a.npy", "-o", tmp_path / "o", "--griffin-lim-iters", 3) == 0
    log = capsys.readouterr()
    assert log.out.splitlines()[0] == "vocoder: Griffin-Lim fallback (no trained WaveGlow available); 3 iterations"
    assert "vocoded 1 of 1 file(s)" in log.out and log.err == ""  # the fallback is said once, on stdout
    pcm, rate = read_pcm(tmp_path / "o" / "a.wav")
    assert rate == 22050 and len(pcm) == 24 * 256
    assert np.abs(pcm - griffin_lim_pcm(mel, 3)).max() <= 1.0 and np.abs(pcm).max() > 100


def test_cli_checkpoint_griffin_lim_is_accepted_and_says_what_it_ignores(tmp_path, monkeypatch, capsys):
    mel = mel80()
    np.save(tmp_path / "a.npy", mel)
    np.save(tmp_path / "m16.npy", MEL)
    code = run_cli(monkeypatch, tmp_path / "a.npy", tmp_path / "m16.npy", "-o", tmp_path / "o", "--checkpoint",
                   "griffin-lim", "--griffin-lim-iters", 3, "--denoise", 0.1, "--chunk-frames", 8,
                   "--precision", "bf16")
    log = capsys.readouterr()
    assert code == 1  # the 16-channel mel fails alone, naming itself and the 80 channels Griffin-Lim reads
    assert log.out.splitlines()[0] == "vocoder: Griffin-Lim fallback (requested instead of a WaveGlow); 3 iterations"
    assert "warning: --denoise, --chunk-frames, --precision apply to WaveGlow only" in log.err
    assert f"error: {tmp_path / 'm16.npy'}: wrong number of mel channels" in log.err and "axis of size 80" in log.err
    assert np.abs(read_pcm(tmp_path / "o" / "a.wav")[0] - griffin_lim_pcm(mel, 3)).max() <= 1.0
    assert run_cli(monkeypatch, tmp_path / "a.npy", "-o", tmp_path / "o2", "--checkpoint", "griffin-lim",
                   "--griffin-lim-iters", 0) == 2
    assert capsys.readouterr().err.strip() == "waveglow vocode: error: --griffin-lim-iters must be >= 1, got 0"


def test_cli_without_checkpoint_uses_the_built_in_voice(tmp_path, monkeypatch, model, capsys):
    np.save(tmp_path / "a.npy", MEL)
    model.save_pretrained(tmp_path / "voice")
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: tmp_path / "voice")
    assert run_cli(monkeypatch, tmp_path / "a.npy", "-o", tmp_path / "o", "--seed", 3, "--sigma", SIGMA) == 0
    assert capsys.readouterr().out.startswith("vocoder: WaveGlow (built-in voice voice, fp32 WN on cpu)\n")
    assert np.abs(read_pcm(tmp_path / "o" / "a.wav")[0] - expected_pcm(model, MEL, 3)).max() <= 1.0
    assert run_cli(monkeypatch, tmp_path / "a.npy", "-o", tmp_path / "o2", "--checkpoint", CKPT) == 0
    assert capsys.readouterr().out.startswith(f"vocoder: WaveGlow ({CKPT}, fp32 WN on cpu)\n")


def test_api_vocode_falls_back_like_the_cli(monkeypatch, caplog):
    import logging

    from waveglow.vocoder.inference import GriffinLimEngine, choose_vocoder

    mel = mel80(12)
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: None)
    with caplog.at_level(logging.WARNING, logger="waveglow.vocoder.inference"):
        audio = vocode(mel)  # no checkpoint: the labelled fallback, with a warning in the log
    assert [r.getMessage() for r in caplog.records] == [
        "vocoder: Griffin-Lim fallback (no trained WaveGlow available); 60 iterations"]
    np.testing.assert_allclose(audio, griffin_lim_pcm(mel, 60) / 32768.0, atol=1e-6)
    np.testing.assert_allclose(vocode(mel, checkpoint="Griffin-Lim"), audio, atol=1e-6)
    engine = choose_vocoder("griffin_lim", griffin_lim_iters=2)
    assert isinstance(engine, GriffinLimEngine) and engine.is_fallback and "requested" in engine.describe()
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        choose_vocoder("griffin-lim", griffin_lim_iters=0)


def test_cli_converts_foreign_conventions(tmp_path, monkeypatch, model):
    np.save(tmp_path / "ten.npy", np.log10(np.exp(MEL)))
    code = run_cli(monkeypatch, tmp_path / "ten.npy", "-o", tmp_path / "o", "--checkpoint", CKPT, "--seed", 2,
                   "--sigma", SIGMA, "--mel-format", "log10")
    assert code == 0
    assert np.abs(read_pcm(tmp_path / "o" / "ten.wav")[0] - expected_pcm(model, MEL, 2)).max() <= 1.0


def test_cli_chunked_long_form_matches(tmp_path, monkeypatch, model, long_mel):
    np.save(tmp_path / "long.npy", long_mel[0].numpy())
    code = run_cli(monkeypatch, tmp_path / "long.npy", "-o", tmp_path / "o", "--checkpoint", CKPT, "--seed", 5,
                   "--sigma", SIGMA, "--chunk-frames", 20)
    assert code == 0
    pcm, _ = read_pcm(tmp_path / "o" / "long.wav")
    assert np.abs(pcm - expected_pcm(model, long_mel[0].numpy(), 5)).max() <= 1.0


# ---- CLI: bad inputs -----------------------------------------------------------------------------------------------
class _OpensAFile:
    """Pickled, this object's unpickling calls open(target, 'w'): proof that a loader executed the pickle."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def make_bad_inputs(folder, payload_target):
    bad = {}

    def save(name, array, problem):
        np.save(folder / name, array)
        bad[name] = problem

    save("nan.npy", np.where(np.arange(24) == 3, np.nan, MEL), "16 NaN")
    save("inf.npy", np.where(np.arange(24) == 3, np.inf, MEL), "16 infinite")
    save("rank1.npy", MEL[0], "rank 1")
    save("rank4.npy", MEL[None, None], "rank 4")
    save("mels80.npy", np.zeros((80, 24), np.float32) - 5, "no axis of size 16")
    save("square.npy", MEL[:, :16], "ambiguous")
    save("noframes.npy", np.zeros((16, 0), np.float32), "empty")
    save("ints.npy", np.zeros((16, 24), np.int32), "floating-point")
    (folder / "zero_bytes.npy").write_bytes(b"")
    bad["zero_bytes.npy"] = "empty file"
    evil = np.empty(1, dtype=object)
    evil[0] = _OpensAFile(payload_target)
    np.save(folder / "pickle_npy.npy", evil, allow_pickle=True)
    bad["pickle_npy.npy"] = "refusing to unpickle"
    torch.save({"mel": _OpensAFile(payload_target)}, folder / "pickle_pt.pt")
    bad["pickle_pt.pt"] = "refusing to unpickle global 'io.open'"  # pickle names builtins.open io.open
    np.save(folder / "cut_npy.npy", MEL)
    data = (folder / "cut_npy.npy").read_bytes()
    (folder / "cut_npy.npy").write_bytes(data[: len(data) // 2])
    bad["cut_npy.npy"] = "truncated or corrupt"
    torch.save(torch.from_numpy(MEL), folder / "cut_pt.pt")
    data = (folder / "cut_pt.pt").read_bytes()
    (folder / "cut_pt.pt").write_bytes(data[: len(data) // 2])
    bad["cut_pt.pt"] = "not a readable PyTorch checkpoint"
    np.savez(folder / "two.npz", a=MEL, b=MEL)
    bad["two.npz"] = "holds 2 arrays"
    torch.save(torch.from_numpy(MEL), folder / "good.pt")  # readable, but good.npy (sorted first) owns good.wav
    bad["good.pt"] = "already written from"
    return bad


def test_cli_bad_inputs_fail_alone(tmp_path, monkeypatch, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    payload_target = tmp_path / "PWNED"
    bad = make_bad_inputs(inputs, payload_target)
    np.save(inputs / "good.npy", MEL)
    (tmp_path / "nomels").mkdir()
    (tmp_path / "nomels" / "readme.txt").write_text("no mels here")
    (tmp_path / "list.txt").write_text("# a file list\nin/good.npy\n\nmissing.npy\n")
    out = tmp_path / "out"
    code = run_cli(monkeypatch, inputs, tmp_path / "nomels", f"@{tmp_path / 'list.txt'}", "-o", out,
                   "--checkpoint", CKPT, "--seed", 0)
    err = capsys.readouterr().err
    assert code == 1
    assert not payload_target.exists()  # no pickle was executed
    assert sorted(p.name for p in out.iterdir()) == ["good.wav"]
    error_lines = [line for line in err.splitlines() if line.startswith("waveglow vocode: error: ")]
    for name, problem in bad.items():
        lines = [line for line in error_lines if line.startswith(f"waveglow vocode: error: {inputs / name}: ")]
        assert len(lines) == 1, (name, error_lines)
        assert problem in lines[0], (name, lines[0])
    assert any(f"{tmp_path / 'nomels'}: folder has no mel files" in line for line in error_lines)
    assert any(f"{tmp_path / 'missing.npy'}: no such file" in line for line in error_lines)
    assert "Traceback" not in err


def test_cli_unwritable_output_dir_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "a.npy", MEL)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):  # a file; a folder that cannot be created (root ignores chmod)
        code = run_cli(monkeypatch, tmp_path / "a.npy", "-o", out, "--checkpoint", CKPT)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith(f"waveglow vocode: error: {out}: ")
    if os.geteuid() != 0:  # a read-only folder, where permissions apply
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert run_cli(monkeypatch, tmp_path / "a.npy", "-o", ro, "--checkpoint", CKPT) == 2


def test_cli_setup_errors_exit_2(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "a.npy", MEL)
    base = [tmp_path / "a.npy", "-o", tmp_path / "o", "--checkpoint", CKPT]
    assert run_cli(monkeypatch, *base, "--device", "cpu", "--precision", "fp16") == 2
    assert "use bf16" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert run_cli(monkeypatch, *base, "--device", "cuda:0") == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert run_cli(monkeypatch, *base, "--overlap-frames", 3) == 2
    assert run_cli(monkeypatch, *base, "--checkpoint", tmp_path / "a.npy") == 2
    assert not (tmp_path / "o" / "a.wav").exists()


# ---- Python API ----------------------------------------------------------------------------------------------------
def test_api_vocode_equals_infer_and_caches(model):
    clear_cache()
    expected = model.infer(torch.from_numpy(MEL), SIGMA, generator=torch.Generator().manual_seed(3))[0].numpy()
    audio = vocode(MEL, checkpoint=CKPT, sigma=SIGMA, seed=3, device="cpu", precision="fp32")
    assert audio.dtype == np.float32 and audio.shape == (24 * 256,)
    assert np.abs(audio - expected).max() <= 1e-5
    assert get_vocoder(CKPT, "cpu") is get_vocoder(str(CKPT), "auto" if not torch.cuda.is_available() else "cpu")
    from_instance = vocode(torch.from_numpy(MEL.T), checkpoint=model, sigma=SIGMA, seed=3, device="cpu",
                           precision="fp32")
    assert np.abs(from_instance - expected).max() <= 1e-5
    batch = vocode(np.stack([MEL, MEL]), checkpoint=model, sigma=SIGMA, seed=3, device="cpu", precision="fp32")
    assert batch.shape == (2, 24 * 256)
    expected_batch = model.infer(torch.from_numpy(np.stack([MEL, MEL])), SIGMA,
                                 generator=torch.Generator().manual_seed(3)).numpy()
    assert np.abs(batch - expected_batch).max() <= 1e-5


def test_api_bf16_on_cpu_runs_close_to_fp32(model):
    fp32 = vocode(MEL, checkpoint=model, sigma=SIGMA, seed=4, device="cpu", precision="fp32")
    bf16 = vocode(MEL, checkpoint=model, sigma=SIGMA, seed=4, device="cpu", precision="bf16")
    assert np.isfinite(bf16).all()
    assert 0 < np.abs(bf16 - fp32).max() <= 0.05 * np.abs(fp32).max()
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is not converted


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(model, monkeypatch, native):
    """'auto' (the default of vocode(), get_vocoder, Synthesizer and the CLI) is bf16 on a CPU with native bf16 and
    fp32 on one without; an explicit bf16 there still runs, with one warning."""
    import warnings

    from waveglow.common import precision

    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    monkeypatch.setattr(precision, "_warned", set())
    clear_cache()
    chosen = "bf16" if native else "fp32"
    assert precision.resolve_precision("auto", "cpu") == chosen
    assert get_vocoder(model, "cpu").precision == chosen  # the default
    auto = vocode(MEL, checkpoint=model, sigma=SIGMA, seed=4, device="cpu")
    np.testing.assert_array_equal(auto, vocode(MEL, checkpoint=model, sigma=SIGMA, seed=4, device="cpu",
                                               precision=chosen))
    mel = torch.from_numpy(MEL)
    np.testing.assert_array_equal(model.infer(mel, SIGMA, z=torch.zeros(1, 8, 24 * 32), precision="auto"),
                                  model.infer(mel, SIGMA, z=torch.zeros(1, 8, 24 * 32), precision=chosen))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        precision.resolve_precision("bf16", "cpu")
        precision.resolve_precision("bf16", "cpu")
    messages = [str(w.message) for w in caught if "emulated" in str(w.message)]
    assert len(messages) == (0 if native else 1)


# ---- denoiser ------------------------------------------------------------------------------------------------------
def test_denoiser_strength_zero_is_identity(model):
    audio = model.infer(torch.from_numpy(MEL), SIGMA, generator=torch.Generator().manual_seed(0))
    denoiser = Denoiser(model)
    assert denoiser.bias_spectrum.shape == (1, 513, 1)  # from the 16-mel model, not a hard-coded 80
    assert (denoiser(audio, 0.0) - audio).abs().max() <= 1e-5
    assert (denoiser(audio[0], 0.0) - audio[0]).abs().max() <= 1e-5


def test_denoiser_removes_the_bias_and_leaves_rng_alone(model):
    state = torch.get_rng_state()
    denoiser = Denoiser(model)
    assert torch.equal(torch.get_rng_state(), state)
    bias_audio = model.infer(torch.zeros(1, 16, 88), 0.0, z=torch.zeros(1, 8, 88 * 32))
    energy = (bias_audio ** 2).sum()
    assert (denoiser(bias_audio, 1.0) ** 2).sum() < 0.1 * energy
    assert (denoiser(bias_audio, 0.1) ** 2).sum() < (denoiser(bias_audio, 0.01) ** 2).sum() < energy
    speech = model.infer(torch.from_numpy(MEL), SIGMA, generator=torch.Generator().manual_seed(0))
    assert (denoiser(speech, 0.1) ** 2).sum() > 0.5 * (speech ** 2).sum()  # speech survives a mild strength


# ---- long form -----------------------------------------------------------------------------------------------------
def test_receptive_field_from_config(model):
    # golden: 6 flows x (2**2 - 1) * (3 - 1) / 2 = 18 steps x 8 = 144 samples -> 1 frame; + 3 upsampler frames
    assert (receptive_field(model.config).left_frames, receptive_field(model.config).right_frames) == (4, 1)
    # NVIDIA's: 12 x 255 = 3060 steps x 8 = 24480 samples = 95.6 -> 96 frames
    nvidia = receptive_field(WaveGlowConfig())
    assert (nvidia.left_frames, nvidia.right_frames) == (99, 96)


def test_chunk_plan_covers_every_frame_once():
    chunks = plan_chunks(100, 30, 4, 1)
    kept = [f for c in chunks for f in range(c.keep_start, c.keep_stop)]
    assert kept == list(range(100))
    assert all(c.start == max(0, c.keep_start - 4) and c.stop == min(100, c.keep_stop + 1) for c in chunks)


def test_chunked_equals_full_once_overlap_covers_receptive_field(model, long_mel):
    z = model.draw_latent(1, long_mel.shape[2] * 32, torch.Generator().manual_seed(11))
    full = model.infer(long_mel, SIGMA, z=z)
    for chunk in (7, 32):
        exact = infer_chunked(model, long_mel, SIGMA, z=z, chunk_frames=chunk)  # default: receptive field
        assert exact.shape == full.shape and (exact - full).abs().max() <= 1e-4
        short = infer_chunked(model, long_mel, SIGMA, z=z, chunk_frames=chunk, overlap_frames=3)
        assert (short - full).abs().max() > 1e-3  # one frame too little context is visible
    seeded = infer_chunked(model, long_mel, SIGMA, generator=torch.Generator().manual_seed(11), chunk_frames=16)
    assert (seeded - full).abs().max() <= 1e-4  # the latent is drawn once, for the whole utterance


def test_chunked_equals_full_with_group_conditioning(long_mel):
    """The built-in voice's layout (mel upsampled to the grouped rate, centred window) chunks exactly too."""
    config = WaveGlowConfig(n_mel_channels=16, n_flows=4, n_group=32, n_early_every=2, n_early_size=8, n_layers=3,
                            n_channels=16, kernel_size=3, upsample_kernel_size=32, conditioning="group")
    torch.manual_seed(0)
    model = WaveGlow(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    field = receptive_field(config)
    # flows: 4 x 7 steps x 32 = 896 samples -> 4 frames; upsampler: 32 steps x 32 / 2 = 512 samples -> 2 (+1) frames
    assert (field.left_frames, field.right_frames) == (7, 7)
    z = model.draw_latent(1, long_mel.shape[2] * 8, torch.Generator().manual_seed(5))
    full = model.infer(long_mel, SIGMA, z=z)
    exact = infer_chunked(model, long_mel, SIGMA, z=z, chunk_frames=20)
    assert (exact - full).abs().max() <= 1e-4
    short = infer_chunked(model, long_mel, SIGMA, z=z, chunk_frames=20, overlap_frames=2)
    assert (short - full).abs().max() > 1e-3


def test_pcm16_clips_and_counts():
    pcm, clipped = to_pcm16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0, 1 / 32768]))
    assert clipped == 2
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 1]
