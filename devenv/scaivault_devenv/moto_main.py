"""moto's server (what ``moto_server`` runs), with Secrets Manager lookups made direct.

moto keeps Secrets Manager's secrets in a dict keyed by name, yet finds each one
by scanning all of them (a secret may be named by its name, ARN or partial
ARN), and renders every matching secret for each ListSecrets page before
taking the page. Syncing n secrets from it then costs moto O(n²) CPU: 10,000
secrets take it some 17 s, more than the apiserver's whole share, and the
operator is measured against moto instead of the other way round.

Here a lookup by name (a key without a colon) is a dict lookup, and a
ListSecrets page renders only its own secrets. Answers stay what moto's own
code gives: a name can never equal an ARN (ARNs have colons, names cannot), so
the scan could only have matched such a key by name, which is the dict's key;
lookups by ARN still go through moto's scan, and pages keep moto's order and
tokens. When moto's internals are not the ones this expects
(another moto release), nothing is changed and the server runs as shipped.

It also verifies web identity tokens and authorises Secrets Manager calls per
secret (:mod:`.moto_federation`).

Run as ``python -m scaivault_devenv.moto_main`` with ``moto_server``'s arguments.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from .moto_federation import federate


def make_lookups_direct() -> bool:
    """Patch moto's Secrets Manager models; ``False`` (and nothing changed) when
    they are not shaped as expected."""
    try:
        from moto.secretsmanager import models
    except ImportError:
        return False
    store = getattr(models, "SecretsStore", None)
    backend = getattr(models, "SecretsManagerBackend", None)
    matches = getattr(models, "_matches", None)
    if store is None or backend is None or matches is None:
        return False
    listing = getattr(backend, "list_secrets", None)
    paging = getattr(backend, "_get_secret_values_page_and_next_token", None)
    if listing is None or paging is None:
        return False
    expected = ["self", "filters", "max_results", "next_token", "include_planned_deletion"]
    if list(inspect.signature(listing).parameters) != expected:
        return False
    if not all(callable(getattr(store, name, None)) for name in ("__getitem__", "get")):
        return False

    scan_getitem = store.__getitem__
    scan_contains = store.__contains__
    scan_get = store.get

    def by_name(key: object) -> bool:
        # a key without a colon is no ARN: moto's scan could only match it by name
        return isinstance(key, str) and ":" not in key

    def getitem(self: Any, key: str) -> Any:
        return dict.__getitem__(self, key) if by_name(key) else scan_getitem(self, key)

    def contains(self: Any, key: str) -> bool:
        return dict.__contains__(self, key) if by_name(key) else bool(scan_contains(self, key))

    def get(self: Any, key: str) -> Any:
        return dict.get(self, key) if by_name(key) else scan_get(self, key)

    def list_secrets(
        self: Any,
        filters: list[dict[str, Any]],
        max_results: int = 100,
        next_token: str | None = None,
        include_planned_deletion: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        matching = [
            secret
            for secret in self.secrets.values()
            if (include_planned_deletion or not getattr(secret, "deleted_date", None))
            and matches(secret, filters)
        ]
        page, token = self._get_secret_values_page_and_next_token(matching, max_results, next_token)
        return [secret.to_dict() for secret in page], token

    list_secrets.__defaults__ = listing.__defaults__
    store.__getitem__ = getitem
    store.__contains__ = contains
    store.get = get
    backend.list_secrets = list_secrets
    return True


def main() -> None:
    if not make_lookups_direct():
        print("moto_main: moto's Secrets Manager models are not as expected; unpatched")
    if federate() is None:
        print("moto_main: moto's STS and IAM checks are not as expected; no web identity")
    from moto.server import main as moto_server

    moto_server(sys.argv[1:])


if __name__ == "__main__":
    main()
