"""One sync against the in-memory backend and Secret store: what is read, what is
written, and what a failure or a conflict leaves alone."""

from __future__ import annotations

from typing import Any

import pytest

from scaivault_federation.backends.errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailableError,
)
from scaivault_federation.backends.fake import FakeBackend
from scaivault_federation.k8s.client import ConflictError, ForbiddenError, InvalidError
from scaivault_federation.labels import (
    BACKEND_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
)
from scaivault_federation.sync.mac import compute_mac
from scaivault_federation.sync.plan import ConflictReason
from scaivault_federation.sync.service import SyncContext, SyncOutcome, run_sync
from tests.unit.engine_fakes import (
    MAC_KEY,
    NAME,
    NAMESPACE,
    OPT_IN,
    MemorySecretStorage,
    managed_secret,
    spec_of,
    unmanaged_secret,
)

REMOTE: dict[str, Any] = {
    "prod/api": "token-1",
    "prod/db": {"user": "app", "password": "pw-1"},
    "prod/blob": b"\x00\x01",
}


def make_backend(secrets: dict[str, Any] | None = None) -> FakeBackend:
    return FakeBackend(REMOTE if secrets is None else secrets)


async def sync(backend: FakeBackend, store: MemorySecretStorage, **spec: Any) -> SyncOutcome:
    ctx = SyncContext(NAMESPACE, NAME, spec_of(**spec), backend, store, MAC_KEY)
    return await run_sync(ctx)


async def synced_once(
    secrets: dict[str, Any] | None = None, **spec: Any
) -> tuple[FakeBackend, MemorySecretStorage]:
    """A backend and a store after a first sync, with every counter reset."""
    backend, store = make_backend(secrets), MemorySecretStorage()
    first = await sync(backend, store, **spec)
    assert first.item_errors == {} and first.conflicts == []
    backend.calls.reset()
    store.reset_counts()
    return backend, store


def summary(outcome: SyncOutcome) -> dict[str, int]:
    return {
        "synced": outcome.secrets_synced,
        "written": outcome.written,
        "deleted": outcome.deleted,
        "orphaned": outcome.orphaned,
    }


def conflicts(outcome: SyncOutcome) -> list[tuple[str, str, ConflictReason]]:
    return sorted((c.path, c.remote_path, c.reason) for c in outcome.conflicts)


# -- what a sync reads and writes ----------------------------------------------------------


async def test_first_sync_writes_every_path() -> None:
    backend, store = make_backend(), MemorySecretStorage()

    outcome = await sync(backend, store)

    assert summary(outcome) == {"synced": 3, "written": 3, "deleted": 0, "orphaned": 0}
    assert outcome.conflicts == [] and outcome.item_errors == {} and outcome.takeovers == []
    assert outcome.duration_ms >= 1
    assert store.data(NAMESPACE) == {
        "app-api": {"value": b"token-1"},
        "app-blob": {"value": b"\x00\x01"},
        "app-db": {"user": b"app", "password": b"pw-1"},
    }
    db = store.secret(NAMESPACE, "app-db")
    assert db is not None
    assert db.labels == {MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: NAME}
    assert db.annotations[PATH_ANNOTATION] == "app/db"
    assert db.annotations[REMOTE_PATH_ANNOTATION] == "prod/db"
    assert db.annotations[REMOTE_VERSION_ANNOTATION] == "1"
    assert db.annotations[SOURCE_MAC_ANNOTATION] == compute_mac(MAC_KEY, "app/db", db.data)
    # one listing, one read per secret; Secrets are created without being looked up
    assert backend.calls.snapshot() == {("list", "ok"): 1, ("read", "ok"): 3}
    assert store.calls == {"list_managed": 1, "create": 3}


async def test_second_unchanged_sync_reads_and_writes_nothing() -> None:
    backend, store = await synced_once()
    versions = {n: store.secret(NAMESPACE, n) for n in store.names(NAMESPACE)}

    outcome = await sync(backend, store)

    assert summary(outcome) == {"synced": 3, "written": 0, "deleted": 0, "orphaned": 0}
    assert backend.calls.snapshot() == {("list", "ok"): 1}  # the versions say: unchanged
    assert store.calls == {"list_managed": 1}
    assert {n: store.secret(NAMESPACE, n) for n in store.names(NAMESPACE)} == versions


async def test_one_changed_remote_value_rewrites_exactly_one_secret() -> None:
    backend, store = await synced_once()
    before = {n: store.secret(NAMESPACE, n) for n in store.names(NAMESPACE)}
    backend.set("prod/api", "token-2")

    outcome = await sync(backend, store)

    assert summary(outcome) == {"synced": 3, "written": 1, "deleted": 0, "orphaned": 0}
    assert store.written == ["app-api"]
    assert store.calls == {"list_managed": 1, "replace": 1}
    assert backend.calls.snapshot() == {("list", "ok"): 1, ("read", "ok"): 1}
    api = store.secret(NAMESPACE, "app-api")
    assert api is not None and api.data == {"value": b"token-2"}
    assert api.annotations[REMOTE_VERSION_ANNOTATION] == "2"
    for name in ("app-blob", "app-db"):
        assert store.secret(NAMESPACE, name) == before[name]


async def test_a_new_version_with_the_same_value_is_recorded_without_a_read_next_time() -> None:
    backend, store = await synced_once()
    backend.set("prod/api", "token-1")  # version 2, same value

    outcome = await sync(backend, store)
    again = await sync(backend, store)

    assert outcome.written == 1 and store.written == ["app-api"]
    api = store.secret(NAMESPACE, "app-api")
    assert api is not None and api.annotations[REMOTE_VERSION_ANNOTATION] == "2"
    assert again.written == 0
    assert backend.calls.get("read") == 1  # the second sync read nothing


async def test_every_mapping_prefix_is_listed_once() -> None:
    backend = make_backend({"prod/a": "1", "prod/x/b": "2", "stage/c": "3", "dev/d": "4"})
    store = MemorySecretStorage()

    outcome = await sync(
        backend,
        store,
        pathMapping={"app/*": "prod/*", "app/x/*": "prod/x/*", "stage/*": "stage/*"},
    )

    assert backend.calls.get("list") == 2  # prod/ covers prod/x/
    assert store.names(NAMESPACE) == ["app-a", "app-x-b", "stage-c"]
    assert outcome.secrets_synced == 3


async def test_a_mapping_without_wildcards_syncs_its_one_path() -> None:
    backend = make_backend({"legacy/db-password": "s3cret", "legacy/other": "x"})
    store = MemorySecretStorage()

    outcome = await sync(backend, store, pathMapping={"app/db": "legacy/db-password"})

    assert summary(outcome) == {"synced": 1, "written": 1, "deleted": 0, "orphaned": 0}
    assert store.data(NAMESPACE) == {"app-db": {"value": b"s3cret"}}
    backend.calls.reset()
    store.reset_counts()

    again = await sync(backend, store, pathMapping={"app/db": "legacy/db-password"})

    assert summary(again) == {"synced": 1, "written": 0, "deleted": 0, "orphaned": 0}
    assert store.writes == 0

    backend.delete("legacy/db-password")
    gone = await sync(backend, store, pathMapping={"app/db": "legacy/db-password"})

    assert summary(gone) == {"synced": 0, "written": 0, "deleted": 0, "orphaned": 1}
    assert gone.item_errors == {}
    assert store.marked_orphaned == ["app-db"]


async def test_a_literal_mapping_beside_a_wildcard_one_keeps_the_listed_version() -> None:
    mapping = {"app/db": "prod/special/db", "app/*": "prod/*"}
    backend = make_backend({"prod/special/db": "s", "prod/api": "t"})
    store = MemorySecretStorage()

    first = await sync(backend, store, pathMapping=mapping)
    backend.calls.reset()
    again = await sync(backend, store, pathMapping=mapping)

    assert first.written == 2 and first.conflicts == []
    assert store.data(NAMESPACE) == {"app-api": {"value": b"t"}, "app-db": {"value": b"s"}}
    assert again.written == 0
    assert backend.calls.snapshot() == {("list", "ok"): 1}  # the listing covered both


async def test_a_changed_mapping_reads_the_new_remote_path_despite_an_equal_version() -> None:
    backend = make_backend({"prod/db": "from-prod", "stage/db": "from-stage"})  # both version 1
    store = MemorySecretStorage()
    await sync(backend, store, pathMapping={"app/*": "prod/*"})

    outcome = await sync(backend, store, pathMapping={"app/*": "stage/*"})

    assert summary(outcome) == {"synced": 1, "written": 1, "deleted": 0, "orphaned": 0}
    db = store.secret(NAMESPACE, "app-db")
    assert db is not None and db.data == {"value": b"from-stage"}
    assert db.annotations[REMOTE_PATH_ANNOTATION] == "stage/db"


# -- failures that fail one path -----------------------------------------------------------


async def test_a_failed_read_fails_that_path_only() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    backend.fail_paths["prod/api"] = BackendUnavailableError("fake: 503 reading prod/api")

    outcome = await sync(backend, store)

    assert outcome.item_errors == {"app/api": "fake: 503 reading prod/api"}
    assert summary(outcome) == {"synced": 2, "written": 2, "deleted": 0, "orphaned": 0}
    assert store.names(NAMESPACE) == ["app-blob", "app-db"]


async def test_a_failed_read_keeps_the_local_copy_even_with_prune() -> None:
    backend, store = await synced_once(prune=True)
    backend.set("prod/api", "token-2")
    backend.fail_paths["prod/api"] = AuthenticationError("fake: 403 on prod/api")

    outcome = await sync(backend, store, prune=True)

    assert outcome.item_errors == {"app/api": "fake: 403 on prod/api"}
    assert summary(outcome) == {"synced": 2, "written": 0, "deleted": 0, "orphaned": 0}
    assert store.calls == {"list_managed": 1}
    assert store.data(NAMESPACE)["app-api"] == {"value": b"token-1"}


async def test_a_failed_batch_read_fails_its_paths_only() -> None:
    backend = FakeBackend(REMOTE, batch_size=10)
    backend.fail_paths["prod/blob"] = BackendUnavailableError("fake: 500 on prod/blob")
    store = MemorySecretStorage()

    outcome = await sync(backend, store)

    assert outcome.item_errors == {"app/blob": "fake: 500 on prod/blob"}
    assert store.names(NAMESPACE) == ["app-api", "app-db"]
    assert backend.calls.snapshot() == {("list", "ok"): 1, ("batch_read", "ok"): 1}


async def test_invalid_and_oversized_values_fail_their_paths_only() -> None:
    backend = make_backend(
        {
            "prod/bad-key": {"not valid!": "x"},
            "prod/huge": b"x" * (1024 * 1024),
            "prod/ok": "fine",
        }
    )
    store = MemorySecretStorage()

    outcome = await sync(backend, store)

    assert outcome.item_errors == {
        "app/bad-key": "key 'not valid!' is not a valid Secret data key "
        "(letters, digits, '-', '_' and '.' only)",
        "app/huge": "value is 1048581 bytes, over the 1 MiB Secret limit",
    }
    assert summary(outcome) == {"synced": 1, "written": 1, "deleted": 0, "orphaned": 0}
    assert store.names(NAMESPACE) == ["app-ok"]


async def test_a_secret_listed_then_gone_before_the_read_is_absent() -> None:
    backend = make_backend()
    store = MemorySecretStorage()
    real_get_many = backend.get_many

    async def vanishing(paths: Any, versions: Any = None) -> Any:
        backend.delete("prod/api")
        return await real_get_many(paths, versions)

    backend.get_many = vanishing  # type: ignore[method-assign]

    outcome = await sync(backend, store)

    assert outcome.item_errors == {}
    assert summary(outcome) == {"synced": 2, "written": 2, "deleted": 0, "orphaned": 0}
    assert store.names(NAMESPACE) == ["app-blob", "app-db"]


async def test_a_failed_write_fails_that_path_only() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    store.fail("write", "app-db", ConflictError(409, "Conflict", "the object has been modified"))

    outcome = await sync(backend, store)

    assert outcome.item_errors == {"app/db": "write failed: Conflict"}
    assert summary(outcome) == {"synced": 2, "written": 2, "deleted": 0, "orphaned": 0}
    assert store.names(NAMESPACE) == ["app-api", "app-blob"]


async def test_a_create_meeting_a_hand_made_secret_reads_it_and_reports_a_conflict() -> None:
    """Creates are not preceded by a lookup: the apiserver's 409 is what finds a
    Secret nobody manages, and only then is that one Secret read and planned again."""
    backend, store = make_backend(), MemorySecretStorage()
    store.put(NAMESPACE, unmanaged_secret("app-api", {"value": b"mine"}))

    outcome = await sync(backend, store)

    assert [(c.path, c.reason.value) for c in outcome.conflicts] == [
        ("app/api", "UnmanagedSecretDiffers")
    ]
    assert outcome.item_errors == {}
    assert outcome.written == 2 and outcome.secrets_synced == 2
    assert store.data(NAMESPACE)["app-api"] == {"value": b"mine"}
    assert store.calls == {"list_managed": 1, "create": 3, "get": 1}


async def test_a_create_whose_blocker_vanished_is_made_after_all() -> None:
    """The 409's Secret is gone by the time it is read: the create is tried once more."""
    backend, store = make_backend(), MemorySecretStorage()
    store.put(NAMESPACE, unmanaged_secret("app-api", {"value": b"mine"}))
    real_get = store.get

    async def vanishing_get(namespace: str, name: str) -> Any:
        store.remove(namespace, name)
        return await real_get(namespace, name)

    store.get = vanishing_get  # type: ignore[method-assign]

    outcome = await sync(backend, store)

    assert outcome.conflicts == [] and outcome.item_errors == {}
    assert outcome.written == 3 and outcome.secrets_synced == 3
    assert store.data(NAMESPACE)["app-api"] == {"value": b"token-1"}


async def test_a_failed_delete_fails_that_path_only() -> None:
    backend, store = await synced_once(prune=True)
    backend.delete("prod/api")
    backend.delete("prod/blob")
    store.fail("delete", "app-api", ForbiddenError(403, "Forbidden", "cannot delete"))

    outcome = await sync(backend, store, prune=True)

    assert outcome.item_errors == {"app/api": "delete failed: Forbidden"}
    assert summary(outcome) == {"synced": 1, "written": 0, "deleted": 1, "orphaned": 0}
    assert store.deleted == ["app-blob"]
    assert store.names(NAMESPACE) == ["app-api", "app-db"]


async def test_a_failed_orphan_mark_fails_that_path_only() -> None:
    backend, store = await synced_once()
    backend.delete("prod/api")
    backend.delete("prod/blob")
    store.fail("mark_orphaned", "app-blob", InvalidError(422, "Invalid", "rejected"))

    outcome = await sync(backend, store)

    assert outcome.item_errors == {"app/blob": "marking orphaned failed: Invalid"}
    assert summary(outcome) == {"synced": 1, "written": 0, "deleted": 0, "orphaned": 1}
    assert store.marked_orphaned == ["app-api"]
    blob = store.secret(NAMESPACE, "app-blob")
    assert blob is not None and ORPHANED_AT_ANNOTATION not in blob.annotations


async def test_failures_of_every_kind_in_one_sync_leave_the_rest_applied() -> None:
    secrets = {f"prod/s{i}": f"v{i}" for i in range(6)}
    backend, store = await synced_once(secrets, prune=True)
    backend.set("prod/s0", "new-0")
    backend.set("prod/s1", "new-1")
    backend.delete("prod/s2")
    backend.delete("prod/s3")
    backend.set("prod/s4", "new-4")
    backend.fail_paths["prod/s4"] = BackendUnavailableError("fake: timeout")
    store.fail("write", "app-s1", ConflictError(409, "Conflict", "modified"))
    store.fail("delete", "app-s3", ConflictError(409, "Conflict", "precondition"))

    outcome = await sync(backend, store, prune=True)

    assert outcome.item_errors == {
        "app/s1": "write failed: Conflict",
        "app/s3": "delete failed: Conflict",
        "app/s4": "fake: timeout",
    }
    assert summary(outcome) == {"synced": 2, "written": 1, "deleted": 1, "orphaned": 0}
    assert store.written == ["app-s0"] and store.deleted == ["app-s2"]
    assert store.data(NAMESPACE) == {
        "app-s0": {"value": b"new-0"},
        "app-s1": {"value": b"v1"},
        "app-s3": {"value": b"v3"},
        "app-s4": {"value": b"v4"},
        "app-s5": {"value": b"v5"},
    }


# -- conflicts: listed, local value kept ---------------------------------------------------


async def test_an_unmanaged_secret_with_another_value_is_listed_and_kept() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    mine = store.put(NAMESPACE, unmanaged_secret("app-api", {"value": b"mine"}))

    outcome = await sync(backend, store)

    assert conflicts(outcome) == [("app/api", "prod/api", ConflictReason.LOCAL_SECRET_DIFFERS)]
    assert summary(outcome) == {"synced": 2, "written": 2, "deleted": 0, "orphaned": 0}
    assert store.secret(NAMESPACE, "app-api") == mine
    assert outcome.takeovers == []


async def test_an_unmanaged_secret_with_the_same_value_is_left_alone() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    mine = store.put(NAMESPACE, unmanaged_secret("app-api", {"value": b"token-1"}))

    outcome = await sync(backend, store)

    assert outcome.conflicts == [] and outcome.item_errors == {}
    assert outcome.written == 2
    assert store.secret(NAMESPACE, "app-api") == mine


async def test_a_hand_edited_managed_secret_is_listed_and_kept() -> None:
    backend, store = await synced_once()
    store.edit(NAMESPACE, "app-db", {"user": b"app", "password": b"by-hand"})

    outcome = await sync(backend, store)

    assert conflicts(outcome) == [("app/db", "prod/db", ConflictReason.LOCAL_EDIT)]
    assert summary(outcome) == {"synced": 2, "written": 0, "deleted": 0, "orphaned": 0}
    assert store.data(NAMESPACE)["app-db"] == {"user": b"app", "password": b"by-hand"}
    # the edit made the version check insufficient: the drifted path was read again
    assert backend.calls.snapshot() == {("list", "ok"): 1, ("read", "ok"): 1}


async def test_a_hand_edit_that_matches_the_remote_value_again_is_resealed() -> None:
    backend, store = await synced_once()
    store.edit(NAMESPACE, "app-api", {"value": b"by-hand"})
    backend.set("prod/api", "by-hand")

    outcome = await sync(backend, store)

    assert outcome.conflicts == [] and store.written == ["app-api"]
    api = store.secret(NAMESPACE, "app-api")
    assert api is not None
    assert api.annotations[SOURCE_MAC_ANNOTATION] == compute_mac(MAC_KEY, "app/api", api.data)


async def test_two_mappings_producing_one_path_are_listed_and_the_first_kept() -> None:
    backend = make_backend({"prod/db": "from-prod", "stage/db": "from-stage"})
    store = MemorySecretStorage()

    outcome = await sync(backend, store, pathMapping={"app/*": "prod/*", "app/**": "stage/**"})

    assert conflicts(outcome) == [("app/db", "stage/db", ConflictReason.DUPLICATE_MAPPING)]
    assert store.data(NAMESPACE) == {"app-db": {"value": b"from-prod"}}
    assert summary(outcome) == {"synced": 1, "written": 1, "deleted": 0, "orphaned": 0}


@pytest.mark.parametrize(
    "mapping",
    [
        {"app/db": "z-override/db", "app/*": "a-team/*"},
        {"app/*": "z-override/*", "app/**": "a-team/**"},
    ],
    ids=["literal-over-wildcard", "star-over-double-star"],
)
async def test_the_more_specific_mapping_owns_a_path_whatever_the_remote_names(
    mapping: dict[str, str],
) -> None:
    """The mapping of higher precedence wins, even when the other's remote path sorts first."""
    backend = make_backend({"a-team/db": "generic", "z-override/db": "specific"})
    store = MemorySecretStorage()

    outcome = await sync(backend, store, pathMapping=mapping)

    assert conflicts(outcome) == [("app/db", "a-team/db", ConflictReason.DUPLICATE_MAPPING)]
    assert store.data(NAMESPACE) == {"app-db": {"value": b"specific"}}
    assert outcome.secrets_synced == 1


async def test_two_paths_with_one_secret_name_are_listed() -> None:
    backend = make_backend({"prod/a-b": "dash", "prod/a/b": "slash"})
    store = MemorySecretStorage()

    outcome = await sync(backend, store, pathMapping={"app/**": "prod/**"})

    assert conflicts(outcome) == [("app/a/b", "prod/a/b", ConflictReason.NAME_COLLISION)]
    assert store.data(NAMESPACE) == {"app-a-b": {"value": b"dash"}}


async def test_a_name_collision_stays_listed_on_later_syncs() -> None:
    backend = make_backend({"prod/a-b": "dash", "prod/a/b": "slash"})  # both at version 1
    store = MemorySecretStorage()

    first = await sync(backend, store, pathMapping={"app/**": "prod/**"})
    second = await sync(backend, store, pathMapping={"app/**": "prod/**"})

    for outcome in (first, second):
        assert conflicts(outcome) == [("app/a/b", "prod/a/b", ConflictReason.NAME_COLLISION)]
        assert outcome.secrets_synced == 1
    assert store.data(NAMESPACE) == {"app-a-b": {"value": b"dash"}}


async def test_another_backends_secret_is_listed_and_never_touched() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    theirs = store.put(
        NAMESPACE,
        managed_secret("app-api", "app/api", {"value": b"theirs"}, backend="vault-prod"),
    )

    for policy in ("report", "overwrite"):
        outcome = await sync(backend, store, conflictPolicy=policy)
        assert conflicts(outcome) == [("app/api", "prod/api", ConflictReason.OTHER_BACKEND)]
        assert outcome.takeovers == []
        assert store.secret(NAMESPACE, "app-api") == theirs


async def test_overwrite_takes_over_edited_and_opted_in_secrets() -> None:
    backend, store = await synced_once(conflictPolicy="overwrite")
    store.edit(NAMESPACE, "app-db", {"user": b"app", "password": b"by-hand"})
    store.put(NAMESPACE, unmanaged_secret("app-new", {"value": b"mine"}, OPT_IN))
    backend.set("prod/new", "remote-new")

    outcome = await sync(backend, store, conflictPolicy="overwrite")

    assert outcome.conflicts == []
    assert sorted(outcome.takeovers) == ["app/db", "app/new"]
    assert summary(outcome) == {"synced": 4, "written": 2, "deleted": 0, "orphaned": 0}
    assert store.data(NAMESPACE)["app-db"] == {"user": b"app", "password": b"pw-1"}
    new = store.secret(NAMESPACE, "app-new")
    assert new is not None and new.data == {"value": b"remote-new"}
    assert new.labels == {MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: NAME, **OPT_IN}


async def test_overwrite_leaves_a_secret_that_does_not_opt_in() -> None:
    backend, store = await synced_once(conflictPolicy="overwrite")
    store.put(NAMESPACE, unmanaged_secret("app-new", {"value": b"mine"}))
    mine = store.secret(NAMESPACE, "app-new")
    backend.set("prod/new", "remote-new")

    outcome = await sync(backend, store, conflictPolicy="overwrite")

    assert conflicts(outcome) == [("app/new", "prod/new", ConflictReason.NOT_OURS)]
    assert outcome.takeovers == []
    assert store.secret(NAMESPACE, "app-new") == mine


async def test_a_failed_takeover_is_an_error_not_a_takeover() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    store.put(NAMESPACE, unmanaged_secret("app-api", {"value": b"mine"}, OPT_IN))
    store.fail("write", "app-api", ConflictError(409, "Conflict", "modified"))

    outcome = await sync(backend, store, conflictPolicy="overwrite")

    assert outcome.takeovers == []
    assert outcome.item_errors == {"app/api": "write failed: Conflict"}
    assert store.data(NAMESPACE)["app-api"] == {"value": b"mine"}


# -- remote deletions ------------------------------------------------------------------------


async def test_prune_deletes_secrets_whose_remote_secret_is_gone() -> None:
    backend, store = await synced_once(prune=True)
    backend.delete("prod/api")

    outcome = await sync(backend, store, prune=True)

    assert summary(outcome) == {"synced": 2, "written": 0, "deleted": 1, "orphaned": 0}
    assert store.deleted == ["app-api"]
    assert store.names(NAMESPACE) == ["app-blob", "app-db"]


async def test_without_prune_a_gone_secret_is_marked_orphaned_once() -> None:
    backend, store = await synced_once()
    backend.delete("prod/api")

    first = await sync(backend, store)
    marked = store.secret(NAMESPACE, "app-api")
    second = await sync(backend, store)

    assert summary(first) == {"synced": 2, "written": 0, "deleted": 0, "orphaned": 1}
    assert summary(second) == {"synced": 2, "written": 0, "deleted": 0, "orphaned": 1}
    assert store.marked_orphaned == ["app-api"] and store.calls["mark_orphaned"] == 1
    assert marked is not None and ORPHANED_AT_ANNOTATION in marked.annotations
    assert marked.data == {"value": b"token-1"}
    assert store.secret(NAMESPACE, "app-api") == marked


async def test_an_orphan_whose_remote_secret_returns_is_synced_again() -> None:
    backend, store = await synced_once()
    backend.delete("prod/api")
    await sync(backend, store)
    backend.set("prod/api", "token-back")

    outcome = await sync(backend, store)

    assert outcome.orphaned == 0 and outcome.written == 1
    api = store.secret(NAMESPACE, "app-api")
    assert api is not None and api.data == {"value": b"token-back"}
    assert ORPHANED_AT_ANNOTATION not in api.annotations


async def test_secrets_of_another_backend_are_never_orphaned() -> None:
    backend, store = make_backend({}), MemorySecretStorage()
    theirs = store.put(
        NAMESPACE, managed_secret("app-x", "app/x", {"value": b"v"}, backend="vault-prod")
    )

    outcome = await sync(backend, store, prune=True)

    assert summary(outcome) == {"synced": 0, "written": 0, "deleted": 0, "orphaned": 0}
    assert store.secret(NAMESPACE, "app-x") == theirs


# -- the backend failing as a whole ----------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [BackendUnavailableError("fake: connection refused"), AuthenticationError("fake: 401")],
    ids=["unavailable", "auth"],
)
async def test_a_backend_that_cannot_list_raises_and_writes_nothing(error: BackendError) -> None:
    backend, store = await synced_once()
    before = {n: store.secret(NAMESPACE, n) for n in store.names(NAMESPACE)}
    backend.fail_with = error

    with pytest.raises(type(error)) as raised:
        await sync(backend, store, prune=True)

    assert raised.value is error
    assert store.calls == {}
    assert {n: store.secret(NAMESPACE, n) for n in store.names(NAMESPACE)} == before


async def test_a_kubernetes_listing_failure_raises_and_writes_nothing() -> None:
    backend, store = make_backend(), MemorySecretStorage()
    store.fail("list", NAMESPACE, ForbiddenError(403, "Forbidden", "cannot list secrets"))

    with pytest.raises(ForbiddenError):
        await sync(backend, store)

    assert store.writes == 0 and store.names(NAMESPACE) == []
    assert backend.calls.get("read") == 0
