"""The project's import packages and the folders that hold them: pyproject.toml installs the folders data/ and
demo/ as waveglow_data and waveglow_demo (tests/test_packaging.py checks that the wheel agrees)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"waveglow": "waveglow", "tts": "tts", "waveglow_data": "data", "waveglow_demo": "demo"}
# folder names that are not import names: `import data` would find the folder only when the repo root is on
# sys.path, and load a second copy of waveglow_data's modules
FOLDER_ONLY = tuple(folder for name, folder in PACKAGE_DIRS.items() if folder != name)


def module_name(path: Path) -> str:
    """The import name of a source file in one of the package folders."""
    parts = list(path.resolve().relative_to(REPO).with_suffix("").parts)
    parts[0] = {folder: name for name, folder in PACKAGE_DIRS.items()}[parts[0]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path:
    """Where module `name` would live: a .py file or a package folder, without the suffix."""
    top, *rest = name.split(".")
    return REPO.joinpath(PACKAGE_DIRS[top], *rest)


def sources() -> list[Path]:
    """Every source file of the installed packages."""
    return sorted(p for folder in PACKAGE_DIRS.values() for p in (REPO / folder).rglob("*.py"))
