"""The ``hashicorp-vault`` backend type: HashiCorp Vault and OpenBao KV engines."""
