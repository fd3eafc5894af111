"""The in-memory backend behaves like a real one, knobs included."""

from __future__ import annotations

import pytest

from scaivault_federation.backends import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
    CallCounter,
    CallResult,
    Credentials,
    InvalidBackendConfigError,
    SecretBackend,
    SecretNotFoundError,
    ThrottledError,
)
from scaivault_federation.backends.fake import FakeBackend


def test_satisfies_the_protocol() -> None:
    backend: SecretBackend = FakeBackend()
    assert backend.backend_type == "fake"


async def test_set_get_and_versions() -> None:
    backend = FakeBackend({"prod/db": {"user": "app"}})
    backend.set("prod/db", {"user": "app", "password": "pw"})
    backend.set("prod/blob", b"\x00\x01")

    db = await backend.get_secret("prod/db")
    blob = await backend.get_secret("prod/blob")

    assert db.value == {"user": "app", "password": "pw"}
    assert db.version == "2"
    assert blob.value == b"\x00\x01"
    assert blob.version == "1"
    assert backend.calls.snapshot() == {("read", "ok"): 2}


async def test_values_are_copies() -> None:
    value: dict[str, object] = {"k": "v"}
    backend = FakeBackend({"p": value})
    value["k"] = "changed"

    secret = await backend.get_secret("p")
    assert isinstance(secret.value, dict)
    secret.value["k"] = "mutated"

    assert (await backend.get_secret("p")).value == {"k": "v"}


async def test_lists_recursively_by_prefix() -> None:
    backend = FakeBackend({"prod/a": "1", "prod/x/b": "2", "prodx/c": "3", "dev/d": "4"})

    refs = await backend.list_secrets("prod/")
    everything = await backend.list_secrets("")

    assert [ref.path for ref in refs] == ["prod/a", "prod/x/b"]
    assert all(ref.version == "1" and ref.updated_at is not None for ref in refs)
    assert len(everything) == 4
    assert backend.calls.get("list", "ok") == 2


async def test_delete_makes_a_path_missing() -> None:
    backend = FakeBackend({"a": "1"})
    backend.delete("a")
    backend.delete("never-there")

    with pytest.raises(SecretNotFoundError):
        await backend.get_secret("a")
    assert await backend.list_secrets("") == []
    assert backend.calls.get("read", "not_found") == 1


async def test_get_many_sorts_found_missing_and_failed() -> None:
    backend = FakeBackend({"a": "1", "b": "2"})
    denied = AuthenticationError("permission denied at 'b'")
    backend.fail_paths["b"] = denied

    result = await backend.get_many(["a", "b", "c", "a"])

    assert set(result.found) == {"a"}
    assert result.missing == ["c"]
    assert result.failed == {"b": denied}
    assert backend.calls.snapshot() == {
        ("read", "ok"): 1,
        ("read", "auth_failed"): 1,
        ("read", "not_found"): 1,
    }


async def test_batch_size_counts_one_call_per_batch() -> None:
    backend = FakeBackend({f"s{i}": str(i) for i in range(45)}, batch_size=20)

    result = await backend.get_many([f"s{i}" for i in range(46)])

    assert len(result.found) == 45
    assert result.missing == ["s45"]
    assert backend.calls.snapshot() == {("batch_read", "ok"): 3}


@pytest.mark.parametrize(
    ("error", "bucket"),
    [
        (AuthenticationError("denied"), "auth_failed"),
        (ThrottledError("slow down", retry_after=3.0), "throttled"),
        (BackendUnavailableError("down"), "unavailable"),
        (BackendError("odd"), "error"),
    ],
)
async def test_fail_with_fails_every_call_and_counts_it(
    error: BackendError, bucket: CallResult
) -> None:
    backend = FakeBackend({"a": "1"})
    backend.fail_with = error

    for call in (backend.list_secrets(""), backend.get_secret("a"), backend.probe()):
        with pytest.raises(type(error)):
            await call
    result = await backend.get_many(["a"])

    assert result.failed == {"a": error}
    assert backend.calls.get("list", bucket) == 1
    assert backend.calls.get("read", bucket) == 2
    assert backend.calls.get("probe", bucket) == 1


async def test_probe_and_close() -> None:
    backend = FakeBackend(latency_ms=7.5)

    assert await backend.probe() == 7.5
    await backend.close()

    assert backend.closed


def test_error_retryability() -> None:
    assert ThrottledError("x", retry_after=2.0).retryable
    assert ThrottledError("x").retry_after is None
    assert BackendUnavailableError("x").retryable
    assert not AuthenticationError("x").retryable
    assert not SecretNotFoundError("x").retryable
    assert BackendError("x", retryable=True).retryable


def test_call_counter() -> None:
    counter = CallCounter()
    counter.record("read", "ok")
    counter.record("read", "ok")
    counter.record("read", "not_found")
    counter.record("list", "ok")

    assert counter.get("read") == 3
    assert counter.get("read", "ok") == 2
    assert counter.get("probe") == 0
    assert counter.total() == 4
    assert counter.snapshot() == {("read", "ok"): 2, ("read", "not_found"): 1, ("list", "ok"): 1}


def test_credentials_name_keys_never_values() -> None:
    credentials = Credentials({"token": b" s.secret-token\n", "empty": b""})

    assert credentials.require("token") == b" s.secret-token\n"
    assert credentials.require_text("token") == "s.secret-token"
    assert "s.secret-token" not in repr(credentials)
    for key in ("missing", "empty"):
        with pytest.raises(InvalidBackendConfigError, match=key) as caught:
            credentials.require(key)
        assert "secret-token" not in str(caught.value)
