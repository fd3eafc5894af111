"""Replicas coordinating through Leases: the chart's Lease rules, proven for real.

The chart is installed with ``replicaCount=2``; its Deployment then runs the
operator with ``--peering=<fullname>`` (no ``--standalone``) and a Role in
the release namespace for the Leases. One operator process runs as the
chart's ServiceAccount through the same recording proxy as in
``test_rbac_e2e.py``: it creates its Lease, renews it, lists the group's,
acts on every backend as the only live replica, and deletes its Lease when it
stops. Every verb of the operator's ClusterRole and of the Lease Role is used,
nothing else is, and nothing is forbidden.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.openbao import OpenBaoServer

from .cluster_scenario import cluster_backend_scenario
from .harness import (
    LEASE_GROUP_LABEL,
    Identity,
    app_namespace_name,
    denied,
    eventually,
    grants,
    operator_scenario,
    run_operator,
    token_values,
    used,
)
from .identity import can
from .tools import Release

pytestmark = pytest.mark.e2e

COORDINATION = "coordination.k8s.io"


@pytest.fixture(scope="module")
def scenario_namespace(isolated_control_plane: ControlPlane) -> str:
    return app_namespace_name(isolated_control_plane)


@pytest.fixture(scope="module")
def identity(
    release_factory: Callable[..., Release],
    tmp_path_factory: pytest.TempPathFactory,
    scenario_namespace: str,
) -> Identity:
    release = release_factory(
        "lease",
        "--set",
        "replicaCount=2",
        "--set",
        "leaseDurationSeconds=6",
        *token_values(scenario_namespace),
    )
    return Identity.of(release, tmp_path_factory.mktemp("lease"))


def test_operator_with_leases_uses_exactly_its_rules(
    identity: Identity,
    openbao: OpenBaoServer,
    isolated_control_plane: ControlPlane,
    scenario_namespace: str,
) -> None:
    release = identity.release
    container = identity.container("operator")
    assert f"--peering={release.fullname}" in container["args"]
    assert "--standalone" not in container["args"]

    with run_operator(identity) as operator:
        (lease,) = eventually(identity.leases, 30, "the operator's Lease")
        assert lease["metadata"]["name"].startswith(f"{release.fullname}-{identity.pod_name}-")
        assert lease["metadata"]["labels"] == {LEASE_GROUP_LABEL: release.fullname}
        assert lease["spec"]["leaseDurationSeconds"] == 6
        first = lease["metadata"]["resourceVersion"]
        operator_scenario(isolated_control_plane, openbao, scenario_namespace)
        cluster_backend_scenario(isolated_control_plane, openbao, release.namespace)
        # Renewed every lease-duration/3 (here 2s): the scenario outlasts a few renewals.
        renewed = eventually(
            lambda: [x for x in identity.leases() if x["metadata"]["resourceVersion"] != first],
            10,
            "a renewal",
        )
        assert renewed[0]["metadata"]["name"] == lease["metadata"]["name"]
    assert identity.leases() == []  # deleted on the clean stop

    calls = operator.proxy.snapshot()
    assert denied(calls) == []
    assert operator.forbidden_in_log() == [], operator.log()[-3000:]
    assert {c.namespace for c in calls if c.group == COORDINATION} == {release.namespace}

    # Every verb of the operator's ClusterRole, the Lease Role and the tokens Role was
    # used, and nothing else.
    granted = grants(
        identity.cluster_role("operator"),
        identity.role(release.namespace, f"{release.fullname}-leases"),
        identity.role(scenario_namespace, f"{release.fullname}-tokens"),
    )
    assert used(calls) == granted, (sorted(used(calls) - granted), sorted(granted - used(calls)))
    assert {c.verb for c in calls if c.resource == "leases"} == {
        "list",
        "create",
        "patch",
        "delete",
    }


@pytest.mark.parametrize(
    ("verb", "namespace"),
    [
        ("get", None),
        ("watch", None),
        ("update", None),
        ("deletecollection", None),
        ("create", "default"),
        ("patch", "kube-system"),
        ("delete", "kube-system"),
    ],
)
def test_lease_rights_go_no_further(
    identity: Identity, isolated_control_plane: ControlPlane, verb: str, namespace: str | None
) -> None:
    """Only the four verbs, only in the release namespace (None: the release namespace)."""
    assert not can(
        isolated_control_plane,
        identity.user,
        verb,
        "leases",
        group=COORDINATION,
        namespace=namespace or identity.release.namespace,
    )
    assert can(
        isolated_control_plane,
        identity.user,
        "create",
        "leases",
        group=COORDINATION,
        namespace=identity.release.namespace,
    )
