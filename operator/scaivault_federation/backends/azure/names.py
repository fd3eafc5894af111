"""Backend paths <-> Key Vault secret names: the naming rule (:mod:`..naming`) with
``-`` as its structural character; names allow ``[0-9a-zA-Z-]``, 1 to 127
characters. ``apps/db/password`` is ``apps--db--password``, ``db-password``
stays ``db-password``, ``tls.crt`` is ``tls-2E-crt``. Key Vault compares names
without regard to letter case, so two paths that differ only in case name the
same secret."""

from __future__ import annotations

from ..naming import NameRule

RULE = NameRule(store="Key Vault", structural="-", extra_literals="", max_length=127)


def azure_name(path: str) -> str:
    """The Key Vault secret name of ``path``."""
    return RULE.name(path)


def azure_path(name: str) -> str | None:
    """The path of a Key Vault secret name; ``None`` if the rule does not produce it."""
    return RULE.path(name)
