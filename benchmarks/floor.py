"""The floor a first sync is measured against: a bare script doing the same job on the
same stack, pipelined, and the counting proxy both reach the store through.

The script lists the store, reads every secret in batches and creates its Secret,
with 16 threads over keep-alive connections: the listing runs in the calling thread
and hands each piece of it to a pool of 16 threads as it arrives; a thread reads its
piece (AWS: one ``BatchGetSecretValue`` of 20 names through boto3; Vault: one
``GET .../data/<path>`` per secret over a keep-alive ``http.client`` connection), turns
each value into a Secret exactly as the operator does (the same data, the same labels
and annotations, the same HMAC) and creates it with a ``POST`` over its own keep-alive
HTTPS connection to the apiserver. The store is reached through the same counting
proxy as the operator's, so its requests are counted alike. It does nothing else: no
watch, no status, no retries, no check of what exists.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scaivault_devenv.controlplane import ControlPlane
from scaivault_devenv.processes import ManagedProcess, free_port
from scaivault_federation.labels import (
    BACKEND_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    PATH_ANNOTATION,
    REMOTE_PATH_ANNOTATION,
    REMOTE_VERSION_ANNOTATION,
    SOURCE_MAC_ANNOTATION,
    SYNCED_AT_ANNOTATION,
)
from scaivault_federation.models.content import to_secret_data
from scaivault_federation.paths import secret_name_for_path
from scaivault_federation.sync.mac import compute_mac

THREADS = 16
#: what the floor does, as the benchmark prints it
WHAT = (
    "It lists the store (AWS: ListSecrets, 100 a page, one page after another; Vault: one "
    "detailed-metadata LIST), hands each piece to a pool of 16 threads as it arrives, and "
    "each thread reads its piece (AWS: one BatchGetSecretValue of 20 names; Vault: one "
    "GET of each secret) and creates each Secret, with the operator's data, labels, "
    "annotations and HMAC, by a POST over its own keep-alive HTTPS connection; the store "
    "is reached through the same counting proxy as the operator's. Nothing else: no "
    "watch, no status, no retries."
)
AWS_BATCH = 20  # BatchGetSecretValue's largest SecretIdList
AWS_PAGE = 100  # ListSecrets' largest page
KEY = b"f" * 32


class CountingProxy:
    """``benchmarks/counting_proxy.py`` in front of ``upstream``, as its own process."""

    def __init__(self, upstream: str, log_dir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = Path(__file__).with_name("counting_proxy.py")
        argv = [sys.executable, str(script), "--upstream", upstream, "--port", str(self.port)]
        self.proc = ManagedProcess(name, argv, log_dir / f"{name}.log", env=dict(os.environ))

    def start(self) -> None:
        self.proc.start()
        self.proc.wait_until(lambda: self.counts() is not None, 30, "answering")

    def stop(self) -> None:
        self.proc.stop()

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def counts(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/__counts", timeout=5) as answer:  # noqa: S310
            counted: dict[str, int] = json.loads(answer.read())
            return counted

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/__counts/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass


@contextmanager
def counting_proxy(upstream: str, log_dir: Path, name: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(upstream, log_dir, name)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass
class Floor:
    seconds: float
    cpu: float  # CPU seconds of this process meanwhile
    created: int
    requests: dict[str, int]  # the store's, counted by the proxy


class _Creator:
    """Creates Secrets in one namespace, one keep-alive HTTPS connection per thread."""

    def __init__(self, cp: ControlPlane, namespace: str, backend: str) -> None:
        url = urllib.parse.urlsplit(cp.server)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        self.context = ssl.create_default_context(cafile=str(cp.ca_file))
        self.headers = {
            "Authorization": f"Bearer {cp.admin_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.path = f"/api/v1/namespaces/{namespace}/secrets"
        self.backend = backend
        self.local = threading.local()
        self.created = 0
        self.lock = threading.Lock()

    def connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=60
            )
            self.local.conn = conn
        return conn

    def create(self, remote: str, value: Any, version: str | None) -> None:
        """The Secret a sync of mapping ``bench/**`` -> ``<prefix>**`` writes for ``value``."""
        local = "bench/" + remote.rsplit("bench/", 1)[-1]
        data = to_secret_data(value)
        annotations = {
            PATH_ANNOTATION: local,
            REMOTE_PATH_ANNOTATION: remote,
            SOURCE_MAC_ANNOTATION: compute_mac(KEY, local, data),
            SYNCED_AT_ANNOTATION: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if version is not None:
            annotations[REMOTE_VERSION_ANNOTATION] = version
        name = secret_name_for_path(local)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY: MANAGED_BY_VALUE, BACKEND_LABEL: self.backend},
                "annotations": annotations,
            },
            "type": "Opaque",
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
        conn = self.connection()
        conn.request("POST", self.path, json.dumps(body), self.headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 201:
            raise RuntimeError(f"create {name}: HTTP {answer.status}")
        with self.lock:
            self.created += 1


def _pipelined(
    creator: _Creator,
    proxy: CountingProxy,
    feed: Callable[[Callable[[Callable[[], None]], None]], None],
) -> Floor:
    """Run ``feed(submit)`` in this thread, ``submit`` handing work to 16 threads; timed."""
    proxy.reset()
    pending: list[Future[None]] = []
    cpu, started = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:

        def submit(work: Callable[[], None]) -> None:
            pending.append(pool.submit(work))

        feed(submit)
        for done in pending:
            done.result()
    seconds = time.perf_counter() - started
    return Floor(seconds, time.process_time() - cpu, creator.created, proxy.counts())


def aws_floor(
    cp: ControlPlane,
    namespace: str,
    proxy: CountingProxy,
    client_for: Callable[[str], Any],
    prefix: str,
) -> Floor:
    """List ``prefix`` (100 a page, one page after another), read 20 names a call and
    create their Secrets, 16 threads. ``client_for(endpoint)`` makes a boto3 Secrets
    Manager client."""
    client = client_for(proxy.url)
    creator = _Creator(cp, namespace, "aws-floor")

    def read_and_create(names: list[str]) -> None:
        answer = client.batch_get_secret_value(SecretIdList=names)
        for entry in answer.get("SecretValues", []):
            creator.create(entry["Name"], entry["SecretString"], entry.get("VersionId"))

    def feed(submit: Callable[[Callable[[], None]], None]) -> None:
        token: str | None = None
        while True:
            args: dict[str, Any] = {"MaxResults": AWS_PAGE}
            args["Filters"] = [{"Key": "name", "Values": [prefix]}]
            if token:
                args["NextToken"] = token
            page = client.list_secrets(**args)
            names = [s["Name"] for s in page.get("SecretList", [])]
            for i in range(0, len(names), AWS_BATCH):
                submit(functools.partial(read_and_create, names[i : i + AWS_BATCH]))
            token = page.get("NextToken")
            if not token:
                break

    return _pipelined(creator, proxy, feed)


def vault_floor(
    cp: ControlPlane, namespace: str, proxy: CountingProxy, token: str, folder: str
) -> Floor:
    """One detailed-metadata LIST of ``secret/<folder>``, then a read of each secret and
    the create of its Secret, 16 threads, each over its own keep-alive connection."""
    creator = _Creator(cp, namespace, "vault-floor")
    local = threading.local()
    port = int(proxy.url.rsplit(":", 1)[1])
    headers = {"X-Vault-Token": token}

    def get(path: str) -> Any:
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"OpenBao {path}: HTTP {answer.status}")
        return json.loads(body)

    def read_and_create(key: str) -> None:
        data = get(f"/v1/secret/data/{folder}{key}")["data"]
        version = data["metadata"]["version"]
        creator.create(f"secret/data/{folder}{key}", data["data"], str(version))

    def feed(submit: Callable[[Callable[[], None]], None]) -> None:
        listing = get(f"/v1/secret/detailed-metadata/{folder}?list=true")
        for key in listing["data"]["keys"]:
            submit(functools.partial(read_and_create, key))

    return _pipelined(creator, proxy, feed)
