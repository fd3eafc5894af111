"""``ldap``: ``username`` and ``password`` from the credentials Secret, login at
``auth/<authMount or ldap>/login/<username>``; Vault binds to its LDAP server
with them."""

from __future__ import annotations

from typing import ClassVar

from ..config import VaultAuthMethod
from .userpass import PasswordAuth


class LdapAuth(PasswordAuth):
    method: ClassVar[VaultAuthMethod] = VaultAuthMethod.LDAP
    default_mount: ClassVar[str] = "ldap"
    hvac_api: ClassVar[str] = "ldap"
