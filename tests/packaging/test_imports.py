"""Importing the product loads no backend SDK: each backend's module (and with it
boto3, the Azure or the Google SDK) is imported the first time a backend of
that type is made. Checked in a fresh interpreter, whose ``sys.modules`` starts
empty of all of them.

One ``google`` package is not a backend SDK: google-auth, which the
``kubernetes`` package (the Kubernetes login) imports for GKE's auth
provider. Every other ``google.*`` package
(the Secret Manager client, ``google.api_core``, protobuf, grpc) still counts."""

from __future__ import annotations

import json
import subprocess
import sys

SDKS = ("boto3", "botocore", "azure", "google", "grpc", "hvac")
#: google-auth, imported by the kubernetes package's config loading
KUBERNETES_LOGIN = ("google.auth", "google.oauth2")

PROBE = """\
import json, sys
import scaivault_federation.runner
import scaivault_federation.api.server
import scaivault_federation.sync.worker
import scaivault_federation.backends
def names():
    return sorted(
        {name.split(".")[0] for name in sys.modules if not name.startswith("google.")}
        | {".".join(name.split(".")[:2]) for name in sys.modules if name.startswith("google.")}
    )
before = names()
from scaivault_federation.backends.factory import factory_for
factory_for("aws-secrets-manager")
after = names()
print(json.dumps({"before": before, "after": after}))
"""


def test_importing_the_product_loads_no_backend_sdk() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout)
    before, after = sdks(loaded["before"]), sdks(loaded["after"])
    assert not before, before
    # the first AWS backend brings boto3 in, and nothing of the other SDKs
    assert "boto3" in after
    assert not {"azure", "grpc"} & after
    assert not {name for name in after if name.startswith("google")}, after


def sdks(modules: list[str]) -> set[str]:
    """The backend SDKs among ``modules`` (top-level names; ``google.x`` for Google's)."""
    return {
        name
        for name in modules
        if name.split(".")[0] in SDKS
        and name != "google"  # a namespace package: what is in it counts
        and not name.startswith(KUBERNETES_LOGIN)
    }
