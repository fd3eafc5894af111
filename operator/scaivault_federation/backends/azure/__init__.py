"""The ``azure-key-vault`` backend type: the secrets of an Azure Key Vault."""
