"""The contract every backend type passes against its real server or emulator: these
cases run once for each registered harness (``harness_<type>.py``). What only one
type does is in ``test_<type>.py``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from scaivault_federation.backends import (
    AuthenticationError,
    BackendUnavailableError,
    SecretBackend,
    SecretNotFoundError,
    ThrottledError,
)
from scaivault_federation.backends.base import RemoteSecret
from scaivault_federation.backends.factory import create_backend
from scaivault_federation.backends.registry import parse_config, type_names
from scaivault_federation.paths import PathScope, parse_mappings
from scaivault_federation.sync.described_by_reading import DescribedByReading
from scaivault_federation.sync.remote_scope import remote_refs, remote_scope

from .harness import AnyHarness as Harness
from .harness import Value

SECRET_CANARY = "contract-secret-canary-5b2e"
#: the cases run for every harness variant too (keyless identities, say)
RUN_VARIANTS = True


def plain(secret: RemoteSecret) -> object:
    """The value as written: a map stored as JSON text reads back as the map."""
    raw = secret.value
    return json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else raw


async def warm(harness: Harness) -> SecretBackend:
    """A backend that has logged in and looked its store up, its call counts at zero."""
    backend = await harness.backend()
    await backend.probe()
    await backend.list_secrets(harness.new_prefix())
    backend.calls.reset()
    return backend


async def test_the_operator_builds_this_type_from_a_spec_without_calling_out(
    harness: Harness,
) -> None:
    assert harness.backend_type in type_names()
    config = parse_config(harness.backend_type, harness.spec_config("creds/backend"))
    credentials = await harness.loaded_credentials()
    environment = harness.client_environment()
    backend = await create_backend(harness.backend_type, config, credentials, environment)
    harness.opened.append(backend)
    assert backend.backend_type == harness.backend_type
    assert backend.calls.total() == 0
    assert await backend.probe() > 0


async def test_lists_a_nested_tree_over_several_pages(harness: Harness) -> None:
    prefix = harness.new_prefix()
    count = 2 * (harness.page_size or 5) + 1
    expected = {f"{prefix}app/item{i}" for i in range(count)}
    expected |= {f"{prefix}app/nested/deep/leaf", f"{prefix}top"}
    for path in expected:
        harness.put(path, {"k": "v"})
    backend = await harness.backend()
    listed = [ref.path for ref in await backend.list_secrets(prefix)]
    assert listed == sorted(expected)
    sub = {ref.path for ref in await backend.list_secrets(f"{prefix}app/nested/")}
    assert sub == {f"{prefix}app/nested/deep/leaf"}
    # page by page, as the store answers: every secret once over the pages
    backend.calls.reset()
    pages = [page async for page in backend.list_pages(prefix)]
    paged = [ref.path for page in pages for ref in page]
    assert sorted(paged) == listed and len(set(paged)) == len(paged)
    assert 1 <= len(pages) <= backend.calls.total(), backend.calls


async def test_lists_by_a_prefix_that_ends_inside_a_segment(harness: Harness) -> None:
    prefix = harness.new_prefix()
    wanted = {f"{prefix}db-a", f"{prefix}db-b", f"{prefix}db-c/nested"}
    for path in (*wanted, f"{prefix}dbx", f"{prefix}other/db-d", f"{prefix}Db-e"):
        harness.put(path, {"k": "v"})
    backend = await harness.backend()
    listed = {ref.path for ref in await backend.list_secrets(f"{prefix}db-")}
    assert listed == wanted


async def test_a_folder_matches_neither_a_longer_name_nor_itself_and_all_lists_everything(
    harness: Harness,
) -> None:
    prefix = harness.new_prefix()
    wanted = [f"{prefix}prod/db", f"{prefix}prod/nested/api"]
    others = [f"{prefix}prod2/db", f"{prefix}prod", f"{prefix}prods"]
    for path in (*wanted, *others):
        harness.put(path, {"k": "v"})
    backend = await harness.backend()
    assert [ref.path for ref in await backend.list_secrets(f"{prefix}prod/")] == wanted
    everything = {ref.path for ref in await backend.list_secrets("")}
    assert {*wanted, *others} <= everything


async def test_listing_an_empty_prefix_is_empty(harness: Harness) -> None:
    backend = await harness.backend()
    assert await backend.list_secrets(harness.new_prefix()) == []


async def test_values_of_every_kind_round_trip(harness: Harness) -> None:
    prefix = harness.new_prefix()
    backend = await harness.backend()
    if "json" in harness.value_kinds:
        harness.put(f"{prefix}json", {"user": "u", "password": SECRET_CANARY})
        got = await backend.get_secret(f"{prefix}json")
        assert plain(got) == {"user": "u", "password": SECRET_CANARY}
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
    with pytest.raises(SecretNotFoundError) as caught:
        await backend.get_secret(f"{harness.new_prefix()}absent")
    assert not caught.value.retryable
    batch = await backend.get_many([f"{harness.new_prefix()}absent"])
    assert len(batch.missing) == 1 and not batch.found and not batch.failed


async def test_get_many_reads_each_path_once_and_reports_missing_in_request_order(
    harness: Harness,
) -> None:
    prefix = harness.new_prefix()
    a, b, x, y = (f"{prefix}{name}" for name in ("a", "b", "x", "y"))
    second: Value = b"\x00\xffB" if "binary" in harness.value_kinds else {"k": "B"}
    harness.put(a, {"k": "A"})
    harness.put(b, second)
    backend = await warm(harness)
    batch = await backend.get_many([b, x, a, y, a])
    assert plain(batch.found[a]) == {"k": "A"}
    assert plain(batch.found[b]) == second
    assert set(batch.found) == {a, b}
    assert batch.missing == [x, y]
    assert not batch.failed
    assert backend.calls.total() == harness.expected_batch_calls(4), backend.calls


async def test_a_switched_off_or_deleted_secret_is_not_read(harness: Harness) -> None:
    prefix = harness.new_prefix()
    live, off, gone = f"{prefix}live", f"{prefix}off", f"{prefix}gone"
    harness.put(live, {"k": "v"})
    for path in (off, gone):
        harness.put(path, {"password": SECRET_CANARY})
    harness.switch_off(off)
    harness.delete(gone)
    backend = await harness.backend()
    listed = [ref.path for ref in await backend.list_secrets(prefix)]
    assert listed == ([live, off] if harness.lists_switched_off else [live])
    for path in (off, gone):
        with pytest.raises(SecretNotFoundError) as caught:
            await backend.get_secret(path)
        assert SECRET_CANARY not in str(caught.value)
    batch = await backend.get_many([live, off, gone])
    assert list(batch.found) == [live]
    assert batch.missing == [off, gone] and not batch.failed


async def test_describing_paths_answers_what_a_read_would_find_without_listing(
    harness: Harness,
) -> None:
    prefix = harness.new_prefix()
    live, off, gone, absent = (f"{prefix}{name}" for name in ("live", "off", "gone", "absent"))
    harness.put(live, {"k": "v1"})
    for path in (off, gone):
        harness.put(path, {"password": SECRET_CANARY})
    harness.switch_off(off)
    harness.delete(gone)
    backend = await warm(harness)
    described = await backend.describe_secrets([live, off, gone, absent, live])
    assert list(described.found) == [live]
    assert described.missing == [off, gone, absent] and not described.failed
    assert backend.calls.get("list") == 0, backend.calls
    assert 1 <= backend.calls.total() <= 4, backend.calls  # at most one call per path
    assert SECRET_CANARY not in repr(described)

    read = await backend.get_secret(live)
    assert described.found[live].path == live
    assert described.found[live].version == read.version
    harness.put(live, {"k": "v2"})
    again = await backend.describe_secrets([live])
    newer = await backend.get_secret(live)
    assert again.found[live].version == newer.version
    if read.version is not None:
        assert newer.version != read.version


async def test_an_expiry_the_store_keeps_comes_with_the_listing_at_no_extra_call(
    harness: Harness,
) -> None:
    """A secret's expiry or next rotation, where the store keeps one, is on what the
    listing (and, where the store's description holds it, describing) already answers;
    a secret without one has none. The calls are those of a listing without expiries."""
    prefix = harness.new_prefix()
    n = 2 * (harness.page_size or 5) + 1
    paths = [f"{prefix}s{i:03d}" for i in range(n)]
    for path in paths:
        harness.put(path, {"password": SECRET_CANARY})
    expiring, plain = paths[3], paths[4]
    held = harness.expire(expiring, days=3)
    soon = datetime.now(UTC) + timedelta(days=3)
    if held is not None:
        assert abs((held - soon).total_seconds()) < 120, held
    backend = await warm(harness)

    listed = {ref.path: ref for ref in await backend.list_secrets(prefix)}
    assert backend.calls.total() == harness.expected_list_calls(n), backend.calls
    assert listed[expiring].expires_at == held
    assert {path for path, ref in listed.items() if ref.expires_at is not None} == (
        {expiring} if held is not None else set()
    )
    backend.calls.reset()

    described = await backend.describe_secrets([expiring, plain])
    assert backend.calls.total() <= 2, backend.calls
    assert described.found[plain].expires_at is None
    assert described.found[expiring].expires_at == (held if harness.describes_expiry else None)
    assert SECRET_CANARY not in repr(listed) + repr(described)


async def test_a_per_path_sync_of_one_path_makes_one_call_and_lists_nothing(
    harness: Harness,
) -> None:
    """What a per-path sync asks the backend (its look-up, which is its read) on a store
    of several listing pages: the same for one path whatever the store holds."""
    prefix = harness.new_prefix()
    paths = [f"{prefix}s{i:03d}" for i in range(3 * (harness.page_size or 10))]
    for path in paths:
        harness.put(path, {"k": "v"})
    harness.delete(paths[-1])
    backend = await warm(harness)
    mappings = parse_mappings({"app/**": f"{prefix}**"})

    asked = remote_scope(mappings, PathScope(["app/s007"]))
    reading = DescribedByReading(backend)  # the client of a per-path sync
    refs = await remote_refs(reading, asked, describe=True)
    batch = await reading.get_many(list(refs))
    assert list(batch.found) == [paths[7]]
    assert backend.calls.get("list") == 0, backend.calls
    assert backend.calls.total() == 1, backend.calls

    backend.calls.reset()  # a path gone remotely: one look-up says so, nothing else
    gone = remote_scope(mappings, PathScope([f"app/s{len(paths) - 1:03d}"]))
    assert await remote_refs(DescribedByReading(backend), gone, describe=True) == {}
    assert backend.calls.total() == 1, backend.calls


async def test_wrong_credentials_fail_every_call_once_without_leaking(harness: Harness) -> None:
    prefix = harness.new_prefix()
    harness.put(f"{prefix}guarded", {"password": SECRET_CANARY})
    backend = await harness.backend(bad_credentials=True)
    secrets = (harness.bad_credential, *harness.credentials(bad=True).values(), SECRET_CANARY)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: backend.get_secret(f"{prefix}guarded"),
        backend.probe,
        lambda: backend.list_secrets(prefix),
    ]
    for done, call in enumerate(calls, start=1):
        with pytest.raises(AuthenticationError) as caught:
            await call()
        assert not caught.value.retryable
        text = f"{caught.value} {caught.value!r} {caught.value.args}"
        for secret in secrets:
            assert secret not in text
        assert backend.calls.total() == done, backend.calls  # refused once, not retried
    batch = await backend.get_many([f"{prefix}guarded"])
    assert isinstance(batch.failed[f"{prefix}guarded"], AuthenticationError)
    backend.calls.reset()
    described = await backend.describe_secrets([f"{prefix}guarded"])
    assert isinstance(described.failed[f"{prefix}guarded"], AuthenticationError)
    assert backend.calls.total() == 1, backend.calls


async def test_a_stopped_server_is_unavailable_and_not_asked_for_every_path(
    harness: Harness,
) -> None:
    backend = await harness.stopped_backend()
    backend.calls.reset()
    with pytest.raises(BackendUnavailableError) as caught:
        await backend.probe()
    assert caught.value.retryable
    with pytest.raises(BackendUnavailableError):
        await backend.list_secrets(harness.new_prefix())
    with pytest.raises(BackendUnavailableError) as read:
        await backend.get_secret(f"{harness.new_prefix()}s")
    assert read.value.retryable
    backend.calls.reset()
    paths = [f"{harness.new_prefix()}s{i}" for i in range(45)]
    batch = await backend.get_many(paths)
    assert set(batch.failed) == set(paths)
    assert all(isinstance(e, BackendUnavailableError) for e in batch.failed.values())
    assert 1 <= backend.calls.total() < len(paths), backend.calls
    assert {result for _, result in backend.calls.snapshot()} == {"unavailable"}
    backend.calls.reset()
    described = await backend.describe_secrets(paths)
    assert set(described.failed) == set(paths)
    assert all(isinstance(e, BackendUnavailableError) for e in described.failed.values())
    assert 1 <= backend.calls.total() < len(paths), backend.calls


async def test_a_throttling_server_gives_throttled_errors_with_its_retry_after(
    throttling_harness: Harness,
) -> None:
    harness = throttling_harness
    prefix = harness.new_prefix()
    paths = [f"{prefix}s{i}" for i in range(5)]
    for path in paths:
        harness.put(path, {"k": "v"})
    backend = await warm(harness)
    most = await harness.throttle()
    with pytest.raises(ThrottledError) as caught:
        await backend.get_secret(paths[0])
    assert caught.value.retryable
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= most
    batch = await backend.get_many(paths)
    assert set(batch.failed) == set(paths)
    assert all(isinstance(e, ThrottledError) for e in batch.failed.values())


async def test_probe_is_one_call_and_its_latency_is_positive(harness: Harness) -> None:
    backend = await harness.backend()
    latency = await backend.probe()
    assert isinstance(latency, float) and latency > 0
    assert backend.calls.total() == 1, backend.calls


async def test_call_counts_match_what_was_done(harness: Harness) -> None:
    prefix = harness.new_prefix()
    n = 2 * (harness.page_size or 5) + 3
    paths = [f"{prefix}s{i:03d}" for i in range(n)]
    for path in paths:
        harness.put(path, {"k": "v"})
    backend = await warm(harness)

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

    assert plain(await backend.get_secret(pinned)) == {"v": "two"}
    old = await backend.get_secret(pinned, first.version)
    assert plain(old) == {"v": "one"} and old.version == first.version
    batch = await backend.get_many([pinned, current], versions={pinned: first.version})
    assert plain(batch.found[pinned]) == {"v": "one"}
    assert plain(batch.found[current]) == {"v": "current"}
    gone = await backend.get_many([pinned], versions={pinned: "999999"})
    assert pinned in gone.missing or pinned in gone.failed
