"""Backend paths <-> Secret Manager secret ids: the naming rule (:mod:`..naming`) with
``_`` as its structural character; ids allow ``[0-9a-zA-Z_-]`` (``-`` is kept as
is), 1 to 255 characters, compared case-sensitively. ``apps/db/password`` is
``apps__db__password``, ``api_key`` stays ``api_key``."""

from __future__ import annotations

from ..naming import NameRule

RULE = NameRule(store="Secret Manager", structural="_", extra_literals="-", max_length=255)


def google_name(path: str) -> str:
    """The Secret Manager secret ID of ``path``."""
    return RULE.name(path)


def google_path(name: str) -> str | None:
    """The path of a Secret Manager secret ID; ``None`` if the rule does not produce it."""
    return RULE.path(name)
