"""The dev environment's moto answers exactly as moto does, only without scanning.

Both sides are moto's own Secrets Manager models, in this process: the same
calls are made on a store before and after :func:`make_lookups_direct`, and
the answers compared. The patch is undone after each test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto.secretsmanager import models
from moto.secretsmanager.exceptions import SecretNotFoundException

from scaivault_devenv.moto_main import make_lookups_direct

ACCOUNT = "123456789012"


@pytest.fixture
def patched() -> Iterator[None]:
    store, backend = models.SecretsStore, models.SecretsManagerBackend
    saved: dict[tuple[type, str], Any] = {
        (store, name): store.__dict__[name] for name in ("__getitem__", "__contains__", "get")
    }
    saved[(backend, "list_secrets")] = backend.__dict__["list_secrets"]
    try:
        yield
    finally:
        for (cls, name), original in saved.items():
            setattr(cls, name, original)


def seeded() -> Any:
    backend = models.SecretsManagerBackend("us-east-1", ACCOUNT)
    for i in range(30):
        backend.create_secret(
            name=f"app/{'a' if i % 3 else 'b'}/s{i:02d}",
            secret_string=json.dumps({"i": i}),
            secret_binary=None,
            description=None,
            tags=None,
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
    backend.delete_secret(
        "app/a/s01", recovery_window_in_days=7, force_delete_without_recovery=False
    )
    return backend


def answers(backend: Any) -> dict[str, Any]:
    """What a sync asks moto, by name, ARN and partial ARN, and every listing page."""
    arn = backend.describe_secret("app/a/s02").arn
    partial = arn.rsplit("-", 1)[0]
    keys = {
        "name": "app/a/s02",
        "arn": arn,
        "partial arn": partial,
        "absent": "app/none",
        "absent arn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    }
    found: dict[str, Any] = {}
    for label, key in keys.items():
        found[f"in {label}"] = key in backend.secrets
        found[f"get {label}"] = getattr(backend.secrets.get(key), "name", None)
        try:
            found[f"value {label}"] = backend.get_secret_value(key, "", "")["SecretString"]
        except SecretNotFoundException:
            found[f"value {label}"] = "not found"
    values, errors, _ = backend.batch_get_secret_value(secret_id_list=list(keys.values()))
    failed = {e["SecretId"] for e in errors}
    found["batch"] = (
        [v["Name"] for v in values],
        [label for label, key in keys.items() if key in failed],
    )
    for filters, deleted in (
        ([{"Key": "name", "Values": ["app/a/"]}], False),
        ([{"Key": "name", "Values": ["app/"]}], True),
        ([], False),
    ):
        pages, token = [], None
        while True:
            page, token = backend.list_secrets(
                filters=filters, max_results=7, next_token=token, include_planned_deletion=deleted
            )
            pages.append([(s["Name"], s.get("DeletedDate") is not None) for s in page])
            if not token:
                break
        found[f"list {filters} {deleted}"] = pages
    return found


@pytest.mark.usefixtures("patched")
def test_patched_moto_answers_as_moto_does() -> None:
    before = answers(seeded())

    assert make_lookups_direct()
    after = answers(seeded())

    assert after == before
    assert before["get name"] == before["get arn"] == "app/a/s02"  # the calls found things
    assert before["value absent"] == "not found"
    assert len(before["list [{'Key': 'name', 'Values': ['app/a/']}] False"]) == 3  # 19 of 20


@pytest.mark.usefixtures("patched")
def test_a_lookup_by_name_does_not_scan() -> None:
    assert make_lookups_direct()
    backend = seeded()
    scanned: list[str] = []

    class Watched(models.FakeSecret):
        @property
        def arn(self) -> str:  # type: ignore[override]
            scanned.append(self.name)
            return str(self.__dict__["arn"])

    for secret in dict.values(backend.secrets):
        secret.__class__ = Watched

    backend.get_secret_value("app/a/s29", "", "")
    assert "app/a/s29" in backend.secrets
    assert set(scanned) <= {"app/a/s29"}  # the answer names its ARN; no other is read
