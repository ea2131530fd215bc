"""Training: loss goes down, exact resume, DDP gradient averaging, crash-safe checkpoints, NaN stop, exact NLL.

Everything runs a tiny WaveGlow on the shipped fixture clips, one torch thread per process (the machine is
shared). Training runs use a filelist of the two non-held-out fixture clips so no held-out evaluation runs, except
where the evaluation itself is under test.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow.audio import MelConfig, MelSpectrogram
from waveglow.common.errors import ConfigError
from waveglow.training.distributed import DistributedContext
from waveglow.training.rng import seed_everything
from waveglow.training.schedule import lr_factor
from waveglow.vocoder.model import WaveGlow
from waveglow.vocoder.run_config import ScheduleConfig
from waveglow_data.splits import is_held_out
from waveglow.training import (CheckpointStore, Trainer, TrainingConfig, TrainingDiverged, WaveGlowForTraining,
                               load_training_checkpoint, utterance_nll)

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DIR = Path(__file__).parent / "fixtures" / "ljspeech"
PYTHON = sys.executable

TINY = {
    "model": {"n_flows": 4, "n_group": 8, "n_early_every": 2, "n_early_size": 2,
              "WN_config": {"n_layers": 2, "n_channels": 16, "kernel_size": 3}, "upsample_kernel_size": 256},
    "train": {"iterations": 6, "lr": 1e-3, "batch_size": 2, "segment_length": 2048, "seed": 7,
              "checkpoint_every": 3, "eval_every": 1000, "log_every": 1, "keep_checkpoints": 10},
    "data": {"eval_max_seconds": 10, "eval_audio_samples": 1},
}


def tiny_config(**train) -> TrainingConfig:
    data = json.loads(json.dumps(TINY))
    data["train"].update(train)
    return TrainingConfig.from_dict(data)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def train_clips(tmp_path) -> Path:
    """A filelist of the fixture clips that are not held out (LJ001-0002, LJ002-0020)."""
    lines = [f"{p.resolve()}|x" for p in sorted((FIXTURE_DIR / "wavs").iterdir()) if not is_held_out(p.stem)]
    assert len(lines) == 2
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- configs ------------------------------------------------------------------------------------------------------
def test_shipped_configs():
    official = TrainingConfig.from_json(REPO / "configs" / "waveglow_ljspeech.json")
    m, t = official.model, official.train
    assert (m.n_flows, m.n_group, m.n_early_every, m.n_early_size) == (12, 8, 4, 2)
    assert (m.n_layers, m.n_channels, m.kernel_size) == (8, 256, 3)
    assert (t.lr, t.batch_size, t.segment_length, t.sigma) == (1e-4, 12, 16000, 1.0)
    assert t.schedule.kind == "constant" and t.grad_clip is None
    small = TrainingConfig.from_json(REPO / "configs" / "waveglow_small.json")
    assert WaveGlow(small.model).num_parameters() < WaveGlow(official.model).num_parameters() / 5
    # the built-in voice's recipe: sine excitation, harmonic source, MR-STFT loss on every 2nd step
    assert (small.model.excitation_channels, small.model.harmonics) == (2, 24)
    assert (small.train.spectral_loss.weight, small.train.spectral_loss.every) == (1.0, 2)


def test_data_section_keeps_nvidias_mel_names_in_json():
    """The "data" section reads and writes the same keys, in the same order, as before MelConfig held its mel
    fields; its mel is the run's whole feature contract (n_mels the model's)."""
    assert TrainingConfig().to_dict()["data"] == {
        "sampling_rate": 22050, "filter_length": 1024, "hop_length": 256, "win_length": 1024, "mel_fmin": 0.0,
        "mel_fmax": 8000.0, "num_workers": 0, "cache_dir": None, "eval_max_seconds": 60.0, "eval_audio_samples": 2,
        "eval_audio_sigma": 0.666}
    assert list(TrainingConfig().to_dict()["data"])[:6] == ["sampling_rate", "filter_length", "hop_length",
                                                           "win_length", "mel_fmin", "mel_fmax"]
    for name in ("waveglow_ljspeech.json", "waveglow_small.json"):
        written = json.loads((REPO / "configs" / name).read_text())["data"]
        written = {k: v for k, v in written.items() if not k.startswith("_")}
        config = TrainingConfig.from_json(REPO / "configs" / name)
        assert list(config.to_dict()["data"].items())[:len(written)] == list(written.items())
        assert TrainingConfig.from_dict(config.to_dict()) == config
        assert config.mel == MelConfig(n_mels=config.model.n_mel_channels)
    small = tiny_config()
    assert small.mel.n_mels == small.model.n_mel_channels
    data = small.to_dict()
    with pytest.raises(ConfigError, match=r"data: unknown field 'n_mel_channels' \(known: cache_dir, .*filter_length"):
        TrainingConfig.from_dict({**data, "data": {**data["data"], "n_mel_channels": 80}})
    with pytest.raises(ConfigError, match=r"data: mel needs 0 <= mel_fmin < mel_fmax <= sampling_rate / 2"):
        TrainingConfig.from_dict({**data, "data": {**data["data"], "mel_fmax": 12000.0}})


def test_schedule_warmup_then_decay():
    s = ScheduleConfig(kind="step", warmup=10, gamma=0.5, decay_every=100)
    assert lr_factor(0, s, 1.0) == pytest.approx(0.1)
    assert lr_factor(9, s, 1.0) == 1.0
    assert lr_factor(109, s, 1.0) == 1.0 and lr_factor(110, s, 1.0) == 0.5
    e = ScheduleConfig(kind="exponential", warmup=0, gamma=0.5, decay_every=100, min_lr=0.3)
    assert lr_factor(50, e, 1.0) == pytest.approx(0.5 ** 0.5)
    assert lr_factor(1000, e, 1.0) == pytest.approx(0.3)
    assert lr_factor(12345, ScheduleConfig(), 1e-4) == 1.0


# ---- training -----------------------------------------------------------------------------------------------------
def test_training_decreases_loss_and_exports(tmp_path, train_clips):
    config = tiny_config(iterations=30, checkpoint_every=30)
    trainer = Trainer(config, train_clips, tmp_path / "run", show_progress=False)
    trainer.fit()
    losses = [s.loss for s in trainer.history]
    assert len(losses) == 30 and all(math.isfinite(x) for x in losses)
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < first - 0.2, (first, last)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "grad_norm", "lr"} <= set(records[-1]) and records[-1]["iteration"] == 30
    assert list((tmp_path / "run" / "tensorboard").iterdir())

    exported = WaveGlow.from_pretrained(tmp_path / "run" / "final")  # weight norm folded
    mel = torch.randn(1, 80, 5)
    z = torch.randn(1, 8, 5 * 256 // 8)
    trainer.model.eval()
    assert torch.allclose(exported.infer(mel, z=z), trainer.model.infer(mel, z=z), atol=1e-5)


def test_gradient_clipping_reports_the_unclipped_norm(tmp_path, train_clips):
    trainer = Trainer(tiny_config(grad_clip=1e-3), train_clips, tmp_path / "run", show_progress=False)
    mel, audio = (torch.stack(x) for x in zip(*[trainer.dataset[0], trainer.dataset[1]]))
    stats = trainer.train_step(mel, audio)
    clipped = torch.nn.utils.get_total_norm([p.grad for p in trainer.model.parameters() if p.grad is not None])
    assert stats.grad_norm > 1e-2 and float(clipped) == pytest.approx(1e-3, rel=1e-3)


def test_micro_batches_accumulate_the_same_gradient(tmp_path, train_clips):
    grads, losses = [], []
    for k in (1, 2):
        trainer = Trainer(tiny_config(micro_batches=k), train_clips, tmp_path / f"run{k}", show_progress=False)
        mel, audio = (torch.stack(x) for x in zip(*[trainer.dataset[0], trainer.dataset[1]]))
        losses.append(trainer.train_step(mel, audio).loss)
        grads.append([p.grad.clone() for p in trainer.model.parameters()])  # the step leaves them in place
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(*grads))


@pytest.mark.parametrize("memory_efficient", [False, True])
def test_bf16_training_reaches_every_parameter_and_keeps_the_flow_path_fp32(tmp_path, train_clips, memory_efficient):
    """bf16 autocast runs the coupling networks in bf16; every parameter still gets its gradient (close to fp32's),
    and the signal between flows is never rounded to bf16 (z stays within bf16 network noise of fp32's z)."""
    results = {}
    for precision in ("fp32", "bf16"):
        trainer = Trainer(tiny_config(precision=precision, memory_efficient=memory_efficient), train_clips,
                          tmp_path / precision, show_progress=False)
        with torch.no_grad():  # leave the zero-initialised identity start, the same way in both runs
            generator = torch.Generator().manual_seed(3)
            for p in trainer.model.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=generator))
        mel, audio = (torch.stack(x) for x in zip(*[trainer.dataset[0], trainer.dataset[1]]))
        with trainer.precision.autocast():
            z, _ = trainer.forward_module(audio, mel)
        assert z.dtype == torch.float32
        trainer.train_step(mel, audio)
        results[precision] = (z.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters()})
    (z32, g32), (z16, g16) = results["fp32"], results["bf16"]
    assert (z16 - z32).abs().max() < 0.05 * z32.abs().max()
    for name, grad in g32.items():
        assert g16[name].abs().sum() > 0, f"{name}: no gradient under bf16"
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), g16[name].flatten(), dim=0)
        assert cosine > 0.95, f"{name}: bf16 gradient direction off (cosine {cosine:.3f})"


def test_memory_efficient_forward_is_identical():
    torch.manual_seed(0)
    model = WaveGlow(tiny_config().model).apply_weight_norm()
    for p in model.parameters():  # leave the zero-initialised identity start
        p.data.add_(0.05 * torch.randn_like(p))
    audio, mel = 0.3 * torch.rand(2, 1024) - 0.15, torch.randn(2, 80, 5)
    results = []
    for memory_efficient in (False, True):
        model.zero_grad()
        z, logdet = WaveGlowForTraining(model, memory_efficient)(audio, mel)
        WaveGlow.loss(z, logdet).backward()
        results.append((z.detach(), logdet.detach(), [p.grad.clone() for p in model.parameters()]))
    (z0, l0, g0), (z1, l1, g1) = results
    assert torch.equal(z0, z1) and torch.equal(l0, l1)
    assert all(torch.equal(a, b) for a, b in zip(g0, g1))


def test_resume_mid_epoch_is_bit_identical(tmp_path, train_clips):
    """6 iterations of batch 1 over 2 clips = 3 epochs; the checkpoint at 3 is in the middle of epoch 1."""
    from waveglow.commands.train import main as train_main

    config = tiny_config(batch_size=1, memory_efficient=True, ema_decay=0.9)
    whole = Trainer(config, train_clips, tmp_path / "whole", show_progress=False)
    whole.fit()
    interrupted = tmp_path / "interrupted"
    shutil.copytree(tmp_path / "whole", interrupted)
    shutil.rmtree(interrupted / "final")
    (interrupted / "checkpoints" / "ckpt_6.pt").unlink()
    (interrupted / "checkpoints" / "latest").write_text("ckpt_3.pt\n")
    assert load_training_checkpoint(interrupted / "checkpoints" / "ckpt_3.pt")["batches_in_epoch"] == 1

    with contextlib.redirect_stdout(io.StringIO()):
        assert train_main(["--data", str(train_clips), "--out", str(interrupted), "--resume", "--no-progress"]) == 0
    a = load_training_checkpoint(tmp_path / "whole" / "checkpoints" / "ckpt_6.pt")
    b = load_training_checkpoint(interrupted / "checkpoints" / "ckpt_6.pt")
    assert state_equal(a["model"], b["model"])
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert state_equal(pa, pb)
    assert (a["epoch"], a["batches_in_epoch"]) == (b["epoch"], b["batches_in_epoch"])
    assert a["ema"]["updates"] == b["ema"]["updates"] == 6 and state_equal(a["ema"]["model"], b["ema"]["model"])
    assert state_equal(WaveGlow.from_pretrained(tmp_path / "whole" / "final").state_dict(),
                       WaveGlow.from_pretrained(interrupted / "final").state_dict())


def _batch(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
    return next(iter(trainer._loader(0, 0)))


def test_weight_average_is_an_ema_of_the_steps_and_never_changes_training(tmp_path, train_clips):
    averaged = Trainer(tiny_config(ema_decay=0.75), train_clips, tmp_path / "a", show_progress=False)
    plain = Trainer(tiny_config(), train_clips, tmp_path / "b", show_progress=False)
    batch = _batch(averaged)
    steps = []
    for _ in range(3):
        for trainer in (averaged, plain):
            trainer.train_step(*batch)
        steps.append({k: v.clone() for k, v in averaged.model.state_dict().items()})
    assert state_equal(averaged.model.state_dict(), plain.model.state_dict())  # no feedback into training
    assert averaged.average.updates == 3
    decays = [min(0.75, (1 + n) / (10 + n)) for n in (1, 2)]  # the warm-up after 1 and 2 earlier updates
    assert decays == [2 / 11, 3 / 12]
    for name, value in averaged.average.model.state_dict().items():
        expected = steps[0][name]  # the first update copies, then avg <- d avg + (1 - d) weights
        for decay, step in zip(decays, steps[1:]):
            expected = decay * expected + (1 - decay) * step[name]
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7, msg=name)
    assert not torch.equal(averaged.average.model.upsample.weight, averaged.model.upsample.weight)


def test_weight_average_decay_reaches_the_configured_one_once_warmed_up():
    from waveglow.training.averaging import WeightAverage

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, 0.75)
    state = average.state_dict()
    state["updates"] = 100  # (1 + 100) / 110 > 0.75: the configured decay applies
    average.load_state_dict(state)
    before = {k: v.clone() for k, v in average.model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model)
    assert average.updates == 101
    for name, value in average.model.state_dict().items():
        torch.testing.assert_close(value, 0.75 * before[name] + 0.25 * model.state_dict()[name], msg=name)


def test_runs_export_and_load_the_weight_average_unless_raw_weights_are_asked_for(tmp_path, train_clips):
    from waveglow.vocoder.model import load_waveglow
    from waveglow.vocoder.loading import load_training_model

    run = tmp_path / "run"
    trainer = Trainer(tiny_config(iterations=4, ema_decay=0.5), train_clips, run, show_progress=False)
    trainer.fit()
    mel, z = torch.randn(1, 80, 5), torch.randn(1, 8, 5 * 256 // 8)
    with torch.no_grad():
        expected = {"average": trainer.average.model.eval().infer(mel, z=z),
                    "raw": trainer.model.eval().infer(mel, z=z)}
    assert not torch.allclose(expected["average"], expected["raw"], atol=1e-4)
    exported = WaveGlow.from_pretrained(run / "final")
    torch.testing.assert_close(exported.infer(mel, z=z), expected["average"], atol=1e-5, rtol=1e-5)
    for raw, kind in ((False, "average"), (True, "raw")):
        loaded = load_training_model(run, raw=raw)
        assert loaded.weights == kind and loaded.iteration == 4
        torch.testing.assert_close(loaded.model.infer(mel, z=z), expected[kind], atol=1e-5, rtol=1e-5)
    model, info = load_waveglow(run / "checkpoints" / "ckpt_4.pt")  # what vocode / tts --checkpoint RUN use
    assert info.extra["weights"] == "average"
    torch.testing.assert_close(model.infer(mel, z=z), expected["average"], atol=1e-5, rtol=1e-5)


def test_turning_the_average_on_when_resuming_starts_it_from_the_resumed_weights(tmp_path, train_clips):
    from waveglow.commands.train import main as train_main

    run = tmp_path / "run"
    Trainer(tiny_config(iterations=3, checkpoint_every=1), train_clips, run, show_progress=False).fit()
    assert "ema" not in load_training_checkpoint(run / "checkpoints" / "ckpt_3.pt")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert train_main(["--data", str(train_clips), "--out", str(run), "--resume", "--no-progress",
                           "--iterations", "5", "--ema-decay", "0.5", "--lr", "0.0003"]) == 0
    assert "averaging starts from iteration 3" in out.getvalue()
    at4, at5 = (load_training_checkpoint(run / "checkpoints" / f"ckpt_{i}.pt") for i in (4, 5))
    assert at5["config"]["train"]["lr"] == 0.0003  # --lr: the fine-tuning learning rate
    assert at5["config"]["train"]["ema_decay"] == 0.5 and (at4["ema"]["updates"], at5["ema"]["updates"]) == (1, 2)
    assert state_equal(at4["ema"]["model"], at4["model"])  # the first update after resuming copies the weights
    decay = 2 / 11  # warmed_up_decay(0.5, 1): the count restarts with the average, not at the resumed iteration
    for name, value in at5["ema"]["model"].items():
        torch.testing.assert_close(value, decay * at4["model"][name] + (1 - decay) * at5["model"][name], msg=name)


def test_resume_uses_the_fused_adam_kernel_even_from_a_per_tensor_checkpoint(tmp_path, train_clips):
    """Checkpoints from before the fused kernel recorded fused=None; resuming one must not fall back to the
    per-tensor loop, and the next step must match what that loop would have done (to float32 rounding)."""
    run = tmp_path / "run"
    Trainer(tiny_config(iterations=3), train_clips, run, show_progress=False).fit()
    path = run / "checkpoints" / "ckpt_3.pt"
    payload = load_training_checkpoint(path)
    for group in payload["optimizer"]["param_groups"]:
        group.update(fused=None, foreach=None)
    torch.save(payload, path)

    trainers = []
    for fused in (True, False):
        trainer = Trainer(tiny_config(iterations=4), train_clips, run, show_progress=False)
        trainer.resume(path)
        if not fused:  # the per-tensor loop, for reference
            for group in trainer.optimizer.param_groups:
                group.update(fused=None, foreach=False)
        trainers.append(trainer)
    assert all(group["fused"] for group in trainers[0].optimizer.param_groups)
    batch = next(iter(trainers[0]._loader(0, 0)))
    for trainer in trainers:
        trainer.train_step(*batch)
    for (name, a), b in zip(trainers[0].model.state_dict().items(), trainers[1].model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_stop_request_checkpoints_after_the_current_step(tmp_path, train_clips):
    """What SIGINT / SIGTERM do through `waveglow train`: finish the step, checkpoint, return without exporting."""
    trainer = Trainer(tiny_config(iterations=50, checkpoint_every=40), train_clips, tmp_path / "run",
                      show_progress=False)
    trainer.stop_requested = True
    assert trainer.fit().iteration == 1
    assert CheckpointStore(tmp_path / "run" / "checkpoints").latest_path().name == "ckpt_1.pt"
    assert not (tmp_path / "run" / "final").exists()


# ---- DDP ------------------------------------------------------------------------------------------------------------
def _ddp_worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    context = DistributedContext.from_environment("cpu")
    try:
        trainer = Trainer(tiny_config(batch_size=1, iterations=3), data, Path(out) / "run", context,
                          show_progress=False)
        trainer.fit()
        torch.save(trainer.model.state_dict(), Path(out) / f"rank{rank}.pt")
    finally:
        context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_average_gradients(tmp_path, train_clips):
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(train_clips), str(tmp_path)), nprocs=2)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert state_equal(rank0, rank1)
    # One process with the two ranks' batches concatenated: DDP's mean of per-rank mean losses is the same loss.
    single = Trainer(tiny_config(batch_size=2, iterations=3), train_clips, tmp_path / "single", show_progress=False)
    single.fit()
    seed_everything(tiny_config().train.seed)  # the initial weights every run above started from
    start = WaveGlow(tiny_config().model).apply_weight_norm().state_dict()
    moved = 0
    for key, value in single.model.state_dict().items():
        assert torch.allclose(rank0[key], value, rtol=1e-4, atol=1e-6), key
        moved += not torch.equal(value, start[key])
    assert moved > len(start) // 2  # the comparison is between trained weights, not initial ones


# ---- crash safety ----------------------------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, torch
    from waveglow.vocoder.run_checkpoints import CheckpointStore
    store = CheckpointStore(sys.argv[1], keep=2)
    latest = store.latest_path()
    i = 0 if latest is None else torch.load(latest, weights_only=True)["iteration"]
    while True:
        i += 1
        print("begin", i, flush=True)
        store.save({"iteration": i, "blob": torch.full((3_000_000,), float(i))}, i)
        print("done", i, flush=True)
""")


def test_sigkill_during_checkpoint_write_never_corrupts_latest(tmp_path):
    """The payloads are a bare counter and blob (not a whole training state): read without the field checks."""
    from waveglow.vocoder.run_checkpoints import load_training_payload

    directory = tmp_path / "checkpoints"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    last_done = 0
    for round_ in range(3):
        proc = subprocess.Popen([PYTHON, "-c", WRITER, str(directory)], stdout=subprocess.PIPE, text=True, env=env,
                                cwd=REPO)
        try:
            begun = 0
            while begun < 2 + round_:  # let it complete at least one write, then strike during a later one
                word, number = proc.stdout.readline().split()
                begun += word == "begin"
                last_done = int(number) if word == "done" else last_done
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        # `latest` names a complete checkpoint at least as new as the last finished write...
        pointed = directory / (directory / "latest").read_text().strip()
        assert load_training_payload(pointed)["iteration"] >= last_done
        # ...and no file under a final name is torn (a half-written file exists only under a temporary name).
        store = CheckpointStore(directory, keep=2)
        for iteration in store.iterations():
            payload = load_training_payload(store.path_for(iteration))
            assert payload["iteration"] == iteration
            assert torch.equal(payload["blob"], torch.full((3_000_000,), float(iteration)))
        assert store.latest_path() == pointed
    store.remove_stale_temporaries()
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


# ---- divergence ------------------------------------------------------------------------------------------------------
def test_nan_stops_with_iteration_and_keeps_last_good_checkpoint(tmp_path, train_clips):
    from waveglow.commands.train import main as train_main

    config = tmp_path / "explode.json"
    data = json.loads(json.dumps(TINY))
    data["train"].update(lr=1e4, iterations=8, checkpoint_every=1)  # Adam's first step moves every weight ~1e4
    config.write_text(json.dumps(data))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = train_main(["--config", str(config), "--data", str(train_clips), "--out", str(tmp_path / "run"),
                             "--no-progress"])
    assert status == 1
    message = err.getvalue()
    assert "diverged at iteration 2" in message and "ckpt_1.pt" in message, message
    store = CheckpointStore(tmp_path / "run" / "checkpoints")
    assert store.iterations() == [1] and store.latest_path().name == "ckpt_1.pt"
    payload = load_training_checkpoint(store.latest_path())
    assert all(torch.isfinite(v).all() for v in payload["model"].values())
    assert not (tmp_path / "run" / "final").exists()


def test_nan_batch_is_not_applied(tmp_path, train_clips):
    trainer = Trainer(tiny_config(), train_clips, tmp_path / "run", show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    mel, audio = trainer.dataset[0]
    audio = audio.clone()
    audio[100] = float("nan")
    with pytest.raises(TrainingDiverged, match="iteration 1"):
        trainer.train_step(mel[None], audio[None])
    assert state_equal(before, trainer.model.state_dict()) and trainer.position.iteration == 0


# ---- exact likelihood -----------------------------------------------------------------------------------------------
def _random_tiny_model(dtype=torch.float32) -> WaveGlow:
    torch.manual_seed(3)
    model = WaveGlow(tiny_config().model)
    with torch.no_grad():
        for p in model.parameters():  # away from the identity start, so every term of the NLL matters
            p.add_(0.1 * torch.randn_like(p))
    return model.to(dtype).eval()


def test_utterance_nll_equals_change_of_variables_with_explicit_jacobian():
    model = _random_tiny_model(torch.float64)
    sigma, n = 0.7, 256
    audio = 0.2 * torch.rand(n, dtype=torch.float64) - 0.1
    mel = torch.randn(80, 2, dtype=torch.float64)
    nats, scored = utterance_nll(model, audio, mel, sigma)

    def flow(x):
        return model(x[None], mel[None])[0].reshape(-1)

    jacobian = torch.autograd.functional.jacobian(flow, audio)  # [n, n]
    z = flow(audio)
    log_gauss = (-0.5 * z.pow(2) / sigma**2 - 0.5 * math.log(2 * math.pi * sigma**2)).sum()
    expected = -(log_gauss + torch.linalg.slogdet(jacobian)[1])
    assert scored == n
    assert nats == pytest.approx(float(expected.detach()), rel=1e-9, abs=1e-9)


def test_eval_nll_command_on_held_out_fixture_clips(tmp_path):
    from waveglow.commands.eval_nll import main as eval_main

    model = _random_tiny_model()
    model.save_pretrained(tmp_path / "tiny")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert eval_main(["--checkpoint", str(tmp_path / "tiny"), "--data", str(FIXTURE_DIR), "--json",
                          "--sigma", "0.8"]) == 0
    report = json.loads(out.getvalue())

    # Independent computation: int16 / 32768, trim to a multiple of n_group, whole-clip mel, formula by hand.
    mel_fn, total_nats, total_n = MelSpectrogram(), 0.0, 0
    held = sorted(p for p in (FIXTURE_DIR / "wavs").iterdir() if is_held_out(p.stem))
    for path in held:
        pcm, _ = sf.read(path, dtype="int16")
        audio = torch.from_numpy(pcm.astype(np.float32) / 32768.0)
        n = len(audio) // 8 * 8
        with torch.no_grad():
            z, logdet = model(audio[None, :n], mel_fn(audio)[None])
        total_nats += float((z.double() ** 2).sum() / (2 * 0.64) + n * 0.5 * math.log(2 * math.pi * 0.64)
                            - logdet.double().sum())
        total_n += n
    assert report["n_utterances"] == len(held) == 2 and report["n_samples"] == total_n
    assert report["bits_per_sample"] == pytest.approx(total_nats / total_n / math.log(2), rel=1e-6)
    assert report["bits_per_16bit_sample"] == pytest.approx(report["bits_per_sample"] + 15.0, abs=1e-12)


# ---- learning from inverse-flow samples, and starting from other weights -----------------------------------------
def test_reverse_is_infer_with_gradients():
    torch.manual_seed(0)
    model = WaveGlow(tiny_config().model).eval()
    for p in model.parameters():  # non-zero WN ends, so the couplings really act
        p.data.add_(0.02 * torch.randn_like(p))
    mel, z = torch.randn(2, 80, 6), torch.randn(2, 8, 6 * 256 // 8)
    sample = model.reverse(mel, z, sigma=0.7)
    torch.testing.assert_close(sample.detach(), model.infer(mel, z=z, sigma=0.7), rtol=0, atol=0)
    sample.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_mrstft_distance_is_zero_on_equal_audio_and_band_limited_on_request():
    from waveglow.audio.stft_distance import MultiResolutionSTFTDistance

    rng = torch.Generator().manual_seed(0)
    t = torch.arange(22050) / 22050
    speechlike = torch.sin(2 * math.pi * 220 * t)[None] + 0.01 * torch.randn(1, 22050, generator=rng)
    hiss = 0.05 * torch.sin(2 * math.pi * 10000 * t)[None]  # above 8 kHz only
    full, low = MultiResolutionSTFTDistance(), MultiResolutionSTFTDistance(max_hz=8000)
    assert float(full(speechlike, speechlike)) == 0.0
    assert float(full(speechlike + hiss, speechlike)) > 0.05
    assert float(low(speechlike + hiss, speechlike)) < 0.1 * float(full(speechlike + hiss, speechlike))
    with pytest.raises(ValueError, match="differ in shape"):
        full(speechlike, speechlike[:, :-1])


def test_spectral_steps_add_the_mrstft_gradient_of_an_inverse_sample(tmp_path, train_clips):
    """Every 2nd step the objective is NLL + weight * MR-STFT(inverse sample at sigma, recording), z from the
    global RNG: the step's gradient equals the one computed by hand; other steps are likelihood only."""
    from waveglow.audio.stft_distance import MultiResolutionSTFTDistance

    spectral = {"weight": 0.5, "every": 2, "sigma": 0.6}
    trainer = Trainer(tiny_config(spectral_loss=spectral), train_clips, tmp_path / "a", show_progress=False)
    reference = Trainer(tiny_config(), train_clips, tmp_path / "b", show_progress=False)
    assert state_equal(trainer.model.state_dict(), reference.model.state_dict())
    mel, audio = _batch(trainer)
    torch.manual_seed(11)
    stats = trainer.train_step(mel, audio)
    assert stats.spectral_loss is not None and stats.spectral_loss > 0
    torch.manual_seed(11)
    z = torch.randn(mel.shape[0], 8, mel.shape[2] * 256 // 8)
    model = reference.model
    nll = WaveGlow.loss(*model(audio, mel), 1.0)
    sample = model.reverse(mel, z, 0.6)[:, : audio.shape[1]]
    distance = MultiResolutionSTFTDistance()(sample, audio)
    assert float(distance.detach()) == pytest.approx(stats.spectral_loss, rel=1e-5)
    (nll + 0.5 * distance).backward()
    for (name, p), q in zip(reference.model.named_parameters(), trainer.model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert trainer.train_step(mel, audio).spectral_loss is None  # step 2: likelihood only
    assert trainer.train_step(mel, audio).spectral_loss is not None


def test_mel_term_adds_the_log_mel_l1_gradient_of_the_same_inverse_sample(tmp_path, train_clips):
    """spectral_loss.mel_weight: the spectral step's objective also gets mel_weight * mean |log-mel(sample) -
    log-mel(recording)| with the run's own mel features; gradient and logged value match a hand computation."""
    from waveglow.audio.stft_distance import MultiResolutionSTFTDistance

    spectral = {"weight": 0.5, "every": 1, "sigma": 0.6, "mel_weight": 2.0}
    trainer = Trainer(tiny_config(spectral_loss=spectral), train_clips, tmp_path / "a", show_progress=False)
    reference = Trainer(tiny_config(), train_clips, tmp_path / "b", show_progress=False)
    mel, audio = _batch(trainer)
    torch.manual_seed(11)
    stats = trainer.train_step(mel, audio)
    torch.manual_seed(11)
    z = torch.randn(mel.shape[0], 8, mel.shape[2] * 256 // 8)
    model = reference.model
    sample = model.reverse(mel, z, 0.6)[:, : audio.shape[1]]
    features = reference.config.mel.mel_spectrogram(check_range=False)
    mel_l1 = (features(sample) - features(audio)).abs().mean()
    assert 0 < stats.mel_loss == pytest.approx(float(mel_l1.detach()), rel=1e-5)
    nll = WaveGlow.loss(*model(audio, mel), 1.0)
    (nll + 0.5 * MultiResolutionSTFTDistance()(sample, audio) + 2.0 * mel_l1).backward()
    for (name, p), q in zip(reference.model.named_parameters(), trainer.model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    mel_only = tiny_config(spectral_loss={"mel_weight": 1.0})
    assert mel_only.train.spectral_loss.enabled and mel_only.train.spectral_loss.weight == 0


def test_spectral_loss_config_is_checked():
    assert not tiny_config().train.spectral_loss.enabled
    with pytest.raises(ConfigError, match="spectral_loss.every"):
        tiny_config(spectral_loss={"weight": 1.0, "every": 0})
    with pytest.raises(ConfigError, match="unknown field 'wieght'"):
        tiny_config(spectral_loss={"wieght": 1.0})
    with pytest.raises(ConfigError, match="spectral_loss.mel_weight"):
        tiny_config(spectral_loss={"mel_weight": -1.0})


def test_init_from_starts_a_new_run_from_any_loadable_weights(tmp_path, train_clips):
    from nvidia_layout import save_nvidia_pickle
    from waveglow.commands.train import main as train_main

    source = Trainer(tiny_config(iterations=3, ema_decay=0.5), train_clips, tmp_path / "source", show_progress=False)
    source.fit()
    expected = WaveGlow.from_pretrained(tmp_path / "source" / "final")  # the average, weight norm folded
    save_nvidia_pickle(expected, tmp_path / "nvidia.pt")
    mel, z = torch.randn(1, 80, 5), torch.randn(1, 8, 5 * 256 // 8)
    for name, path in (("run", tmp_path / "source"), ("nvidia", tmp_path / "nvidia.pt")):
        trainer = Trainer(tiny_config(), train_clips, tmp_path / name, show_progress=False)
        loaded = trainer.initialize_from(path)
        assert loaded.kind == ("training" if name == "run" else "nvidia")
        assert nn_weight_norm_kept(trainer.model)
        torch.testing.assert_close(trainer.model.eval().infer(mel, z=z), expected.infer(mel, z=z),
                                   atol=1e-5, rtol=1e-5)
        assert json.loads((tmp_path / name / "init_from.json").read_text())["source"] == str(path)
    # through the command: a new run that trains on from those weights
    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(tiny_config(iterations=2).to_dict()))
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert train_main(["--config", str(config_path), "--data", str(train_clips), "--out", str(tmp_path / "cli"),
                           "--init-from", str(tmp_path / "nvidia.pt"), "--no-progress"]) == 0
    assert "initialised from" in out.getvalue()
    assert (tmp_path / "cli" / "checkpoints" / "ckpt_2.pt").is_file()


def nn_weight_norm_kept(model: WaveGlow) -> bool:
    return all(torch.nn.utils.parametrize.is_parametrized(conv, "weight")
               for coupling in model.couplings for conv in coupling.net.weight_normed_convs())


def test_init_from_refuses_other_shapes_and_a_resumed_run(tmp_path, train_clips, capsys):
    from waveglow.commands.train import main as train_main
    from waveglow.common.errors import ConfigError

    other = tiny_config().to_dict()
    other["model"]["WN_config"]["n_channels"] = 8
    WaveGlow(TrainingConfig.from_dict(other).model).save_pretrained(tmp_path / "other")
    trainer = Trainer(tiny_config(), train_clips, tmp_path / "run", show_progress=False)
    with pytest.raises(ConfigError, match=r"n_channels 8 \(config: 16\)"):
        trainer.initialize_from(tmp_path / "other")
    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(tiny_config(iterations=2).to_dict()))
    args = ["--config", str(config_path), "--data", str(train_clips), "--no-progress"]
    assert train_main([*args, "--out", str(tmp_path / "cli"), "--init-from", str(tmp_path / "other")]) != 0
    assert "n_channels 8 (config: 16)" in capsys.readouterr().err
    with contextlib.redirect_stdout(io.StringIO()):
        assert train_main([*args, "--out", str(tmp_path / "done")]) == 0
    assert train_main([*args, "--out", str(tmp_path / "done"), "--resume", "--init-from",
                       str(tmp_path / "other")]) != 0
    assert "--init-from starts a new run" in capsys.readouterr().err


def test_post_filter_starts_as_the_identity_shapes_only_infer_and_round_trips(tmp_path):
    from waveglow.vocoder.checkpoint import infer_config, ours_to_nvidia

    data = tiny_config().to_dict()["model"]
    data.update(post_filter_layers=3, post_filter_channels=8)
    config = TrainingConfig.from_dict({**tiny_config().to_dict(), "model": data}).model
    torch.manual_seed(0)
    model = WaveGlow(config).eval()
    plain = WaveGlow(tiny_config().model).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("post_filter.")})
    mel, z = torch.randn(1, 80, 5), torch.randn(1, 8, 5 * 256 // 8)
    audio = torch.randn(1, 5 * 256)
    torch.testing.assert_close(model.infer(mel, z=z), plain.infer(mel, z=z), rtol=0, atol=0)  # identity at start
    for p in model.post_filter.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    flow_audio = plain.infer(mel, z=z)
    torch.testing.assert_close(model.infer(mel, z=z), model.post_filter(flow_audio))
    assert not torch.allclose(model.infer(mel, z=z), flow_audio, atol=1e-3)
    z_forward, logdet = model(audio, torch.randn(1, 80, 6))  # the likelihood is the flow's alone
    assert z_forward.shape == (1, 8, 5 * 256 // 8)
    model.save_pretrained(tmp_path / "export")
    loaded = WaveGlow.from_pretrained(tmp_path / "export")
    assert loaded.config == config
    torch.testing.assert_close(loaded.infer(mel, z=z), model.infer(mel, z=z), rtol=0, atol=0)
    inferred = infer_config(ours_to_nvidia(model.state_dict()), {}, "x")
    assert (inferred.post_filter_layers, inferred.post_filter_channels) == (3, 8)


def test_adversarial_steps_train_both_sides_and_resume_with_the_discriminators(tmp_path, train_clips):
    from waveglow.common.errors import ConfigError
    from waveglow.training.adversarial import Discriminators, discriminator_loss

    with pytest.raises(ConfigError, match="needs 'spectral_loss.weight'"):
        tiny_config(adversarial={"weight": 0.1})
    spectral = {"weight": 1.0, "every": 1}
    adversarial = Trainer(tiny_config(spectral_loss=spectral, adversarial={"weight": 0.5}, iterations=2,
                                      checkpoint_every=2), train_clips, tmp_path / "gan", show_progress=False)
    plain = Trainer(tiny_config(spectral_loss=spectral), train_clips, tmp_path / "plain", show_progress=False)
    mel, audio = _batch(adversarial)
    before = {k: v.clone() for k, v in adversarial.discriminators.state_dict().items()}
    grads = []
    stats = []
    for trainer in (adversarial, plain):
        torch.manual_seed(3)
        stats.append(trainer.train_step(mel, audio))
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters()]))
    assert stats[0].generator_adversarial > 0 and math.isfinite(stats[0].discriminator_loss)
    assert stats[1].generator_adversarial is None and stats[1].discriminator_loss is None
    assert stats[0].loss == pytest.approx(stats[1].loss, rel=1e-6)  # same weights, same likelihood
    assert not torch.allclose(grads[0], grads[1])  # the adversarial term reaches the flow
    assert not state_equal(before, adversarial.discriminators.state_dict())  # and the discriminators learn
    # a few discriminator steps on fixed samples lower their loss
    discriminators = Discriminators()
    optimizer = torch.optim.AdamW(discriminators.parameters(), lr=1e-3)
    fake = torch.randn_like(audio) * 0.1
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = discriminator_loss(discriminators(audio), discriminators(fake))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    adversarial.fit()
    resumed = Trainer(adversarial.config, train_clips, tmp_path / "gan", show_progress=False)
    resumed.resume()
    assert state_equal(resumed.discriminators.state_dict(), adversarial.discriminators.state_dict())


def test_no_eval_skips_the_held_out_set(tmp_path):
    """`train --no-eval` on data with held-out clips: no eval record, training and checkpoints as usual."""
    from waveglow.commands.train import main as train_main

    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(tiny_config(iterations=2, eval_every=1).to_dict()))
    for flags, evals in (([], True), (["--no-eval"], False)):
        out = tmp_path / f"run{len(flags)}"
        with contextlib.redirect_stdout(io.StringIO()):
            assert train_main(["--config", str(config_path), "--data", str(FIXTURE_DIR), "--out", str(out),
                               "--no-progress", *flags]) == 0
        kinds = {json.loads(line)["kind"] for line in (out / "metrics.jsonl").read_text().splitlines()}
        assert ("eval" in kinds) == evals and "train" in kinds
        assert (out / "checkpoints" / "ckpt_2.pt").is_file()


def test_init_from_may_add_a_post_filter_that_starts_as_the_identity(tmp_path, train_clips):
    source = WaveGlow(tiny_config().model)
    torch.manual_seed(1)
    for p in source.parameters():
        p.data.add_(0.02 * torch.randn_like(p))
    source.save_pretrained(tmp_path / "plain")
    data = tiny_config().to_dict()
    data["model"].update(post_filter_layers=2, post_filter_channels=4)
    trainer = Trainer(TrainingConfig.from_dict(data), train_clips, tmp_path / "run", show_progress=False)
    trainer.initialize_from(tmp_path / "plain")
    mel, z = torch.randn(1, 80, 5), torch.randn(1, 8, 5 * 256 // 8)
    torch.testing.assert_close(trainer.model.eval().infer(mel, z=z), source.eval().infer(mel, z=z),
                               atol=1e-5, rtol=1e-5)


def test_loss_flags_override_the_spectral_loss_fields():
    import argparse

    from waveglow.commands import train as train_command

    args = argparse.Namespace(spectral_loss=None, mel_loss=2.0, periodicity_loss=None, spectral_every=3,
                              adversarial=None)
    spectral = train_command._loss_overrides(tiny_config(), args).train.spectral_loss
    assert (spectral.weight, spectral.mel_weight, spectral.every) == (0.0, 2.0, 3) and spectral.enabled
    unchanged = argparse.Namespace(spectral_loss=None, mel_loss=None, periodicity_loss=None, spectral_every=None,
                                   adversarial=None)
    assert train_command._loss_overrides(tiny_config(), unchanged) == tiny_config()
    periodic = argparse.Namespace(**{**vars(unchanged), "periodicity_loss": 4.0})
    with pytest.raises(ConfigError, match="excitation_channels"):  # the tiny model has no excitation to read F0 from
        train_command._loss_overrides(tiny_config(), periodic)
