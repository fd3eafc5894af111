"""The chart's alert rules under promtool: the rule file a Prometheus Operator makes of
the rendered PrometheusRule, input series (written by hand, or from a scrape of a
running operator), and ``promtool test rules`` of alert cases against them."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scaivault_devenv.helm import run

from .tools import find, render

#: what the chart's ServiceMonitor makes Prometheus label the operator's own ``up``
UP = {"job": "scaivault-federation", "namespace": "scaivault-system", "endpoint": "metrics"}
_LABEL_TEMPLATE = re.compile(r"\{\{ \$labels\.([a-zA-Z_]\w*) \}\}")
_VALUE_TEMPLATE = re.compile(r"\{\{ \$value(?: \| humanizeDuration)? \}\}")


def rule_file(helm: Path, folder: Path, values: Mapping[str, Any] | None = None) -> Path:
    """The rendered PrometheusRule's groups as a Prometheus rule file in ``folder``."""
    rule_values = {"prometheusRule": {"enabled": True, **dict(values or {})}}
    (rule,) = find(render(helm, values=rule_values), "PrometheusRule")
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def rules_of(path: Path) -> dict[str, dict[str, Any]]:
    """Alert name -> its rule, in the rule file at ``path``."""
    doc = yaml.safe_load(path.read_text())
    return {r["alert"]: r for group in doc["groups"] for r in group["rules"] if "alert" in r}


def selector(name: str, labels: Mapping[str, str]) -> str:
    """``name{labels}`` in PromQL's series notation."""
    quoted = ", ".join(f"{key}={_quote(value)}" for key, value in sorted(labels.items()))
    return f"{name}{{{quoted}}}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def steady(name: str, labels: Mapping[str, str], value: float, steps: int) -> dict[str, str]:
    """An input series holding ``value`` for ``steps`` intervals after the first."""
    return {"series": selector(name, labels), "values": f"{_number(value)}x{steps}"}


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


@dataclass(frozen=True)
class Scraped:
    """One sample of a scrape."""

    name: str
    labels: Mapping[str, str]
    value: float


def scrapes_as_series(scrapes: Sequence[tuple[Iterable[Scraped], int]]) -> list[dict[str, str]]:
    """Scrapes one after the other as input series: each scrape's values for its number of
    intervals (a series it lacks is missing then), with the ``up`` series Prometheus
    adds for the target."""
    taken = [({selector(s.name, s.labels): s.value for s in samples}, n) for samples, n in scrapes]
    names = sorted({name for values, _ in taken for name in values})
    series = []
    for name in names:
        tokens: list[str] = []
        for values, steps in taken:
            value = values.get(name)
            ok = value is not None and math.isfinite(value)
            tokens += [_number(value) if ok and value is not None else "_"] * steps
        series.append({"series": name, "values": " ".join(tokens)})
    total = sum(steps for _, steps in taken)
    return [*series, {"series": selector("up", UP), "values": " ".join(["1"] * total)}]


def humanize_duration(seconds: int) -> str:
    """What Prometheus' ``humanizeDuration`` makes of a whole number of seconds, >= 1."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def firing(
    rule: Mapping[str, Any], labels: Mapping[str, str], value: str | None = None
) -> dict[str, Any]:
    """The alert ``rule`` raises for a series of ``labels`` (``value``: how its
    annotations show the value), as promtool expects it."""
    annotations = {}
    for key, template in rule["annotations"].items():
        text = _LABEL_TEMPLATE.sub(lambda m: labels[m.group(1)], template)
        if value is not None:
            text = _VALUE_TEMPLATE.sub(value, text)
        assert "{{" not in text, f"a template the test does not fill: {text}"
        annotations[key] = text
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}


def run_rule_tests(promtool: Path, rules: Path, groups: list[dict[str, Any]], folder: Path) -> str:
    """``promtool test rules`` of ``groups`` against ``rules`` (evaluated each minute);
    its output, or :class:`ToolError` with it when a case fails."""
    path = folder / "rule-tests.yaml"
    doc = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": groups}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return run([promtool, "test", "rules", path])
