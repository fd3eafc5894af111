"""hack/image-spec, the list of what goes into the operator image, and
requirements.lock, the versions it installs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import Version

from .dockerfile import ROOT

SPEC = ROOT / "hack" / "image-spec"
SINGLE: tuple[str, ...] = ("base-path", "debian", "python", "glibc", "setuptools")
SINGLE += ("user", "workdir", "entrypoint", "cmd")
REPEATED = ("build-env", "env", "port", "label")


@dataclass(frozen=True)
class ImageSpec:
    base_path: str
    debian: str
    python: str
    glibc: str
    setuptools: str
    user: str
    workdir: str
    entrypoint: list[str]
    cmd: list[str]
    build_env: dict[str, str]
    #: as written: ``$PATH`` stands for ``base_path``
    env: dict[str, str]
    ports: set[int]
    labels: dict[str, str]

    def image_env(self) -> list[str]:
        """The environment of the built image, ``$PATH`` expanded."""
        return [f"{k}={v.replace('$PATH', self.base_path)}" for k, v in self.env.items()]


def _assignments(values: list[str]) -> dict[str, str]:
    pairs = [value.partition("=") for value in values]
    assert all(sep for _, sep, _ in pairs), values
    return {key: value for key, _, value in pairs}


def read_spec() -> ImageSpec:
    single: dict[str, str] = {}
    repeated: dict[str, list[str]] = defaultdict(list)
    for line in SPEC.read_text().splitlines():
        key, _, value = line.strip().partition(" ")
        value = value.strip()
        if not key or key.startswith("#"):
            continue
        if key in REPEATED:
            repeated[key].append(value)
        else:
            assert key in SINGLE and key not in single, f"{SPEC}: {line}"
            single[key] = value
    assert set(single) == set(SINGLE), sorted(set(SINGLE) - set(single))
    return ImageSpec(
        base_path=single["base-path"],
        debian=single["debian"],
        python=single["python"],
        glibc=single["glibc"],
        setuptools=single["setuptools"],
        user=single["user"],
        workdir=single["workdir"],
        entrypoint=single["entrypoint"].split(),
        cmd=single["cmd"].split(),
        build_env=_assignments(repeated["build-env"]),
        env=_assignments(repeated["env"]),
        ports={int(port) for port in repeated["port"]},
        labels=_assignments(repeated["label"]),
    )


def locked() -> dict[str, Version]:
    """requirements.lock as distribution name -> version."""
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not pinned exactly: {line}"
        pins[canonicalize_name(name)] = Version(version)
    return pins
