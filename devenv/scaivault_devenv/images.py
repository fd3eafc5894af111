"""The operator image, built from this checkout by hack/build-image.sh."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .checkout import ROOT

IMAGE_SCRIPT = ROOT / "hack" / "build-image.sh"


class ImageError(RuntimeError):
    """The image could not be built; the script's own message is on stderr."""


@dataclass(frozen=True)
class OperatorImage:
    repository: str
    tag: str
    archive: Path

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def build_operator_image() -> OperatorImage:
    """Build (or find cached) the image; the script's progress goes to stderr."""
    done = subprocess.run(
        ["bash", str(IMAGE_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        raise ImageError(f"{IMAGE_SCRIPT} failed (exit code {done.returncode})")
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        return OperatorImage(values["REPOSITORY"], values["TAG"], Path(values["ARCHIVE"]))
    except KeyError as missing:
        raise ImageError(f"{IMAGE_SCRIPT} printed no {missing} line") from None
