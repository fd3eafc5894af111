"""Templates of a FederationBackend's target: Jinja2 in a sandbox with a bounded cost.

A template may read what it is given (``path``, ``remote_path``, ``captures``
and, except in a Secret name, ``data``) and nothing else: there is no loader
(no file, no ``include`` / ``import`` / ``extends``), no global function (no
``range``, ``lipsum``, ``cycler``, ``namespace``), the sandbox refuses
``_``-prefixed and unsafe attributes (no way to the interpreter, the
environment or the network), and calls are limited to a few string methods.

The cost of a template is bounded by its length: loops, macros, ``set`` and
``with`` are refused when it is parsed, ``*`` / ``**`` / ``%`` are checked
before they run, and every filter's output is capped at 1 MiB (as is the
rendered text). Nothing here does I/O.

Error messages never hold a value: a message that quotes anything the
template's own text does not contain is replaced by the error's kind.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_LENGTH = 8192
MAX_OUTPUT = 1024 * 1024
_MAX_INT_BITS = 4096

#: what a template may contain, refused at parse time with the construct's name
_REFUSED_NODES: dict[type[nodes.Node], str] = {
    nodes.For: "a for loop",
    nodes.Macro: "a macro",
    nodes.CallBlock: "a call block",
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.With: "with",
    nodes.Include: "include (no file is readable)",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends (no file is readable)",
    nodes.Block: "a block",
    nodes.ExprStmt: "do",
    nodes.Scope: "a scope",
}

_SAFE_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort", "string",
    "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "attr",
)  # fmt: skip
_STR_METHODS = frozenset(
    {"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split",
     "rsplit", "title", "capitalize", "removeprefix", "removesuffix", "count", "find"}
)  # fmt: skip


class TemplateProblem(ValueError):
    """A template that does not parse, is refused, or failed; the message holds no value."""


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} would exceed {MAX_OUTPUT} characters")


def _bounded(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict) and len(value) > MAX_OUTPUT:
        raise _too_big("the result")
    return value


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(fn(*args, **kwargs))

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(bounded, attr, getattr(fn, attr))
    return bounded


def _replace(text: object, old: object, new: object, count: int | None = None) -> str:
    text, old, new = str(text), str(old), str(new)
    times = text.count(old) if old else len(text) + 1
    if count is not None:
        times = min(times, max(count, 0))
    if len(text) + times * max(0, len(new) - len(old)) > MAX_OUTPUT:
        raise _too_big("replace")
    return text.replace(old, new, -1 if count is None else count)


def _join(values: object, separator: object = "", attribute: object = None) -> str:
    if attribute is not None:
        raise SecurityError("join(attribute=...) is not supported; map(attribute=...) first")
    if not isinstance(values, Iterable):
        raise SecurityError("join needs a list")
    items = [str(v) for v in values]
    size = sum(len(i) for i in items) + max(0, len(items) - 1) * len(str(separator))
    if size > MAX_OUTPUT:
        raise _too_big("join")
    return str(separator).join(items)


def _b64encode(value: object) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _b64decode(value: object) -> str:
    try:
        raw = base64.b64decode(str(value), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise TemplateProblem("b64decode: not base64 of UTF-8 text") from None


def _fromjson(value: object) -> Any:
    try:
        return json.loads(str(value))
    except ValueError:
        raise TemplateProblem("fromjson: not JSON") from None


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse what would take more time or memory than the template's size allows."""
    if operator == "%" and isinstance(left, str):
        raise SecurityError("'%' formatting of text is not allowed")
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if sized and len(seq) * max(times, 0) > MAX_OUTPUT:
                raise _too_big("'*'")
        if ints and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise SecurityError("'*' result too large")
    too_big = ints and abs(left) > 1 and right * left.bit_length() > _MAX_INT_BITS
    if operator == "**" and too_big:
        raise SecurityError("'**' result too large")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, Undefined):
            __obj._fail_with_undefined_error()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if not (isinstance(owner, str) and name in _STR_METHODS):
            raise SecurityError(f"calling {name or 'this'} is not allowed")
        return _bounded(__obj(*args, **kwargs))


def _environment() -> _Environment:
    env = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    env.tests = dict(env.tests)
    filters: dict[str, Any] = {name: _wrap(FILTERS[name]) for name in _SAFE_FILTERS}
    filters.update(
        replace=_replace,
        join=_join,
        b64encode=_wrap(_b64encode),
        b64decode=_wrap(_b64decode),
        fromjson=_fromjson,
    )
    env.filters = filters
    return env


_ENV = _environment()
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def safe_message(exc: BaseException, source: str) -> str:
    """The error's message if everything it quotes comes from ``source``, else its kind."""
    if isinstance(exc, TemplateProblem):
        return str(exc)
    message = str(exc) if isinstance(exc, TemplateError | TypeError | ValueError) else ""
    for match in _QUOTED.finditer(message):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        if quoted not in source and not quoted.endswith(" object"):
            return type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _check_nodes(tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        refused = _REFUSED_NODES.get(type(node))
        if refused is not None:
            raise TemplateProblem(f"{refused} is not allowed in a template")


@lru_cache(maxsize=2048)
def _compile(source: str) -> Any:
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise TemplateProblem(f"a template may be at most {MAX_TEMPLATE_LENGTH} characters")
    try:
        tree = _ENV.parse(source)
        _check_nodes(tree)
        return _ENV.from_string(tree)
    except TemplateSyntaxError as exc:  # also an unknown filter or test
        raise TemplateProblem(f"does not parse: {exc.message} (line {exc.lineno})") from None


def check_template(source: str, *, allowed: Sequence[str] | None = None) -> None:
    """Raise :class:`TemplateProblem` if ``source`` does not parse or is refused; with
    ``allowed``, also if it reads a variable not named there."""
    template = _compile(source)
    if allowed is not None:
        names = meta.find_undeclared_variables(_ENV.parse(source))
        extra = sorted(set(names) - set(allowed))
        if extra:
            raise TemplateProblem(f"may use only {', '.join(allowed)}, not {', '.join(extra)}")
    del template


def is_template(text: str) -> bool:
    """Whether ``text`` holds template syntax (else it is used as it is)."""
    return "{{" in text or "{%" in text or "{#" in text


def render(source: str, context: Mapping[str, Any]) -> str:
    """``source`` rendered with ``context``; raise :class:`TemplateProblem` (no value in
    its message) when it cannot be."""
    if not is_template(source):
        return source
    template = _compile(source)
    try:
        text = template.render(dict(context))
    except RecursionError:
        raise TemplateProblem("RecursionError") from None
    except Exception as exc:  # whatever the template did: say what, never a value
        raise TemplateProblem(safe_message(exc, source)) from None
    if not isinstance(text, str) or len(text) > MAX_OUTPUT:
        raise TemplateProblem(f"the output is over {MAX_OUTPUT} characters")
    return text
