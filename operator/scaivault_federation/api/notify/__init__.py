"""Cloud change receivers: the stores' deliveries of secret changes, turned into
per-path syncs of the backends that map the changed secrets.

Each backend type whose store sends change events reads its provider's
payloads in its own package (``backends/<type>/notify.py``, a
``ChangeReceiver``); here :mod:`.routing` finds the backends and paths,
:mod:`.service` remembers event ids and holds the providers' token verifiers,
and :mod:`.routes` serves ``/v1/federation/notify/<receiver>`` for each.
"""
