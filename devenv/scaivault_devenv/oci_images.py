"""Small OCI images made from one static binary, without a registry or Docker.

The local node runs images that are a single static program: the pod
sandbox's pause, the cluster DNS and OpenBao. ``umoci`` lays each out as an
OCI image and the layout is packed into a tarball ``ctr images import``
loads. Built once per binary (keyed by its contents) under a cache folder.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


class ImageBuildError(RuntimeError):
    """An image could not be assembled; the message says which step failed."""


@dataclass(frozen=True)
class BinaryImage:
    """An image holding ``binary`` as ``/<name>``, run as ``entrypoint``."""

    name: str
    binary: Path
    tag: str = "local"
    user: str = ""

    @property
    def reference(self) -> str:
        return f"localhost/{self.name}:{self.tag}"


def _umoci(*args: str) -> None:
    umoci = shutil.which("umoci")
    if umoci is None:
        raise ImageBuildError("umoci is needed to assemble images (Debian package umoci)")
    done = subprocess.run([umoci, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageBuildError(f"umoci {args[0]} failed: {done.stderr.strip()}")


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()[:12]


def build_binary_image(image: BinaryImage, cache: Path) -> Path:
    """The image's OCI archive (``oci-layout`` tarball), built when missing."""
    key = hashlib.sha256(f"{_digest(image.binary)}{image}".encode()).hexdigest()[:12]
    out = cache / f"{image.name}-{key}.tar"
    if out.is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        layout, bundle = Path(scratch) / "layout", Path(scratch) / "bundle"
        ref = f"{layout}:{image.tag}"
        _umoci("init", "--layout", str(layout))
        _umoci("new", "--image", ref)
        _umoci("unpack", "--image", ref, str(bundle))
        rootfs = bundle / "rootfs"
        shutil.copy2(image.binary, rootfs / image.name)
        (rootfs / image.name).chmod(0o755)
        (rootfs / "tmp").mkdir(mode=0o1777, exist_ok=True)
        _umoci("repack", "--image", ref, str(bundle))
        config = ["config", "--image", ref, f"--config.entrypoint=/{image.name}"]
        if image.user:
            config.append(f"--config.user={image.user}")
        _umoci(*config)
        _umoci("gc", "--layout", str(layout))
        partial = out.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for entry in sorted(layout.iterdir()):
                tar.add(entry, arcname=entry.name)
        partial.rename(out)
    return out
