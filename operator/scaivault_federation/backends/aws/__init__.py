"""The ``aws-secrets-manager`` backend type: AWS Secrets Manager."""
