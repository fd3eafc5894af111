"""The source checkout this package runs from (an editable install of it)."""

from __future__ import annotations

from pathlib import Path

# devenv/scaivault_devenv/checkout.py -> the repository root
ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = Path("hack") / "build-controlplane.sh"


def checkout_root() -> Path | None:
    """The repository root, if this package runs from a source checkout."""
    return ROOT if (ROOT / BUILD_SCRIPT).is_file() else None
