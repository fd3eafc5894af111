"""The ScaiVault federation HTTP API (aiohttp), served by ``scaivault-federation api``.

Start it with :func:`scaivault_federation.api.server.run_api` inside an event
loop, or :func:`~scaivault_federation.api.server.serve_api` as a program.
"""
