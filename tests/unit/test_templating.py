"""Target templates: Jinja2 in a sandbox that reaches nothing and costs what its length allows."""

from __future__ import annotations

import time

import pytest

from scaivault_federation.models.templating import (
    MAX_TEMPLATE_LENGTH,
    TemplateProblem,
    check_template,
    render,
)

CANARY = "tmpl-canary-7f3e91"
CONTEXT = {
    "path": "apps/web/tls",
    "remote_path": "secret/data/web/tls",
    "captures": ["web", "tls"],
    "data": {"cert": "CERT", "key": "KEY", "password": CANARY, "json": '{"a": [1, 2]}'},
}


def refused(source: str) -> str:
    with pytest.raises(TemplateProblem) as caught:
        render(source, CONTEXT)
    message = str(caught.value)
    assert CANARY not in message
    return message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ data.cert }}", "CERT"),
        ("plain text, no template", "plain text, no template"),
        ("{{ path }} {{ remote_path }} {{ captures[0] }}", "apps/web/tls secret/data/web/tls web"),
        ("{{ data.cert | b64encode }}", "Q0VSVA=="),
        ("{{ 'Q0VSVA==' | b64decode }}", "CERT"),
        ("{{ (data.json | fromjson).a | join(',') }}", "1,2"),
        (
            '{{ {"auths": {"r.io": {"auth": data.key}}} | tojson }}',
            '{"auths": {"r.io": {"auth": "KEY"}}}',
        ),
        ("{{ data.cert | lower }}-{{ path | replace('/', '-') }}", "cert-apps-web-tls"),
        ("{% if data.cert is defined %}yes{% else %}no{% endif %}", "yes"),
        ("{{ data.missing | default('fallback') }}", "fallback"),
        ("{{ data.cert.lower() }}", "cert"),
        ("{{ data | dictsort | map('first') | join(' ') }}", "cert json key password"),
        ("{{ 6 * 7 }}", "42"),
    ],
)
def test_templates_render(source: str, expected: str) -> None:
    assert render(source, CONTEXT) == expected


def test_no_file_can_be_read() -> None:
    assert "include" in refused("{% include '/etc/passwd' %}")
    assert "extends" in refused("{% extends '/etc/passwd' %}")
    assert "import" in refused("{% from '/etc/hosts' import x %}")


def test_no_module_can_be_imported() -> None:
    assert "import" in refused("{% import 'os' as os %}")
    refused("{{ __import__('os') }}")
    refused("{{ ''.__class__.__mro__[1].__subclasses__() }}")


def test_no_environment_is_reachable() -> None:
    for source in (
        "{{ self._TemplateReference__context }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ lipsum.__globals__['os'].environ }}",
        "{{ data.__class__.__init__.__globals__ }}",
        "{{ namespace }}",
        "{{ config }}",
        "{{ data.cert | attr('__class__') }}",
    ):
        refused(source)


def test_no_network_or_process_is_reachable() -> None:
    for source in (
        "{{ joiner.__init__.__globals__.os.popen('curl http://example.com').read() }}",
        "{{ range.__self__.open('/etc/passwd') }}",
        "{{ data.items() }}",
        "{{ data.cert.format(1) }}",
    ):
        refused(source)


def test_loops_macros_and_assignments_are_refused_when_parsed() -> None:
    for source, what in (
        ("{% for k in data %}{{ k }}{% endfor %}", "for loop"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro"),
        ("{% set x = data.cert %}{{ x }}", "set"),
        ("{% with x = 1 %}{{ x }}{% endwith %}", "with"),
        ("{% block b %}{% endblock %}", "block"),
    ):
        with pytest.raises(TemplateProblem, match=what):
            check_template(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ 99999999999999999999 * 99999999999999999999 * 10 ** 4000 }}",
        "{{ '%999999999s' % data.cert }}",
        "{{ data.cert | replace('C', 'x' * 100000) | replace('x', 'y' * 10000) }}",
        "{{ data.cert | list | join('z' * 1000000) }}",
        "{{ data.cert | center(999999999) }}",
        "{{ data.cert.ljust(999999999) }}",
    ],
)
def test_expensive_templates_are_refused_quickly(source: str) -> None:
    started = time.perf_counter()
    refused(source)
    assert time.perf_counter() - started < 1.0


def test_a_template_over_the_length_limit_is_refused() -> None:
    with pytest.raises(TemplateProblem, match="at most"):
        check_template("x" * (MAX_TEMPLATE_LENGTH + 1) + "{{ path }}")


def test_a_template_that_does_not_parse_says_where() -> None:
    with pytest.raises(TemplateProblem, match=r"does not parse: .*line 1"):
        check_template("{{ data.cert ")


def test_variables_can_be_limited() -> None:
    check_template("{{ captures[0] }}-{{ path }}", allowed=("path", "captures"))
    with pytest.raises(TemplateProblem, match="not data"):
        check_template("{{ data.cert }}", allowed=("path", "captures"))


def test_errors_say_what_is_missing_but_never_a_value() -> None:
    assert "no attribute 'nope'" in refused("{{ data.nope }}")
    # the missing key is a secret value here: the message names only the kind of error
    assert refused("{{ data[data.password] }}") == "UndefinedError"
    assert refused("{{ data.password | fromjson }}") == "fromjson: not JSON"
    assert refused("{{ data.password | b64decode }}") == "b64decode: not base64 of UTF-8 text"
    refused("{{ data.password + 1 }}")
