"""The image hack/build-image.sh builds, read from its OCI archive without
running it: configured as hack/image-spec lists, holding exactly the locked
distributions and the product in /opt/venv, and nothing of the build.

The first build on a machine takes a few minutes (a Debian root filesystem,
the wheels); later ones come from the cache. Missing Debian tools are
installed by the script; when that fails the test fails with its message."""

from __future__ import annotations

import json
import tarfile
import tomllib
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import Version

from scaivault_devenv.images import OperatorImage, build_operator_image

from .dockerfile import ROOT
from .spec import locked, read_spec

CHART = ROOT / "charts" / "scaivault-federation"


@dataclass
class Layer:
    """What one layer holds: paths, owners and the virtualenv's distributions."""

    paths: set[str] = field(default_factory=set)
    owners: dict[str, int] = field(default_factory=dict)
    #: permission bits, of everything but symbolic links
    modes: dict[str, int] = field(default_factory=dict)
    distributions: dict[str, Version] = field(default_factory=dict)


@dataclass
class Archive:
    layout: dict[str, Any]
    index: dict[str, Any]
    manifest: dict[str, Any]
    config: dict[str, Any]
    layers: list[Layer]


def _read_layer(blob: Any, site_packages: str) -> Layer:
    layer = Layer()
    with tarfile.open(fileobj=blob, mode="r|gz") as tar:
        for member in tar:
            path = str(PurePosixPath(member.name))  # "./a/b/" -> "a/b"
            layer.paths.add(path)
            layer.owners[path] = member.uid
            if not member.issym():  # a link's own mode means nothing
                layer.modes[path] = member.mode
            parent = PurePosixPath(path).parent
            if path.endswith(".dist-info/METADATA") and str(parent.parent) == site_packages:
                handle = tar.extractfile(member)
                assert handle is not None
                metadata = Parser().parsestr(handle.read().decode())
                name = canonicalize_name(metadata["Name"])
                assert name not in layer.distributions, f"{name} installed twice"
                layer.distributions[name] = Version(metadata["Version"])
    return layer


def _read_archive(image: OperatorImage, site_packages: str) -> Archive:
    with tarfile.open(image.archive) as outer:

        def blob(digest: str) -> Any:
            algorithm, _, value = digest.partition(":")
            handle = outer.extractfile(f"./blobs/{algorithm}/{value}")
            assert handle is not None, digest
            return handle

        def document(name: str) -> dict[str, Any]:
            handle = outer.extractfile(name)
            assert handle is not None, name
            loaded: dict[str, Any] = json.load(handle)
            return loaded

        layout, index = document("./oci-layout"), document("./index.json")
        (entry,) = index["manifests"]
        manifest: dict[str, Any] = json.load(blob(entry["digest"]))
        config: dict[str, Any] = json.load(blob(manifest["config"]["digest"]))
        layers = [_read_layer(blob(layer["digest"]), site_packages) for layer in manifest["layers"]]
    return Archive(layout, index, manifest, config, layers)


@pytest.fixture(scope="module")
def image() -> OperatorImage:
    return build_operator_image()


@pytest.fixture(scope="module")
def archive(image: OperatorImage) -> Archive:
    return _read_archive(image, f"opt/venv/lib/python{read_spec().python}/site-packages")


def test_named_for_the_chart(image: OperatorImage, archive: Archive) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert image.repository == values["image"]["repository"]
    assert image.tag == f"{chart['appVersion']}-local"
    assert image.reference == f"{image.repository}:{image.tag}"
    assert archive.layout == {"imageLayoutVersion": "1.0.0"}
    (entry,) = archive.index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == image.tag


def test_configured_as_listed(archive: Archive) -> None:
    spec = read_spec()
    config = archive.config["config"]
    assert archive.config["os"] == "linux"
    assert config["User"] == spec.user
    assert config["Entrypoint"] == spec.entrypoint
    assert config["Cmd"] == spec.cmd
    assert config["WorkingDir"] == spec.workdir
    assert config["Env"] == spec.image_env()
    assert config["Env"][0].startswith("PATH=/opt/venv/bin:")
    assert config["ExposedPorts"] == {f"{port}/tcp": {} for port in spec.ports}
    assert config["Labels"] == spec.labels


def test_virtualenv_holds_the_lock_and_the_product_only(archive: Archive) -> None:
    installed: dict[str, Version] = {}
    for layer in archive.layers:
        installed |= layer.distributions
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = locked() | {canonicalize_name(project["name"]): Version(project["version"])}
    assert installed == expected
    assert not {"pip", "setuptools", "wheel"} & set(installed)


def test_nothing_of_the_build_stays(archive: Archive) -> None:
    paths = set().union(*(layer.paths for layer in archive.layers))
    assert "opt/venv/bin/scaivault-federation" in paths
    leftovers = {"src", "wheels", "build.sh", "etc/resolv.conf", "etc/hostname"} & paths
    assert not leftovers, leftovers
    for mounted in ("dev/", "proc/", "sys/"):
        assert not [p for p in paths if p.startswith(mounted)], f"{mounted} is not empty"
    assert not [p for p in paths if p.startswith("var/lib/apt/lists/") and "lock" not in p]
    # no pip in the image at all: not in the virtualenv, not beside Debian's Python
    pips = [p for p in paths if p.endswith(("/pip/__init__.py", ".whl")) or "/pip-" in p]
    assert not pips, pips[:5]
    compiled = [p for p in paths if p.startswith("opt/venv/") and p.endswith(".pyc")]
    assert compiled, "the virtualenv is compiled at build time (the root filesystem is read-only)"


def test_the_image_user_owns_nothing(archive: Archive) -> None:
    uid = int(read_spec().user.partition(":")[0])
    for layer in archive.layers:
        assert uid not in layer.owners.values()
        venv = [p for p in layer.paths if p.startswith("opt/venv")]
        assert venv and {layer.owners[p] for p in venv} == {0}
        writable = [p for p in venv if layer.modes.get(p, 0) & 0o002]
        assert not writable, writable[:5]


def test_a_second_build_comes_from_the_cache(image: OperatorImage) -> None:
    before = image.archive.stat().st_mtime_ns
    again = build_operator_image(timeout=120)
    assert again.archive == image.archive
    assert again.log == ""
    assert image.archive.stat().st_mtime_ns == before
