"""deploy/ holds exactly the chart's default render (plus the Namespace)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scaivault_devenv.helm import DEPLOY, NAMESPACE
from scaivault_devenv.manifests import expected_files

from .tools import ROOT


def test_deploy_equals_the_default_render(helm: Path) -> None:
    expected = expected_files(helm)
    actual = {
        str(p.relative_to(DEPLOY)): p.read_text()
        for p in sorted(DEPLOY.rglob("*.yaml"))
        if p.relative_to(DEPLOY).parts[0] != "argocd"
    }
    stale = sorted(p for p in expected if actual.get(p) != expected[p])
    extra = sorted(set(actual) - set(expected))
    assert not stale and not extra, (
        f"deploy/ is out of date (differs: {stale}; not rendered: {extra}); "
        "run hack/render-deploy.sh"
    )


@pytest.mark.parametrize(
    "name",
    [
        "federationbackends.federation.scaivault.io.yaml",
        "clusterfederationbackends.federation.scaivault.io.yaml",
    ],
)
def test_deploy_crd_is_the_canonical_one(name: str) -> None:
    assert (DEPLOY / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes()


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {
        str(p.relative_to(DEPLOY))
        for p in DEPLOY.rglob("*.yaml")
        if p.name != "kustomization.yaml" and p.relative_to(DEPLOY).parts[0] != "argocd"
    }
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["resources"][0] == "namespace.yaml"
    namespace = yaml.safe_load((DEPLOY / "namespace.yaml").read_text())
    assert namespace["metadata"]["name"] == NAMESPACE
    # the pod passes the "restricted" Pod Security Standard, so the namespace enforces it
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
