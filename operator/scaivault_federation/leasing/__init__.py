"""Leased secrets: dynamic credentials (FederationLease) and certificates
(FederationCertificate) issued by a Vault backend, kept in a Secret, renewed and
replaced before they expire.

:mod:`.schedule` decides when (pure); :mod:`.lease_worker` and
:mod:`.certificate_worker` act on one resource each; :mod:`.runtime` watches the
two kinds and runs a worker per resource this process owns.
"""
