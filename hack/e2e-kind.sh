#!/usr/bin/env bash
# End to end on a real cluster, for machines with Docker and kind:
#   1. a kind cluster (reused when it exists),
#   2. the image built from this checkout and loaded into it,
#   3. the chart installed with helm, waiting until the pod is Ready (a real
#      kubelet checks the image, the probes, the security context and RBAC),
#   4. an OpenBao dev server in the cluster with one secret,
#   5. a FederationBackend syncing it into a Secret,
#   6. the HTTP API read through a port-forward with a ServiceAccount token.
# The cluster is deleted afterwards unless KEEP_CLUSTER=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cluster=${KIND_CLUSTER:-scaivault-e2e}
image=${IMAGE:-ghcr.io/scaivault/scaivault-federation:e2e}
openbao_image=${OPENBAO_IMAGE:-quay.io/openbao/openbao:2.7.2}
system=scaivault-system
app=scaivault-e2e
api_port=${API_PORT:-18000}

for tool in docker kind kubectl curl; do
  command -v "$tool" >/dev/null || { echo "e2e-kind needs $tool on PATH" >&2; exit 1; }
done
helm=${HELM:-$(command -v helm || true)}
if [ -z "$helm" ]; then
  helm="$("$root/hack/build-tools.sh")/helm"
fi

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)
forward_pid=""
cleanup() {
  status=$?
  if [ -n "$forward_pid" ]; then kill "$forward_pid" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ]; then
    echo "--- failed; operator and API logs:" >&2
    kubectl -n "$system" logs deployment/scaivault-federation --all-containers --tail=80 >&2 || true
    kubectl -n "$system" logs deployment/scaivault-federation-api --tail=80 >&2 || true
    kubectl -n "$app" get fedb -o yaml >&2 || true
  fi
  if [ "${KEEP_CLUSTER:-0}" != "1" ]; then
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  else
    echo "kept kind cluster $cluster (kubectl --context kind-$cluster)"
  fi
  exit "$status"
}
trap cleanup EXIT

step "kind cluster $cluster"
if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 120s
fi
kubectl config use-context "kind-$cluster" >/dev/null

step "image $image"
docker build -t "$image" "$root"
kind load docker-image "$image" --name "$cluster"

step "helm install"
repository=${image%:*}
tag=${image##*:}
"$helm" upgrade --install scaivault-federation "$root/charts/scaivault-federation" \
  --namespace "$system" --create-namespace \
  --set image.repository="$repository" --set image.tag="$tag" --set image.pullPolicy=Never \
  --wait --timeout 5m
kubectl -n "$system" rollout status deployment/scaivault-federation --timeout=180s
kubectl -n "$system" rollout status deployment/scaivault-federation-api --timeout=180s

step "OpenBao dev server"
kubectl create namespace "$app" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$app" apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: openbao}
spec:
  selector: {matchLabels: {app: openbao}}
  template:
    metadata: {labels: {app: openbao}}
    spec:
      containers:
        - name: openbao
          image: ${openbao_image}
          command: [bao, server, -dev, -dev-root-token-id=root, -dev-listen-address=0.0.0.0:8200]
          ports: [{containerPort: 8200}]
          readinessProbe:
            httpGet: {path: /v1/sys/health, port: 8200}
---
apiVersion: v1
kind: Service
metadata: {name: openbao}
spec:
  selector: {app: openbao}
  ports: [{port: 8200, targetPort: 8200}]
EOF
kubectl -n "$app" rollout status deployment/openbao --timeout=180s
kubectl -n "$app" exec deployment/openbao -- \
  env BAO_ADDR=http://127.0.0.1:8200 BAO_TOKEN=root bao kv put secret/apps/db password=pw-kind

step "FederationBackend"
kubectl -n "$app" create secret generic creds-vault-token --from-literal=token=root \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$app" apply -f - <<EOF
apiVersion: federation.scaivault.io/v1alpha1
kind: FederationBackend
metadata: {name: vault}
spec:
  type: hashicorp-vault
  config:
    endpoint: http://openbao.${app}.svc:8200
    authMethod: token
    authConfigPath: creds/vault-token
  pathMapping:
    "external/vault/**": "secret/data/apps/**"
  mode: sync
  syncInterval: 1m
EOF
kubectl -n "$app" wait fedb/vault --for=jsonpath='{.status.status}'=healthy --timeout=180s
value=$(kubectl -n "$app" get secret external-vault-db -o jsonpath='{.data.password}' | base64 -d)
[ "$value" = "pw-kind" ] || { echo "synced value is '$value', expected 'pw-kind'" >&2; exit 1; }
kubectl -n "$app" get fedb vault

step "HTTP API as a ServiceAccount"
kubectl -n "$app" create serviceaccount e2e-reader --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$app" apply -f - <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: e2e-reader}
rules:
  - apiGroups: [federation.scaivault.io]
    resources: [federationbackends]
    verbs: [get, list]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e2e-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: e2e-reader}
subjects: [{kind: ServiceAccount, name: e2e-reader, namespace: ${app}}]
EOF
token=$(kubectl -n "$app" create token e2e-reader)
kubectl -n "$system" port-forward service/scaivault-federation "$api_port:8000" >/dev/null &
forward_pid=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
api() { curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port$1"; }
api "/v1/federation/backends?namespace=$app" | grep -q '"name": *"vault"'
api "/v1/secrets/external/vault/db?namespace=$app" | grep -q '"password": *"pw-kind"'
curl -fsS "http://127.0.0.1:$api_port/metrics" | grep -q '^# HELP'

echo
echo "e2e on kind passed in $(( $(date +%s) - started ))s"
