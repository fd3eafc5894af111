"""What a local node changes on the machine, read before and put back after.

A kubelet, kube-proxy, containerd and the CNI plugins change the host they run
on: kernel settings (the kubelet writes ``vm.overcommit_memory`` and
``kernel.panic``; the bridge plugin turns on IP forwarding), iptables rules in
every table and in ip6tables too, network links and addresses, network
namespaces, mounts, cgroups in every hierarchy, and container log links. A
:class:`HostState` reads all of these; :func:`restore` undoes what differs from
an earlier reading, and :meth:`HostState.differences` says what still does (the
node tests assert it is nothing).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SYSCTL_ROOT = Path("/proc/sys")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
CONTAINER_LOGS = Path("/var/log/containers")
#: Kernel settings that change by themselves, or per interface (those go with
#: their interface, which is compared as a link).
_VOLATILE_SYSCTLS = re.compile(
    r"^(kernel/ns_last_pid|kernel/random/.*|kernel/sched_domain/.*|fs/.*-nr"
    r"|net/ipv[46]/(conf|neigh)/(?!all/|default/).*"
    r"|net/ipv6/route/flush|net/ipv4/route/flush|vm/drop_caches|vm/compact_memory"
    r"|kernel/perf_event_max_sample_rate|kernel/printk_ratelimit_burst"
    r"|net/netfilter/nf_conntrack_count|kernel/hung_task_.*|fs/dentry-state|fs/inode-.*)$"
)
_IPTABLES = ("iptables", "ip6tables")


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _read_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(SYSCTL_ROOT):
        for name in files:
            path = Path(dirpath) / name
            key = str(path.relative_to(SYSCTL_ROOT))
            if _VOLATILE_SYSCTLS.match(key) or not os.access(path, os.W_OK):
                continue
            with contextlib.suppress(OSError):
                values[key] = path.read_text()
    return values


_BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}


def _iptables_rules(tool: str) -> list[str]:
    """Every table's rules, user chains and non-default policies, as
    ``table: line`` (counters dropped; an empty table counts as no table)."""
    rules: list[str] = []
    table = ""
    for line in _run(f"{tool}-save").splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if name not in _BUILTIN_CHAINS.get(table, ()) or policy != "ACCEPT":
                rules.append(f"{table}: :{name} {policy}")
        elif line.startswith("-"):
            rules.append(f"{table}: {line}")
    return rules


def _mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        points.append(line.split()[4])
    return points


def _cgroups() -> set[str]:
    found: set[str] = set()
    if not CGROUP_ROOT.is_dir():
        return found
    for hierarchy in CGROUP_ROOT.iterdir():
        if not hierarchy.is_dir():
            continue
        for dirpath, _dirs, _files in os.walk(hierarchy):
            found.add(dirpath)
    return found


def _listing(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in folder.iterdir()}
    except OSError:
        return set()


@dataclass
class HostState:
    """One reading of everything a node may change."""

    sysctls: dict[str, str] = field(default_factory=dict)
    iptables: dict[str, list[str]] = field(default_factory=dict)
    nft_tables: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    netns: set[str] = field(default_factory=set)
    mounts: list[str] = field(default_factory=list)
    cgroups: set[str] = field(default_factory=set)
    container_logs: set[str] = field(default_factory=set)

    @classmethod
    def read(cls) -> HostState:
        return cls(
            sysctls=_read_sysctls(),
            iptables={tool: _iptables_rules(tool) for tool in _IPTABLES},
            nft_tables=_nft_tables(),
            links=_link_names(),
            addresses=_addresses(),
            netns=_listing(NETNS_DIR),
            mounts=_mounts(),
            cgroups=_cgroups(),
            container_logs=_listing(CONTAINER_LOGS),
        )

    def differences(self, before: HostState) -> list[str]:
        """What this reading has that ``before`` had not, or lacks, one line each."""
        found: list[str] = []
        for key in sorted(set(self.sysctls) | set(before.sysctls)):
            now, then = self.sysctls.get(key), before.sysctls.get(key)
            if now != then and then is not None and now is not None:
                found.append(f"kernel setting {key}: {then.strip()} -> {now.strip()}")
        for tool in _IPTABLES:
            added = set(self.iptables.get(tool, [])) - set(before.iptables.get(tool, []))
            removed = set(before.iptables.get(tool, [])) - set(self.iptables.get(tool, []))
            found += [f"{tool} rule added: {rule}" for rule in sorted(added)]
            found += [f"{tool} rule removed: {rule}" for rule in sorted(removed)]
        found += [f"nftables table added: {t}" for t in sorted(self.nft_tables - before.nft_tables)]
        found += [f"link added: {name}" for name in sorted(self.links - before.links)]
        found += [f"address added: {a}" for a in sorted(self.addresses - before.addresses)]
        found += [f"network namespace added: {n}" for n in sorted(self.netns - before.netns)]
        found += [f"mount added: {m}" for m in _new_mounts(before.mounts, self.mounts)]
        found += [f"cgroup added: {c}" for c in sorted(self.cgroups - before.cgroups)]
        found += [
            f"container log added: {CONTAINER_LOGS / n}"
            for n in sorted(self.container_logs - before.container_logs)
        ]
        return found


def _nft_tables() -> set[str]:
    """The netfilter tables (``ip nat``...); iptables makes them on first use."""
    return {line.removeprefix("table ") for line in _run("nft", "list", "tables").splitlines()}


def _link_names() -> set[str]:
    names = set()
    for line in _run("ip", "-o", "link", "show").splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.add(parts[1].strip().split("@")[0])
    return names


def _addresses() -> set[str]:
    found = set()
    for line in _run("ip", "-o", "addr", "show").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            found.add(f"{parts[1]} {parts[3]}")
    return found


def _new_mounts(before: list[str], now: list[str]) -> list[str]:
    """Mount points in ``now`` beyond those of ``before`` (a point may be stacked)."""
    left = list(before)
    extra = []
    for point in now:
        if point in left:
            left.remove(point)
        else:
            extra.append(point)
    return extra


def restore(before: HostState) -> list[str]:
    """Undo what differs from ``before``; returns what could not be undone.

    Mounts first (deepest first, lazily), then network namespaces, links and
    addresses, then iptables (each table put back as it was read), kernel
    settings and finally empty cgroups and container log links. The node's
    processes must be gone already."""
    now = HostState.read()
    for point in reversed(_new_mounts(before.mounts, now.mounts)):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    for name in now.netns - before.netns:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    for name in _link_names() - before.links:
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    for entry in _addresses() - before.addresses:
        device, address = entry.split(" ", 1)
        subprocess.run(["ip", "addr", "del", address, "dev", device], check=False)
    for tool in _IPTABLES:
        if _iptables_rules(tool) != before.iptables.get(tool, []):
            _put_back_iptables(tool, before.iptables.get(tool, []))
    for table in _nft_tables() - before.nft_tables:
        subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True, check=False)
    for key, value in before.sysctls.items():
        if now.sysctls.get(key, value) != value:
            with contextlib.suppress(OSError):
                (SYSCTL_ROOT / key).write_text(value)
    for path in sorted(_cgroups() - before.cgroups, key=len, reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(path)
    for name in _listing(CONTAINER_LOGS) - before.container_logs:
        with contextlib.suppress(OSError):
            (CONTAINER_LOGS / name).unlink()
    return HostState.read().differences(before)


def _put_back_iptables(tool: str, rules: list[str]) -> None:
    """Put every table back as it was read: each is flushed, its user chains
    deleted, then the chains, policies and rules read before are restored."""
    tables = {line.split(":", 1)[0] for line in _iptables_rules(tool)}
    tables |= {line.split(":", 1)[0] for line in rules}
    text = ""
    for table in sorted(tables):
        mine = [line.split(": ", 1)[1] for line in rules if line.startswith(f"{table}: ")]
        chains = [line for line in mine if line.startswith(":")]
        named = {line[1:].split()[0] for line in chains}
        text += f"*{table}\n"
        text += "".join(
            f":{c} ACCEPT [0:0]\n" for c in _BUILTIN_CHAINS.get(table, ()) if c not in named
        )
        text += "".join(f"{c} [0:0]\n" for c in chains)
        text += "".join(f"{line}\n" for line in mine if not line.startswith(":"))
        text += "COMMIT\n"
    subprocess.run([f"{tool}-restore"], input=text, text=True, capture_output=True, check=False)
