{{/*
RBAC rules, split by who needs them (the operator or the API) and by
scope (namespaced resources vs cluster-scoped ones), so rbac.yaml can grant
them cluster-wide or per watched namespace. Every verb here is used; the
chart tests run both processes with exactly these rules and record the calls.
*/}}

{{/* The operator, on namespaced resources. */}}
{{- define "scaivault-federation.rules.operator" -}}
# The resource it reconciles: the fleet lists and watches it, and patches its
# finalizer (removing annotations an earlier version left in the same patch).
- apiGroups: [federation.scaivault.io]
  resources: [federationbackends]
  verbs: [list, watch, patch]
# Its status: health, sync figures, conflicts.
- apiGroups: [federation.scaivault.io]
  resources: [federationbackends/status]
  verbs: [patch]
# FederationLeases and FederationCertificates: the leasing runtime lists and
# watches them, patches their finalizer, and writes their status (lease ids,
# expiry, renewals); the FederationBackend one names is read (get).
- apiGroups: [federation.scaivault.io]
  resources: [federationleases, federationcertificates]
  verbs: [list, watch, patch]
- apiGroups: [federation.scaivault.io]
  resources: [federationleases/status, federationcertificates/status]
  verbs: [patch]
- apiGroups: [federation.scaivault.io]
  resources: [federationbackends]
  verbs: [get]
# Synced Secrets (create, update on change, patch to mark orphaned or release
# on Retain, delete on prune or Delete), credentials Secrets named by a
# backend's config (get); the managed Secrets, cached from a list and watch by
# label, and every Secret's metadata (list, watch), to notice a credentials
# Secret being created or changed.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch, delete]
# Events on backends: conflicts, overwrites, recoveries, failures.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.rbac.rolloutRestarts }}
# spec.rolloutRestartTargets: read the named workload or list by label, then
# annotate its pod template (what `kubectl rollout restart` does).
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, patch]
{{- end }}
{{- end }}

{{/* The operator, on cluster-scoped resources. */}}
{{- define "scaivault-federation.rules.operatorCluster" -}}
{{- if not .Values.watchNamespaces }}
# ClusterFederationBackends (served by a cluster-wide operator only): the fleet
# lists and watches them and patches their finalizer, as it does
# FederationBackends'; their status.
- apiGroups: [federation.scaivault.io]
  resources: [clusterfederationbackends]
  verbs: [list, watch, patch]
- apiGroups: [federation.scaivault.io]
  resources: [clusterfederationbackends/status]
  verbs: [patch]
# Their namespaceSelector: every namespace's labels (list, watch), to follow
# namespaces being labelled, unlabelled, created and deleted.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- if .Values.tenancy.ambientIdentityNamespaceSelector }}
# Namespace labels, for tenancy.ambientIdentityNamespaceSelector.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
{{- end }}
{{- end }}

{{/* The operator's Leases, in the release namespace (replicas or sharding). */}}
{{- define "scaivault-federation.rules.leases" -}}
# One Lease per operator process, labelled with the group of replicas: each
# creates its own at start (deleting a stale one of the same name), renews it
# (patch), lists the group's by label to see who is live, and deletes its own
# on a clean stop.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [list, create, patch, delete]
{{- end }}

{{/* The API, on namespaced resources. */}}
{{- define "scaivault-federation.rules.api" -}}
# /v1/federation/backends: a watch-backed cache (list, watch), create, a fresh
# read before a PATCH (get), patch (also the sync trigger), delete.
- apiGroups: [federation.scaivault.io]
  resources: [federationbackends]
  verbs: [get, list, watch, create, patch, delete]
# /v1/federation/leases and /v1/federation/certificates: read-only listings (list).
- apiGroups: [federation.scaivault.io]
  resources: [federationleases, federationcertificates]
  verbs: [list]
# /v1/secrets/{path}: local reads (get), writes (create, update), delete; the
# credentials Secret of a proxy-mode backend (get).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, update, delete]
{{- end }}

{{/* The API, on cluster-scoped resources. */}}
{{- define "scaivault-federation.rules.apiCluster" -}}
# Bearer tokens of Kubernetes clients: authentication, then authorization.
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- if not .Values.watchNamespaces }}
# ClusterFederationBackends on /v1/federation/backends (a cluster-wide operator
# serves them): the watch-backed cache (list, watch), create, a fresh read
# before a PATCH (get), patch (also the sync trigger), delete. Their status is
# only read, with the object.
- apiGroups: [federation.scaivault.io]
  resources: [clusterfederationbackends]
  verbs: [get, list, watch, create, patch, delete]
# Their namespaceSelector: every namespace's labels (list, watch), to know
# which cluster backends claim a path in a namespace.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- if .Values.tenancy.ambientIdentityNamespaceSelector }}
# Namespace labels, for tenancy.ambientIdentityNamespaceSelector (proxy reads).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
{{- end }}
{{- end }}

{{/*
Vault kubernetes and jwt auth: a short-lived token (TokenRequest) of a
ServiceAccount a backend names, to log in with, and reading that account (its
opt-in annotation); only in the namespaces
rbac.serviceAccountTokenNamespaces lists, and only of the accounts it names there
(resourceNames) when it names some. Argument: the list of accounts.
*/}}
{{- define "scaivault-federation.rules.serviceAccountTokens" -}}
- apiGroups: [""]
  resources: [serviceaccounts/token]
  {{- with . }}
  resourceNames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  verbs: [create]
# the account itself: it must opt in (annotation federation.scaivault.io/token-for)
- apiGroups: [""]
  resources: [serviceaccounts]
  {{- with . }}
  resourceNames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  verbs: [get]
{{- end }}

{{/*
A (Cluster)RoleBinding of the (Cluster)Role of the same name to ServiceAccounts
of the release namespace. Arguments: root, kind (Role or ClusterRole), name,
namespace (Roles only), accounts (names), labels (the labels helper to use).
*/}}
{{- define "scaivault-federation.binding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}Binding
metadata:
  name: {{ .name }}
  {{- with .namespace }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- include .labels .root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .name }}
subjects:
  {{- range .accounts }}
  - kind: ServiceAccount
    name: {{ . }}
    namespace: {{ $.root.Release.Namespace }}
  {{- end }}
{{- end }}
