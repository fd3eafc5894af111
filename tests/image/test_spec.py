"""The Dockerfile and hack/build-image.sh describe one image: hack/image-spec
lists what goes in, and the Dockerfile must say the same things."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

from .dockerfile import ROOT, Stage, parse, resolve, run_commands
from .spec import read_spec

SCRIPT = ROOT / "hack" / "build-image.sh"


def _assignments(instructions: list[str]) -> dict[str, str]:
    """ENV or LABEL instructions (``k=v k2="v 2"``) as one mapping."""
    found: dict[str, str] = {}
    for instruction in instructions:
        for word in shlex.split(instruction):
            key, sep, value = word.partition("=")
            assert sep, f"not key=value: {word}"
            found[key] = value
    return found


def _stages() -> tuple[Stage, Stage]:
    _, stages = parse()
    return stages[0], stages[-1]


def test_base_image_is_the_listed_python_and_debian() -> None:
    args, stages = parse()
    spec = read_spec()
    for stage in stages:
        image = resolve(stage.base, args)
        assert re.fullmatch(rf"python:{re.escape(spec.python)}\.\d+-slim-{spec.debian}", image)


def test_final_stage_is_configured_as_listed() -> None:
    _, final = _stages()
    spec = read_spec()
    assert final.all("USER") == [spec.user]
    assert final.all("WORKDIR") == [spec.workdir]
    assert [json.loads(e) for e in final.all("ENTRYPOINT")] == [spec.entrypoint]
    assert [json.loads(c) for c in final.all("CMD")] == [spec.cmd]
    assert _assignments(final.all("ENV")) == spec.env
    assert {int(p) for e in final.all("EXPOSE") for p in e.split()} == spec.ports
    assert _assignments(final.all("LABEL")) == spec.labels


def test_builder_environment_is_listed() -> None:
    builder, _ = _stages()
    spec = read_spec()
    environment = _assignments(builder.all("ENV"))
    assert environment.pop("PATH") == spec.env["PATH"]  # the virtualenv first in both
    assert environment == spec.build_env


def _steps() -> list[str]:
    run = subprocess.run(
        [SCRIPT, "--steps"], capture_output=True, text=True, check=True, timeout=60
    )
    return [line for line in run.stdout.splitlines() if line and not line.startswith("#")]


def _as_in_the_dockerfile(command: str) -> str:
    """A build step without what only the offline build needs (the local wheels)."""
    for offline in ("--quiet", "--no-index", "--find-links /wheels"):
        command = command.replace(f" {offline}", "")
    return command.replace("python3 -m venv", "python -m venv")


def test_script_runs_the_builder_steps_of_the_dockerfile() -> None:
    builder, _ = _stages()
    spec = read_spec()
    steps = _steps()
    exports = [s.removeprefix("export ") for s in steps if s.startswith("export ")]
    assert _assignments(exports) == {**spec.build_env, "PATH": spec.env["PATH"]}
    programs = ("pip", "python", "python3", spec.entrypoint[0])
    commands = [_as_in_the_dockerfile(s) for s in steps if s.split()[0] in programs]
    assert commands == run_commands(builder)


def test_script_installs_exactly_the_lock_and_the_listed_setuptools() -> None:
    spec = read_spec()
    installs = [s.split() for s in _steps() if s.startswith("pip install")]
    assert [words[-1] for words in installs] == [
        "requirements.lock",
        f"setuptools=={spec.setuptools}",
        ".",
    ]
    for words in installs:
        assert "--no-index" in words, "nothing is fetched inside the image"
    lock, _, product = installs
    assert "--no-deps" in lock and "--no-deps" in product
    assert "--no-build-isolation" in product
