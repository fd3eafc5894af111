"""Hostile templates: nothing a template holds can crash, exhaust or stall the process.

Each case is a template an attacker who may apply a CR could write. It is
refused when checked (a :class:`TemplateProblem`, which the models turn into a
validation error naming the field), or its render fails within the budget;
never a ``RecursionError`` or ``MemoryError`` out of the module, never a render
that runs for long.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from scaivault_federation.models.template_budget import MAX_OUTPUT, MAX_SECONDS
from scaivault_federation.models.templating import (
    MAX_BLOCK_DEPTH,
    MAX_BRACKET_DEPTH,
    MAX_TEMPLATE_LENGTH,
    TemplateProblem,
    check_template,
    render,
)

CANARY = "budget-canary-51c0d2"
CONTEXT = {
    "path": "apps/web/tls",
    "remote_path": "secret/data/web/tls",
    "captures": ["web", "tls"],
    "data": {"cert": "CERT", "password": CANARY},
}
#: well under a second even on a loaded machine; a render that stalled would take minutes
QUICK = 2.0


def _fails(source: str) -> str:
    """``source`` refused when checked or failing its render, quickly; the message."""
    started = time.perf_counter()
    with pytest.raises(TemplateProblem) as caught:
        check_template(source)
        render(source, CONTEXT)
    assert time.perf_counter() - started < QUICK
    message = str(caught.value)
    assert CANARY not in message
    return message


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("(", ")"), ("[", "]"), ("{'a': ", "}"), ("[(", ")]")],
)
def test_deep_brackets_are_refused_before_parsing(opening: str, closing: str) -> None:
    source = "{{ " + opening * 120 + "1" + closing * 120 + " }}"
    assert "nests brackets" in _fails(source)


def test_brackets_up_to_the_limit_render() -> None:
    depth = MAX_BRACKET_DEPTH - 2
    assert render("{{ " + "(" * depth + "6 * 7" + ")" * depth + " }}", CONTEXT) == "42"


def test_deep_blocks_are_refused_before_parsing() -> None:
    source = "{% if path %}" * 120 + "x" + "{% endif %}" * 120
    assert "nests blocks" in _fails(source)
    depth = MAX_BLOCK_DEPTH
    assert render("{% if path %}" * depth + "x" + "{% endif %}" * depth, CONTEXT) == "x"


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "-" * 4000 + "1 }}",
        "{{ " + "not " * 2000 + "path }}",
        "{{ " + " + ".join(["1"] * 2000) + " }}",
        "{{ path" + "|lower" * 1300 + " }}",
        "{{ path" + ".x" * 3000 + " }}",
        "{{ path" + "|replace('a', 'b')" * 400 + " }}",
    ],
)
def test_long_chains_are_refused_not_recursed_through(source: str) -> None:
    assert len(source) <= MAX_TEMPLATE_LENGTH
    _fails(source)


def test_a_refused_template_stays_refused() -> None:
    source = "{{ " + "-" * 4000 + "1 }}"
    first, second = _fails(source), _fails(source)
    assert first == second


@pytest.mark.parametrize(
    "source",
    [
        # nested sequences: the inner one is weighed too
        "{{ [[1]*1048576]*1048576 }}",
        "{{ [['x'*1000]*1000]*1000 }}",
        "{{ ([[1]*1000]*1000) | string }}",
        "{{ ([[1]*1000]*1000) | tojson }}",
        "{{ ([[1]*1000]*1000) | join }}",
        "{{ ([[1]*1000]*1000) | list | length }}",
        # '~' and '+' weigh both sides
        "{{ ('x'*700000) ~ ('y'*700000) }}",
        "{{ ('x'*700000) + ('y'*700000) }}",
        "{{ ([1]*200000) + ([2]*200000) }}",
        "{{ ([1]*100000) ~ ([1]*100000) ~ ([1]*100000) }}",
        # every output counts towards one cap
        "{{ 'a'*700000 }}{{ 'b'*700000 }}",
        # a list holding one heavy value many times
        "{{ [('x'*500000)] * 3 }}",
        "{{ [('x'*500000)] * 3 | join }}",
        # adding lists takes time growing with the square
        "{{ ([[1]*1000]*100) | sum(start=[]) }}",
        # a str method's result
        "{{ ('a '*500000).split() | string }}",
    ],
)
def test_heavy_values_are_refused_before_they_are_made(source: str) -> None:
    _fails(source)


def test_an_8k_chain_of_million_item_filters_fails_within_the_budget() -> None:
    one = "{{ ('a'*1000000)|upper|lower|length }}"
    source = one * (MAX_TEMPLATE_LENGTH // len(one))
    assert len(source) > MAX_TEMPLATE_LENGTH - len(one)
    started = time.perf_counter()
    message = _fails(source)
    assert "budget" in message or "operations" in message or "ran for" in message
    assert time.perf_counter() - started < QUICK


def test_an_8k_chain_of_million_item_maps_fails_within_the_budget() -> None:
    one = "{{ ('ab'*150000)|list|map('upper')|map('lower')|unique|list|length }}"
    source = one * (MAX_TEMPLATE_LENGTH // len(one))
    _fails(source)


def test_the_render_time_is_bounded_whatever_the_template() -> None:
    """The slowest renders seen are bounded by the clock of the budget."""
    one = "{{ ('ab'*150000)|list|sort|length }}"
    source = one * (MAX_TEMPLATE_LENGTH // len(one))
    started = time.perf_counter()
    with contextlib.suppress(TemplateProblem):
        render(source, CONTEXT)
    assert time.perf_counter() - started < MAX_SECONDS * 4


def test_values_up_to_the_cap_still_render() -> None:
    assert render("{{ ('x' * 1000) | length }}", CONTEXT) == "1000"
    assert len(render("{{ 'x' * 500000 }}", CONTEXT)) == 500000
    assert render("{{ ([1, 2] * 3) | sum }}", CONTEXT) == "9"
    assert render("{{ ([[1]*10]*10) | tojson | length }}", CONTEXT) == str(
        len(str([[1] * 10] * 10))
    )
    assert render("{{ path ~ '-' ~ captures[0] }}", CONTEXT) == "apps/web/tls-web"
    assert len(render("{{ 'x' * (1024 * 1024) }}", CONTEXT)) == MAX_OUTPUT


def test_json_nested_deeper_than_the_parser_allows_fails_the_render() -> None:
    deep = "[" * 100000 + "]" * 100000
    with pytest.raises(TemplateProblem):
        render("{{ data.deep | fromjson | length }}", {**CONTEXT, "data": {"deep": deep}})
