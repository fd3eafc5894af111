"""Fuzzed CRs and templates: the only outcomes are a parsed spec, an invalid spec
naming its field, or a template refused or failing its render; never an unhandled
exception, never a slow input.

Reproducible: a fixed number of examples, derandomized.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings

from scaivault_federation.models.resource import FederationBackendResource
from scaivault_federation.models.templating import TemplateProblem, check_template, render
from tests.hostile_strategies import cr_specs, templates

#: per input, generous for a loaded machine; a stalled parse or render takes minutes
PER_INPUT_SECONDS = 2.0
FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,  # timed by the test itself, against PER_INPUT_SECONDS
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
CONTEXT = {"path": "apps/x", "remote_path": "secret/data/apps/x", "captures": ["x"],
           "data": {"x": "1"}}  # fmt: skip


@FUZZ
@given(templates())
def test_a_template_is_accepted_refused_or_fails_its_render(source: str) -> None:
    started = time.perf_counter()
    try:
        check_template(source)
        render(source, CONTEXT)
    except TemplateProblem as exc:
        assert str(exc)
    assert time.perf_counter() - started < PER_INPUT_SECONDS


@FUZZ
@given(cr_specs())
def test_a_cr_parses_or_its_spec_error_names_a_field(spec: dict[str, object]) -> None:
    started = time.perf_counter()
    obj = {"metadata": {"name": "fuzz", "namespace": "ns", "uid": "u"}, "spec": spec}
    resource = FederationBackendResource.from_object(obj)
    if resource.spec is None:
        assert resource.spec_error is not None
        assert resource.spec_error.startswith("invalid spec: spec")  # names a field
        assert "could not be checked" not in resource.spec_error  # no validator failed
    assert time.perf_counter() - started < PER_INPUT_SECONDS
