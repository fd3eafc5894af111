"""The ``aws-secrets-manager`` backend type: AWS Secrets Manager."""

from __future__ import annotations

from ..declaration import BackendTypeDeclaration
from .config import NAME, AwsConfig
from .notify import RECEIVER

TYPE = BackendTypeDeclaration(
    name=NAME,
    title="AWS Secrets Manager",
    config=AwsConfig,
    client=f"{__name__}.backend",
    loggers=("botocore", "boto3", "s3transfer"),
    receiver=RECEIVER,
)
