"""What one template may cost: operations, time and the size of every value it makes.

A render (or a compile, which may run filters on constants) runs inside a
:func:`budget`. Every operation the sandbox intercepts (operators, filters,
calls, ``~``, the conversion of an output to text) is charged here in units
of work (characters or items it walks), and every value it makes is
*weighed*: the length of its text once ``str()`` or ``tojson`` turned it into
one, counted item by item through nested lists and dicts (``[[1] * n] * n``
weighs ``n * n``), and never more than the cap (the walk stops there). A
value heavier than :data:`MAX_OUTPUT`, a render past :data:`MAX_OPERATIONS`
units or :data:`MAX_SECONDS` seconds fails with :class:`BudgetExceeded`; the
process and its event loop carry on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from jinja2.exceptions import SecurityError

#: the heaviest value (and the longest output) a template may make, in characters
MAX_OUTPUT = 1024 * 1024
#: the units of work one render may do (a character or an item walked is one)
MAX_OPERATIONS = 8 * 1024 * 1024
#: the longest one render may run
MAX_SECONDS = 0.25
#: how often (in units) the clock is read
_CLOCK_EVERY = 64 * 1024


class BudgetExceeded(SecurityError):
    """A template went over its budget; the message names the limit, never a value."""


def too_big(what: str) -> BudgetExceeded:
    return BudgetExceeded(f"{what} would exceed {MAX_OUTPUT} characters")


@dataclass
class Budget:
    operations: int = 0
    output: int = 0
    started: float = field(default_factory=time.monotonic)
    _next_clock: int = _CLOCK_EVERY

    def charge(self, units: int) -> None:
        self.operations += max(units, 1)
        if self.operations > MAX_OPERATIONS:
            raise BudgetExceeded(f"the template needs more than {MAX_OPERATIONS} operations")
        if self.operations >= self._next_clock:
            self._next_clock = self.operations + _CLOCK_EVERY
            if time.monotonic() - self.started > MAX_SECONDS:
                raise BudgetExceeded(f"the template ran for more than {MAX_SECONDS} s")

    def emit(self, size: int) -> None:
        """``size`` characters more of output."""
        self.output += size
        if self.output > MAX_OUTPUT:
            raise too_big("the output")


_CURRENT: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextlib.contextmanager
def budget() -> Iterator[Budget]:
    """A fresh budget for what runs inside (one render, or one compile)."""
    spent = Budget()
    token = _CURRENT.set(spent)
    try:
        yield spent
    finally:
        _CURRENT.reset(token)


def current() -> Budget:
    """The running budget; outside any, a fresh one (each caller bounded on its own)."""
    spent = _CURRENT.get()
    return spent if spent is not None else Budget()


def charge(units: int) -> None:
    current().charge(units)


def weight(value: object, limit: int = MAX_OUTPUT) -> int:
    """About how many characters ``value`` becomes as text (``str`` or JSON), walking
    nested lists, tuples, sets and dicts; stops once past ``limit`` (the walk is
    charged to the budget). An iterator weighs 1: whoever consumes it weighs what
    it yields."""
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    spent = current()
    total = 0
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, list | tuple | set | frozenset):
            spent.charge(len(item))
            total += 2 + 2 * len(item)
            if total > limit:
                return total
            stack.extend(item)
        elif isinstance(item, Mapping):
            spent.charge(len(item))
            total += 2 + 4 * len(item)
            if total > limit:
                return total
            for key, inner in item.items():
                stack.append(key)
                stack.append(inner)
        else:
            total += 1
        if total > limit:
            return total
    return total


def bounded(value: object, what: str = "the result") -> None:
    """Refuse ``value`` if it is heavier than the cap."""
    if weight(value) > MAX_OUTPUT:
        raise too_big(what)


#: how long the templates of one sync may run together: past it, the rest fail at once
MAX_SECONDS_PER_SYNC = 2.0


@dataclass
class Allowance:
    """The render time one sync has left."""

    used: float = 0.0

    def check(self) -> None:
        if self.used > MAX_SECONDS_PER_SYNC:
            raise BudgetExceeded(
                f"the backend's templates ran for more than {MAX_SECONDS_PER_SYNC} s "
                "in this sync; the rest are not rendered"
            )


_ALLOWANCE: ContextVar[Allowance | None] = ContextVar("template_allowance", default=None)


@contextlib.contextmanager
def allowance() -> Iterator[Allowance]:
    """One sync's render time: every render inside (in this task) draws from it."""
    left = Allowance()
    token = _ALLOWANCE.set(left)
    try:
        yield left
    finally:
        _ALLOWANCE.reset(token)


@contextlib.contextmanager
def drawn_from_allowance() -> Iterator[None]:
    """A render, refused at once if the sync's allowance is spent; its time drawn from it."""
    left = _ALLOWANCE.get()
    if left is not None:
        left.check()
    started = time.monotonic()
    try:
        yield
    finally:
        if left is not None:
            left.used += time.monotonic() - started
