"""The sync planner: remote values + local Secrets -> writes, conflicts, orphans."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scaivault_federation.labels import (
    ALLOW_OVERWRITE_LABEL,
    BACKEND_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    ORPHANED_AT_ANNOTATION,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
)
from scaivault_federation.models.secret import (
    CREDENTIAL_TYPES,
    ISSUED_TYPES,
    LocalSecret,
    RemoteItem,
)
from scaivault_federation.models.spec import ConflictPolicy
from scaivault_federation.paths import parse_mappings, secret_name_for_path
from scaivault_federation.sync.mac import compute_mac
from scaivault_federation.sync.plan import (
    ConflictReason,
    SyncPlan,
    first_mapping,
    map_remote,
    needs_fetch,
    plan_sync,
    plans_alone,
)

KEY = b"k" * 32
BACKEND = "aws-prod"


def item(path: str, value: str = "v", version: str | None = None) -> RemoteItem:
    return RemoteItem(path, f"prod/{path}", {"value": value.encode()}, version)


def managed(
    path: str,
    value: str = "v",
    *,
    backend: str = BACKEND,
    edited_to: str | None = None,
    version: str | None = None,
    orphaned: bool = False,
) -> LocalSecret:
    data = {"value": value.encode()}
    annotations = {
        PATH_ANNOTATION: path,
        REMOTE_PATH_ANNOTATION: f"prod/{path}",
        SOURCE_MAC_ANNOTATION: compute_mac(KEY, path, data),
    }
    if version is not None:
        annotations[REMOTE_VERSION_ANNOTATION] = version
    if orphaned:
        annotations[ORPHANED_AT_ANNOTATION] = "2026-01-01T00:00:00Z"
    if edited_to is not None:
        data = {"value": edited_to.encode()}
    return LocalSecret(
        name=secret_name_for_path(path),
        data=data,
        labels={MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: backend},
        annotations=annotations,
        resource_version="7",
    )


def unmanaged(path: str, value: str, *, opted_in: bool = False) -> LocalSecret:
    labels = {ALLOW_OVERWRITE_LABEL: "true"} if opted_in else {}
    return LocalSecret(
        name=secret_name_for_path(path), data={"value": value.encode()}, labels=labels
    )


def plan(
    items: list[RemoteItem],
    local: list[LocalSecret],
    policy: ConflictPolicy = ConflictPolicy.REPORT,
    prune: bool = False,
    complete: bool = True,
    failed: tuple[str, ...] = (),
) -> SyncPlan:
    return plan_sync(
        backend_name=BACKEND,
        items=items,
        unchanged_versions={},
        local={s.name: s for s in local},
        key=KEY,
        policy=policy,
        prune=prune,
        listing_complete=complete,
        failed_paths=failed,
    )


def test_new_remote_secrets_are_created() -> None:
    result = plan([item("a/b"), item("c")], [])
    assert sorted(w.name for w in result.writes) == ["a-b", "c"]
    assert all(w.resource_version is None for w in result.writes)
    assert result.synced_paths == 2 and not result.conflicts


def test_unchanged_secret_is_not_written() -> None:
    result = plan([item("a")], [managed("a")])
    assert result.writes == [] and result.unchanged == ["a"]
    assert result.synced_paths == 1


def test_changed_remote_value_is_written_with_resource_version() -> None:
    result = plan([item("a", "new")], [managed("a", "old")])
    assert len(result.writes) == 1
    assert result.writes[0].resource_version == "7" and not result.writes[0].takeover


def test_new_remote_version_with_same_value_rewrites_annotations() -> None:
    result = plan([item("a", version="2")], [managed("a", version="1")])
    assert len(result.writes) == 1


def test_hand_edited_secret_is_a_conflict_under_report() -> None:
    result = plan([item("a", "remote")], [managed("a", "remote", edited_to="local")])
    assert result.writes == []
    assert [(c.path, c.reason) for c in result.conflicts] == [("a", ConflictReason.LOCAL_EDIT)]


def test_hand_edited_secret_is_overwritten_under_overwrite() -> None:
    result = plan(
        [item("a", "remote")],
        [managed("a", "remote", edited_to="local")],
        policy=ConflictPolicy.OVERWRITE,
    )
    assert [w.takeover for w in result.writes] == [True]
    assert not result.conflicts


def test_hand_edit_to_the_remote_value_is_not_a_conflict() -> None:
    result = plan([item("a", "new")], [managed("a", "old", edited_to="new")])
    assert not result.conflicts
    assert len(result.writes) == 1  # re-sealed with a fresh MAC


def test_unmanaged_secret_with_other_value_is_a_conflict() -> None:
    result = plan([item("a", "remote")], [unmanaged("a", "mine")])
    assert result.writes == []
    assert result.conflicts[0].reason is ConflictReason.LOCAL_SECRET_DIFFERS


def test_unmanaged_secret_with_same_value_is_left_alone_under_report() -> None:
    result = plan([item("a", "same")], [unmanaged("a", "same")])
    assert result.writes == [] and result.conflicts == []


def test_unmanaged_secret_is_not_taken_over_under_overwrite_unless_it_opts_in() -> None:
    result = plan([item("a", "remote")], [unmanaged("a", "mine")], policy=ConflictPolicy.OVERWRITE)
    assert result.writes == []
    assert [(c.path, c.reason) for c in result.conflicts] == [("a", ConflictReason.NOT_OURS)]
    same = plan([item("a", "same")], [unmanaged("a", "same")], policy=ConflictPolicy.OVERWRITE)
    assert same.writes == [] and same.conflicts == []  # not adopted either


def test_opted_in_unmanaged_secret_is_taken_over_under_overwrite() -> None:
    mine = unmanaged("a", "mine", opted_in=True)
    result = plan([item("a", "remote")], [mine], policy=ConflictPolicy.OVERWRITE)
    assert [w.takeover for w in result.writes] == [True]
    reported = plan([item("a", "remote")], [mine])  # the label alone changes nothing
    assert reported.writes == []
    assert reported.conflicts[0].reason is ConflictReason.LOCAL_SECRET_DIFFERS


@pytest.mark.parametrize("secret_type", sorted(CREDENTIAL_TYPES))
def test_built_in_credential_types_are_never_taken_over(secret_type: str) -> None:
    theirs = replace(unmanaged("a", "mine", opted_in=True), type=secret_type)
    result = plan([item("a", "remote")], [theirs], policy=ConflictPolicy.OVERWRITE)
    assert result.writes == [] and result.deletes == []
    assert [c.reason for c in result.conflicts] == [ConflictReason.NOT_OURS]


@pytest.mark.parametrize("secret_type", sorted(ISSUED_TYPES))
def test_issued_tokens_are_never_written_or_deleted_whatever_their_labels(
    secret_type: str,
) -> None:
    """A token Secret labelled as this backend's (by someone who could write Secrets)
    is still Kubernetes': no write, no prune, no orphan mark."""
    forged = replace(managed("a", "token", edited_to="token"), type=secret_type)
    for policy in ConflictPolicy:
        result = plan([item("a", "remote")], [forged], policy=policy, prune=True)
        assert result.writes == [] and result.deletes == []
        assert [c.reason for c in result.conflicts] == [ConflictReason.NOT_OURS]
    gone = plan([], [forged], prune=True)
    assert gone.deletes == [] and gone.orphans == []


def test_secret_of_another_backend_is_never_touched() -> None:
    other = managed("a", "theirs", backend="vault-prod")
    for policy in ConflictPolicy:
        result = plan([item("a", "ours")], [other], policy=policy)
        assert result.writes == []
        assert result.conflicts[0].reason is ConflictReason.OTHER_BACKEND


def test_name_collision_with_another_path_is_reported() -> None:
    # "a-b" and "a/b" derive the same Secret name
    result = plan([item("a/b")], [managed("a-b")])
    assert result.writes == []
    assert result.conflicts[0].reason is ConflictReason.NAME_COLLISION


def test_two_remote_items_with_one_secret_name_keep_the_first() -> None:
    result = plan([item("a/b", "1"), item("a-b", "2")], [])
    assert len(result.writes) == 1
    assert result.conflicts[0].reason is ConflictReason.NAME_COLLISION


def test_remote_deletion_orphans_without_prune() -> None:
    result = plan([], [managed("gone")])
    assert [o.path for o in result.orphans] == ["gone"] and result.deletes == []


def test_remote_deletion_deletes_with_prune() -> None:
    result = plan([], [managed("gone")], prune=True)
    assert [o.path for o in result.deletes] == ["gone"] and result.orphans == []


def test_incomplete_listing_neither_orphans_nor_deletes() -> None:
    result = plan([], [managed("x")], prune=True, complete=False)
    assert result.deletes == [] and result.orphans == []


def test_failed_fetch_is_neither_written_nor_orphaned() -> None:
    result = plan([], [managed("x")], prune=True, failed=("x",))
    assert result.deletes == [] and result.orphans == [] and result.writes == []


def test_orphan_coming_back_is_rewritten() -> None:
    result = plan([item("a")], [managed("a", orphaned=True)])
    assert len(result.writes) == 1


def test_secrets_of_other_backends_are_not_orphaned() -> None:
    result = plan([], [managed("a", backend="someone-else")], prune=True)
    assert result.deletes == [] and result.orphans == []


def test_map_remote_first_matching_mapping_wins_and_duplicates_conflict() -> None:
    mappings = parse_mappings({"ext/db/*": "prod/db/*", "ext/**": "prod/**", "ext/x/*": "legacy/*"})
    mapped = map_remote(mappings, ["prod/db/pw", "prod/other", "legacy/y", "prod/x/y"])
    assert mapped.local_by_remote["prod/db/pw"] == "ext/db/pw"
    assert mapped.local_by_remote["prod/other"] == "ext/other"
    claimed = {c.path for c in mapped.conflicts}
    assert claimed == {"ext/x/y"}
    assert len([p for p in mapped.local_by_remote.values() if p == "ext/x/y"]) == 1
    assert all(c.reason is ConflictReason.DUPLICATE_MAPPING for c in mapped.conflicts)


def test_map_remote_ignores_unmatched_paths() -> None:
    mappings = parse_mappings({"ext/*": "prod/*"})
    assert map_remote(mappings, ["prod/a/b", "dev/a"]).local_by_remote == {}


def test_needs_fetch_only_when_version_unknown_or_changed() -> None:
    def fetch(version: str | None, local: LocalSecret | None, path: str = "a") -> bool:
        return needs_fetch(version, local, KEY, BACKEND, path=path, remote_path=f"prod/{path}")

    secret = managed("a", version="3")
    assert not fetch("3", secret)
    assert fetch("4", secret)
    assert fetch(None, secret)
    assert fetch("3", None)
    assert fetch("3", managed("a", version="3", edited_to="hand"))
    assert fetch("3", managed("a", version="3", orphaned=True))
    # another backend's Secret at the same path is never taken as ours
    assert fetch("3", managed("a", version="3", backend="other"))


def test_needs_fetch_when_the_secret_holds_another_path_with_the_same_version() -> None:
    # "a-b" and "a/b" share a Secret name; versions are often small counters
    assert needs_fetch(
        "1", managed("a-b", version="1"), KEY, BACKEND, path="a/b", remote_path="prod/a/b"
    )
    # the mapping changed: the same local path now comes from another remote path
    assert needs_fetch(
        "1", managed("a", version="1"), KEY, BACKEND, path="a", remote_path="stage/a"
    )


def test_many_mappings_and_many_secrets() -> None:
    items = [item(f"svc{i}/key{j}", f"{i}-{j}") for i in range(20) for j in range(10)]
    local = [managed(f"svc{i}/key{j}", f"{i}-{j}") for i in range(20) for j in range(5)]
    result = plan(items, local)
    assert len(result.unchanged) == 100 and len(result.writes) == 100
    assert result.synced_paths == 200


def test_a_path_plans_alone_when_nothing_else_can_claim_it_or_its_name() -> None:
    mappings = parse_mappings({"app/**": "prod/**", "app/db": "special/db"})
    found = first_mapping(mappings, "prod/web")
    assert found is not None and found[1] == "app/web"
    wide = found[0]

    def alone(path: str) -> bool:
        return plans_alone(path, secret_name_for_path(path), wide, mappings)

    assert alone("app/web")
    # another mapping maps it: which remote path wins needs the whole listing
    assert not alone("app/db")
    # another mappable path has its Secret name (app/a/b and app/a-b are app-a-b)
    assert not alone("app/a-b")
    assert not alone("App/X")  # a hashed name: not told apart
    assert first_mapping(mappings, "elsewhere/x") is None
