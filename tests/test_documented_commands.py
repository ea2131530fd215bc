"""Every command quoted in README.md and docs/ is run in a quick form or listed with the reason it cannot be.

Commands are the lines of fenced code blocks and the inline `code` spans that start with `waveglow `,
`python benchmarks/`, `python scripts/`, `python -m `, `torchrun `, `pytest ` or `make ` (`.venv/bin/python`
counts as `python`). For each one, whether run or listed:
  * its entry point answers --help, and every sub-command and flag it uses exists in that argparse parser (values of
    flags with choices are among them; numbers parse); repository paths in it exist, configs load;
  * QUICK: the listed command lines run in-process (same entry point, every documented flag used, smaller values
    and generated fixtures: a tiny training run, a tiny WaveGlow in NVIDIA's pickled layout standing in for
    NVIDIA's released file), exit 0 and write the outputs they name.
A command in the docs that is in neither table fails `test_every_documented_command_is_run_or_listed`.
"""
from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from quick_runs import ADAM, DIGITS, FESTIVAL_WER, HAVE_FESTIVAL, LATENT, ONNX_BENCH, ONNX_EXPORT, REPO, SHIP_VOICE, \
    TRAIN_STEP, VOICE_AB, have_module, run_script

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PREFIXES = ("waveglow ", "python benchmarks/", "python scripts/", "python -m ", "torchrun ", "pytest ", "make ")
OUTPUT_FLAGS = {"-o", "--out", "--output", "--output-dir", "--out-dir", "--save-best"}
REPO_DIRS = ("configs", "benchmarks", "scripts", "tests", "docs", "data", "tts", "waveglow", "demo")


def extract_commands(text: str) -> list[str]:
    """Commands in fenced (non-Python) code blocks, joined over continuation lines, and in inline code spans."""
    found, prose, block, lang = [], [], None, ""
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)\s*$", line)
        if fence and block is None:
            block, lang = [], fence.group(1)
        elif fence:
            if lang != "python":
                current = None
                for raw in block:
                    code = re.sub(r"\s+#\s.*$", "", raw).rstrip()
                    if current is not None and code.strip() and (code[:1].isspace() or current.endswith("\\")):
                        current = found[-1] = current.rstrip("\\ ") + " " + code.strip()
                    else:
                        current = code.strip()
                        found.append(current)
            block = None
            line = ""
        elif block is not None:
            block.append(line)
            continue
        prose.append(line)
    for paragraph in "\n".join(prose).split("\n\n"):
        found += re.findall(r"`([^`]+)`", paragraph)
    commands = []
    for command in found:
        command = re.sub(r"\s*\|\s*", "|", " ".join(command.split()))
        command = re.sub(r"^\.venv/bin/(python|waveglow) ", r"\1 ", command)
        if command.startswith(PREFIXES) and command not in commands:
            commands.append(command)
    return commands


def documented_commands() -> list[str]:
    commands = []
    for path in DOCS:
        commands += [c for c in extract_commands(path.read_text()) if c not in commands]
    return commands


class Q:
    """The quick form of a documented command: command lines ({name}: Workspace fixtures) and what they need."""

    def __init__(self, *lines: str, needs: tuple[str, ...] = ()):
        self.lines, self.needs = lines, needs


NEEDS = {
    "festival": (lambda: HAVE_FESTIVAL, "festival is not installed (apt-get install festival festvox-us-slt-hts)"),
    "pocketsphinx": (lambda: have_module("pocketsphinx"), "pocketsphinx is not installed (the [eval] extra)"),
    "sklearn": (lambda: have_module("sklearn"), "scikit-learn is not installed (the [glow] extra)"),
    "fashion": (lambda: Path("/usr/share/datasets/fashion-mnist").is_dir(),
                "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"),
}
TRAIN = "waveglow train --config {tinycfg} --data {lj} --out {tmp}/run --threads 1 --no-progress"  # = {run}
TTS = ("waveglow tts \"Hello there.\" -o {tmp}/hello_taco.wav --frontend tacotron2 --tacotron2 {taco} "
       "--checkpoint {nvidia} --precision bf16 --seed 0")
VOCODE = ("waveglow vocode {mels} @{tmp}/list.txt {tmp}/x.npy -o {tmp}/wavs_all --checkpoint {nvidia} --sigma 0.666 "
          "--denoise 0.02 --seed 1 --precision bf16 --mel-format nvidia --chunk-frames 8 --no-progress")
VOCODE_GRIFFIN_LIM = ("waveglow vocode {mels} -o {tmp}/wavs_gl --checkpoint griffin-lim --griffin-lim-iters 2 "
                      "--no-progress")
CONVERT = "waveglow convert {nvidia} {tmp}/voices/nvidia --dtype fp16"
EVALUATE = ("waveglow evaluate --checkpoint {run} --data {lj} --out {tmp}/eval.json --max-utterances 1 --no-wer "
            "--griffin-lim-iters 2")
EVALUATE_RAW = ("waveglow evaluate --checkpoint {run}/checkpoints/ckpt_2.pt --raw-weights --data {lj} "
                "--out {tmp}/eval_raw.json --max-utterances 1 --no-wer --griffin-lim-iters 2")
TRAIN_BF16 = ("waveglow train --config {tinycfg} --precision bf16 --ema-decay 0.999 --data {lj} --out {tmp}/run_bf16 "
              "--threads 1 --no-progress")
GLOW_EXPLORE = ["waveglow glow sample -c {digits} --n 4 --nrow 2 -o {tmp}/g_sample.png",
                "waveglow glow interpolate -c {digits} --pairs 0:1 --steps 3 -o {tmp}/g_interp.png",
                "waveglow glow manifold -c {digits} --grid 2 -o {tmp}/g_manifold.png",
                "waveglow glow manipulate -c {digits} --images 0 --alphas 3 --max-subset 16 -o {tmp}/g_manip.png"]
DEMO = "serves the browser demo until interrupted; tests/test_demo.py starts it and drives the page"
SUITE = "runs the test suite itself (CI runs `make test`)"

QUICK: dict[str, Q] = {
    'waveglow tts "Hello there." -o hello.wav --checkpoint waveglow_256channels_universal_v5.pt':
        Q("waveglow tts \"Hello there.\" -o {tmp}/hello.wav --checkpoint {nvidia} --seed 0", needs=("festival",)),
    'waveglow tts "Hello there." -o hello.wav --frontend tacotron2 --tacotron2 tacotron2_statedict.pt --checkpoint '
    'waveglow_256channels_universal_v5.pt [--precision fp32]': Q(TTS),
    "waveglow vocode mels/ -o wavs/ --checkpoint waveglow_256channels_universal_v5.pt":
        Q("waveglow vocode {mels} -o {tmp}/wavs --checkpoint {nvidia} --no-progress"),
    "waveglow convert waveglow_256channels_universal_v5.pt voices/nvidia --dtype fp16": Q(CONVERT),
    'waveglow tts "Hello there." -o hello.wav [--frontend festival|tacotron2 --tacotron2 CKPT] [--checkpoint CKPT] '
    '[--precision auto|fp32|bf16|fp16]': Q(TTS),
    "waveglow vocode mels/ @list.txt x.npy -o wavs/ [--checkpoint CKPT|griffin-lim] [--sigma 0.666] [--denoise 0.02] "
    "[--seed 1] [--precision auto|fp32|bf16|fp16] [--chunk-frames 2048] "
    "[--mel-format auto|nvidia|hifigan|coqui|espnet|db] [--griffin-lim-iters 60]":
        Q(VOCODE, VOCODE_GRIFFIN_LIM),
    "waveglow vocode mels/ -o wavs/":
        Q("waveglow vocode {mels} -o {tmp}/wavs_default --griffin-lim-iters 2 --no-progress"),
    "waveglow info CKPT": Q("waveglow info {nvidia}"),
    "waveglow export CKPT --onnx OUT.onnx [--opset 17] [--tolerance 1e-4]": Q(ONNX_EXPORT),
    "waveglow vocode mels/ -o wavs/ --checkpoint OUT.onnx --runtime onnx [--seed 1]":
        Q("waveglow vocode {mels} -o {tmp}/wavs_onnx --checkpoint {onnx} --runtime onnx --seed 1 --no-progress"),
    "python benchmarks/onnx_vs_torch.py": Q(ONNX_BENCH),
    "waveglow convert IN OUT_DIR [--dtype fp16]": Q(CONVERT),
    "waveglow convert": Q(CONVERT),
    "waveglow convert --dtype fp16": Q(CONVERT),
    "waveglow train --config configs/waveglow_small.json --data LJSpeech-1.1 --out runs/small [--resume]":
        Q(TRAIN, "waveglow train --config {tinycfg} --data {lj} --out {runcopy_a} --resume --iterations 3 "
                 "--threads 1 --no-progress"),
    "waveglow train": Q(TRAIN),
    "waveglow train --resume --out RUN --data ljspeech-sample":
        Q("waveglow train --resume --out {runcopy_b} --data {lj} --iterations 3 --threads 1 --no-progress"),
    "waveglow train --config configs/waveglow_small.json --precision bf16 --ema-decay 0.999 --data ljspeech-sample "
    "--out RUN --threads 2": Q(TRAIN_BF16),
    "waveglow train --ema-decay 0.999": Q(TRAIN_BF16),
    "waveglow eval-nll --checkpoint runs/small --data LJSpeech-1.1":
        Q("waveglow eval-nll --checkpoint {run} --data {lj} --max-seconds 1"),
    "waveglow evaluate --checkpoint RUN --data ljspeech-sample": Q(EVALUATE),
    "waveglow evaluate": Q(EVALUATE),
    "waveglow evaluate --checkpoint RUN/checkpoints/ckpt_20000.pt [--raw-weights] --data ljspeech-sample":
        Q(EVALUATE_RAW),
    "waveglow evaluate [--raw-weights]": Q(EVALUATE_RAW),
    "waveglow glow train|eval|sample|interpolate|manifold|manipulate ...":
        Q("waveglow glow train --data digits -L 2 -K 1 --hidden 8 --steps 2 --batch-size 16 --max-train 64 "
          "--max-test 16 --log-every 1 --out {tmp}/digits_glow", "waveglow glow eval -c {digits} --max-test 16",
          *GLOW_EXPLORE, needs=("sklearn",)),
    "waveglow glow sample|interpolate|manifold|manipulate -c CHECKPOINT ...": Q(*GLOW_EXPLORE, needs=("sklearn",)),
    "waveglow glow train --data fashion-mnist -L 2 -K 4 --hidden 64 --conditional --class-weight 0.01 --steps 3000":
        Q("waveglow glow train --data fashion-mnist -L 2 -K 1 --hidden 8 --conditional --class-weight 0.01 "
          "--steps 2 --batch-size 8 --max-train 64 --max-test 16 --log-every 1 --out {tmp}/fashion_glow",
          needs=("fashion",)),
    "waveglow glow eval --judge-samples 100":
        Q("waveglow glow eval -c {fashion} --judge-samples 2 --judge-steps 2 --max-test 16", needs=("fashion",)),
    "python benchmarks/latent_calibration.py --checkpoint RUN --data ljspeech-sample":
        Q(LATENT),
    "python scripts/ship_voice.py --run RUN --data ljspeech-sample":
        Q(SHIP_VOICE),
    "python benchmarks/train_throughput.py --configs small --threads 2 --adam-only":
        Q(ADAM),
    "python benchmarks/train_throughput.py --configs small --batch 4 --segment 12800 --precisions fp32 bf16 --steps 4 "
    "--threads 2": Q(TRAIN_STEP),
    "python benchmarks/train_throughput.py --configs official --flows 12 --batch 24 --segment 16000 --steps 1 "
    "--memory-efficient-only": Q("python benchmarks/train_throughput.py --configs official --flows 2 --batch 1 "
                                 "--segment 2048 --steps 1 --memory-efficient-only --threads 1 --quick"),
    "python -m tts.festival_corpus --transcripts ljspeech-sample/all_transcripts.csv --out festival-lj --count 150 "
    "--skip-recorded ljspeech-sample/wavs": Q("python -m tts.festival_corpus --transcripts {transcripts} "
                                              "--out {tmp}/festival-lj --count 1 --skip-recorded {lj}/wavs",
                                              needs=("festival",)),
    "python benchmarks/festival_wer.py --checkpoint RUN_A RUN_B --ids LJ050-0029 … LJ050-0058":
        Q(FESTIVAL_WER, needs=("festival", "pocketsphinx")),
    "python benchmarks/festival_wer.py": Q(FESTIVAL_WER, needs=("festival", "pocketsphinx")),
    "python benchmarks/vocoder_speed.py --durations 10 --repeats 2 --golden":
        Q("python benchmarks/vocoder_speed.py --durations 0.05 --repeats 2 --golden --quick --no-memory --threads 1"),
    'python benchmarks/vocoder_speed.py --durations 60 --only "ours bf16" "ours bf16 untiled" "ours bf16 chunked"':
        Q('python benchmarks/vocoder_speed.py --durations 0.2 --only "ours bf16" "ours bf16 untiled" '
          '"ours bf16 chunked" --quick --no-memory --threads 1'),
    "python benchmarks/vocoder_speed.py --durations 10":
        Q("python benchmarks/vocoder_speed.py --durations 0.05 --quick --threads 1"),
    "python benchmarks/voice_ab.py --runs RUN... --data ljspeech-sample --clips 8 --cpu-log cpu.log": Q(VOICE_AB),
    "python benchmarks/voice_ab.py --runs RUN... --data ljspeech-sample --clips 8 --cpu-log cpu.log "
    "--envelope-iterations 8":
        Q(VOICE_AB.replace("--out", "--envelope-iterations 2 --out")),
    "python scripts/ship_voice.py --run RUN --data ljspeech-sample --out voices/in_training --max-utterances 8 "
    "--envelope-iterations 8": Q(SHIP_VOICE + " --max-utterances 1 --envelope-iterations 2"),
    "waveglow train --config configs/waveglow_small.json --init-from voices/in_training --data ljspeech-sample "
    "--out RUN --precision bf16 --spectral-loss 1 --lr 3e-4":
        Q("waveglow train --config {tinycfg} --init-from {run} --data {lj} --out {tmp}/run_init --precision bf16 "
          "--spectral-loss 1 --lr 3e-4 --threads 1 --no-progress --no-eval"),
    "python scripts/ship_voice.py --run RUN --data ljspeech-sample --out voices/in_training": Q(SHIP_VOICE),
    "python scripts/device_voice.py pack --data ljspeech-sample":
        Q("python scripts/device_voice.py pack --data {lj} --out {tmp}/device_set --quick"),
    "python scripts/device_voice.py command": Q("python scripts/device_voice.py command --quick"),
    "waveglow tts -i phrases.txt -o out/":
        Q("waveglow tts -i {phrases} -o {tmp}/phrases_out --checkpoint griffin-lim --griffin-lim-iters 2",
          needs=("festival",)),
    "python benchmarks/glow_digits.py": Q(DIGITS, needs=("sklearn",)),
    "python benchmarks/glow_digits.py --save-best runs/digits_best": Q(DIGITS, needs=("sklearn",)),
}
LISTED: dict[str, str] = {
    "make demo": "installs the set-up, then serves the browser demo until interrupted",
    "make test": SUITE,
    "waveglow demo": DEMO,
    "waveglow demo --checkpoint waveglow_256channels_universal_v5.pt": DEMO,
    "waveglow demo --tacotron2 tacotron2_statedict.pt --checkpoint waveglow_256channels_universal_v5.pt": DEMO,
    "waveglow demo [--checkpoint CKPT|griffin-lim] [--tacotron2 CKPT] [--precision auto|fp32|bf16] [--port 7860]": DEMO,
    "torchrun --nproc_per_node 8 -m waveglow.cli train --config configs/waveglow_ljspeech.json --data ... --out ...":
        "8 DDP processes of the official config; the train command's flags and the config are checked here",
    "python -m pytest -q tests/test_waveglow_golden.py": SUITE,
    "python -m pytest -q --runslow": SUITE,
    "pytest tests/test_waveglow_golden.py": SUITE,
    "pytest tests/test_audio.py": SUITE,
    "pytest tests/test_tacotron2.py": SUITE,
    "pytest tests/test_text.py": SUITE,
}
COMMANDS = documented_commands()


# ---- entry points and their parsers ------------------------------------------------------------------------------
def tokens(command: str) -> list[str]:
    """Shell words of a documented command, optional [brackets] dropped, an ellipsis as `...`."""
    return shlex.split(command.replace("[", " ").replace("]", " ").replace("…", "..."))


def entry_point(words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """(what to call with --help, the remaining words) of a python-side command."""
    if words[0] == "torchrun":
        i = words.index("-m")
        assert words[i + 1] == "waveglow.cli", words
        return ("waveglow",), words[i + 2:]
    if words[0] == "waveglow":
        return ("waveglow",), words[1:]
    if words[:2] == ["python", "-m"]:
        return ("module", words[2]), words[3:]
    assert words[0] == "python" and words[1].endswith(".py"), words
    return ("script", words[1]), words[2:]


def top_parser(entry: tuple[str, ...], monkeypatch, capsys) -> argparse.ArgumentParser:
    """Run the entry point's --help (it must exit 0 with a usage) and return the parser it built."""
    import importlib

    seen = []
    original = argparse.ArgumentParser.parse_args

    def recording(self, args=None, namespace=None):
        seen.append(self)
        return original(self, args, namespace)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", recording)
    with pytest.raises(SystemExit) as exit_info:
        if entry == ("waveglow",):
            from waveglow.cli import main

            main(["--help"])
        elif entry[0] == "module":
            importlib.import_module(entry[1]).main(["--help"])
        else:
            run_script(entry[1], ["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out
    if entry == ("waveglow",):  # its --help loads no command's arguments: check against all of them
        from waveglow.cli import build_parser

        return build_parser(load_all=True)
    return seen[0]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


def is_flag(word: str) -> bool:
    return re.match(r"^--?[A-Za-z]", word) is not None


def leaves(parser, words, path=()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser, list[str]]]:
    """(sub-command path, its parser, its words) for every alternative `a|b` of the sub-command words."""
    choices = subparsers(parser)
    if not choices:
        return [(path, parser, words)]
    assert words and not is_flag(words[0]), f"{' '.join(path) or 'command'}: no sub-command in {words}"
    found = []
    for name in words[0].split("|"):
        assert name in choices, f"unknown sub-command {name!r} of {' '.join(path) or 'the command'}"
        found += leaves(choices[name], words[1:], path + (name,))
    return found


def placeholder(value: str) -> bool:
    return value == "..." or re.fullmatch(r"[A-Z][A-Z0-9_]*", value) is not None or value.startswith("{")


def check_flags(parser: argparse.ArgumentParser, words: list[str], where: str) -> set[str]:
    """Every flag is the parser's, values of flags with choices are allowed ones, numbers parse; returns the dests."""
    dests = set()
    for i, word in enumerate(words):
        if not is_flag(word):
            continue
        flag = word.split("=")[0]
        action = parser._option_string_actions.get(flag)
        assert action is not None, f"{where}: {flag} is not an option of {parser.prog}"
        dests.add(action.dest)
        value = word.split("=", 1)[1] if "=" in word else (words[i + 1] if i + 1 < len(words) else None)
        if action.nargs == 0 or value is None or is_flag(value) or placeholder(value):
            continue
        for alternative in value.split("|"):
            if action.choices is not None:
                assert alternative in action.choices, f"{where}: {flag} {alternative} is not one of {action.choices}"
            elif action.type in (int, float):
                action.type(alternative)
    return dests


def check_paths(words: list[str], where: str) -> None:
    from waveglow.training import TrainingConfig

    for word in words:
        if word.split("/")[0] in REPO_DIRS and "/" in word:
            assert (REPO / word).exists(), f"{where}: {word} does not exist"
            if word.startswith("configs/") and word.endswith(".json"):
                TrainingConfig.from_json(REPO / word)


def parsed(command: str, monkeypatch, capsys) -> dict[tuple[str, ...], set[str]]:
    """Checks the command's entry point, sub-commands, flags and paths; returns {entry + sub-commands: dests}."""
    words = tokens(command)
    check_paths(words, command)
    entry, rest = entry_point(words)
    result = {}
    for path, parser, leaf_words in leaves(top_parser(entry, monkeypatch, capsys), rest):
        result[entry + path] = check_flags(parser, leaf_words, command)
    return result


def param_id(command: str) -> str:
    return re.sub(r"[^\w./=-]+", "_", command)[:70]


# ---- tests -------------------------------------------------------------------------------------------------------
def test_the_docs_quote_commands():
    assert len(COMMANDS) >= 40 and "python benchmarks/glow_digits.py" in COMMANDS  # the extraction works


def test_extraction_joins_continuation_lines_and_finds_inline_commands():
    text = ("x\n```bash\nwaveglow tts \"a\" -o a.wav [--x X]   # comment\n      [--y Y]\nmake test\n```\n"
            "Run `python -m tts.festival_corpus\n--count 2` or `waveglow glow sample | eval -c C`.\n"
            "```python\nwaveglow = 1\n```\n")
    assert extract_commands(text) == ['waveglow tts "a" -o a.wav [--x X] [--y Y]', "make test",
                                      "python -m tts.festival_corpus --count 2", "waveglow glow sample|eval -c C"]


def test_every_documented_command_is_run_or_listed():
    assert not set(QUICK) & set(LISTED)
    unknown = [c for c in COMMANDS if c not in QUICK and c not in LISTED]
    stale = [c for c in [*QUICK, *LISTED] if c not in COMMANDS]
    assert not unknown, "documented commands neither run in a quick form nor listed with a reason:\n" + \
        "\n".join(unknown)
    assert not stale, "entries for commands no longer in the docs:\n" + "\n".join(stale)


def test_the_flag_check_catches_a_renamed_flag_and_a_moved_script(monkeypatch, capsys):
    with pytest.raises(AssertionError, match="--sigmas is not an option"):
        parsed("waveglow vocode mels/ -o wavs/ --sigmas 0.6", monkeypatch, capsys)
    with pytest.raises(AssertionError, match="unknown sub-command 'sampel'"):
        parsed("waveglow glow sample|sampel -c C", monkeypatch, capsys)
    with pytest.raises(AssertionError, match="bf17 is not one of"):
        parsed("waveglow tts x -o y --precision fp32|bf17", monkeypatch, capsys)
    with pytest.raises(AssertionError, match="benchmarks/gone.py does not exist"):
        parsed("python benchmarks/gone.py --quick", monkeypatch, capsys)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c in LISTED], ids=param_id)
def test_listed_command_still_parses(command, monkeypatch, capsys, pytestconfig):
    assert LISTED[command]
    words = tokens(command)
    if words[0] == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M)
        assert words[1] in targets, f"Makefile has no target {words[1]}"
    elif words[0] == "pytest" or words[:3] == ["python", "-m", "pytest"]:
        for word in words[1 if words[0] == "pytest" else 3:]:
            if is_flag(word):
                pytestconfig.getoption(word)  # ValueError if pytest (or conftest.py) does not define it
            else:
                assert (REPO / word).is_file(), f"{command}: {word} does not exist"
    else:
        assert parsed(command, monkeypatch, capsys)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c in QUICK], ids=param_id)
def test_documented_command_runs_in_a_quick_form(command, quick_workspace, monkeypatch, capsys):
    quick = QUICK[command]
    documented = parsed(command, monkeypatch, capsys)
    used: dict[tuple[str, ...], set[str]] = {}
    for line in quick.lines:
        for entry, dests in parsed(line, monkeypatch, capsys).items():
            used.setdefault(entry, set()).update(dests)
    assert set(used) == set(documented), f"the quick form calls {set(used)}, the docs {set(documented)}"
    for entry, dests in documented.items():
        assert dests <= used[entry], f"{' '.join(entry)}: documented flags not exercised: {dests - used[entry]}"
    for need in quick.needs:
        available, reason = NEEDS[need]
        if not available():
            pytest.skip(reason)
    for line in quick.lines:
        status, _ = quick_workspace.run(line)
        assert status == 0, f"{line} exited with {status}"
        words = quick_workspace.format(line)
        for flag, value in zip(words, words[1:]):
            if flag in OUTPUT_FLAGS:
                target = Path(value)
                assert target.is_file() or (target.is_dir() and any(target.iterdir())), f"{line}: no {value}"
