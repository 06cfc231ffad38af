"""The package installs: a wheel with every subpackage, into a fresh virtual environment, runs a
search from a folder outside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]


def _packages(root: Path) -> set[str]:
    return {
        ".".join(init.parent.relative_to(root).parts)
        for top in ("search", "spaces")
        for init in (root / top).rglob("__init__.py")
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # built from a copy of the checkout: setuptools writes build/ and *.egg-info/ beside the sources
    source = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", "storage", "mlruns", "test-artifacts", "reports"))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("keras_hpsearch-*.whl")
    return built


def test_wheel_holds_every_subpackage(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {str(Path(n).parent).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert packaged == _packages(REPO)
    modules = {n for n in names if n.endswith(".py")}
    source = {str(p.relative_to(REPO)) for top in ("search", "spaces") for p in (REPO / top).rglob("*.py")}
    assert source <= modules, sorted(source - modules)


def test_installed_wheel_runs_a_search_outside_the_checkout(
    wheel: Path, keras_home: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # the dependencies are those of this environment (no network): a .pth adds its site-packages
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"KERAS_HOME": str(keras_home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run(
        [str(python), "-c", "import search.execution, spaces; print(search.execution.__file__, spaces.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(str(site) in path for path in where.stdout.split()), where.stdout
    version = subprocess.run([str(python), "-m", "search.run", "--version"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert version.stdout.strip() == f"python -m search.run {declared}", version.stdout + version.stderr
    run = subprocess.run(
        [str(python), "-m", "search.run", "--study", "lenet", "--limit", "300", "--n-trials", "1",
         "--max-epochs", "1", "--no-mlflow", "--no-test"],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "trial   0" in run.stdout
    assert (work / "storage" / "optuna.db").is_file()  # the default stores, in the folder it ran from
