"""A machine that cannot run a local node is told which piece is missing."""

from __future__ import annotations

import pytest

from scaivault_devenv.node import NodeUnavailableError, preflight


def test_missing_programs_are_named_with_their_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NodeUnavailableError) as refused:
        preflight()
    message = str(refused.value)
    for program, package in (("containerd", "containerd"), ("runc", "runc"), ("nft", "nftables")):
        assert f"{program} (Debian package {package})" in message
