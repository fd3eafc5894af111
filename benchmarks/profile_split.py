"""Where an operator's CPU went, from a cProfile file: each function's own time
summed by what it does (the store's answers, JSON, models, HMAC, the watch of our
own writes, status, the network and the event loop, the engine).

    SCAIVAULT_BENCH_PROFILE=/tmp/prof .venv/bin/python benchmarks/scale.py \\
        --backends 0 --proxy-reads 0 --sources aws
    .venv/bin/python benchmarks/profile_split.py /tmp/prof/operator.prof [more.prof ...]

Several files print side by side (e.g. before and after a change).
"""

from __future__ import annotations

import pstats
import sys
from collections import defaultdict
from pathlib import Path

#: (category, what a function's file or name contains), first match wins
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("waiting for the network (epoll: not CPU)", ("select.epoll",)),
    ("HMAC and hashing", ("hmac", "_hashlib", "hashlib", "/sync/mac.py")),
    ("JSON (encode, decode)", ("json",)),
    ("AWS SDK (sign, serialize, parse)", ("botocore", "boto3", "aiobotocore", "dateutil")),
    ("other store clients", ("hvac", "azure", "google", "/backends/")),
    ("models (pydantic)", ("pydantic",)),
    (
        "watch of Secrets (own writes' events)",
        ("/k8s/secret_cache.py", "/k8s/watch.py", "/k8s/reflector.py"),
    ),
    ("Kubernetes client", ("/k8s/",)),
    ("status and report", ("/sync/status.py", "/sync/report.py", "/sync/cluster_status.py")),
    ("engine (plan, names, apply)", ("scaivault_federation",)),
    ("TLS and sockets", ("ssl", "socket", "select")),
    ("HTTP (aiohttp, yarl, multidict)", ("aiohttp", "yarl", "multidict", "http")),
    ("event loop (asyncio)", ("asyncio", "_contextvars", "threading")),
]
OTHER = "everything else"


def category(filename: str, function: str) -> str:
    where = f"{filename} {function}"
    for name, needles in RULES:
        if any(needle in where for needle in needles):
            return name
    return OTHER


def split(path: Path) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    stats = pstats.Stats(str(path))
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        seconds[category(filename, function)] += row[2]
    return seconds


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    if not paths:
        raise SystemExit(__doc__)
    splits = [split(path) for path in paths]
    names = [name for name, _ in RULES] + [OTHER]
    print(
        "| CPU (own time, under cProfile) | "
        + " | ".join(p.parent.name or p.name for p in paths)
        + " |"
    )
    print("| --- |" + " ---: |" * len(paths))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{s.get(name, 0.0):.2f} s" for s in splits) + " |")
    busy = [sum(v for k, v in s.items() if k != RULES[0][0]) for s in splits]
    print("| **all but waiting** | " + " | ".join(f"**{b:.2f} s**" for b in busy) + " |")
    print(
        "\ncProfile sees the event loop's thread only (threads of a backend's SDK are not in"
        " it), and its own overhead inflates every figure alike: compare the rows."
    )


if __name__ == "__main__":
    main()
