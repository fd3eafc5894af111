"""Cloud change receivers: AWS EventBridge, Google Pub/Sub push and Azure Event Grid
deliveries of secret changes, turned into per-path syncs of the backends that map
the changed secrets.

:mod:`.events` reads the providers' payloads, :mod:`.routing` finds the backends
and paths, :mod:`.oidc` checks Pub/Sub push tokens, :mod:`.service` remembers
event ids, and :mod:`.routes` serves ``/v1/federation/notify/{aws,google,azure}``.
"""
