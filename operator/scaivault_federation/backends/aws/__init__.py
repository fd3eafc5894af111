"""The ``aws-secrets-manager`` backend type: AWS Secrets Manager."""

from __future__ import annotations

from ..declaration import BackendTypeDeclaration
from .config import NAME, AwsConfig
from .notify import RECEIVER
from .settings import AwsSettings

TYPE = BackendTypeDeclaration(
    name=NAME,
    title="AWS Secrets Manager",
    config=AwsConfig,
    client=f"{__name__}.backend",
    loggers=("botocore", "boto3", "s3transfer"),
    client_settings=AwsSettings,
    receiver=RECEIVER,
)
