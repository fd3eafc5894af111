"""What the operator's ``/metrics`` says: scraped as Prometheus would, read as samples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    """One series' value in a scrape."""

    name: str
    labels: Mapping[str, str]
    value: float


async def scrape(port: int) -> list[Sample]:
    """Every sample the operator serving ``/metrics`` on 127.0.0.1:``port`` exports."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        resp.raise_for_status()
        text = await resp.text()
    return [
        Sample(sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


async def series(port: int, name: str, **labels: str) -> list[Sample]:
    """The samples of series ``name`` whose labels include ``labels``."""
    return [
        sample
        for sample in await scrape(port)
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
