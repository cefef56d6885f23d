{{/* Full name: sealed-secrets-controller unless overridden (kubeseal's default --controller-name). */}}
{{- define "kseal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if .Values.nameOverride -}}
{{- printf "%s-controller" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
sealed-secrets-controller
{{- end -}}
{{- end -}}

{{- define "kseal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment selector is immutable). */}}
{{- define "kseal.selectorLabels" -}}
app.kubernetes.io/name: sealed-secrets
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kseal.labels" -}}
{{ include "kseal.selectorLabels" . }}
app.kubernetes.io/part-of: kseal
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "kseal.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kseal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kseal.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kseal.clusterRoleName" -}}
{{- default (printf "%s-%s" (include "kseal.fullname" .) .Release.Namespace) .Values.rbac.clusterRoleName | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kseal.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces with a secrets-unsealer Role in namespaced mode: the release namespace plus watch.namespaces. */}}
{{- define "kseal.watchedNamespaces" -}}
{{- $all := list .Release.Namespace -}}
{{- range .Values.watch.namespaces -}}
{{- if not (has . $all) -}}{{- $all = append $all . -}}{{- end -}}
{{- end -}}
{{- join "," $all -}}
{{- end -}}

{{/* The rules that unseal: the same for the ClusterRole and the per-namespace Roles (docs/controller-compat.md §11). */}}
{{- define "kseal.unsealerRules" -}}
- apiGroups: [bitnami.com]
  resources: [sealedsecrets]
  verbs: [get, list, watch]
- apiGroups: [bitnami.com]
  resources: [sealedsecrets/status]
  verbs: [update]
# list/watch are metadata-only (owned Secrets, for recreate and restore); get/create/update
# write the produced Secret.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update]
# Events are only created (never patched or aggregated).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.oldGcBehavior }}
# --old-gc-behavior: the Secret of a deleted SealedSecret is deleted explicitly.
- apiGroups: [""]
  resources: [secrets]
  verbs: [delete]
{{- end }}
{{- if .Values.restartOnChange }}
# --restart-on-change (kseal.dev/restart-on-secret-change).
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end -}}
