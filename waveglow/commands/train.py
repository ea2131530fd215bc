"""`waveglow train --config CONFIG --data DATA --out RUN_DIR [--resume]`: train a WaveGlow.

Several GPUs or nodes: launch the same command through torchrun, e.g.
    torchrun --nproc_per_node 8 -m waveglow.cli train --config configs/waveglow_ljspeech.json --data DATA --out RUN
(batch_size in the config is per process). SIGINT / SIGTERM: the current step finishes, a checkpoint is written,
and the command exits; `--resume` continues exactly from there.
"""
from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from waveglow.cli import main as cli_main
from waveglow.common.errors import UserError
from waveglow.training import DistributedContext, Trainer, TrainingConfig
from waveglow.vocoder.run_checkpoints import CheckpointStore, load_training_checkpoint


# train fields that never change the numbers a step computes (bookkeeping; checkpointing is bit-identical)
_RESULT_NEUTRAL = {"iterations", "checkpoint_every", "keep_checkpoints", "eval_every", "log_every",
                   "memory_efficient"}


def add_arguments(parser) -> None:
    parser.add_argument("--config", help="training config JSON (model/train/data); optional with --resume")
    parser.add_argument("--data", required=True, help="LJSpeech-layout directory or filelist")
    parser.add_argument("--out", required=True, help="run directory (checkpoints/, tensorboard/, final/)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                        help="continue from RUN_DIR's latest checkpoint (or the given checkpoint file)")
    parser.add_argument("--init-from", metavar="CKPT",
                        help="start a new run from these weights (NVIDIA release / train.py, DeepLearningExamples, "
                             "an export, a run); their shapes must match the config's model")
    parser.add_argument("--spectral-loss", type=float, metavar="W",
                        help="override train.spectral_loss.weight: add W x MR-STFT distance of an inverse-flow "
                             "sample to the likelihood (0: off)")
    parser.add_argument("--mel-loss", type=float, metavar="W",
                        help="override train.spectral_loss.mel_weight: add W x mean |log-mel difference| of the "
                             "inverse-flow sample and the recording (0: off)")
    parser.add_argument("--periodicity-loss", type=float, metavar="W",
                        help="override train.spectral_loss.periodicity_weight: add W x mean |difference| of the "
                             "sample's and the recording's correlation one F0 period back, over voiced frames "
                             "(needs a model with an excitation; 0: off)")
    parser.add_argument("--spectral-every", type=int, metavar="K",
                        help="override train.spectral_loss.every: the spectral term on every K-th step")
    parser.add_argument("--adversarial", type=float, metavar="W",
                        help="override train.adversarial.weight: a GAN term (HiFi-GAN-style discriminators) on the "
                             "spectral steps' samples (0: off)")
    parser.add_argument("--eval-every", type=int, metavar="N", help="override train.eval_every")
    parser.add_argument("--no-eval", action="store_true",
                        help="no held-out evaluation (bits/sample, TensorBoard audio): short runs spend their time "
                             "training")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", help="override train.checkpoint_every")
    parser.add_argument("--keep-checkpoints", type=int, metavar="N", help="override train.keep_checkpoints")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), help="override train.precision")
    parser.add_argument("--memory-efficient", action="store_true", default=None,
                        help="per-flow activation checkpointing (override train.memory_efficient)")
    parser.add_argument("--iterations", type=int, help="override train.iterations (total, not additional)")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size (per process)")
    parser.add_argument("--lr", type=float, metavar="LR",
                        help="override train.lr, the peak learning rate (e.g. 3e-4 to fine-tune from --init-from)")
    parser.add_argument("--ema-decay", type=float, metavar="D",
                        help="override train.ema_decay: keep a moving average of the weights (e.g. 0.999), which "
                             "final/ and inference then use; 0 turns it off")
    parser.add_argument("--micro-batches", type=int,
                        help="override train.micro_batches (gradient accumulation: 1/k of the activation memory)")
    parser.add_argument("--resample", action="store_true", help="resample clips whose rate differs")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")


def _overrides(args) -> dict:
    changes = {}
    if args.precision is not None:
        changes["precision"] = args.precision
    if args.memory_efficient:
        changes["memory_efficient"] = True
    if args.iterations is not None:
        changes["iterations"] = args.iterations
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.lr is not None:
        changes["lr"] = args.lr
    if args.micro_batches is not None:
        changes["micro_batches"] = args.micro_batches
    if args.ema_decay is not None:
        changes["ema_decay"] = args.ema_decay or None
    for name in ("eval_every", "checkpoint_every", "keep_checkpoints"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return changes


def _loss_overrides(config, args):
    flags = (("spectral_loss", "weight"), ("mel_loss", "mel_weight"), ("periodicity_loss", "periodicity_weight"),
             ("spectral_every", "every"))
    spectral = {field: getattr(args, flag) for flag, field in flags if getattr(args, flag) is not None}
    if spectral:
        config = config.replace_train(spectral_loss=dataclasses.replace(config.train.spectral_loss, **spectral))
    if args.adversarial is not None:
        config = config.replace_train(adversarial=dataclasses.replace(config.train.adversarial,
                                                                      weight=args.adversarial))
    return config


def _resolve_config(args, checkpoint_config):
    """The config to train with: --config, else the checkpoint's; overrides applied; differences reported."""

    config = TrainingConfig.from_json(args.config) if args.config else checkpoint_config
    if config is None:
        raise UserError("--config is required for a new run")
    config = _loss_overrides(config.replace_train(**_overrides(args)), args)
    if checkpoint_config is not None:
        if config.model != checkpoint_config.model:
            raise UserError("the model config differs from the checkpoint's; a run cannot change architecture")
        old, new = dataclasses.asdict(checkpoint_config.train), dataclasses.asdict(config.train)
        changed = sorted(k for k in new if new[k] != old[k] and k not in _RESULT_NEUTRAL)
        if config.data != checkpoint_config.data:
            changed.append("data")
        if changed:
            print(f"warning: resuming with changed {', '.join(changed)}: the result will not be bit-identical "
                  "to an uninterrupted run", file=sys.stderr)
    return config


def _install_stop_handlers(trainer) -> None:
    def request_stop(signum, frame):
        trainer.stop_requested = True
        signal.signal(signum, signal.SIG_DFL)  # a second signal stops at once
        print(f"\n{signal.Signals(signum).name}: stopping after this step (checkpoint first)", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)


def run(args) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.init_from is not None and args.resume is not None:  # before any data is read
        raise UserError("--init-from starts a new run; --resume continues one: give one of them")
    out = Path(args.out)
    store = CheckpointStore(out / "checkpoints")
    checkpoint_path, checkpoint_config = None, None
    if args.resume is not None:
        checkpoint_path = store.latest_path() if args.resume == "latest" else Path(args.resume)
        if checkpoint_path is None:
            raise UserError(f"{out}: no checkpoint to resume from")
        payload = load_training_checkpoint(checkpoint_path)
        checkpoint_config = TrainingConfig.from_dict(payload["config"], source=str(checkpoint_path))
        del payload
    elif store.iterations():
        raise UserError(f"{out} already holds checkpoints: use --resume to continue it, or another --out")
    config = _resolve_config(args, checkpoint_config)

    try:
        context = DistributedContext.from_environment(args.device)
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    try:
        trainer = Trainer(config, args.data, out, context, resample=args.resample,
                          show_progress=not args.no_progress, held_out_evaluation=not args.no_eval)
        if args.init_from is not None:
            loaded = trainer.initialize_from(args.init_from)
            if context.is_main:
                print(f"initialised from {loaded.source} ({loaded.kind}"
                      + (f", iteration {loaded.iteration}, {loaded.weights} weights" if loaded.iteration else "")
                      + ")")
        if checkpoint_path is not None:
            trainer.resume(checkpoint_path)
            if context.is_main:
                print(f"resumed from {checkpoint_path} at iteration {trainer.position.iteration}")
        _install_stop_handlers(trainer)
        position = trainer.fit()  # TrainingDiverged: one line and exit 1, from the command line
        if context.is_main:
            done = position.iteration >= config.train.iterations
            print(f"{'finished' if done else 'stopped'} at iteration {position.iteration} "
                  f"({position.elapsed_seconds / 60:.1f} min of training)"
                  + ("" if done else f"; continue with --resume --out {out}"))
        return 0
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    """This command without the `waveglow` front end (e.g. `torchrun -m waveglow.commands.train ...`)."""

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
