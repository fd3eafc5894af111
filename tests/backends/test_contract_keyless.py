"""What a keyless identity adds to the contract, for each cloud: the ServiceAccount's
token is exchanged once for every backend and read of the account until the
credentials are due, counted by the operator's cache and by the cloud's token
endpoint alike."""

from __future__ import annotations

from .harness import AnyHarness as Harness
from .harness_keyless import Keyless

RUN_VARIANTS = True


async def test_one_exchange_serves_every_backend_and_read_of_an_account(
    keyless_harness: Harness,
) -> None:
    harness = keyless_harness
    assert isinstance(harness, Keyless)
    prefix = harness.new_prefix()
    paths = [f"{prefix}s{i}" for i in range(5)]
    for path in paths:
        harness.put(path, {"k": "v"})
    before = harness.tenant.cloud.exchanges()["granted"].get(harness.tenant.identity, 0)
    reads = 0
    for _ in range(3):  # three backends of the account, as the operator and the API build
        backend = await harness.backend()
        await backend.probe()
        assert [r.path for r in await backend.list_secrets(prefix)] == paths
        assert len((await backend.get_many(paths)).found) == len(paths)
        for path in paths:
            await backend.get_secret(path)
        reads += 3 + len(paths)
    after = harness.tenant.cloud.exchanges()["granted"].get(harness.tenant.identity, 0)
    kept = sum(harness.tokens.exchanges.exchanges.values())
    print(f"{harness.backend_type}: {reads} calls, {kept} exchange, {after - before} at the cloud")
    assert kept == 1 and after - before == 1
