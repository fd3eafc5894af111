"""The operator image, built from this checkout by hack/build-image.sh (cached:
a second build with the same inputs is immediate)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .checkout import ROOT

IMAGE_SCRIPT = ROOT / "hack" / "build-image.sh"


class ImageBuildError(RuntimeError):
    """hack/build-image.sh failed; the message holds the end of its output."""


@dataclass(frozen=True)
class OperatorImage:
    #: ``repository:tag``, as containerd names it once imported
    reference: str
    repository: str
    tag: str
    #: an OCI archive: ``ctr -n k8s.io images import --base-name <repository> <archive>``
    archive: Path
    #: what the script reported on stderr (empty when the image came from the cache)
    log: str


def build_operator_image(timeout: float = 1200) -> OperatorImage:
    run = subprocess.run(
        [IMAGE_SCRIPT], capture_output=True, text=True, check=False, timeout=timeout
    )
    if run.returncode != 0:
        raise ImageBuildError(f"{IMAGE_SCRIPT} failed ({run.returncode}):\n{run.stderr[-4000:]}")
    values = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    try:
        return OperatorImage(
            reference=values["IMAGE"],
            repository=values["REPOSITORY"],
            tag=values["TAG"],
            archive=Path(values["ARCHIVE"]),
            log=run.stderr,
        )
    except KeyError as missing:
        raise ImageBuildError(f"{IMAGE_SCRIPT} printed no {missing} line") from None
