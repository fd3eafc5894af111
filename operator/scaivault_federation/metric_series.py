"""Dropping every series of a metric that names something gone (a deleted backend).

``prometheus_client`` removes one labelled child at a time; a backend's children
differ in their other labels (a reason, an action, a result), so they are found
from what the metric exports and removed one by one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from prometheus_client.metrics import MetricWrapperBase


def remove_series(
    metric: MetricWrapperBase, label_names: Sequence[str], matching: Mapping[str, str]
) -> None:
    """Remove every child of ``metric`` (labelled ``label_names``) whose labels include
    ``matching``."""
    children: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            labels = sample.labels
            if all(labels.get(k) == v for k, v in matching.items()):
                children.add(tuple(labels.get(name, "") for name in label_names))
    for values in children:
        with contextlib.suppress(KeyError):
            metric.remove(*values)
