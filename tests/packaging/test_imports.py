"""Importing the product loads no backend SDK: each backend's module (and with it
boto3, the Azure or the Google SDK) is imported the first time a backend of
that type is made. Checked in a fresh interpreter, whose ``sys.modules`` starts
empty of all of them."""

from __future__ import annotations

import json
import subprocess
import sys

SDKS = ("boto3", "botocore", "azure", "google", "grpc", "hvac")

PROBE = """\
import json, sys
import scaivault_federation.handlers.operator
import scaivault_federation.api.server
import scaivault_federation.sync.worker
import scaivault_federation.backends
before = sorted({name.split(".")[0] for name in sys.modules})
from scaivault_federation.backends.registry import factory_for
from scaivault_federation.models.config import BackendType
factory_for(BackendType.AWS_SECRETS_MANAGER)
after = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"before": before, "after": after}))
"""


def test_importing_the_product_loads_no_backend_sdk() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout)
    assert not set(SDKS) & set(loaded["before"]), set(SDKS) & set(loaded["before"])
    # the first AWS backend brings boto3 in, and nothing of the other SDKs
    assert "boto3" in loaded["after"]
    assert not {"azure", "google", "grpc"} & set(loaded["after"])
