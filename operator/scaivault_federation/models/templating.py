"""Templates of a FederationBackend's target: Jinja2 in a sandbox with a bounded cost.

A template may read what it is given (``path``, ``remote_path``, ``captures``
and, except in a Secret name, ``data``) and nothing else: there is no loader
(no file, no ``include`` / ``import`` / ``extends``), no global function (no
``range``, ``lipsum``, ``cycler``, ``namespace``), the sandbox refuses
``_``-prefixed and unsafe attributes (no way to the interpreter, the
environment or the network), and calls are limited to a few string methods.

Nothing a template holds can hurt the process that checks or renders it:

* its nesting is bounded before it is parsed (brackets and blocks open at
  once, counted in the raw text) and the parsed tree's depth before it is
  compiled, so no parser or compiler recursion runs deep;
* loops, macros, ``set`` and ``with`` are refused when it is parsed, so what it
  does is bounded by its length;
* every operator, filter, call, ``~`` and output runs on a budget
  (:mod:`.template_budget`): each value it makes is weighed, nested lists
  included, before it is turned into text, and the render fails once it is
  over its operations, its time or its output;
* any failure of the parser, the compiler or a render (a ``RecursionError``, a
  ``MemoryError`` too) is a :class:`TemplateProblem`. Nothing here does I/O.

Error messages never hold a value: a message that quotes anything the
template's own text does not contain is replaced by the error's kind.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .template_budget import (
    MAX_OUTPUT,
    BudgetExceeded,
    bounded,
    budget,
    charge,
    current,
    drawn_from_allowance,
    too_big,
    weight,
)

MAX_TEMPLATE_LENGTH = 8192
#: brackets (``(``, ``[``, ``{``) open at once, anywhere in a template's text
MAX_BRACKET_DEPTH = 32
#: blocks (``{% if %}``, ``{% filter %}``) open at once
MAX_BLOCK_DEPTH = 16
#: the depth of the parsed tree (a chain of filters or operators nests too)
MAX_TREE_DEPTH = 96
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
    "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "attr",
)  # fmt: skip
_STR_METHODS = frozenset(
    {"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split",
     "rsplit", "title", "capitalize", "removeprefix", "removesuffix", "count", "find"}
)  # fmt: skip
#: a tag that opens a block, and one that closes it
_BLOCK_TAG = re.compile(r"\{%[-+]?\s*(\w+)")
_OPENS = frozenset({"if", "for", "filter", "macro", "call", "block", "with", "autoescape", "raw"})
_DELIMITERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")


class TemplateProblem(ValueError):
    """A template that does not parse, is refused, or failed; the message holds no value."""


def _filter_value(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The value a filter is applied to (after the context or environment it may take)."""
    skip = 1 if hasattr(fn, "jinja_pass_arg") else 0
    return args[skip] if len(args) > skip else None


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` on the budget: its input weighed (and charged) before it runs, its
    output after."""

    def bounded_filter(*args: Any, **kwargs: Any) -> Any:
        heavy = weight(_filter_value(fn, args))
        charge(heavy)
        if heavy > MAX_OUTPUT:
            raise too_big(f"the input of {getattr(fn, '__name__', 'a filter')}")
        result = fn(*args, **kwargs)
        charge(weight(result))
        bounded(result)
        return result

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(bounded_filter, attr, getattr(fn, attr))
    return bounded_filter


def _replace(text: object, old: object, new: object, count: int | None = None) -> str:
    text, old, new = str(text), str(old), str(new)
    times = text.count(old) if old else len(text) + 1
    if count is not None:
        times = min(times, max(count, 0))
    if len(text) + times * max(0, len(new) - len(old)) > MAX_OUTPUT:
        raise too_big("replace")
    return text.replace(old, new, -1 if count is None else count)


def _texts(values: Iterable[Any], what: str, separator: str = "") -> list[str]:
    """Each of ``values`` as text, weighed before it is made, and the whole capped."""
    items: list[str] = []
    size = 0
    for value in values:
        size += weight(value, MAX_OUTPUT - size) + len(separator)
        if size > MAX_OUTPUT:
            raise too_big(what)
        items.append(str(value))
        charge(len(items[-1]))
    return items


def _join(values: object, separator: object = "", attribute: object = None) -> str:
    if attribute is not None:
        raise SecurityError("join(attribute=...) is not supported; map(attribute=...) first")
    if not isinstance(values, Iterable):
        raise SecurityError("join needs a list")
    sep = str(separator)
    if len(sep) > MAX_OUTPUT:
        raise too_big("join")
    return sep.join(_texts(values, "join", sep))


def _sum(values: object, attribute: object = None, start: object = 0) -> int | float:
    """``sum`` of numbers (adding lists or text would take time growing with the square)."""
    if attribute is not None or not isinstance(values, Iterable):
        raise SecurityError("sum needs a list of numbers")
    total: int | float = start if isinstance(start, int | float) else 0
    for value in values:
        if not isinstance(value, int | float):
            raise SecurityError("sum adds numbers only")
        charge(1)
        total += value
        if isinstance(total, int) and total.bit_length() > _MAX_INT_BITS:
            raise BudgetExceeded("sum: result too large")
    return total


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


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse what would take more time or memory than the budget allows, before it runs."""
    if operator == "%" and isinstance(left, str):
        raise SecurityError("'%' formatting of text is not allowed")
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _sized(seq) and isinstance(times, int):
                heavy = weight(seq, MAX_OUTPUT // max(times, 1) + 1)
                if heavy * max(times, 0) > MAX_OUTPUT:
                    raise too_big("'*'")
                charge(len(seq) * max(times, 0))
        if ints and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise BudgetExceeded("'*' result too large")
    if operator == "+" and (_sized(left) or _sized(right)):
        if weight(left) + weight(right) > MAX_OUTPUT:
            raise too_big("'+'")
        charge(len(left) + len(right) if _sized(left) and _sized(right) else 1)
    too_big_power = ints and abs(left) > 1 and right * left.bit_length() > _MAX_INT_BITS
    if operator == "**" and too_big_power:
        raise BudgetExceeded("'**' result too large")


def _concat(values: Sequence[Any]) -> str:
    """``a ~ b ~ c``: each part weighed before it becomes text."""
    return "".join(_texts(values, "'~'"))


def _finalize(value: Any) -> Any:
    """Each ``{{ output }}``, weighed before it becomes text; all of them together capped."""
    heavy = weight(value)
    if heavy > MAX_OUTPUT:
        raise too_big("the output")
    current().emit(heavy)
    return value


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` going through the budget."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    @staticmethod
    def checked_concat(values: Sequence[Any]) -> str:
        return _concat(values)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        charge(1)
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        charge(1)
        return super().call_unop(context, operator, arg)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, Undefined):
            __obj._fail_with_undefined_error()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if not (isinstance(owner, str) and name in _STR_METHODS):
            raise SecurityError(f"calling {name or 'this'} is not allowed")
        charge(len(owner) + sum(weight(a) for a in args))
        result = __obj(*args, **kwargs)
        charge(weight(result))
        bounded(result)
        return result


def _environment() -> _Environment:
    env = _Environment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        optimized=False,  # no folding of constants outside the budget's interceptions
        finalize=_finalize,
    )
    env.globals.clear()
    env.tests = dict(env.tests)
    filters: dict[str, Any] = {name: _wrap(FILTERS[name]) for name in _SAFE_FILTERS}
    filters.update(
        replace=_wrap(_replace),
        join=_join,
        sum=_sum,
        b64encode=_wrap(_b64encode),
        b64decode=_wrap(_b64decode),
        fromjson=_wrap(_fromjson),
    )
    env.filters = filters
    return env


_ENV = _environment()
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def safe_message(exc: BaseException, source: str) -> str:
    """The error's message if everything it quotes comes from ``source``, else its kind."""
    if isinstance(exc, TemplateProblem):
        return str(exc)
    if isinstance(exc, RecursionError | MemoryError):
        return type(exc).__name__
    message = str(exc) if isinstance(exc, TemplateError | TypeError | ValueError) else ""
    for match in _QUOTED.finditer(message):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        if quoted not in source and not quoted.endswith(" object"):
            return type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _check_nesting(source: str) -> None:
    """Refuse deep nesting in the raw text, before any parser sees it."""
    depth = deepest = 0
    for char in _DELIMITERS.sub("  ", source):
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
    if deepest > MAX_BRACKET_DEPTH:
        raise TemplateProblem(
            f"nests brackets {deepest} deep; at most {MAX_BRACKET_DEPTH} may be open at once"
        )
    depth = deepest = 0
    for match in _BLOCK_TAG.finditer(source):
        word = match.group(1)
        if word in _OPENS:
            depth += 1
            deepest = max(deepest, depth)
        elif word.startswith("end"):
            depth = max(depth - 1, 0)
    if deepest > MAX_BLOCK_DEPTH:
        raise TemplateProblem(
            f"nests blocks {deepest} deep; at most {MAX_BLOCK_DEPTH} may be open at once"
        )


def _check_tree(tree: nodes.Template) -> None:
    """Refused constructs, and the tree's depth (walked without recursion)."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise TemplateProblem(
                f"nests expressions more than {MAX_TREE_DEPTH} deep "
                "(a chain of filters or operators counts too)"
            )
        refused = _REFUSED_NODES.get(type(node))
        if refused is not None:
            raise TemplateProblem(f"{refused} is not allowed in a template")
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


@dataclass(frozen=True)
class _Compiled:
    template: Any
    variables: frozenset[str]


def _parse_and_compile(source: str) -> _Compiled:
    tree = _ENV.parse(source)
    _check_tree(tree)
    variables = frozenset(meta.find_undeclared_variables(tree))
    with budget():  # filters on constants run while compiling
        return _Compiled(_ENV.from_string(tree), variables)


def _compile(source: str) -> _Compiled:
    compiled = _compiled_or_problem(source)
    if isinstance(compiled, str):
        raise TemplateProblem(compiled)
    return compiled


@lru_cache(maxsize=2048)
def _compiled_or_problem(source: str) -> _Compiled | str:
    """The compiled template, or what is wrong with it (a refusal is remembered too)."""
    if len(source) > MAX_TEMPLATE_LENGTH:
        return f"a template may be at most {MAX_TEMPLATE_LENGTH} characters"
    try:
        _check_nesting(source)
        return _parse_and_compile(source)
    except TemplateProblem as exc:
        return str(exc)
    except TemplateSyntaxError as exc:  # also an unknown filter or test
        return f"does not parse: {exc.message} (line {exc.lineno})"
    except Exception as exc:  # RecursionError, MemoryError, a filter on constants: never out
        return f"cannot be compiled: {safe_message(exc, source)}"


def check_template(source: str, *, allowed: Sequence[str] | None = None) -> None:
    """Raise :class:`TemplateProblem` if ``source`` does not parse or is refused; with
    ``allowed``, also if it reads a variable not named there."""
    compiled = _compile(source)
    if allowed is not None:
        extra = sorted(compiled.variables - set(allowed))
        if extra:
            raise TemplateProblem(f"may use only {', '.join(allowed)}, not {', '.join(extra)}")


def is_template(text: str) -> bool:
    """Whether ``text`` holds template syntax (else it is used as it is)."""
    return "{{" in text or "{%" in text or "{#" in text


def render(source: str, context: Mapping[str, Any]) -> str:
    """``source`` rendered with ``context``; raise :class:`TemplateProblem` (no value in
    its message) when it cannot be, or when it goes over its budget."""
    if not is_template(source):
        return source
    template = _compile(source).template
    try:
        with drawn_from_allowance(), budget():
            text = template.render(dict(context))
    except Exception as exc:  # whatever the template did: say what, never a value
        raise TemplateProblem(safe_message(exc, source)) from None
    if not isinstance(text, str) or len(text) > MAX_OUTPUT:
        raise TemplateProblem(f"the output is over {MAX_OUTPUT} characters")
    return text
