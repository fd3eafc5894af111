"""The ScaiVault Federation development environment (not part of the product).

A local control plane, one real or emulated server per backend type, the
sample seeding behind ``scaivault-federation dev`` (added to the product's
command line through the ``scaivault_federation.commands`` entry point), and
the tooling that renders ``deploy/`` from the Helm chart.
"""
