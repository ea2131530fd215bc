"""Every hostile-file family of `hostile_files` against every entry point that reads a file from someone else.

Each check: the failure is one line naming the file (no traceback), the exit status is non-zero, nothing is written,
a payload's marker never appears, and in a vocode batch the good file after the bad one is still vocoded.
"""
import collections
import re
import signal
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import hostile_files as hf
from waveglow import CheckpointError, WaveGlow
from waveglow.cli import main as cli_main

ENTRY_KINDS = {
    "info": ("torch", "waveglow_dir"),
    "vocode_checkpoint": ("torch", "waveglow_dir"),
    "tts_checkpoint": ("torch", "waveglow_dir"),
    "waveglow_from_pretrained": ("torch", "waveglow_dir"),
    "tacotron2_from_pretrained": ("torch",),
    "training_resume": ("torch",),
    "vocode_mel": ("pt_mel", "npy", "npz"),
    "glow_loader": ("glow_dir",),
    "demo_upload": ("pt_mel", "npy"),
    "demo_vocoder": ("torch", "waveglow_dir"),
}
CASES = [(family, entry, kind) for family in hf.FAMILIES for entry, kinds in ENTRY_KINDS.items() for kind in kinds]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A good tiny vocoder, a good mel, and a cache of generated hostile files (each made once)."""
    root = tmp_path_factory.mktemp("hostile")
    good = hf.tiny_waveglow().save_pretrained(root / "good_vocoder")
    mel = root / "good.npy"
    np.save(mel, np.full((8, 4), -5.0, dtype=np.float32))
    cache = {}

    def hostile(family, kind):
        if (family, kind) not in cache:
            cache[family, kind] = hf.make(family, kind, root / f"{family}-{kind}")
        return cache[family, kind]

    return {"root": root, "good": good, "mel": mel, "hostile": hostile}


@pytest.fixture
def no_hang():
    """A FIFO that is opened blocks forever: fail the test instead."""
    def hung(*_):
        raise TimeoutError("the loader blocked")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _one_line(text: str, path: Path) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert "Traceback" not in text
    assert errors, text
    assert any(path.name in line for line in errors), text
    return "\n".join(errors)


def _call(entry, h, world, tmp_path, capsys):
    """Run one entry point on hostile file h; returns the error text (already checked to be one line)."""
    out = tmp_path / "out"
    if entry == "info":
        assert cli_main(["info", str(h.path)]) == 2
        return _one_line(capsys.readouterr().err, h.path)
    if entry == "vocode_checkpoint":
        assert cli_main(["vocode", str(world["mel"]), "-o", str(out), "--checkpoint", str(h.path),
                         "--no-progress", "--mel-format", "nvidia"]) == 2
        assert not any(out.glob("*.wav"))
        return _one_line(capsys.readouterr().err, h.path)
    if entry == "tts_checkpoint":
        wav = tmp_path / "speech.wav"
        assert cli_main(["tts", "hello", "-o", str(wav), "--checkpoint", str(h.path)]) == 2
        assert not wav.exists()
        return _one_line(capsys.readouterr().err, h.path)
    if entry == "vocode_mel":
        rc = cli_main(["vocode", str(h.path), str(world["mel"]), "-o", str(out), "--checkpoint",
                       str(world["good"]), "--no-progress", "--mel-format", "nvidia", "--seed", "0"])
        captured = capsys.readouterr()
        assert rc == 1, captured
        assert (out / "good.wav").is_file()  # the good mel after the bad one still went through
        assert sorted(p.name for p in out.iterdir()) == ["good.wav"]
        assert "vocoded 1 of 2" in captured.out
        errors = [line for line in captured.err.splitlines() if line.startswith("waveglow vocode: error:")]
        assert len(errors) == 1 and h.path.name in errors[0] and "Traceback" not in captured.err, captured.err
        return errors[0]
    if entry == "demo_upload":
        from waveglow_demo.backend import DemoError, load_mel_file

        with pytest.raises(DemoError) as info:
            load_mel_file(str(h.path))
        return _single(info.value, h.path)
    if entry == "demo_vocoder":
        from waveglow_demo.backend import DemoError, load_waveglow

        with pytest.raises(DemoError) as info:
            load_waveglow(str(h.path))
        return _single(info.value, h.path)
    reader = {
        "waveglow_from_pretrained": WaveGlow.from_pretrained,
        "tacotron2_from_pretrained": _tacotron2,
        "training_resume": _training,
        "glow_loader": _glow,
    }[entry]
    with pytest.raises(CheckpointError) as info:
        reader(h.path)
    return _single(info.value, h.path)


def _single(exc, path):
    text = str(exc)
    assert "\n" not in text and path.name in text, text
    return text


def _tacotron2(path):
    from tts.tacotron2 import Tacotron2

    return Tacotron2.from_pretrained(path)


def _training(path):
    from waveglow.vocoder.run_checkpoints import load_training_checkpoint

    return load_training_checkpoint(path)


def _glow(path):
    from waveglow.glow.checkpoint import load_glow

    return load_glow(path)


@pytest.mark.parametrize("family,entry,kind", CASES, ids=[f"{f}-{e}-{k}" for f, e, k in CASES])
def test_hostile_file_is_refused_in_one_line(world, tmp_path, capsys, no_hang, family, entry, kind):
    h = world["hostile"](family, kind)
    message = _call(entry, h, world, tmp_path, capsys)
    if h.readers is None or entry in h.readers:
        assert re.search(h.match, message), (h.match, message)
    if h.marker is not None:
        assert not h.marker.exists(), "the payload ran"


def test_torchscript_payload_is_live(tmp_path):
    """The TorchScript family really runs code under torch.load: what the gate refuses is not a dud."""
    marker = tmp_path / "ran"
    path = tmp_path / "scripted.pt"
    path.write_bytes(hf.torchscript_bytes(marker))
    with pytest.warns(UserWarning):
        torch.load(path, weights_only=False)
    assert marker.exists()


# ---- hole 2: nothing a file does outlives its load ----------------------------------------------------------------
def _snapshot():
    import torch._utils

    from waveglow.common import safe_loading, safe_pickle

    functions = [torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor, torch._utils._rebuild_parameter,
                 safe_loading._rebuild_tensor_v2, safe_loading._checked_view, safe_pickle._numpy_dtype,
                 safe_pickle._rebuild_parameter, safe_pickle._ordered_dict, np.load, np.frombuffer]
    classes = [collections.OrderedDict, torch.Size, np.ndarray, np.dtype, safe_pickle.PickledObject]
    state = [(repr(getattr(f, "__defaults__", None)), repr(getattr(f, "__kwdefaults__", None)),
              repr(sorted(getattr(f, "__dict__", {}).items()))) for f in functions]
    state += [repr(sorted((k, repr(v)) for k, v in vars(c).items())) for c in classes]
    state += [repr(np.dtype("float64").__reduce__()), repr(np.dtype("float32").isnative)]
    return state


@pytest.mark.parametrize("payload", ["defaults", "class_dict"])
def test_build_on_allowed_names_changes_nothing(tmp_path, payload):
    good = tmp_path / "good.pt"
    reference = {"w": torch.randn(3, 4), "p": torch.nn.Parameter(torch.randn(2))}
    torch.save(reference, good)
    before = _snapshot()
    data = hf.build_defaults_pickle() if payload == "defaults" else hf.build_class_pickle()
    path = hf.torch_zip(tmp_path / "evil.pt", data)
    with pytest.raises(CheckpointError, match="refusing to change the state"):
        WaveGlow.from_pretrained(path)
    assert _snapshot() == before
    from waveglow.common.safe_loading import load_torch_file

    loaded = load_torch_file(good)
    assert all(torch.equal(loaded[k], reference[k]) and loaded[k].dtype == reference[k].dtype for k in reference)


def test_plain_pickle_would_have_changed_the_function():
    """The BUILD payload is live: Python's own unpickler sets the function's __defaults__."""
    import pickle

    data = hf.build_defaults_pickle().replace(b"ctorch._utils\n_rebuild_tensor_v2\n", b"chostile_files\nvictim\n")
    assert hf.victim.__defaults__ == (0,)
    try:
        pickle.loads(data)
        assert hf.victim.__defaults__ == (1, True, None)
    finally:
        hf.victim.__defaults__ = (0,)


# ---- legitimate files in the formats the gate reads itself -----------------------------------------------------------
def test_legacy_tar_checkpoint_loads(tmp_path):
    from waveglow.common.safe_loading import load_torch_file

    loaded = load_torch_file(hf.legacy_tar(tmp_path / "old.pt"))
    assert torch.equal(loaded["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3))


def test_npz_and_npy_mels_load_exactly(tmp_path):
    from waveglow.audio.mel_files import load_mel_file

    mel = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
    np.save(tmp_path / "a.npy", mel)
    np.save(tmp_path / "f.npy", np.asfortranarray(mel.astype(np.float64)))
    np.savez_compressed(tmp_path / "b.npz", mel=mel, other=np.zeros(2))
    assert np.array_equal(load_mel_file(tmp_path / "a.npy"), mel)
    assert np.array_equal(load_mel_file(tmp_path / "f.npy"), mel.astype(np.float64))
    assert np.array_equal(load_mel_file(tmp_path / "b.npz"), mel)


def test_compressed_zip_entries_within_the_factor_load(tmp_path):
    from waveglow.common.safe_loading import load_torch_file

    path = tmp_path / "deflated.pt"
    torch.save({"w": torch.randn(64)}, path)
    with zipfile.ZipFile(path) as zf:
        entries = [(i, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info.filename, data)
    assert torch.equal(load_torch_file(path)["w"], torch.load(path)["w"])


# ---- hole 7: full disk -------------------------------------------------------------------------------------------------
def test_full_disk_in_a_vocode_batch_is_one_line_per_file(world, tmp_path, capsys, monkeypatch):
    import errno

    import soundfile

    second = tmp_path / "second.npy"
    np.save(second, np.full((8, 4), -5.0, dtype=np.float32))

    def full(*_args, **_kwargs):
        raise soundfile.LibsndfileError(errno.ENOSPC, "System error")

    monkeypatch.setattr(soundfile, "write", full)
    out = tmp_path / "out"
    rc = cli_main(["vocode", str(world["mel"]), str(second), "-o", str(out), "--checkpoint", str(world["good"]),
                   "--no-progress", "--mel-format", "nvidia"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "vocoded 0 of 2" in captured.out
    assert "2 input(s) failed" in captured.err and "Traceback" not in captured.err
    assert list(out.iterdir()) == []  # no partial or temporary wav


def test_full_disk_in_tts_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import soundfile

    import tts.pipeline

    class QuickSynthesizer:  # the command's write path is under test, not synthesis
        frontend_label, vocoder_label = "test frontend", "test vocoder"

        def __init__(self, **_kwargs):
            pass

        def synthesize(self, text, progress=None):
            return np.zeros(2205, dtype=np.float32), 22050

    def full(*_args, **_kwargs):
        raise soundfile.LibsndfileError(errno.ENOSPC, "System error")

    monkeypatch.setattr(tts.pipeline, "Synthesizer", QuickSynthesizer)
    monkeypatch.setattr(soundfile, "write", full)
    wav = tmp_path / "speech.wav"
    rc = cli_main(["tts", "hello", "-o", str(wav)])
    err = capsys.readouterr().err
    assert rc == 2 and "speech.wav" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no wav, no temporary file


def test_demo_wavs_are_cleaned_up(tmp_path, monkeypatch):
    import os
    import time

    from waveglow_demo import backend

    monkeypatch.setattr(backend, "KEEP_OUTPUTS", 3)
    old = tmp_path / "waveglow-old.wav"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * backend.KEEP_SECONDS,) * 2)
    paths = [backend.write_output_wav(np.zeros(100, dtype=np.float32), 22050, tmp_path) for _ in range(5)]
    assert not old.exists()
    assert sorted(tmp_path.iterdir()) == sorted(paths[-3:])
    backend.remove_written()
    assert list(tmp_path.iterdir()) == []


# ---- hole 3: memory and time per bomb ------------------------------------------------------------------------------
def test_bombs_cost_little_memory_and_time(tmp_path):
    rows = hf.measure_bombs(tmp_path, [n for n in hf.BOMBS if n != "zip expansion"])  # that one takes 1 s to write
    for name, rss_mib, seconds, size, outcome in rows:
        assert outcome.startswith(("CheckpointError", "MelFileError")), (name, outcome)
        assert rss_mib < 32 + 4 * size / 2 ** 20, (name, rss_mib)
        assert seconds < 5, (name, seconds)


def test_full_disk_in_train_is_one_line(tmp_path, capsys, monkeypatch):
    """`waveglow train` saving a checkpoint onto a full disk: one line, status 1 (the checkpoint store is atomic)."""
    import errno

    import waveglow.commands.train as train_command

    def full(_args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "checkpoints" / "ckpt_1.pt"))

    monkeypatch.setattr(train_command, "run", full)
    rc = cli_main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 1 and "No space left on device" in err and "ckpt_1.pt" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["waveglow_nvidia_train_style.pt", "waveglow_dle_style.pt",
                                  "tacotron2_nvidia_train_style.pt"])
def test_gate_reads_golden_files_bit_exactly(name):
    """Our reader gives exactly torch.load's tensors (values, dtypes, shapes, strides) for the golden files."""
    from nvidia_layout import fake_glow_module
    from waveglow.vocoder.checkpoint import _flatten_pickled_module
    from waveglow.common.safe_loading import load_torch_file
    from waveglow.common.safe_pickle import PickledObject

    path = Path(__file__).parent / "fixtures" / "golden" / name
    ours = load_torch_file(path)
    with fake_glow_module(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on changed module sources
        theirs = torch.load(path, map_location="cpu", weights_only=False)

    def tensors(obj):
        if isinstance(obj, PickledObject):
            return _flatten_pickled_module(obj)
        if isinstance(obj, torch.nn.Module):
            return dict(obj.state_dict(keep_vars=True))
        return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}

    for key in ("model", "state_dict"):
        if key in theirs:
            a, b = tensors(ours[key]), tensors(theirs[key])
            assert a.keys() == b.keys() and a
            for k in a:
                assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].stride() == b[k].stride(), k
                assert torch.equal(a[k], b[k]), k

