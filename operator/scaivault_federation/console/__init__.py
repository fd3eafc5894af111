"""The commands for people (``backends``, ``status``, ``sync``, ``conflicts``, ``get``):
a small client of the HTTP API (:mod:`.client`), plain-text tables (:mod:`.tables`)
and the subcommands themselves (:mod:`.commands`)."""
