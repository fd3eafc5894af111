"""The contract every backend passes against its real server or emulator."""

from __future__ import annotations

import json

import pytest

from scaivault_federation.backends import (
    AuthenticationError,
    BackendUnavailableError,
    SecretNotFoundError,
)
from scaivault_federation.backends.base import RemoteSecret

from .harness import AnyHarness as Harness

SECRET_CANARY = "contract-secret-canary-5b2e"


async def test_lists_a_nested_tree_over_several_pages(harness: Harness) -> None:
    prefix = harness.new_prefix()
    count = 2 * (harness.page_size or 5) + 1
    expected = {f"{prefix}app/item{i}" for i in range(count)}
    expected |= {f"{prefix}app/nested/deep/leaf", f"{prefix}top"}
    for path in expected:
        harness.put(path, {"k": "v"})
    backend = await harness.backend()
    listed = {ref.path for ref in await backend.list_secrets(prefix)}
    assert listed == expected
    sub = {ref.path for ref in await backend.list_secrets(f"{prefix}app/nested/")}
    assert sub == {f"{prefix}app/nested/deep/leaf"}


async def test_lists_by_a_prefix_that_ends_inside_a_segment(harness: Harness) -> None:
    prefix = harness.new_prefix()
    wanted = {f"{prefix}db-a", f"{prefix}db-b", f"{prefix}db-c/nested"}
    for path in (*wanted, f"{prefix}dbx", f"{prefix}other/db-d", f"{prefix}Db-e"):
        harness.put(path, {"k": "v"})
    backend = await harness.backend()
    listed = {ref.path for ref in await backend.list_secrets(f"{prefix}db-")}
    assert listed == wanted


async def test_listing_an_empty_prefix_is_empty(harness: Harness) -> None:
    backend = await harness.backend()
    assert await backend.list_secrets(harness.new_prefix()) == []


async def test_values_of_every_kind_round_trip(harness: Harness) -> None:
    prefix = harness.new_prefix()
    backend = await harness.backend()
    if "json" in harness.value_kinds:
        harness.put(f"{prefix}json", {"user": "u", "password": SECRET_CANARY})
        got = await backend.get_secret(f"{prefix}json")
        value = got.value
        if isinstance(value, str):
            value = json.loads(value)
        assert value == {"user": "u", "password": SECRET_CANARY}
    if "string" in harness.value_kinds:
        harness.put(f"{prefix}string", "plain text value")
        assert (await backend.get_secret(f"{prefix}string")).value == "plain text value"
    if "binary" in harness.value_kinds:
        blob = bytes(range(256))
        harness.put(f"{prefix}binary", blob)
        assert (await backend.get_secret(f"{prefix}binary")).value == blob
    assert harness.value_kinds, "a backend holds at least one kind of value"


async def test_a_missing_secret_is_not_found(harness: Harness) -> None:
    backend = await harness.backend()
    with pytest.raises(SecretNotFoundError):
        await backend.get_secret(f"{harness.new_prefix()}absent")
    batch = await backend.get_many([f"{harness.new_prefix()}absent"])
    assert len(batch.missing) == 1 and not batch.found and not batch.failed


async def test_wrong_credentials_fail_without_leaking(harness: Harness) -> None:
    prefix = harness.new_prefix()
    harness.put(f"{prefix}guarded", {"password": SECRET_CANARY})
    backend = await harness.backend(bad_credentials=True)
    with pytest.raises(AuthenticationError) as caught:
        await backend.get_secret(f"{prefix}guarded")
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert harness.bad_credential not in text
    assert SECRET_CANARY not in text
    with pytest.raises(AuthenticationError):
        await backend.probe()


async def test_a_stopped_server_is_unavailable(harness: Harness) -> None:
    backend = await harness.stopped_backend()
    with pytest.raises(BackendUnavailableError) as caught:
        await backend.probe()
    assert caught.value.retryable
    with pytest.raises(BackendUnavailableError):
        await backend.list_secrets(harness.new_prefix())


async def test_probe_latency_is_positive(harness: Harness) -> None:
    backend = await harness.backend()
    latency = await backend.probe()
    assert isinstance(latency, float) and latency > 0


async def test_call_counts_match_what_was_done(harness: Harness) -> None:
    prefix = harness.new_prefix()
    n = 2 * (harness.page_size or 5) + 3
    paths = [f"{prefix}s{i:03d}" for i in range(n)]
    for path in paths:
        harness.put(path, {"k": "v"})
    backend = await harness.backend()
    await backend.probe()  # warm: log in, discover mounts
    await backend.list_secrets(harness.new_prefix())
    backend.calls.reset()

    await backend.list_secrets(prefix)
    assert backend.calls.total() == harness.expected_list_calls(n), backend.calls
    backend.calls.reset()

    await backend.get_secret(paths[0])
    assert backend.calls.total() == 1, backend.calls
    backend.calls.reset()

    batch = await backend.get_many(paths)
    assert len(batch.found) == n
    assert backend.calls.total() == harness.expected_batch_calls(n), backend.calls
    assert harness.expected_batch_calls(n) <= n


async def test_a_pinned_version_is_read_instead_of_the_current_one(harness: Harness) -> None:
    prefix = harness.new_prefix()
    pinned, current = f"{prefix}pinned", f"{prefix}current"
    harness.put(pinned, {"v": "one"})
    harness.put(current, {"v": "current"})
    backend = await harness.backend()
    first = await backend.get_secret(pinned)
    assert first.version is not None
    harness.put(pinned, {"v": "two"})

    def value(secret: RemoteSecret) -> object:
        raw = secret.value
        return json.loads(raw) if isinstance(raw, str) else raw

    assert value(await backend.get_secret(pinned)) == {"v": "two"}
    old = await backend.get_secret(pinned, first.version)
    assert value(old) == {"v": "one"} and old.version == first.version
    batch = await backend.get_many([pinned, current], versions={pinned: first.version})
    assert value(batch.found[pinned]) == {"v": "one"}
    assert value(batch.found[current]) == {"v": "current"}
    gone = await backend.get_many([pinned], versions={pinned: "999999"})
    assert pinned in gone.missing or pinned in gone.failed
