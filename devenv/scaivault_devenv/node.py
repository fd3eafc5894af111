"""A real Kubernetes node on this machine, beside a local control plane.

The control plane of controlplane.py serves the API only; nothing runs pods.
:class:`Node` adds what a one-node cluster needs to run the product as users
do, as pods from its image, installed by its chart: containerd with runc, the
CNI bridge, kubelet, kube-controller-manager, kube-scheduler, kube-proxy and a
cluster DNS with no upstream (no lookup leaves the cluster).

Everything stays on this machine: the node's address is an alias on ``lo``,
pods live in network namespaces on a bridge with no masquerade, and the one
route from pods to the apiserver (which listens on 127.0.0.1) is a DNAT rule
on that bridge only. The node needs root and changes the host (kernel
settings, iptables, links, mounts, cgroups); the host is read before it starts
and put back when it stops (host_state.py), and :attr:`Node.leftovers` says
what could not be. One node per machine: its names are fixed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .binaries import is_executable, run_build_script
from .checkout import checkout_root
from .cluster import apply
from .controlplane import ControlPlane
from .host_state import HostState, restore
from .oci_images import BinaryImage, build_binary_image
from .processes import LocalServer, ManagedProcess, free_port

NODE_NAME = "svfnode"
NODE_IP = "10.200.0.1"
BRIDGE = "svfcni0"
POD_SUBNET = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
API_SERVICE_IP = "10.0.0.1"
DNS_SERVICE_IP = "10.0.0.10"
NODE_BIN_ENV = "SCAIVAULT_NODE_BIN"
NODE_BUILD_SCRIPT = Path("hack") / "build-node.sh"
#: Host programs the node runs, and the Debian package of each.
HOST_PROGRAMS = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "nft": "nftables",
    "ip": "iproute2",
    "umoci": "umoci",
}
CNI_PLUGIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
#: Folders the node's programs create outside its state folder whatever they are
#: told; removed on stop when they were not there before.
_HOST_FOLDERS = (
    Path("/run/containerd"),
    Path("/var/lib/cni"),
    Path("/var/run/kubernetes"),
    Path("/var/log/pods"),
    Path("/var/log/containers"),
    Path("/var/lib/kubelet"),
    Path("/etc/kubernetes"),
    Path("/opt/containerd"),
)


class NodeUnavailableError(RuntimeError):
    """This machine cannot run a node; the message names the missing piece."""


@dataclass(frozen=True)
class NodeBinaries:
    kubelet: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kube_proxy: Path
    coredns: Path
    pause: Path

    @classmethod
    def from_dir(cls, folder: Path) -> NodeBinaries:
        names = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy")
        found = {n: folder / n for n in (*names, "coredns", "pause")}
        missing = [n for n, path in found.items() if not is_executable(path)]
        if missing:
            raise NodeUnavailableError(f"{folder} has no executable {', '.join(missing)}")
        return cls(*found.values())


def find_node_binaries() -> NodeBinaries:
    """The node's programs: ``$SCAIVAULT_NODE_BIN``, else built by hack/build-node.sh."""
    folder = os.environ.get(NODE_BIN_ENV)
    if folder:
        return NodeBinaries.from_dir(Path(folder))
    root = checkout_root()
    if root is None:
        raise NodeUnavailableError(f"set {NODE_BIN_ENV} to the folder of hack/build-node.sh")
    code, built = run_build_script(root / NODE_BUILD_SCRIPT)
    if built is None:
        raise NodeUnavailableError(f"{NODE_BUILD_SCRIPT} failed (exit code {code})")
    return NodeBinaries.from_dir(built)


def preflight() -> Path:
    """Check what the node needs from the host; returns the CNI plugin folder."""
    if os.geteuid() != 0:
        raise NodeUnavailableError("a local node needs root (it sets up networks and cgroups)")
    missing = [
        f"{prog} (Debian package {pkg})"
        for prog, pkg in HOST_PROGRAMS.items()
        if shutil.which(prog) is None
    ]
    plugins = next((d for d in CNI_PLUGIN_DIRS if (d / "bridge").is_file()), None)
    if plugins is None:
        missing.append("the CNI bridge plugin (Debian package containernetworking-plugins)")
    if (
        not Path("/sys/fs/cgroup/memory").is_dir()
        and not Path("/sys/fs/cgroup/cgroup.controllers").is_file()
    ):
        missing.append("a cgroup file system at /sys/fs/cgroup")
    if missing:
        raise NodeUnavailableError("a local node needs: " + "; ".join(missing))
    assert plugins is not None
    return plugins


def _run(*argv: str, input_text: str | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, input=input_text, check=False)
    if done.returncode != 0:
        raise NodeUnavailableError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


class Node(LocalServer):
    """A one-node cluster's node for ``control_plane`` (made with ``node_name``)."""

    def __init__(
        self,
        control_plane: ControlPlane,
        state_dir: Path,
        binaries: NodeBinaries | None = None,
    ) -> None:
        if control_plane.node_name != NODE_NAME:
            raise ValueError(f"the control plane must be made with node_name={NODE_NAME!r}")
        self.control_plane = control_plane
        self.state_dir = state_dir.resolve()
        self.binaries = binaries
        self.socket = self.state_dir / "containerd" / "containerd.sock"
        self.image_cache = _cache_folder() / "node-images"
        self.leftovers: list[str] = []
        self.start_seconds = 0.0
        self.timings: dict[str, float] = {}
        self._before: HostState | None = None
        self._folders_before: set[Path] = set()
        self._procs: dict[str, ManagedProcess] = {}

    # -- start -------------------------------------------------------------

    def start(self, timeout: float = 180) -> None:
        began = time.monotonic()
        plugins = preflight()
        binaries = self.binaries or find_node_binaries()
        self.binaries = binaries
        images = self._images(binaries)
        self._before = HostState.read()
        self._folders_before = {f for f in _HOST_FOLDERS if f.exists()}
        try:
            self._network()
            self._start_containerd(plugins)
            for image, tar in images.items():
                self.import_image(tar, image.reference.rsplit(":", 1)[0])
            self._mark("images imported", began)
            self._start_controllers()
            self._start_kubelet()
            self._wait(self._node_ready, began + timeout, "the node to be Ready")
            self._mark("node Ready", began)
            self._start_proxy()
            self._start_dns()
            self._wait(self._dns_ready, began + timeout, "the cluster DNS to be Ready")
            self._mark("cluster DNS Ready", began)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def _mark(self, what: str, began: float) -> None:
        self.timings[what] = round(time.monotonic() - began, 1)

    def _images(self, binaries: NodeBinaries) -> dict[BinaryImage, Path]:
        wanted = [BinaryImage("pause", binaries.pause), BinaryImage("coredns", binaries.coredns)]
        return {image: build_binary_image(image, self.image_cache) for image in wanted}

    def _network(self) -> None:
        """The node's address, the pods' bridge and the pods' way to the apiserver."""
        _run("ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo")
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "link", "set", BRIDGE, "up")
        # The apiserver listens on 127.0.0.1 only: pods reach it through the
        # `kubernetes` Service address, rewritten on this bridge alone.
        Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet").write_text("1")
        port = self.control_plane.server.rsplit(":", 1)[1]
        _run(
            *("iptables", "-t", "nat", "-A", "PREROUTING", "-i", BRIDGE, "-p", "tcp"),
            *("-d", f"{API_SERVICE_IP}/32", "--dport", "443"),
            *("-j", "DNAT", "--to-destination", f"127.0.0.1:{port}"),
        )

    def _start_containerd(self, plugins: Path) -> None:
        folder = self.state_dir / "containerd"
        cni = self.state_dir / "cni"
        (cni / "conf").mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "0.4.0",
            "name": "svf-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,  # nothing is routed off this machine
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(cni / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"},
            ],
        }
        (cni / "conf" / "10-svf.conflist").write_text(json.dumps(conflist, indent=2))
        config = f"""version = 2
root = "{folder / "root"}"
state = "{folder / "state"}"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{folder / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:local"
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE: keep containerd's own
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{plugins}"
    conf_dir = "{cni / "conf"}"
"""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(config)
        proc = self._spawn("containerd", ["containerd", "--config", str(folder / "config.toml")])
        proc.wait_until(self._containerd_up, 30, "containerd's socket")

    def _containerd_up(self) -> bool:
        done = subprocess.run(
            ["ctr", "--address", str(self.socket), "version"], capture_output=True, check=False
        )
        return done.returncode == 0

    def import_image(self, tar: Path, base_name: str) -> None:
        """Load an OCI archive into the node's image store as ``base_name:<tag>``."""
        _run(
            *("ctr", "--address", str(self.socket), "-n", "k8s.io", "images", "import"),
            *("--base-name", base_name, str(tar)),
        )

    def _kubeconfig(self, name: str, token: str) -> Path:
        cp = self.control_plane
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": cp.server, "certificate-authority": str(cp.ca_file)},
                }
            ],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}],
            "current-context": "local",
        }
        path = self.state_dir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def _start_controllers(self) -> None:
        assert self.binaries is not None
        cp = self.control_plane
        admin = str(cp.kubeconfig)
        pki = cp.state_dir / "pki"
        common = [
            f"--kubeconfig={admin}",
            f"--authentication-kubeconfig={admin}",
            f"--authorization-kubeconfig={admin}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                *common,
                f"--secure-port={free_port()}",
                f"--cert-dir={self.state_dir / 'kcm-certs'}",
                f"--root-ca-file={cp.ca_file}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                "--use-service-account-credentials=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.binaries.kube_scheduler),
                *common,
                f"--secure-port={free_port()}",
                f"--cert-dir={self.state_dir / 'scheduler-certs'}",
            ],
        )

    def _start_kubelet(self) -> None:
        assert self.binaries is not None
        cp = self.control_plane
        root = self.state_dir / "kubelet"
        root.mkdir(parents=True, exist_ok=True)
        resolv = self.state_dir / "resolv.conf"
        resolv.write_text("")  # pods get the cluster DNS and nothing of the host's
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # the host mounts cgroup v1 hierarchies
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": NODE_IP,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(cp.ca_file)},
            },
            "authorization": {"mode": "Webhook"},
            "failSwapOn": False,
            "clusterDomain": "cluster.local",
            "clusterDNS": [DNS_SERVICE_IP],
            "resolvConf": str(resolv),
            "podLogsDir": str(self.state_dir / "pod-logs"),
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "5%",
                "imagefs.available": "5%",
            },
            "imageGCHighThresholdPercent": 100,
            "serializeImagePulls": False,
        }
        path = self.state_dir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                str(self.binaries.kubelet),
                f"--kubeconfig={self._kubeconfig('node', cp.node_token)}",
                f"--config={path}",
                f"--root-dir={root}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
            ],
        )

    def _start_proxy(self) -> None:
        assert self.binaries is not None
        self._spawn(
            "kube-proxy",
            [
                str(self.binaries.kube_proxy),
                f"--kubeconfig={self.control_plane.kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                f"--cluster-cidr={CLUSTER_CIDR}",
                "--proxy-mode=iptables",
                "--iptables-localhost-nodeports=false",
                # kube-proxy changes no kernel setting with these
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                f"--healthz-bind-address=127.0.0.1:{free_port()}",
            ],
        )

    def _start_dns(self) -> None:
        for manifest in dns_manifests():
            self.apply(manifest)

    # -- API helpers -------------------------------------------------------

    def apply(self, manifest: dict[str, Any]) -> None:
        """Create one object (the node's own add-ons), or replace it."""
        namespace = manifest["metadata"].get("namespace")
        collection = _collection(manifest["apiVersion"], manifest["kind"], namespace)
        apply(self.control_plane, collection, manifest)

    def _node_ready(self) -> bool:
        status, node = self.control_plane.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        return status == 200 and _condition(node, "Ready")

    def _dns_ready(self) -> bool:
        path = "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
        status, body = self.control_plane.request("GET", path)
        return status == 200 and body.get("status", {}).get("readyReplicas", 0) >= 1

    def _wait(self, check: Any, deadline: float, what: str) -> None:
        kubelet = self._procs["kubelet"]
        kubelet.wait_until(check, max(deadline - time.monotonic(), 1), what)

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = ManagedProcess(name, argv, self.state_dir / "logs" / f"{name}.log")
        proc.start()
        self._procs[name] = proc
        return proc

    # -- stop --------------------------------------------------------------

    def stop(self) -> None:
        """Remove every pod, stop every program, and put the host back as it was."""
        if self._before is None:
            return
        with contextlib.suppress(Exception):
            self._drain()
        for name in ("kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                proc.stop()
        if self.binaries is not None:
            subprocess.run(
                [str(self.binaries.kube_proxy), "--cleanup"], capture_output=True, check=False
            )
        self._kill_containers()
        containerd = self._procs.pop("containerd", None)
        if containerd is not None:
            containerd.stop()
        self.leftovers = restore(self._before)
        for folder in _HOST_FOLDERS:
            if folder not in self._folders_before and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                if folder.exists():
                    self.leftovers.append(f"folder left: {folder}")
        self._before = None

    def _drain(self) -> None:
        """Stop the controllers, delete every pod and wait until the kubelet has
        torn their sandboxes down (their network namespaces and mounts)."""
        for name in ("kube-controller-manager", "kube-scheduler"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                proc.stop()
        cp = self.control_plane
        if "kubelet" not in self._procs or not cp.running:
            return
        _, pods = cp.request("GET", "/api/v1/pods")
        for pod in pods.get("items", []):
            meta = pod["metadata"]
            cp.request(
                "DELETE",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"gracePeriodSeconds": 5},
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, pods = cp.request("GET", "/api/v1/pods")
            if not pods.get("items") and not self._sandboxes():
                return
            time.sleep(0.5)

    def _sandboxes(self) -> list[str]:
        done = subprocess.run(
            ["ctr", "--address", str(self.socket), "-n", "k8s.io", "tasks", "ls", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.split()

    def _kill_containers(self) -> None:
        """Whatever the kubelet left running: its tasks and their shims."""
        for task in self._sandboxes():
            subprocess.run(
                [
                    "ctr",
                    "--address",
                    str(self.socket),
                    "-n",
                    "k8s.io",
                    "tasks",
                    "kill",
                    "-s",
                    "SIGKILL",
                    task,
                ],
                capture_output=True,
                check=False,
            )
        pids = _pids_of_shims(self.socket)
        for procs in Path("/sys/fs/cgroup").glob("*/kubepods/**/cgroup.procs"):
            with contextlib.suppress(OSError):
                pids += [int(pid) for pid in procs.read_text().split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scaivault-federation"


def _pids_of_shims(socket: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if (
                argv
                and argv[0].endswith(b"containerd-shim-runc-v2")
                and str(socket).encode() in argv
            ):
                pids.append(int(proc.name))
    return pids


def _condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _collection(api_version: str, kind: str, namespace: str | None) -> str:
    plural = {
        "ServiceAccount": "serviceaccounts",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "ConfigMap": "configmaps",
        "Deployment": "deployments",
        "Service": "services",
        "Namespace": "namespaces",
    }[kind]
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


def dns_manifests() -> list[dict[str, Any]]:
    """CoreDNS answering for cluster.local only: no forward plugin, so a name
    outside the cluster gets no answer instead of a lookup on the host's resolver."""
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    corefile = """.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
"""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": ns},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": ns},
            "data": {"Corefile": corefile},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "containers": [
                            {
                                "name": "coredns",
                                "image": "localhost/coredns:local",
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"containerPort": 53, "protocol": "UDP", "name": "dns"},
                                    {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                                ],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
    ]
