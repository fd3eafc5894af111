"""Reading the providers' change events, and routing them to backends and paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scaivault_federation.api.notify.routing import MappingClaim, route
from scaivault_federation.api.notify.service import Notifications
from scaivault_federation.backends.aws.notify import AwsChange
from scaivault_federation.backends.aws.notify import parse as parse_eventbridge
from scaivault_federation.backends.aws.notify import secret_name as aws_secret_name
from scaivault_federation.backends.azure.notify import AzureChange, EventGridValidation
from scaivault_federation.backends.azure.notify import parse as parse_event_grid
from scaivault_federation.backends.changes import Ignored, Parsed, SecretChange, Validation
from scaivault_federation.backends.google.notify import GoogleChange
from scaivault_federation.backends.google.notify import parse as parse_pubsub_push
from scaivault_federation.models.base import FieldError
from scaivault_federation.models.kind import CLUSTER_FEDERATION_BACKEND
from scaivault_federation.models.resource import FederationBackendResource


def changes(items: list[Parsed]) -> list[SecretChange]:
    return [item for item in items if isinstance(item, SecretChange)]


ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db/password-AbC123"


def eventbridge(name: str = "PutSecretValue", **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.secretsmanager",
        "account": "123456789012",
        "time": "2026-11-29T12:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "requestParameters": {"secretId": ARN},
            "responseElements": None,
            **detail,
        },
    }


def test_eventbridge_api_calls() -> None:
    [change] = parse_eventbridge(eventbridge())
    assert change == AwsChange(
        "aws-secrets-manager",
        "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "PutSecretValue",
        "prod/db/password",
        region="eu-west-1",
    )
    named = eventbridge("UpdateSecret", requestParameters={"secretId": "prod/api"})
    assert parse_eventbridge(named)[0] == AwsChange(
        "aws-secrets-manager",
        named["id"],
        "UpdateSecret",
        "prod/api",
        region="eu-west-1",
    )
    created = eventbridge(
        "CreateSecret",
        requestParameters={"name": "prod/new"},
        responseElements={"arn": ARN},
    )
    first = parse_eventbridge(created)[0]
    assert isinstance(first, SecretChange) and first.name == "prod/new"
    for kind in ("RotateSecret", "DeleteSecret", "RestoreSecret"):
        item = parse_eventbridge(eventbridge(kind))[0]
        assert isinstance(item, SecretChange) and item.name == "prod/db/password"


def test_eventbridge_rotation_service_event() -> None:
    event = eventbridge("RotationSucceeded", additionalEventData={"SecretId": ARN})
    event["detail-type"] = "AWS Service Event via CloudTrail"
    del event["detail"]["requestParameters"]
    [change] = parse_eventbridge(event)
    assert isinstance(change, SecretChange) and change.name == "prod/db/password"


def test_eventbridge_events_that_ask_for_nothing_are_ignored() -> None:
    read = parse_eventbridge(eventbridge("GetSecretValue"))[0]
    assert isinstance(read, Ignored) and "GetSecretValue" in read.reason
    failed = parse_eventbridge(eventbridge(errorCode="AccessDenied"))[0]
    assert isinstance(failed, Ignored) and "failed" in failed.reason
    other = eventbridge()
    other["source"] = "aws.s3"
    assert isinstance(parse_eventbridge(other)[0], Ignored)
    assert len(parse_eventbridge([eventbridge(), eventbridge("GetSecretValue")])) == 2


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(detail="x"), "detail"),
        (lambda e: e["detail"].pop("requestParameters"), "detail.requestParameters.secretId"),
        (
            lambda e: e["detail"].update(requestParameters={"secretId": "arn:aws:s3:::bucket"}),
            "detail.requestParameters.secretId",
        ),
    ],
)
def test_malformed_eventbridge_events_name_the_field(mutate: Any, field: str) -> None:
    event = eventbridge()
    mutate(event)
    with pytest.raises(FieldError) as caught:
        parse_eventbridge(event)
    assert caught.value.field == field
    with pytest.raises(FieldError) as caught:
        parse_eventbridge([eventbridge(), event])
    assert caught.value.field == "[1]." + field
    for body in ("text", [], [eventbridge()] * 101):
        with pytest.raises(FieldError):
            parse_eventbridge(body)


def test_aws_secret_names() -> None:
    assert aws_secret_name(ARN) == ("prod/db/password", "eu-west-1")
    assert aws_secret_name("plain-name") == ("plain-name", None)
    with pytest.raises(ValueError, match="not a Secrets Manager"):
        aws_secret_name("arn:aws:s3:::bucket")


def pubsub(event_type: str = "SECRET_VERSION_ADD", **attributes: str) -> dict[str, Any]:
    return {
        "message": {
            "attributes": {
                "dataFormat": "JSON_API_V1",
                "eventType": event_type,
                "secretId": "projects/123456789012/secrets/apps__db",
                "versionId": "projects/123456789012/secrets/apps__db/versions/3",
                **attributes,
            },
            "data": "eyJuYW1lIjogIngifQ==",
            "messageId": "2070443601311540",
            "message_id": "2070443601311540",
            "publishTime": "2026-11-29T12:00:00.000Z",
        },
        "subscription": "projects/my-project/subscriptions/scaivault",
    }


def test_pubsub_push_messages() -> None:
    [change] = parse_pubsub_push(pubsub())
    assert change == GoogleChange(
        "google-secret-manager",
        "2070443601311540",
        "SECRET_VERSION_ADD",
        "apps__db",
        project="123456789012",
    )
    for kind in ("SECRET_UPDATE", "SECRET_ROTATE", "TOPIC_CONFIGURED"):
        ignored = parse_pubsub_push(pubsub(kind))[0]
        assert isinstance(ignored, Ignored) and kind in ignored.reason
    bare = pubsub()
    del bare["message"]["attributes"]
    assert isinstance(parse_pubsub_push(bare)[0], Ignored)
    for body, field in (
        ({"subscription": "x"}, "message"),
        ({"message": {"attributes": {}}}, "message.messageId"),
        (pubsub(secretId="secrets/x"), "message.attributes.secretId"),
        ({"message": {"messageId": "1", "attributes": "x"}}, "message.attributes"),
    ):
        with pytest.raises(FieldError) as caught:
            parse_pubsub_push(body)
        assert caught.value.field == field


VAULT_ID = "https://contoso-vault.vault.azure.net/secrets/apps--db/0123456789abcdef"


def event_grid(kind: str = "SecretNewVersionCreated", **data: Any) -> dict[str, Any]:
    return {
        "id": "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
        "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/contoso",
        "subject": "apps--db",
        "eventType": f"Microsoft.KeyVault.{kind}",
        "data": {
            "Id": VAULT_ID,
            "VaultName": "contoso-vault",
            "ObjectType": "Secret",
            "ObjectName": "apps--db",
            "Version": "0123456789abcdef",
            **data,
        },
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": "2026-11-29T12:00:00Z",
    }


def test_event_grid_events() -> None:
    [change] = parse_event_grid([event_grid()])
    assert change == AzureChange(
        "azure-key-vault",
        "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
        "SecretNewVersionCreated",
        "apps--db",
        vault_name="contoso-vault",
        vault_origin="https://contoso-vault.vault.azure.net",
    )
    kinds = [parse_event_grid([event_grid(k)])[0] for k in ("SecretNearExpiry", "SecretExpired")]
    assert all(isinstance(k, SecretChange) for k in kinds)
    key = parse_event_grid([event_grid("KeyNewVersionCreated", ObjectType="Key")])[0]
    assert isinstance(key, Ignored)
    code = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    validation = {
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "subject": "",
        "data": {"validationCode": code},
    }
    assert parse_event_grid([validation]) == [
        Validation(
            "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", EventGridValidation(validationResponse=code)
        )
    ]


def test_cloudevents_schema() -> None:
    grid = event_grid()
    cloud = {
        "specversion": "1.0",
        "id": grid["id"],
        "type": grid["eventType"],
        "source": grid["topic"],
        "subject": grid["subject"],
        "time": grid["eventTime"],
        "data": grid["data"],
    }
    assert parse_event_grid(cloud) == parse_event_grid([grid])
    assert parse_event_grid([cloud, cloud]) == parse_event_grid([grid]) * 2
    no_vault = copy.deepcopy(cloud)
    del no_vault["data"]["Id"], no_vault["data"]["VaultName"]
    with pytest.raises(FieldError) as caught:
        parse_event_grid(no_vault)
    assert caught.value.field == "data.VaultName"
    with pytest.raises(FieldError) as caught:
        parse_event_grid([{"id": "1"}])
    assert caught.value.field == "[0].eventType"


def backend(
    name: str, backend_type: str, config: dict[str, Any], mapping: dict[str, str], **spec: Any
) -> FederationBackendResource:
    return FederationBackendResource.from_object(
        {
            "metadata": {"name": name, "namespace": spec.pop("namespace", "ns"), "uid": name},
            "spec": {
                "type": backend_type,
                "config": config,
                "pathMapping": mapping,
                "mode": spec.pop("mode", "sync"),
                "syncInterval": "1h",
                **spec,
            },
        }
    )


def test_routing_to_backends_and_paths() -> None:
    aws = backend(
        "aws", "aws-secrets-manager", {"region": "eu-west-1"}, {"external/aws/**": "prod/**"}
    )
    aws_us = backend("aws-us", "aws-secrets-manager", {"region": "us-east-1"}, {"us/**": "prod/**"})
    aws_proxy = backend(
        "aws-proxy",
        "aws-secrets-manager",
        {"region": "eu-west-1"},
        {"p/**": "prod/**"},
        mode="proxy",
    )
    aws_suspended = backend(
        "aws-off", "aws-secrets-manager", {"region": "eu-west-1"}, {"s/**": "**"}, suspend=True
    )
    google = backend(
        "gsm", "google-secret-manager", {"project": "my-project"}, {"external/g/**": "apps/**"}
    )
    azure = backend(
        "akv",
        "azure-key-vault",
        {"vaultUrl": "https://Contoso-Vault.vault.azure.net/"},
        {"external/az/**": "apps/**"},
    )
    emulator = backend(
        "akv-local",
        "azure-key-vault",
        {"vaultUrl": "https://127.0.0.1:8443"},
        {"local/**": "apps/**"},
    )
    everything = [aws, aws_us, aws_proxy, aws_suspended, google, azure, emulator]

    [target] = route(changes(parse_eventbridge(eventbridge())), everything)
    assert (target.backend.name, target.paths) == ("aws", ["external/aws/db/password"])
    elsewhere = eventbridge(requestParameters={"secretId": "staging/x"})
    assert route(changes(parse_eventbridge(elsewhere)), everything) == []

    [target] = route(changes(parse_pubsub_push(pubsub())), everything)
    assert (target.backend.name, target.paths) == ("gsm", ["external/g/db"])
    other_project = pubsub(secretId="projects/other-project/secrets/apps__db")
    assert route(changes(parse_pubsub_push(other_project)), everything) == []

    [target] = route(changes(parse_event_grid([event_grid()])), everything)
    assert (target.backend.name, target.paths) == ("akv", ["external/az/db"])
    local = event_grid(Id="https://127.0.0.1:8443/secrets/apps--db/1", VaultName="x")
    [target] = route(changes(parse_event_grid([local])), everything)
    assert (target.backend.name, target.paths) == ("akv-local", ["local/db"])

    # several changes for one backend: one target with every path
    two = [eventbridge(), eventbridge(requestParameters={"secretId": "prod/api"})]
    [target] = route(changes(parse_eventbridge(two)), everything)
    assert target.paths == ["external/aws/db/password", "external/aws/api"]


def cluster(name: str, mapping: dict[str, str], **spec: Any) -> FederationBackendResource:
    return FederationBackendResource.from_object(
        {
            "metadata": {"name": name, "uid": f"cluster-{name}"},
            "spec": {
                "type": "aws-secrets-manager",
                "config": {"region": "eu-west-1"},
                "pathMapping": mapping,
                "namespaceSelector": {"matchLabels": {"team": "x"}},
                "mode": spec.pop("mode", "sync"),
                "syncInterval": "1h",
                **spec,
            },
        },
        CLUSTER_FEDERATION_BACKEND,
    )


def claim(backend: FederationBackendResource, *namespaces: str) -> MappingClaim:
    spec = backend.spec
    assert spec is not None
    return MappingClaim(backend, [spec.in_namespace(ns).mappings for ns in namespaces])


def test_routing_to_cluster_backends_by_their_mappings_in_each_namespace() -> None:
    teams = cluster("teams", {"t/**": "teams/{namespace}/**", "shared/**": "shared/**"})
    idle = cluster("idle", {"t/**": "teams/{namespace}/**"}, suspend=True)
    proxy = cluster("proxy", {"t/**": "teams/{namespace}/**"}, mode="proxy")
    own = backend("own", "aws-secrets-manager", {"region": "eu-west-1"}, {"o/**": "teams/a/**"})
    claims = [claim(teams, "a", "b"), claim(idle, "a"), claim(proxy, "a")]

    def routed(secret_id: str) -> list[tuple[str, bool, list[str]]]:
        event = eventbridge(requestParameters={"secretId": secret_id})
        targets = route(changes(parse_eventbridge(event)), [own], claims)
        return [(t.backend.name, not t.backend.kind.namespaced, t.paths) for t in targets]

    # a's own path: the namespaced backend, then the cluster one (as mapped in ``a``)
    assert routed("teams/a/db") == [("own", False, ["o/db"]), ("teams", True, ["t/db"])]
    assert routed("teams/b/db") == [("teams", True, ["t/db"])]
    assert routed("teams/c/db") == []  # c is not selected
    assert routed("shared/db") == [("teams", True, ["shared/db"])]  # once for a and b
    # a cluster backend that selects no namespace maps nothing
    assert route(changes(parse_eventbridge(eventbridge())), [], [claim(teams)]) == []
    # cluster backends handed in as namespaced ones are not routed by their templates
    event = eventbridge(requestParameters={"secretId": "teams/a/db"})
    assert route(changes(parse_eventbridge(event)), [teams], []) == []


def test_event_ids_are_remembered_once_handled() -> None:
    seen = Notifications(dedupe_seconds=600)
    assert seen.claim("aws:1")
    assert not seen.claim("aws:1")  # being handled
    seen.release("aws:1")  # failed: the retry is handled afresh
    assert seen.claim("aws:1")
    seen.done("aws:1")
    assert not seen.claim("aws:1")
    assert seen.claim("google:1")
