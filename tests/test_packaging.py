"""The wheel: its top-level import names are exactly waveglow, tts, waveglow_data and waveglow_demo (the folders
data/ and demo/ install under the latter two, so a user's own `data` package does not collide with ours), and it
holds every source file of those packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from source_tree import PACKAGE_DIRS, REPO, module_name, sources


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built offline from a copy of the tree (the build writes build/ and *.egg-info next to the sources)."""
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(REPO / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "-w", str(tmp / "dist"), str(tree)],
                   check=True, capture_output=True, timeout=300)
    (built,) = (tmp / "dist").glob("*.whl")
    return built


def test_the_wheel_installs_exactly_our_four_import_names(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"waveglow", "tts", "waveglow_data", "waveglow_demo"}
    assert len(top) == 5


def test_the_wheel_holds_every_source_file(wheel):
    """pyproject.toml lists the packages by hand: a new subpackage left out of the list fails here."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {module_name(p).replace(".", "/") + ("/__init__.py" if p.name == "__init__.py" else ".py")
                for p in sources()}
    assert not expected - names, sorted(expected - names)


def test_a_project_with_its_own_data_package_imports_both(wheel, tmp_path):
    """The installed wheel (unpacked: a pure-Python wheel installs by copying) beside a user's data/ and demo/."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    project = tmp_path / "project"
    for own in ("data", "demo"):
        (project / own).mkdir(parents=True)
        (project / own / "__init__.py").write_text(f"MINE = {own!r}\n")
    code = ("import data, demo, waveglow, waveglow_data, waveglow_demo, tts\n"
            "assert (data.MINE, demo.MINE) == ('data', 'demo')\n"
            "print('\\n'.join(m.__file__ for m in (waveglow, waveglow_data, waveglow_demo, tts)))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert all(Path(f).is_relative_to(site) for f in out.stdout.split()), out.stdout
