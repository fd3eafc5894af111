# shellcheck shell=bash
# Sourced by the build scripts: the pinned Kubernetes version of
# hack/controlplane/kube and the -ldflags that stamp it into the binaries (as
# Kubernetes' own release build does), so `--version` prints the pin.
kube_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/controlplane/kube"
kube_version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}; $2=="k8s.io/kubernetes" && $3 ~ /^v/ {print $3; exit}' "$kube_src/go.mod")
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags="$kube_ldflags -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1"
  kube_ldflags="$kube_ldflags -X $pkg.gitMinor=$(echo "$kube_version" | cut -d. -f2) -X $pkg.gitTreeState=clean"
done
