{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "scaivault-federation.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>". Truncated to 63 characters.
*/}}
{{- define "scaivault-federation.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "scaivault-federation.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object but the API's. */}}
{{- define "scaivault-federation.labels" -}}
{{ include "scaivault-federation.selectorLabels" . }}
{{ include "scaivault-federation.commonLabels" . }}
{{- end }}

{{/* Labels of the operator's and the API's objects alike. */}}
{{- define "scaivault-federation.commonLabels" -}}
helm.sh/chart: {{ include "scaivault-federation.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scaivault-federation
{{- end }}

{{/* Labels selecting the operator pods (immutable in a Deployment: keep them stable). */}}
{{- define "scaivault-federation.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scaivault-federation.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The API's name: its Deployment, ServiceAccount and RBAC objects. */}}
{{- define "scaivault-federation.apiName" -}}
{{- printf "%s-api" (include "scaivault-federation.fullname" . | trunc 59 | trimSuffix "-") }}
{{- end }}

{{/*
Labels selecting the API pods. Their name differs from the operator's, so the
operator Deployment's selector (immutable) never matches them.
*/}}
{{- define "scaivault-federation.apiSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-api" (include "scaivault-federation.name" . | trunc 59 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the API's objects. */}}
{{- define "scaivault-federation.apiLabels" -}}
{{ include "scaivault-federation.apiSelectorLabels" . }}
app.kubernetes.io/component: api
{{ include "scaivault-federation.commonLabels" . }}
{{- end }}

{{/* Labels selecting every pod of the release, the operator's and the API's. */}}
{{- define "scaivault-federation.releaseSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: scaivault-federation
{{- end }}

{{/* The ServiceAccount the API runs as: its own, never the operator's. */}}
{{- define "scaivault-federation.apiServiceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "scaivault-federation.apiName" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- required "api.serviceAccount.name is required when api.serviceAccount.create is false" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "scaivault-federation.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scaivault-federation.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (default appVersion). */}}
{{- define "scaivault-federation.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* True ("true") with several replicas: a disruption budget and spreading apply. */}}
{{- define "scaivault-federation.replicated" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
True ("true") when the operator processes coordinate through Leases (several
replicas, or sharding); otherwise the one replica runs `--standalone`.
*/}}
{{- define "scaivault-federation.leases" -}}
{{- if or (include "scaivault-federation.replicated" .) .Values.sharding.enabled }}true{{ end }}
{{- end }}

{{/* The name of the group of replicas (`--peering`, a DNS label): their Leases carry it. */}}
{{- define "scaivault-federation.peeringName" -}}
{{- include "scaivault-federation.fullname" . | replace "." "-" }}
{{- end }}

{{/* The Secret holding the API's static tokens. */}}
{{- define "scaivault-federation.staticTokensSecret" -}}
{{- default (printf "%s-static-tokens" (include "scaivault-federation.fullname" .)) .Values.api.staticTokens.existingSecret }}
{{- end }}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "scaivault-federation.validate" -}}
{{- if and .Values.rbac.namespaced (not .Values.watchNamespaces) }}
{{- fail "rbac.namespaced requires watchNamespaces: the namespaces to grant access in" }}
{{- end }}
{{- if and .Values.rbac.create .Values.rbac.serviceAccountTokens (not .Values.rbac.serviceAccountTokenNamespaces) }}
{{- fail "rbac.serviceAccountTokens needs rbac.serviceAccountTokenNamespaces: the namespaces (and ServiceAccounts) whose tokens backends may use" }}
{{- end }}
{{- if and .Values.api.enabled (eq (include "scaivault-federation.apiServiceAccountName" .) (include "scaivault-federation.serviceAccountName" .)) }}
{{- fail "api.serviceAccount must name another ServiceAccount than serviceAccount: the API and the operator never share one" }}
{{- end }}
{{- if and .Values.api.enabled .Values.api.staticTokens.enabled (not .Values.api.staticTokens.existingSecret) (not .Values.api.staticTokens.tokens) }}
{{- fail "api.staticTokens.enabled needs api.staticTokens.existingSecret or api.staticTokens.tokens" }}
{{- end }}
{{- end }}

{{/* Settings both processes read the same way: which endpoints and what of the
operator's own identity a namespace's backends may use. */}}
{{- define "scaivault-federation.sharedEnv" -}}
# No backend gets a token of the operator's or the API's own ServiceAccount.
- name: SCAIVAULT_PROTECTED_SERVICE_ACCOUNTS
  value: {{ printf "%s/%s,%s/%s" .Release.Namespace (include "scaivault-federation.serviceAccountName" .) .Release.Namespace (include "scaivault-federation.apiServiceAccountName" .) | quote }}
{{- with .Values.allowedEndpoints }}
- name: SCAIVAULT_ALLOWED_ENDPOINTS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.tenancy.ambientIdentityNamespaces }}
- name: SCAIVAULT_AMBIENT_IDENTITY_NAMESPACES
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.tenancy.ambientIdentityNamespaceSelector }}
- name: SCAIVAULT_AMBIENT_IDENTITY_NAMESPACE_SELECTOR
  value: {{ . | quote }}
{{- end }}
{{- with .Values.tenancy.ambientIdentityEndpoints }}
- name: SCAIVAULT_AMBIENT_IDENTITY_ENDPOINTS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.tenancy.remotePrefixes }}
- name: SCAIVAULT_REMOTE_PREFIXES
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.tenancy.remoteContainers }}
- name: SCAIVAULT_REMOTE_CONTAINERS
  value: {{ toJson . | quote }}
{{- end }}
{{- end }}

{{/* Pod settings the operator's and the API's pods share. */}}
{{- define "scaivault-federation.podSettings" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
Where a pod runs: the shared node selector, tolerations, affinity and spread
constraints; without an affinity, pods of several replicas ("spread") prefer
other nodes than their siblings ("selector").
*/}}
{{- define "scaivault-federation.placement" -}}
{{- $values := .root.Values }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $values.affinity }}
affinity:
  {{- toYaml $values.affinity | nindent 2 }}
{{- else if .spread }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- .selector | nindent 14 }}
{{- end }}
{{- with $values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
