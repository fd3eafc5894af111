"""The CRD's schema tests get a control plane of their own: no operator watches it,
so nothing but the tests writes the resources' status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scaivault_devenv.controlplane import ControlPlane


@pytest.fixture(scope="package")
def schema_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("schema-controlplane")) as cp:
        yield cp
