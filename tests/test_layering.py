"""The rooms of the package and their one-way dependencies (docs/architecture.md), read from the source: every
import of the project's own modules, at module level or inside a function, must point to a lower room (or stay in
its own); nothing imports the CLI; importing `waveglow` loads no other room, and `waveglow --help` no torch."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from source_tree import FOLDER_ONLY, PACKAGE_DIRS, REPO, module_name, module_path, sources

PACKAGES = tuple(PACKAGE_DIRS)  # import names; data/ and demo/ install as waveglow_data and waveglow_demo

# Lowest first. A room may import its own modules and those of rooms with a smaller rank; equal ranks are
# peers that must not import each other.
RANKS = {
    "waveglow.common": 0,
    "waveglow.flows": 1,
    "waveglow.audio": 2,
    "waveglow.vocoder": 3,
    "waveglow.glow": 3,
    "waveglow_data": 4,
    "waveglow.training": 5,
    "tts": 6,
    "waveglow.evaluation": 7,
    "waveglow_demo": 8,
    "waveglow.cli": 9,  # the composition root: waveglow/cli.py and waveglow/commands/
}
FACADE = "waveglow"  # waveglow/__init__.py: lazy names from the rooms below the data room
MAX_FUNCTION_LOCAL = 15


def room(module: str) -> str:
    if module == "waveglow.commands" or module.startswith("waveglow.commands."):
        return "waveglow.cli"
    for name in sorted(RANKS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    if module == FACADE:
        return FACADE
    raise AssertionError(f"module {module} belongs to no room: add it to RANKS or move it into one")


def own_imports(path: Path):
    """(imported module, line, inside a function) for every import of the project's own modules in `path`."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    local_lines = {id(node) for f in functions for node in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(stem + ([base] if base else []))
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target.split(".")[0] in PACKAGES:
                yield target, node.lineno, id(node) in local_lines


def _is_module(name: str) -> bool:
    if name.split(".")[0] not in PACKAGE_DIRS:
        return False
    path = module_path(name)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def edges():
    for path in sources():
        for target, line, local in own_imports(path):
            yield module_name(path), target, f"{path.relative_to(REPO)}:{line}", local


def against_the_layering(edge_list) -> list[str]:
    """The (source, target, where, local) edges that point up, sideways between peers, or from the facade down too
    far, as messages."""
    wrong = []
    for source, target, where, _ in edge_list:
        a, b = room(source), room(target)
        if a == b:
            continue
        if a == FACADE:
            ok = RANKS[b] < RANKS["waveglow_data"]
        elif b == FACADE:  # `import waveglow` from inside: only for the lazy public names, never from below them
            ok = RANKS[a] >= RANKS["waveglow_data"]
        else:
            ok = RANKS[b] < RANKS[a]
        if not ok:
            wrong.append(f"{where}: {source} ({a}) imports {target} ({b})")
    return wrong


def test_every_import_points_to_a_lower_room():
    wrong = against_the_layering(edges())
    assert not wrong, "imports against the layering (docs/architecture.md):\n" + "\n".join(wrong)


def test_nothing_imports_the_cli():
    wrong = [f"{where}: {target}" for source, target, where, _ in edges()
             if room(target) == "waveglow.cli" and room(source) != "waveglow.cli"]
    assert not wrong, wrong


def test_function_local_imports_of_own_modules_are_few():
    local = sorted({where: target for source, target, where, is_local in edges() if is_local}.items())
    local = [f"{where}: {target}" for where, target in local]  # one per import statement
    assert len(local) <= MAX_FUNCTION_LOCAL, f"{len(local)} function-local imports:\n" + "\n".join(local)


def test_the_checker_sees_wrong_imports():
    """An upward import, one between peers and one from the facade into the data room are all reported."""
    probes = [("waveglow.flows.coupling", "waveglow.vocoder.model", "a.py:1", False),
              ("waveglow.vocoder.model", "waveglow.glow.model", "b.py:2", True),
              ("waveglow", "waveglow_data.splits", "c.py:3", False),
              ("tts.pipeline", "waveglow.vocoder.model", "d.py:4", False)]
    assert [w.split(":")[0] for w in against_the_layering(probes)] == ["a.py", "b.py", "c.py"]


def imports_by_folder_name(path: Path) -> list[str]:
    """Imports in `path` of `data` / `demo` by their folder names instead of waveglow_data / waveglow_demo."""
    tree = ast.parse(path.read_text(), str(path))
    wrong = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        wrong += [f"{os.path.relpath(path, REPO)}:{node.lineno}: {n}" for n in names
                  if n.split(".")[0] in FOLDER_ONLY]
    return wrong


def test_data_and_demo_are_imported_by_their_installed_names():
    """From the repository root `import data` would find the folder and load a second copy of waveglow_data."""
    paths = sources() + sorted(p for d in ("tests", "benchmarks", "scripts") for p in (REPO / d).rglob("*.py"))
    wrong = [w for path in paths for w in imports_by_folder_name(path)]
    assert not wrong, "import waveglow_data / waveglow_demo instead:\n" + "\n".join(wrong)


def test_the_folder_name_check_sees_a_bare_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom data.splits import is_held_out\nimport demo.app\n"
                     "from waveglow_data import split\nfrom . import data\n")
    assert [w.split(": ")[1] for w in imports_by_folder_name(probe)] == ["data.splits", "demo.app"]


def _fresh_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_waveglow_loads_no_other_room_and_no_torch():
    out = _fresh_python("import sys, waveglow; print(sorted({m.split('.')[0] for m in sys.modules} "
                        "& {'tts', 'waveglow_data', 'waveglow_demo', 'data', 'demo', 'torch'}), "
                        "sorted(m for m in sys.modules if m.startswith('waveglow.')))")
    assert out == "[] []"


def test_help_and_version_import_no_torch():
    out = _fresh_python("import sys, contextlib, io\nfrom waveglow.cli import main\n"
                        "for argv in (['--help'], ['--version']):\n"
                        "    with contextlib.redirect_stdout(io.StringIO()):\n"
                        "        try:\n            main(argv)\n        except SystemExit:\n            pass\n"
                        "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('waveglow.')))")
    assert out == "False ['waveglow.cli', 'waveglow.common', 'waveglow.common.errors']"


def test_public_names_resolve_lazily():
    import waveglow

    for name in waveglow.__all__:
        assert getattr(waveglow, name).__name__ == name
    assert callable(waveglow.vocode)
    with pytest.raises(ModuleNotFoundError):  # the function is not shadowed by, nor shadows, a module
        __import__("waveglow.vocode")
