"""Vocoding mel files to WAV files: one job over many inputs, where one bad file never stops the others.

Per file: load (safely, `mel_files`) -> convert to the vocoder's mel (`waveglow.audio.mel_adapter`, domain warnings kept as
notes) -> vocode with a per-file latent -> optional denoise -> PCM16 with a clip count -> atomic write to
OUT_DIR/<stem>.wav. Errors become `FileResult.error` lines naming the file.

Seeding: with a seed S, each file's latent comes from its own `torch.Generator().manual_seed(S)`, so its wav is
`model.infer(mel, sigma, generator=torch.Generator().manual_seed(S))` whatever the batch size, device or order.
Batching: up to batch_size mels with the same number of frames run together. Mels of different lengths are never
zero-padded into one batch: padding would change the last receptive-field's worth of samples of the shorter ones.
"""
from __future__ import annotations

import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from waveglow.audio.mel_adapter import MelDomainWarning, MelFormatError, convert_mel, vocoder_filterbank
from waveglow.audio.mel_files import MelFileError, load_mel_file
from waveglow.audio.wav_writer import to_pcm16, write_wav_atomic
from waveglow.common.errors import DataError
from waveglow.common.safe_loading import FILE_ERRORS, one_line
from waveglow.vocoder.config import DEFAULT_SIGMA
from waveglow.vocoder.inference import Vocoder, VocodeSetupError, make_generator


@dataclass
class VocodeOptions:
    sigma: float = DEFAULT_SIGMA
    denoise: float = 0.0
    seed: int | None = None
    mel_format: object = "auto"  # a waveglow.audio.mel_adapter format name or MelConvention
    layout: str = "auto"
    format_params: dict | None = None
    format_stats: dict | None = None
    batch_size: int = 1
    chunk_frames: int | None = None
    overlap_frames: int | None = None
    overwrite: bool = False


@dataclass
class PreparedMel:
    source: Path
    output: Path
    mel: torch.Tensor  # [n_mel, F] vocoder mel, float32
    notes: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    source: Path
    output: Path | None = None
    error: str | None = None  # one line: "PATH: problem"
    audio_seconds: float = 0.0
    clipped: int = 0
    notes: list[str] = field(default_factory=list)


class MelToWavJob:
    """Vocode mel files into `out_dir` with one Vocoder. `run(files)` returns a FileResult per file."""

    def __init__(self, vocoder: Vocoder, out_dir: Path, options: VocodeOptions):
        self.vocoder, self.out_dir, self.options = vocoder, Path(out_dir), options
        self._claimed: dict[Path, Path] = {}  # output -> the source writing it (first readable one wins)
        self.compute_seconds = 0.0

    # ---- stage 1: read and convert ---------------------------------------------------------------------------------
    def prepare(self, source: Path) -> PreparedMel:
        """Load and convert one file; raises DataError (MelFileError / MelFormatError) naming it."""

        output = self.out_dir / f"{source.stem}.wav"
        if output in self._claimed:
            raise MelFileError(f"{source}: would overwrite {output}, already written from {self._claimed[output]} "
                               f"(same file name)")
        if output.exists() and not self.options.overwrite:
            raise MelFileError(f"{source}: {output} exists (use --overwrite to replace it)")
        raw = load_mel_file(source)
        c = self.vocoder.config
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MelDomainWarning)
            try:
                converted = convert_mel(raw, self.options.mel_format, layout=self.options.layout,
                                        target=vocoder_filterbank(c.n_mel_channels, c.sampling_rate, c.hop_length),
                                        params=self.options.format_params, stats=self.options.format_stats,
                                        what=str(source))
            except MelFormatError as exc:
                raise MelFormatError(f"{source}: {exc}") from None
            except FILE_ERRORS as exc:  # odd shapes or dtypes from a crafted file: this file fails, not the job
                raise MelFileError(one_line(f"{source}: cannot use this mel ({type(exc).__name__}: {exc})")) \
                    from None
        notes = [str(w.message) for w in caught if issubclass(w.category, MelDomainWarning)]
        if converted.detected and converted.convention.name != "nvidia":
            notes.append(f"{source}: read as {converted.convention.describe()}, detected from its value range "
                         f"(pass --mel-format/--mel-config if that is wrong)")
        self._claimed[output] = source  # only a readable mel claims its output name
        return PreparedMel(source, output, torch.from_numpy(converted.mel), notes)

    # ---- stage 2: vocode and write -------------------------------------------------------------------------------
    def vocode(self, batch: list[PreparedMel]) -> list[FileResult]:
        """Vocode mels of equal length together and write each; errors are per file (setup errors propagate)."""
        o, c = self.options, self.vocoder.config
        n_frames = batch[0].mel.shape[1]
        latents = torch.cat([self.vocoder.latent(n_frames, make_generator(o.seed)) for _ in batch])
        started = time.perf_counter()
        try:
            audio = self.vocoder.synthesize(torch.stack([p.mel for p in batch]), latents, o.sigma, o.denoise,
                                            o.chunk_frames, o.overlap_frames)
        except VocodeSetupError:
            raise
        except (RuntimeError, ValueError) as exc:
            hint = " (try --chunk-frames 512 or a smaller --batch-size)" if "out of memory" in str(exc) else ""
            return [FileResult(p.source, error=f"{p.source}: inference failed: {exc}{hint}", notes=p.notes)
                    for p in batch]
        finally:
            self.compute_seconds += time.perf_counter() - started
        results = []
        for prepared, samples in zip(batch, audio.numpy()):
            pcm, clipped = to_pcm16(samples)
            result = FileResult(prepared.source, notes=list(prepared.notes), clipped=clipped,
                                audio_seconds=len(pcm) / c.sampling_rate)
            if clipped:
                result.notes.append(f"{prepared.source}: clipped {clipped} of {len(pcm)} samples to [-1, 1]")
            try:
                result.output = write_wav_atomic(prepared.output, pcm, c.sampling_rate)
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                result.error = one_line(f"{prepared.source}: cannot write {prepared.output} ({reason})")
            results.append(result)
        return results

    # ---- the whole job ---------------------------------------------------------------------------------------------
    def _prepared(self, files: Iterable[Path], failures: list[FileResult]) -> Iterator[PreparedMel]:
        for source in files:
            try:
                yield self.prepare(source)
            except DataError as exc:
                failures.append(FileResult(source, error=one_line(str(exc))))

    def _batches(self, prepared: Iterator[PreparedMel]) -> Iterator[list[PreparedMel]]:
        if self.options.batch_size <= 1:
            for item in prepared:
                yield [item]
            return
        by_length: dict[int, list[PreparedMel]] = defaultdict(list)  # reads all mels first to group them
        for item in prepared:
            by_length[item.mel.shape[1]].append(item)
        for group in by_length.values():
            for i in range(0, len(group), self.options.batch_size):
                yield group[i:i + self.options.batch_size]

    def run(self, files: list[Path], on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
        """Vocode every file; `on_result` sees each FileResult as soon as it is known (for progress/logging)."""
        results: list[FileResult] = []
        failures: list[FileResult] = []

        def report(result: FileResult) -> None:
            results.append(result)
            if on_result:
                on_result(result)

        for batch in self._batches(self._prepared(files, failures)):
            while failures:
                report(failures.pop(0))
            for result in self.vocode(batch):
                report(result)
        while failures:
            report(failures.pop(0))
        return results
