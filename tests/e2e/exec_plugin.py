"""A kubeconfig ``exec`` credential plugin for the tests, run as a script.

Each run issues a fresh ServiceAccount token bound to a fresh Secret and deletes
the Secret of the token it printed before, so that token stops working the moment
a new one is printed: a process still presenting it would be refused. It prints
an ``ExecCredential`` whose ``expirationTimestamp`` is ``lifetime`` seconds away,
counts its runs in ``count`` and appends each token to ``issued`` (mode 0600),
next to ``plugin.json`` (server, CA, admin token file, namespace, ServiceAccount,
lifetime) in its own folder, which is given as its only argument.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any


def main(folder: Path) -> None:
    conf = json.loads((folder / "plugin.json").read_text())
    admin = Path(conf["admin_token_file"]).read_text().strip()
    context = ssl.create_default_context(cafile=conf["ca_file"])

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310
            conf["server"] + path,
            json.dumps(body).encode() if body is not None else None,
            {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
            answer: dict[str, Any] = json.load(resp)
            return answer

    namespace, account = conf["namespace"], conf["service_account"]
    count_file = folder / "count"
    count = int(count_file.read_text()) + 1 if count_file.exists() else 1
    name = f"exec-login-{count}-{uuid.uuid4().hex[:6]}"
    secret = call(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}},
    )
    issued = call(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "name": name,
                    "uid": secret["metadata"]["uid"],
                },
            },
        },
    )
    token = issued["status"]["token"]
    previous = folder / "previous"
    if previous.exists():
        try:
            call("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{previous.read_text()}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
    previous.write_text(name)
    fd = os.open(folder / "issued", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(token + "\n")
    count_file.write_text(str(count))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(conf["lifetime"]))
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
    print(json.dumps(credential))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
