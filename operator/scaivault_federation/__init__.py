"""ScaiVault Federation: federate external secret stores into Kubernetes."""

__version__ = "0.1.0"
