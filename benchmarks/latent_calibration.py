"""Is a trained WaveGlow's output level a bug or under-fitting? Its latents on held-out recordings, and its samples.

    python benchmarks/latent_calibration.py --checkpoint RUN --data ljspeech-sample [--clips 3]
    python benchmarks/latent_calibration.py --checkpoint RUN --data ljspeech-sample --quick   # 1 clip, first 1 s

Per held-out clip (the model's own mel of the recording):
  z RMS            root mean square of the forward latent z = f(audio | mel), overall and over the grouped steps
                   of the quietest 20 % / loudest 40 % of audio energy (a calibrated model gives ~1 everywhere)
  inverse error    max |infer(mel, z) - audio|: the sampling path is the exact inverse of the training path
  loud-frame level mean energy (dB) of the loudest 40 % of 256-sample frames (chosen on the recording) for the
                   recording and for audio synthesised from: i.i.d. latents at sigma 1.0, the recording's own
                   latent with its steps shuffled in time (same values, context broken) at sigma 1.0, and
                   i.i.d. latents at sigma 0.666 (the default)
If z is calibrated and inverts exactly but fresh latents come out quieter, the level gap is what the model has not
learnt about the context of its latents (under-fitting), not a scaling bug in `infer`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def loud_frame_db(audio: torch.Tensor, loud: torch.Tensor, hop: int) -> float:
    energy = audio.reshape(-1, hop).pow(2).mean(1)
    return 10 * torch.log10(energy[loud].mean()).item()


def main(argv: list[str] | None = None) -> int:
    from waveglow.commands.evaluate import held_out_utterances
    from waveglow.vocoder.loading import load_for_scoring
    from waveglow.training.nll import HeldOutSet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="training run, checkpoint or exported model")
    parser.add_argument("--data", required=True, help="LJSpeech-layout directory (held-out clips are used)")
    parser.add_argument("--clips", type=int, default=None, help="held-out clips (default 3; --quick 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds): 1 clip, its first second only")
    args = parser.parse_args(argv)
    if args.clips is None:
        args.clips = 1 if args.quick else 3
    torch.set_num_threads(args.threads)

    loaded = load_for_scoring(args.checkpoint)
    model = loaded.model.float().eval()
    hop, group = model.config.hop_length, model.config.n_group
    held = HeldOutSet.load(held_out_utterances(args.data, args.clips), loaded.mel_spectrogram())
    print(f"{loaded.source} (iteration {loaded.iteration})\n")
    print("| clip | z RMS | quiet / loud steps | inverse error | loud frames dB: recording | i.i.d. s=1 "
          "| shuffled s=1 | i.i.d. s=0.666 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for item in held.items:
        n = item.audio.shape[0] // hop * hop
        if args.quick:
            n = min(n, model.config.sampling_rate // hop * hop)
        audio, mel = item.audio[:n], item.mel[:, : n // hop].unsqueeze(0)
        with torch.no_grad():
            z, _ = model(audio.unsqueeze(0), mel)
            restored = model.infer(mel, sigma=1.0, z=z)[0]
            order = torch.randperm(z.shape[-1], generator=torch.Generator().manual_seed(0))
            shuffled = model.infer(mel, sigma=1.0, z=z[..., order])[0]
            iid = model.infer(mel, sigma=1.0, generator=torch.Generator().manual_seed(0))[0]
            default = model.infer(mel, sigma=0.666, generator=torch.Generator().manual_seed(0))[0]
        step_energy = audio.reshape(-1, group).pow(2).mean(1)
        step_rms = z[0].pow(2).mean(0)
        quiet, loud_steps = step_energy < step_energy.quantile(0.2), step_energy > step_energy.quantile(0.6)
        frame_energy = audio.reshape(-1, hop).pow(2).mean(1)
        loud = frame_energy > frame_energy.quantile(0.6)
        print(f"| {item.utt_id} | {z.pow(2).mean().sqrt():.3f} | {step_rms[quiet].mean().sqrt():.3f} / "
              f"{step_rms[loud_steps].mean().sqrt():.3f} | {(restored - audio).abs().max():.1e} | "
              f"{loud_frame_db(audio, loud, hop):.1f} | {loud_frame_db(iid, loud, hop):.1f} | "
              f"{loud_frame_db(shuffled, loud, hop):.1f} | {loud_frame_db(default, loud, hop):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
