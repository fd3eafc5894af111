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

{{/* Labels of every object. */}}
{{- define "scaivault-federation.labels" -}}
helm.sh/chart: {{ include "scaivault-federation.chart" . }}
{{ include "scaivault-federation.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scaivault-federation
{{- end }}

{{/* Labels selecting the operator pods (immutable in a Deployment: keep them stable). */}}
{{- define "scaivault-federation.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scaivault-federation.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the pod runs as. */}}
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
{{- if and .Values.api.enabled .Values.api.staticTokens.enabled (not .Values.api.staticTokens.existingSecret) (not .Values.api.staticTokens.tokens) }}
{{- fail "api.staticTokens.enabled needs api.staticTokens.existingSecret or api.staticTokens.tokens" }}
{{- end }}
{{- end }}

{{/* Settings both containers read the same way: which endpoints and what of the
operator's own identity a namespace's backends may use. */}}
{{- define "scaivault-federation.sharedEnv" -}}
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
