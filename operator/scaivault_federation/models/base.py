"""The one place where camelCase (Kubernetes) and snake_case (HTTP API) meet.

Every model is declared with snake_case attribute names and camelCase aliases.
``to_cr()`` produces the Kubernetes shape, ``to_api()`` the seed's wire shape;
both drop unset optional fields so a round trip does not invent values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel


class FieldError(ValueError):
    """Invalid API input; ``field`` is the snake_case (dotted) name of the culprit."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CamelModel(BaseModel):
    """A model read from and written to both spellings."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_cr(self) -> dict[str, Any]:
        """The Kubernetes (camelCase) representation."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def to_api(self) -> dict[str, Any]:
        """The HTTP API (snake_case) representation."""
        return self.model_dump(by_alias=False, exclude_none=True, mode="json")


def describe_errors(exc: ValidationError, prefix: str = "") -> str:
    """One line per invalid field, naming it; input values are never echoed."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        field = ".".join(filter(None, [prefix, *loc]))
        lines.append(f"{field}: {error['msg']}" if field else str(error["msg"]))
    return "; ".join(lines)
