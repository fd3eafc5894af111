"""The ``google-secret-manager`` backend type: Google Secret Manager."""
