"""Scale: a first sync of 10,000 secrets against a bare pipelined floor, an unchanged
resync, one changed secret synced by its path on backends of 2,000 and 10,000
secrets, a burst of change events, 5,000 backends in one process (time, idle CPU,
memory), and the cost of a proxied read, each figure beside the one it is compared
with, in one run.

Everything runs on this machine against real servers (kube-apiserver + etcd, moto,
OpenBao); the operator and the API are their own processes, started as they are
deployed (``scaivault-federation run --standalone`` and ``scaivault-federation api``),
and the stores are reached through a counting proxy each (:mod:`floor`), which
counts their requests. The machine is shared and noisy, so what matters are the
ratios of things measured side by side: the operator's first sync against a bare
script doing the same job pipelined (:mod:`floor`: list, batch-read, create with 16
threads over keep-alive connections) just before and just after it, the API's
proxied reads interleaved with direct reads of the same secret. The per-path parts
are :mod:`per_path`.

    make bench            # or: .venv/bin/python benchmarks/scale.py --secrets 2000 --backends 500

With ``SCAIVAULT_BENCH_PROFILE=<dir>`` each operator runs under cProfile and leaves
``<dir>/<name>.prof`` (slower; for :mod:`profile_split`, not for the figures).

A size of 0 skips its part (``--secrets 0``: no first sync, resync or per-path syncs;
``--backends 0``: no many-backends part; ``--proxy-reads 0``: no proxy part).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import http.client
import json
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import floor
import per_path
from apiserver import CRS, Kube, bounded, lines, log, request_counts, wait_cr
from floor import THREADS, CountingProxy, Floor, counting_proxy
from prometheus_client.parser import text_string_to_metric_families

from scaivault_devenv.cluster import ensure_namespace, install_crd
from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.moto import MotoServer
from scaivault_devenv.openbao import OpenBaoServer
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.backends.aws.backend import BATCH_SIZE, MAX_PAGE_SIZE
from scaivault_federation.labels import (
    BACKEND_LABEL,
    GROUP,
    PLURAL,
    SYNC_REQUESTED_ANNOTATION,
    VERSION,
    credentials_labels,
)
from scaivault_federation.paths import secret_name_for_path

AWS_NAMESPACE = "scale-aws"
VAULT_NAMESPACE = "scale-vault"
PROXY_NAMESPACE = "scale-proxy"
AWS_BACKEND = "aws-many"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
AWS_READ_CONCURRENCY = 8  # AwsSecretsManagerBackend's default
VAULT_READ_CONCURRENCY = 8  # VaultBackend's default
VAULT_FIRST_NAMESPACE = "scale-vault-first"
VAULT_FIRST_BACKEND = "vault-many"
VAULT_PREFIX = "bench/"
#: the smaller backend of the one-path syncs, and the prefix of its secrets
SMALL = 2000
SMALL_PREFIX = "b2k/"
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def operator_calls(text: str) -> Counter[str]:
    """``scaivault_backend_calls_total`` summed by operation."""
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "scaivault_backend_calls_total":
                counts[sample.labels.get("operation", "")] += int(sample.value)
    return counts


# --- the operator process ----------------------------------------------------------------


@dataclass
class Operator:
    proc: ManagedProcess
    metrics_url: str
    healthz_url: str

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return process_cpu(self.pid)

    def status(self) -> dict[str, str]:
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
        return out

    def rss_mib(self, key: str = "VmRSS") -> float:
        return int(self.status()[key].split()[0]) * 1024 / MIB

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def start_operator(
    cp: ControlPlane, tmp: Path, namespaces: list[str], name: str = "operator"
) -> Operator:
    metrics_port, health_port = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(cp.kubeconfig),
        "SCAIVAULT_OPERATOR_NAMESPACE": "default",
    }
    argv = [sys.executable, "-m", "scaivault_federation.cli", "run", "--standalone"]
    profile_dir = os.environ.get("SCAIVAULT_BENCH_PROFILE")
    if profile_dir:  # where the CPU goes: benchmarks/profile_split.py reads it
        argv[1:2] = ["-m", "cProfile", "-o", str(Path(profile_dir) / f"{name}.prof"), "-m"]
    for namespace in namespaces:
        argv += ["-n", namespace]
    argv += [
        "--metrics-port",
        str(metrics_port),
        "--metrics-addr",
        "127.0.0.1",
        "--liveness",
        f"http://127.0.0.1:{health_port}/healthz",
    ]
    proc = ManagedProcess(name, argv, tmp / f"{name}.log", env=env)
    return Operator(
        proc, f"http://127.0.0.1:{metrics_port}/metrics", f"http://127.0.0.1:{health_port}/healthz"
    )


async def wait_http(session: aiohttp.ClientSession, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def fetch_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as resp:
        return await resp.text()


# --- part 1: a first sync of many secrets against the pipelined floor --------------------


def aws_value(i: int) -> str:
    return json.dumps({"username": f"app{i:05d}", "password": secrets.token_urlsafe(24)})


def seed_aws(moto: MotoServer, values: dict[str, str], concurrency: int) -> None:
    client = moto.client("secretsmanager")

    def create(item: tuple[str, str]) -> None:
        client.create_secret(Name=item[0], SecretString=item[1])

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(create, values.items()))


def aws_floor(moto: MotoServer, names: list[str]) -> list[tuple[str, float]]:
    """What moto alone takes for a first sync's calls, made as the operator makes them:
    ListSecrets pages one after another, then BatchGetSecretValue of every name, 20 a
    call, 8 calls in flight (the AWS backend's concurrency)."""
    client = moto.client("secretsmanager")
    started = time.perf_counter()
    token: str | None = None
    while True:
        args: dict[str, Any] = {"MaxResults": MAX_PAGE_SIZE}
        args["Filters"] = [{"Key": "name", "Values": ["bench/"]}]
        if token:
            args["NextToken"] = token
        token = client.list_secrets(**args).get("NextToken")
        if not token:
            break
    listed = time.perf_counter() - started
    chunks = [names[i : i + BATCH_SIZE] for i in range(0, len(names), BATCH_SIZE)]

    def read(chunk: list[str]) -> None:
        client.batch_get_secret_value(SecretIdList=chunk)

    started = time.perf_counter()
    with ThreadPoolExecutor(AWS_READ_CONCURRENCY) as pool:
        list(pool.map(read, chunks))
    pages, calls = math.ceil(len(names) / MAX_PAGE_SIZE), len(chunks)
    return [
        (f"moto alone: ListSecrets, {pages} pages one after another", listed),
        (
            f"moto alone: BatchGetSecretValue, {calls} calls, {AWS_READ_CONCURRENCY} in flight",
            time.perf_counter() - started,
        ),
    ]


def vault_floor(bao: OpenBaoServer, names: list[str]) -> list[tuple[str, float]]:
    """What OpenBao alone takes for a first sync's calls, made as the operator makes
    them: one detailed-metadata listing of the folder, then a read of every secret, 8
    in flight (the Vault backend's concurrency), over one aiohttp session."""
    return asyncio.run(_vault_floor(bao, names))


async def _vault_floor(bao: OpenBaoServer, names: list[str]) -> list[tuple[str, float]]:
    headers = {"X-Vault-Token": bao.root_token}
    connector = aiohttp.TCPConnector(limit=VAULT_READ_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def get(path: str, params: dict[str, str] | None = None) -> Any:
            async with session.get(f"{bao.address}/v1/{path}", params=params) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"OpenBao {path}: HTTP {resp.status}")
                return await resp.json()

        started = time.perf_counter()
        listing = await get(f"secret/detailed-metadata/{VAULT_PREFIX}", {"list": "true"})
        listed = time.perf_counter() - started
        keys = list((listing.get("data") or {}).get("keys") or [])
        if len(keys) != len(names):
            raise RuntimeError(f"OpenBao lists {len(keys)} secrets, not {len(names)}")

        async def read(name: str) -> None:
            await get(f"secret/data/{VAULT_PREFIX}{name}")

        started = time.perf_counter()
        await bounded((read(k) for k in keys), VAULT_READ_CONCURRENCY)
        return [
            ("OpenBao alone: one detailed-metadata LIST", listed),
            (
                f"OpenBao alone: {len(keys)} reads, {VAULT_READ_CONCURRENCY} in flight",
                time.perf_counter() - started,
            ),
        ]


@dataclass
class Timed:
    seconds: float
    cpu: float = 0.0  # CPU seconds of the client doing it
    servers: dict[str, float] = field(default_factory=dict)  # CPU seconds of each server
    requests: dict[str, int] = field(default_factory=dict)  # the store's, by operation


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def servers_cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: process_cpu(pid) for name, pid in pids.items()}


def cpu_since(before: dict[str, float], pids: dict[str, int]) -> dict[str, float]:
    now = servers_cpu(pids)
    return {name: now[name] - before[name] for name in before}


async def pipelined_floor(
    source: Source, cp: ControlPlane, namespace: str, servers: dict[str, int]
) -> Timed:
    """The pipelined floor (:mod:`floor`) into ``namespace``, timed with the servers' CPU;
    its Secrets are deleted afterwards."""
    await ensure_namespace_async(cp, namespace)
    busy = servers_cpu(servers)
    done = await asyncio.to_thread(source.pipelined, cp, namespace)
    timed = Timed(done.seconds, done.cpu, cpu_since(busy, servers), done.requests)
    if done.created != len(source.values):
        raise RuntimeError(f"the floor created {done.created}, not {len(source.values)}")
    kube = Kube(cp)
    try:
        await kube.ok("DELETE", f"/api/v1/namespaces/{namespace}/secrets")
    finally:
        await kube.close()
    return timed


async def ensure_namespace_async(cp: ControlPlane, namespace: str) -> None:
    await asyncio.to_thread(ensure_namespace, cp, namespace)


@dataclass
class FirstSync:
    label: str
    n: int
    floors: list[Timed]  # the pipelined floor, before and after the operator
    operator: Timed
    sync_ms: int
    rss_after: float
    alone: list[tuple[str, float]]  # the backend's calls alone


@dataclass
class Source:
    """One backend a first sync reads from, through its counting proxy: what the
    benchmark creates to sync it, and the pipelined floor doing the same job."""

    label: str
    namespace: str
    backend: str
    credentials_path: str  # the credentials Secret, as the config names it
    credentials: dict[str, str]  # its stringData
    spec: dict[str, Any]  # type, config (its endpoint the proxy), pathMapping
    alone: Callable[[list[str]], list[tuple[str, float]]]
    servers: dict[str, int]  # the backend's server processes, by name
    proxy: CountingProxy
    pipelined: Callable[[ControlPlane, str], Floor]
    values: dict[str, str] = field(default_factory=dict)


async def first_sync(
    source: Source,
    cp: ControlPlane,
    op: Operator,
    kube: Kube,
    values: dict[str, str],
    timeout: float,
) -> FirstSync:
    n, namespace = len(values), source.namespace
    source.values = values
    servers = {**cp.pids, **source.servers, "proxy": source.proxy.pid}
    log(f"pipelined floor: list, read and create {n} {source.label} secrets, {THREADS} threads")
    before = await pipelined_floor(source, cp, "scale-floor-1", servers)
    log(f"pipelined floor: {before.seconds:.1f}s")

    await kube.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name_for_path(source.credentials_path),
                "labels": credentials_labels(),
            },
            "stringData": source.credentials,
        },
    )
    cr = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FederationBackend",
        "metadata": {"name": source.backend},
        "spec": {**source.spec, "mode": "sync", "syncInterval": "1h"},
    }
    log(f"operator: first sync of {n} {source.label} secrets")
    await asyncio.to_thread(source.proxy.reset)
    cpu, started, busy = op.cpu_seconds(), time.perf_counter(), servers_cpu(servers)
    await kube.ok("POST", f"{CRS}/namespaces/{namespace}/{PLURAL}", cr)
    status = await wait_cr(
        kube, namespace, source.backend, lambda s: s.get("secretsSynced") == n, timeout
    )
    ours = Timed(
        time.perf_counter() - started,
        op.cpu_seconds() - cpu,
        cpu_since(busy, servers),
        await asyncio.to_thread(source.proxy.counts),
    )
    log(f"operator: {ours.seconds:.1f}s")

    after = await pipelined_floor(source, cp, "scale-floor-2", servers)
    log(f"pipelined floor again: {after.seconds:.1f}s")
    rss = op.rss_mib()
    alone = await asyncio.to_thread(source.alone, list(values))
    log("backend alone: " + ", ".join(f"{s:.1f}s" for _, s in alone))
    sync_ms = int(status.get("lastSyncDurationMs") or 0)
    return FirstSync(source.label, n, [before, after], ours, sync_ms, rss, alone)


# --- part 2: an unchanged resync ---------------------------------------------------------


@dataclass
class Resync:
    n: int
    sync_ms: int
    observed_s: float
    requests: Counter[tuple[str, str]]
    moved: int
    calls: Counter[str]
    cpu: float


async def versions(kube: Kube) -> dict[str, str]:
    items = await kube.list_items(
        f"/api/v1/namespaces/{AWS_NAMESPACE}/secrets",
        {"labelSelector": f"{BACKEND_LABEL}={AWS_BACKEND}"},
    )
    return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}


async def resync(
    op: Operator, kube: Kube, local: aiohttp.ClientSession, n: int, timeout: float
) -> Resync:
    path = f"{CRS}/namespaces/{AWS_NAMESPACE}/{PLURAL}/{AWS_BACKEND}"
    rv_before = await versions(kube)
    doc = await kube.ok("GET", path)
    last_before = doc["status"]["lastSync"]
    api_before = request_counts(await kube.metrics(), ["secrets"])
    calls_before = operator_calls(await fetch_text(local, op.metrics_url))
    cpu, started = op.cpu_seconds(), time.perf_counter()
    stamp = datetime.now(UTC).isoformat()
    await kube.ok(
        "PATCH",
        path,
        {"metadata": {"annotations": {SYNC_REQUESTED_ANNOTATION: stamp}}},
        content_type="application/merge-patch+json",
    )
    status = await wait_cr(
        kube, AWS_NAMESPACE, AWS_BACKEND, lambda s: s.get("lastSync") != last_before, timeout
    )
    observed = time.perf_counter() - started
    # the call counters are exported once the sync's status is written: wait for them
    deadline = time.monotonic() + 30
    while True:
        calls = operator_calls(await fetch_text(local, op.metrics_url)) - calls_before
        if calls.get("probe", 0) >= 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    cpu = op.cpu_seconds() - cpu
    requests = request_counts(await kube.metrics(), ["secrets"])
    requests.subtract(api_before)
    rv_after = await versions(kube)
    moved = sum(1 for name, rv in rv_after.items() if rv_before.get(name) != rv)
    moved += len(set(rv_before) - set(rv_after))
    if status.get("secretsSynced") != n:
        raise RuntimeError(f"the resync reports {status.get('secretsSynced')} synced, not {n}")
    return Resync(
        n, int(status.get("lastSyncDurationMs") or 0), observed, requests, moved, calls, cpu
    )


# --- part 3: many backends in one process ------------------------------------------------


@dataclass
class Many:
    n: int
    created_s: float
    healthy_s: float
    cpu: float
    idle_seconds: float = 0.0
    idle_cpu: float = 0.0
    idle_requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    rss: float = 0.0
    hwm: float = 0.0
    threads: int = 0
    fds: int = 0


def aws_source(moto: MotoServer, proxy: CountingProxy) -> Source:
    return Source(
        "AWS (moto)",
        AWS_NAMESPACE,
        AWS_BACKEND,
        "creds/aws",
        {"access_key_id": moto.access_key_id, "secret_access_key": moto.secret_access_key},
        {
            "type": "aws-secrets-manager",
            "config": {
                "region": moto.region,
                "endpoint": proxy.url,
                "credentialsPath": "creds/aws",
            },
            "pathMapping": {"bench/**": "bench/**"},
        },
        lambda names: aws_floor(moto, names),
        moto.pids,
        proxy,
        lambda cp, namespace: floor.aws_floor(
            cp, namespace, proxy, lambda url: moto_client(moto, url), "bench/"
        ),
    )


def moto_client(moto: MotoServer, endpoint: str) -> Any:
    """A Secrets Manager client of moto's admin key at ``endpoint``, 16 connections."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        region_name=moto.region,
    )
    config = Config(max_pool_connections=floor.THREADS, retries={"max_attempts": 1})
    return session.client("secretsmanager", endpoint_url=endpoint, config=config)


def vault_source(bao: OpenBaoServer, proxy: CountingProxy) -> Source:
    return Source(
        "Vault (OpenBao)",
        VAULT_FIRST_NAMESPACE,
        VAULT_FIRST_BACKEND,
        "creds/vault",
        {"token": bao.root_token},
        {
            "type": "hashicorp-vault",
            "config": {"endpoint": proxy.url, "authConfigPath": "creds/vault"},
            "pathMapping": {"bench/**": f"secret/data/{VAULT_PREFIX}**"},
        },
        lambda names: vault_floor(bao, names),
        bao.pids,
        proxy,
        lambda cp, namespace: floor.vault_floor(cp, namespace, proxy, bao.root_token, VAULT_PREFIX),
    )


async def seed_vault_values(bao: OpenBaoServer, values: dict[str, str], concurrency: int) -> None:
    """``values`` (JSON objects) as KV v2 secrets under ``secret/bench/``."""
    headers = {"X-Vault-Token": bao.root_token}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def put(name: str, value: str) -> None:
            url = f"{bao.address}/v1/secret/data/{name}"
            async with session.post(url, json={"data": json.loads(value)}) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"OpenBao {url}: {resp.status}")

        await bounded((put(k, v) for k, v in values.items()), concurrency)


async def seed_vault(bao: OpenBaoServer, n: int, concurrency: int) -> None:
    headers = {"X-Vault-Token": bao.root_token}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def put(i: int) -> None:
            url = f"{bao.address}/v1/secret/data/many/b{i}/s"
            body = {"data": {"password": secrets.token_urlsafe(24)}}
            async with session.post(url, json=body) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"OpenBao {url}: {resp.status}")

        await bounded((put(i) for i in range(n)), concurrency)


async def watch_healthy(
    kube: Kube, namespace: str, n: int, version: str, healthy: dict[str, float]
) -> None:
    """Record when each CR of ``namespace`` first reports one secret synced and healthy."""
    path = f"{CRS}/namespaces/{namespace}/{PLURAL}"
    while len(healthy) < n:
        params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
        async with kube.session.get(
            kube.server + path, params=params, headers=kube.headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"watch {path}: {resp.status}")
            async for line in lines(resp.content):
                event = json.loads(line)
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion", version)
                status = obj.get("status") or {}
                name = (obj.get("metadata") or {}).get("name", "")
                if status.get("status") == "healthy" and status.get("secretsSynced") == 1:
                    healthy.setdefault(name, time.perf_counter())
                if len(healthy) >= n:
                    return


# --- part 3a: wake-ups -------------------------------------------------------------------


@dataclass
class Wakeups:
    retry_in: float  # how far off the failing backend's next retry was
    credentials: float  # credentials Secret created -> healthy
    deleted: float  # managed Secret deleted by hand -> back
    edited: float  # managed Secret edited by hand -> conflict in the status


def seconds_until(stamp: object) -> float:
    if not isinstance(stamp, str) or not stamp:
        return 0.0
    return (
        datetime.fromisoformat(stamp.replace("Z", "+00:00")) - datetime.now(UTC)
    ).total_seconds()


async def wakeups(kube: Kube, bao: OpenBaoServer, timeout: float) -> Wakeups:
    """A Vault backend (``syncInterval: 1h``) failing for want of its credentials
    Secret until that Secret is created, once its retries are more than 10 s apart;
    then its managed Secret deleted by hand, then edited by hand."""
    namespace, name, creds = VAULT_FIRST_NAMESPACE, "wake", "creds/wake"
    value = secrets.token_urlsafe(24)
    bao.request("POST", "/v1/secret/data/wake/db", {"data": {"password": value}})
    cr = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FederationBackend",
        "metadata": {"name": name},
        "spec": {
            "type": "hashicorp-vault",
            "config": {"endpoint": bao.address, "authConfigPath": creds},
            "pathMapping": {"wake/**": "secret/data/wake/**"},
            "mode": "sync",
            "syncInterval": "1h",
        },
    }
    backends = f"{CRS}/namespaces/{namespace}/{PLURAL}"
    secrets_path = f"/api/v1/namespaces/{namespace}/secrets"
    managed = f"{secrets_path}/{secret_name_for_path('wake/db')}"
    credentials = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name_for_path(creds), "labels": credentials_labels()},
        "stringData": {"token": bao.root_token},
    }
    await kube.ok("POST", backends, cr)
    try:
        log("wake-ups: a backend without its credentials Secret, until retries are 10 s apart")
        failing = await wait_cr(
            kube,
            namespace,
            name,
            lambda s: s.get("status") == "error" and seconds_until(s.get("nextSyncAt")) > 10,
            timeout,
        )
        retry_in = seconds_until(failing.get("nextSyncAt"))
        started = time.perf_counter()
        await kube.ok("POST", secrets_path, credentials)
        await wait_cr(kube, namespace, name, lambda s: s.get("status") == "healthy", timeout)
        healthy = time.perf_counter() - started

        await kube.ok("DELETE", managed)
        started = time.perf_counter()
        while (await kube.call("GET", managed))[0] != 200:
            if time.perf_counter() - started > timeout:
                raise RuntimeError("the deleted managed Secret did not come back")
            await asyncio.sleep(0.05)
        back = time.perf_counter() - started

        edit = {"data": {"password": base64.b64encode(b"edited-by-hand").decode()}}
        await kube.ok("PATCH", managed, edit, content_type="application/merge-patch+json")
        started = time.perf_counter()
        await wait_cr(kube, namespace, name, lambda s: s.get("conflictCount") == 1, timeout)
        reported = time.perf_counter() - started
    finally:
        await kube.call("DELETE", f"{backends}/{name}")
        await kube.call("DELETE", f"{secrets_path}/{secret_name_for_path(creds)}")
    return Wakeups(retry_in, healthy, back, reported)


def print_wakeups(w: Wakeups) -> None:
    print("\n### Wake-ups (a Vault backend with `syncInterval: 1h`)\n")
    print("| what happened | seen after | target |")
    print("| --- | ---: | ---: |")
    print(
        f"| credentials Secret created while the backend was in error (next retry "
        f"{w.retry_in:.0f} s away) -> healthy | {w.credentials:.2f} s | ≤ 10 s |"
    )
    print(f"| managed Secret deleted by hand -> back | {w.deleted:.2f} s | ≤ 10 s |")
    print(f"| managed Secret edited by hand -> conflict in the status | {w.edited:.2f} s | |")


async def many_backends(
    op: Operator,
    kube: Kube,
    bao: OpenBaoServer,
    n: int,
    concurrency: int,
    settle: float,
    idle: float,
    timeout: float,
) -> Many:
    log(f"OpenBao: {n} secrets")
    await seed_vault(bao, n, concurrency)
    namespace = VAULT_NAMESPACE
    await kube.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds-vault", "labels": credentials_labels()},
            "stringData": {"token": bao.root_token},
        },
    )
    listing = await kube.ok("GET", f"{CRS}/namespaces/{namespace}/{PLURAL}")
    healthy: dict[str, float] = {}
    watcher = asyncio.create_task(
        watch_healthy(kube, namespace, n, listing["metadata"]["resourceVersion"], healthy)
    )

    def cr(i: int) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FederationBackend",
            "metadata": {"name": f"b{i}"},
            "spec": {
                "type": "hashicorp-vault",
                "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
                "pathMapping": {f"b{i}/**": f"secret/data/many/b{i}/**"},
                "mode": "sync",
                "syncInterval": "1h",
            },
        }

    log(f"operator: {n} FederationBackends")
    cpu, started = op.cpu_seconds(), time.perf_counter()
    path = f"{CRS}/namespaces/{namespace}/{PLURAL}"
    await bounded((kube.ok("POST", path, cr(i)) for i in range(n)), concurrency)
    created = time.perf_counter() - started
    log(f"created in {created:.1f}s; waiting for all healthy")
    deadline = time.monotonic() + timeout
    while not watcher.done():
        await asyncio.wait([watcher], timeout=5)
        if time.monotonic() > deadline:
            watcher.cancel()
            raise RuntimeError(f"only {len(healthy)}/{n} healthy after {timeout:.0f}s")
        log(f"  {len(healthy)}/{n} healthy")
    watcher.result()
    result = Many(n, created, max(healthy.values()) - started, op.cpu_seconds() - cpu)
    log(f"all healthy after {result.healthy_s:.1f}s; settling {settle:.0f}s, then idle {idle:.0f}s")
    await asyncio.sleep(settle)
    watched = ["secrets", "federationbackends", "events", "leases"]
    api_before = request_counts(await kube.metrics(), watched)
    cpu, started = op.cpu_seconds(), time.perf_counter()
    await asyncio.sleep(idle)
    result.idle_cpu = op.cpu_seconds() - cpu
    result.idle_seconds = time.perf_counter() - started
    result.idle_requests = request_counts(await kube.metrics(), watched)
    result.idle_requests.subtract(api_before)
    result.rss, result.hwm = op.rss_mib(), op.rss_mib("VmHWM")
    result.threads, result.fds = int(op.status()["Threads"]), op.open_fds()
    return result


# --- part 4: proxied reads through the API -----------------------------------------------


@dataclass
class Reads:
    label: str
    direct: list[float]
    api: list[float]


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


class ApiReader:
    """Sequential GETs over one keep-alive connection."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {**headers, "Accept": "application/json"}

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            self.conn.request("GET", path, headers=self.headers)
            resp = self.conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request connects again
            raise
        doc = json.loads(body) if body else {}
        return resp.status, doc if isinstance(doc, dict) else {}

    def close(self) -> None:
        self.conn.close()


def interleaved(
    n: int, direct: Callable[[], object], through_api: Callable[[], object], label: str
) -> Reads:
    for _ in range(20):  # warm both: connections, mount lookups, credentials
        direct()
        through_api()
    result = Reads(label, [], [])
    for _ in range(n):
        started = time.perf_counter()
        direct()
        result.direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        through_api()
        result.api.append(time.perf_counter() - started)
    return result


def proxy_reads(
    cp: ControlPlane, moto: MotoServer, bao: OpenBaoServer, tmp: Path, n: int
) -> list[Reads]:
    ensure_namespace(cp, PROXY_NAMESPACE)
    bao.request("POST", "/v1/secret/data/proxy/db", {"data": {"password": "p" * 32}})
    sm = moto.client("secretsmanager")
    sm.create_secret(Name="proxy/db", SecretString=json.dumps({"password": "p" * 32}))
    creds = {
        "creds-vault": {"token": bao.root_token},
        "creds-aws": {
            "access_key_id": moto.access_key_id,
            "secret_access_key": moto.secret_access_key,
        },
    }
    for name, data in creds.items():
        metadata = {"name": name, "labels": credentials_labels()}
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
        status, answer = cp.request(
            "POST", f"/api/v1/namespaces/{PROXY_NAMESPACE}/secrets", {**body, "stringData": data}
        )
        assert status == 201, answer
    specs = {
        "proxy-vault": {
            "type": "hashicorp-vault",
            "config": {"endpoint": bao.address, "authConfigPath": "creds/vault"},
            "pathMapping": {"pv/**": "secret/data/proxy/**"},
            "mode": "proxy",
        },
        "proxy-aws": {
            "type": "aws-secrets-manager",
            "config": {
                "region": moto.region,
                "endpoint": moto.endpoint,
                "credentialsPath": "creds/aws",
            },
            "pathMapping": {"pa/**": "proxy/**"},
            "mode": "proxy",
        },
    }
    for name, spec in specs.items():
        cr = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FederationBackend",
            "metadata": {"name": name},
            "spec": spec,
        }
        status, answer = cp.request("POST", f"{CRS}/namespaces/{PROXY_NAMESPACE}/{PLURAL}", cr)
        assert status == 201, answer

    api, port, tokens = per_path.api_process(cp, tmp, PROXY_NAMESPACE, "api")
    api.start()
    reader = ApiReader(port, {"Authorization": f"Bearer {tokens['admin']}"})
    vault = ApiReader(int(bao.address.rsplit(":", 1)[1]), {"X-Vault-Token": bao.root_token})
    try:

        def proxied(path: str) -> Callable[[], object]:
            def read() -> object:
                status, doc = reader.get(f"/v1/secrets/{path}")
                if status != 200 or doc.get("source") != "proxy":
                    raise RuntimeError(f"GET /v1/secrets/{path}: {status} {doc}")
                return doc

            return read

        api.wait_until(lambda: proxied("pv/db")() is not None, 60, "a proxied read")
        api.wait_until(lambda: proxied("pa/db")() is not None, 60, "a proxied read")

        def vault_read() -> object:
            status, doc = vault.get("/v1/secret/data/proxy/db")
            if status != 200:
                raise RuntimeError(f"OpenBao read: {status}")
            return doc

        log(f"proxy: {n} reads each way, Vault then AWS")
        results = [interleaved(n, vault_read, proxied("pv/db"), "Vault (OpenBao)")]
        results.append(
            interleaved(
                n, lambda: sm.get_secret_value(SecretId="proxy/db"), proxied("pa/db"), "AWS (moto)"
            )
        )
    finally:
        reader.close()
        vault.close()
        api.stop()
    return results


# --- the tables --------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def print_first(first: FirstSync) -> None:
    n = first.n
    floor_s = statistics.mean(t.seconds for t in first.floors)
    print(f"\n### First sync of {n} {first.label} secrets into one namespace\n")
    print("| run | time | Secrets/s | ratio to the pipelined floor | client CPU | store requests |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    labels = ("pipelined floor, before", "pipelined floor, after")
    for label, t in zip(labels, first.floors, strict=True):
        print(
            f"| {label} | {t.seconds:.1f} s | {n / t.seconds:.0f} | "
            f"{ratio(t.seconds, floor_s)} | {t.cpu:.1f} s | {requests_text(t.requests)} |"
        )
    op = first.operator
    print(
        f"| operator: CR created until `secretsSynced == {n}` | {op.seconds:.1f} s | "
        f"{n / op.seconds:.0f} | **{ratio(op.seconds, floor_s)}** | {op.cpu:.1f} s | "
        f"{requests_text(op.requests)} |"
    )
    sync = first.sync_ms / 1000
    print(
        f"| operator: `status.lastSyncDurationMs` | {sync:.1f} s | {n / sync:.0f} | "
        f"{ratio(sync, floor_s)} | | |"
    )
    for label, seconds in first.alone:
        print(f"| {label} | {seconds:.1f} s | | {ratio(seconds, floor_s)} | | |")
    print(f"\nPipelined floor: mean of the two runs, {floor_s:.1f} s. {floor.WHAT}")
    print(
        f"\nTarget: operator ≤ 1.3x the pipelined floor. Operator CPU {op.cpu:.1f} s "
        f"({op.cpu / n * 1000:.2f} ms a secret; the floor's {first.floors[0].cpu / n * 1000:.2f} "
        f"ms). Operator RSS after it: {first.rss_after:.0f} MiB."
    )
    print_cpu(first, floor_s)


def requests_text(requests: dict[str, int]) -> str:
    return ", ".join(f"{op} {count}" for op, count in sorted(requests.items())) or "none"


def print_cpu(first: FirstSync, floor_s: float) -> None:
    """Where the CPU went in each run, and what that leaves as the least possible time."""
    cores = os.cpu_count() or 1
    names = list(first.operator.servers)
    print(f"\nCPU seconds spent during each run ({cores} cores):\n")
    print(f"| run | time | client | {' | '.join(names)} | all of them | of the cores |")
    print(f"| --- | ---: | ---: | {' | '.join('---:' for _ in names)} | ---: | ---: |")
    labels = ("pipelined floor, before", "pipelined floor, after", "operator")
    for label, t in zip(labels, [*first.floors, first.operator], strict=True):
        total = t.cpu + sum(t.servers.values())
        cells = " | ".join(f"{t.servers[n]:.1f}" for n in names)
        print(
            f"| {label} | {t.seconds:.1f} s | {t.cpu:.1f} | {cells} | {total:.1f} | "
            f"{total / (cores * t.seconds) * 100:.0f} % |"
        )


def print_resync(r: Resync, first_sync_ms: int) -> None:
    writes = sum(r.requests[("secrets", v)] for v in WRITE_VERBS)
    lists = r.requests[("secrets", "LIST")]
    gets = r.requests[("secrets", "GET")]
    print(f"\n### Unchanged resync of those {r.n} (sync-requested-at annotation)\n")
    print("| figure | measured | minimum |")
    print("| --- | ---: | ---: |")
    print(
        f"| `status.lastSyncDurationMs` | {r.sync_ms} ms "
        f"({ratio(r.sync_ms, first_sync_ms)} of the first sync's) | |"
    )
    print(f"| annotation patched until the new `lastSync` seen | {r.observed_s:.2f} s | |")
    print(f"| operator CPU for it | {r.cpu:.2f} s | |")
    print(f"| Secret writes (apiserver POST/PUT/PATCH/DELETE) | {writes} | 0 |")
    print(f"| Secrets whose resourceVersion moved | {r.moved} | 0 |")
    print(f"| Secret LISTs reaching the apiserver | {lists} | 0 |")
    print(f"| Secret GETs reaching the apiserver | {gets} | 0 |")
    minimum = {"list": math.ceil(r.n / MAX_PAGE_SIZE), "probe": 1}
    for operation in sorted(set(r.calls) | {"list", "read", "batch_read"}):
        print(
            f"| backend calls: `{operation}` | {r.calls.get(operation, 0)} | "
            f"{minimum.get(operation, 0)} |"
        )


def print_many(m: Many, secrets_held: int) -> None:
    print(f"\n### {m.n} FederationBackends (OpenBao, one secret each, syncInterval 1h)\n")
    print("| figure | measured | target |")
    print("| --- | ---: | ---: |")
    print(f"| all CRs created (16 in flight) after | {m.created_s:.1f} s | |")
    print(
        f"| all healthy after (from the first create) | {m.healthy_s:.1f} s "
        f"({m.n / m.healthy_s:.1f} backends/s) | |"
    )
    print(f"| operator CPU until then | {m.cpu:.1f} s ({m.cpu / m.n * 1000:.1f} ms a backend) | |")
    idle = m.idle_cpu / m.idle_seconds * 100
    print(
        f"| idle CPU over {m.idle_seconds:.0f} s | {idle:.2f} % of one core "
        f"({m.idle_cpu:.2f} s) | ≤ 3 % |"
    )
    held = f"{secrets_held} Secrets of one backend and " if secrets_held else ""
    print(
        f"| RSS with {held}{m.n} backends of one Secret each (Vault only: no cloud SDK "
        f"loaded) | {m.rss:.0f} MiB | ≤ 300 MiB |"
    )
    print(f"| peak RSS (VmHWM) | {m.hwm:.0f} MiB | |")
    print(f"| threads / open file descriptors | {m.threads} / {m.fds} | |")
    busy = {f"{v} {r}": c for (r, v), c in sorted(m.idle_requests.items()) if c and v != "WATCH"}
    print(f"| apiserver requests in the idle window (all clients) | {busy or 'none'} | |")


def print_reads(reads: list[Reads]) -> None:
    print("\n### Proxied read: `GET /v1/secrets/{path}` through the API vs a direct read\n")
    print(
        "| backend | reads | direct median | direct p95 | API median | API p95 "
        "| ratio median | ratio p95 | added median |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in reads:
        dm, dp = statistics.median(r.direct) * 1000, p95(r.direct) * 1000
        am, ap = statistics.median(r.api) * 1000, p95(r.api) * 1000
        print(
            f"| {r.label} | {len(r.api)} | {dm:.2f} ms | {dp:.2f} ms | {am:.2f} ms | "
            f"{ap:.2f} ms | {ratio(am, dm)} | {ratio(ap, dp)} | {am - dm:.2f} ms |"
        )
    print(
        "\nDirect: one keep-alive connection to OpenBao, boto3 to moto, from the benchmark "
        "process; API: one keep-alive connection, "
        "a static token, reads interleaved one for one."
    )


# --- main --------------------------------------------------------------------------------


async def operator_parts(
    args: argparse.Namespace,
    cp: ControlPlane,
    moto: MotoServer,
    bao: OpenBaoServer,
    tmp: Path,
) -> None:
    values = {f"bench/app{i:05d}": aws_value(i) for i in range(args.secrets)}
    if values:
        log(f"moto and OpenBao: seeding {len(values)} secrets each, {args.concurrency} at a time")
        await asyncio.to_thread(seed_aws, moto, values, args.concurrency)
        await seed_vault_values(bao, values, args.concurrency)
    for namespace in (AWS_NAMESPACE, VAULT_FIRST_NAMESPACE, VAULT_NAMESPACE):
        await ensure_namespace_async(cp, namespace)
    kube = Kube(cp, limit=max(16, args.concurrency) + 2)
    try:
        with (
            counting_proxy(moto.endpoint, tmp, "proxy-moto") as moto_proxy,
            counting_proxy(bao.address, tmp, "proxy-bao") as bao_proxy,
        ):
            await store_parts(args, cp, moto, bao, tmp, kube, values, moto_proxy, bao_proxy)
    finally:
        await kube.close()


async def store_parts(
    args: argparse.Namespace,
    cp: ControlPlane,
    moto: MotoServer,
    bao: OpenBaoServer,
    tmp: Path,
    kube: Kube,
    values: dict[str, str],
    moto_proxy: CountingProxy,
    bao_proxy: CountingProxy,
) -> None:
    """The parts that reach the stores through their counting proxies."""
    if values and "aws" in args.sources:  # in an operator of its own: no boto3 in the other
        async with running_operator(cp, tmp, [AWS_NAMESPACE], "operator-aws") as (op, local):
            first = await first_sync(
                aws_source(moto, moto_proxy), cp, op, kube, values, args.timeout
            )
            print_first(first)
            again = await resync(op, kube, local, len(values), args.timeout)
            print_resync(again, first.sync_ms)
            if args.per_path:
                await aws_per_path(args, cp, moto, moto_proxy, kube, tmp, len(values))
    namespaces = [VAULT_FIRST_NAMESPACE, VAULT_NAMESPACE]
    async with running_operator(cp, tmp, namespaces, "operator") as (op, local):
        if values and "vault" in args.sources:
            first = await first_sync(
                vault_source(bao, bao_proxy), cp, op, kube, values, args.timeout
            )
            print_first(first)
            if args.per_path:
                await vault_per_path(args, bao, bao_proxy, kube, len(values))
        print_wakeups(await wakeups(kube, bao, args.timeout))
        if args.backends:
            many = await many_backends(
                op,
                kube,
                bao,
                args.backends,
                args.concurrency,
                args.settle_seconds,
                args.idle_seconds,
                args.timeout,
            )
            print_many(many, len(values))


def numbered(prefix: str) -> Callable[[int], str]:
    """The path of secret ``i`` of those under ``prefix``."""
    return lambda i: f"{prefix}{i:05d}"


async def small_backend(
    kube: Kube, namespace: str, name: str, spec: dict[str, Any], timeout: float
) -> None:
    """A second backend of :data:`SMALL` secrets, created and synced."""
    cr = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FederationBackend",
        "metadata": {"name": name},
        "spec": {**spec, "mode": "sync", "syncInterval": "1h"},
    }
    await kube.ok("POST", f"{CRS}/namespaces/{namespace}/{PLURAL}", cr)
    await wait_cr(kube, namespace, name, lambda s: s.get("secretsSynced") == SMALL, timeout)


async def aws_per_path(
    args: argparse.Namespace,
    cp: ControlPlane,
    moto: MotoServer,
    proxy: CountingProxy,
    kube: Kube,
    tmp: Path,
    size: int,
) -> None:
    """One-path syncs of AWS backends of :data:`SMALL` and ``size`` secrets, each by an
    EventBridge event posted to the API, then a burst of events on the larger one."""
    log(f"moto: {SMALL} more secrets for a backend of their own")
    small = {f"{SMALL_PREFIX}s{i:05d}": aws_value(i) for i in range(SMALL)}
    await asyncio.to_thread(seed_aws, moto, small, args.concurrency)
    spec = aws_source(moto, proxy).spec
    await small_backend(
        kube,
        AWS_NAMESPACE,
        "aws-2k",
        {**spec, "pathMapping": {f"{SMALL_PREFIX}**": f"{SMALL_PREFIX}**"}},
        args.timeout,
    )
    admin = moto.client("secretsmanager")

    async def change(prefix: str, i: int, value: dict[str, str]) -> None:
        name = f"{prefix}{i:05d}"
        await asyncio.to_thread(
            admin.put_secret_value, SecretId=name, SecretString=json.dumps(value)
        )

    async with per_path.running_api(cp, tmp, AWS_NAMESPACE) as api:
        trigger = per_path.event_trigger(api, moto.region, lambda local: local)
        targets = [
            per_path.Target(
                "AWS (moto)",
                AWS_NAMESPACE,
                backend,
                n,
                numbered(prefix),
                functools.partial(change, prefix),
                trigger,
                "EventBridge event posted to the API",
            )
            for backend, n, prefix in (
                ("aws-2k", SMALL, f"{SMALL_PREFIX}s"),
                (AWS_BACKEND, size, "bench/app"),
            )
        ]
        log("per-path: one-path syncs of AWS backends, by change events")
        results = [await per_path.one_path_syncs(kube, proxy, target) for target in targets]
        per_path.print_one_path(results)
        log(f"per-path: a burst of {per_path.BURST} change events")
        burst = await per_path.burst(
            kube, proxy, api, targets[1], moto.region, lambda local: local, tmp / "operator-aws.log"
        )
        per_path.print_burst(burst)


async def vault_per_path(
    args: argparse.Namespace, bao: OpenBaoServer, proxy: CountingProxy, kube: Kube, size: int
) -> None:
    """One-path syncs of Vault backends of :data:`SMALL` and ``size`` secrets, each by the
    sync-paths annotation."""
    log(f"OpenBao: {SMALL} more secrets for a backend of their own")
    small = {f"{SMALL_PREFIX}s{i:05d}": aws_value(i) for i in range(SMALL)}
    await seed_vault_values(bao, small, args.concurrency)
    spec = vault_source(bao, proxy).spec
    mapping = {f"{SMALL_PREFIX}**": f"secret/data/{SMALL_PREFIX}**"}
    await small_backend(
        kube, VAULT_FIRST_NAMESPACE, "vault-2k", {**spec, "pathMapping": mapping}, args.timeout
    )
    headers = {"X-Vault-Token": bao.root_token}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def change(prefix: str, i: int, value: dict[str, str]) -> None:
            url = f"{bao.address}/v1/secret/data/{prefix}{i:05d}"
            async with session.post(url, json={"data": value}) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"OpenBao {url}: {resp.status}")

        targets = [
            per_path.Target(
                "Vault (OpenBao)",
                VAULT_FIRST_NAMESPACE,
                backend,
                n,
                numbered(prefix),
                functools.partial(change, prefix),
                per_path.annotation_trigger(kube, VAULT_FIRST_NAMESPACE, backend),
                "`sync-paths` annotation",
            )
            for backend, n, prefix in (
                ("vault-2k", SMALL, f"{SMALL_PREFIX}s"),
                (VAULT_FIRST_BACKEND, size, VAULT_PREFIX + "app"),
            )
        ]
        log("per-path: one-path syncs of Vault backends, by the sync-paths annotation")
        results = [await per_path.one_path_syncs(kube, proxy, target) for target in targets]
        per_path.print_one_path(results)


@contextlib.asynccontextmanager
async def running_operator(
    cp: ControlPlane, tmp: Path, namespaces: list[str], name: str
) -> AsyncIterator[tuple[Operator, aiohttp.ClientSession]]:
    """An operator process watching ``namespaces``, started and healthy; stopped after."""
    op = start_operator(cp, tmp, namespaces, name)
    op.proc.start()
    try:
        async with aiohttp.ClientSession() as local:
            await wait_http(local, op.healthz_url)
            await wait_http(local, op.metrics_url)
            yield op, local
    finally:
        op.proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets", type=int, default=10000, help="AWS secrets (part 1, 2)")
    parser.add_argument("--backends", type=int, default=5000, help="FederationBackends (part 3)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle CPU window")
    parser.add_argument("--settle-seconds", type=float, default=10, help="wait before it")
    parser.add_argument("--proxy-reads", type=int, default=500, help="reads each way (part 4)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--timeout", type=float, default=1800, help="longest wait of a part")
    parser.add_argument("--state-dir", type=Path, help="keep servers' state and logs here")
    parser.add_argument(
        "--per-path",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one-path syncs and the burst after each first sync",
    )
    parser.add_argument(
        "--sources",
        type=lambda raw: set(raw.split(",")),
        default={"aws", "vault"},
        help="first syncs to run, comma-separated: aws,vault",
    )
    args = parser.parse_args()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.state_dir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scaivault-scale-")))
        else:
            tmp = args.state_dir.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        with (
            ControlPlane(tmp / "cp") as cp,
            MotoServer(tmp / "moto") as moto,
            OpenBaoServer(tmp / "bao") as bao,
        ):
            install_crd(cp)
            print(f"## Scale ({os.cpu_count()} cores, shared; one operator process)")
            if args.secrets or args.backends:
                asyncio.run(operator_parts(args, cp, moto, bao, tmp))
            if args.proxy_reads:
                print_reads(proxy_reads(cp, moto, bao, tmp, args.proxy_reads))
    print(f"\n(whole run: {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
