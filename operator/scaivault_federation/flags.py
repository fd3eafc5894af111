"""Command-line flags generated from a settings model.

A setting that is also a flag carries a :class:`Flag` marker in its annotation
(``Annotated[int, Flag(Program.API, name="--port")]``): which programs take it,
its flag name (default: the setting's name, ``--kebab-case``) and short option,
whether it may be repeated. :func:`add_flags` turns the marked fields into
``argparse`` arguments: the field's description is the help (with its default
and its environment variable), its type the argument's type (a ``bool`` is a
flag without a value). A flag that is not given is ``None``: the variable's
value (or the default) stays.
"""

from __future__ import annotations

import argparse
import enum
import types
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo


class Program(enum.Flag):
    """Who reads a setting from the command line."""

    OPERATOR = enum.auto()  # run
    API = enum.auto()  # api
    COMMANDS = enum.auto()  # the commands for people: backends, status, sync, ...


#: how a program's commands are named in help and in the README
COMMAND_NAMES = {
    Program.OPERATOR: "run",
    Program.API: "api",
    Program.COMMANDS: "backends, status, sync, conflicts, get, leases, certificates",
}


@dataclass(frozen=True)
class Flag:
    """The marker of a setting that ``programs`` also take as a flag."""

    programs: Program
    name: str | None = None
    short: str | None = None
    #: given several times, the values are joined with commas (a comma-separated list)
    repeatable: bool = False

    def names(self, field: str) -> tuple[str, ...]:
        long = self.name or "--" + field.replace("_", "-")
        return (self.short, long) if self.short else (long,)

    def usage(self, field: str) -> str:
        """Its names and the commands that take it, in Markdown (``-v`` / ``--verbose``
        (run, api))."""
        names = " / ".join(f"`{name}`" for name in self.names(field))
        commands = [text for program, text in COMMAND_NAMES.items() if program & self.programs]
        return f"{names} ({', '.join(commands)})"


def flag_of(info: FieldInfo) -> Flag | None:
    return next((m for m in info.metadata if isinstance(m, Flag)), None)


#: a setting as :func:`add_flags` reads it: its name, its field, its variable
Described = tuple[str, FieldInfo, str]


def flagged(settings: Iterable[Described], program: Program) -> Iterator[tuple[Described, Flag]]:
    """The settings that ``program`` takes as flags."""
    for setting in settings:
        flag = flag_of(setting[1])
        if flag is not None and program & flag.programs:
            yield setting, flag


def _value_type(annotation: Any) -> Any:
    """``annotation`` without ``None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        return kept[0] if len(kept) == 1 else str
    return annotation


def _kind(info: FieldInfo, flag: Flag, long: str) -> dict[str, Any]:
    """How argparse reads the flag: by the field's type (a number ``N``, a ``FILE``, else
    a value named by the flag's last word)."""
    value = _value_type(info.annotation)
    if value is bool:
        return {"action": "store_const", "const": True}
    if flag.repeatable:
        return {"action": "append", "metavar": long.rsplit("-", 1)[-1].upper()}
    if value in (int, float):
        return {"type": value, "metavar": "N"}
    if value is Path:
        return {"type": Path, "metavar": "FILE"}
    return {"type": str, "metavar": long.rsplit("-", 1)[-1].upper()}


def _help(info: FieldInfo, flag: Flag, variable: str) -> str:
    text = info.description or ""
    default = info.get_default(call_default_factory=True)
    if default not in (None, False, (), {}, "") and "default" not in text:
        text += f" (default: {default})"
    if flag.repeatable:
        text += "; repeatable"
    return f"{text} [{variable}]".replace("%", "%%")


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    program: Program,
    settings: Iterable[Described],
) -> None:
    """Add the flags ``program`` takes; each one's ``dest`` is its setting's name."""
    for (name, info, variable), flag in flagged(settings, program):
        names = flag.names(name)
        parser.add_argument(
            *names,
            dest=name,
            default=None,
            help=_help(info, flag, variable),
            **_kind(info, flag, names[-1]),
        )


def given(args: argparse.Namespace, names: Container[str]) -> dict[str, Any]:
    """The flags of the settings ``names`` that were given; repeated ones joined with
    commas."""
    values: dict[str, Any] = {}
    for name, value in vars(args).items():
        if name in names and value is not None:
            values[name] = ",".join(value) if isinstance(value, list) else value
    return values
