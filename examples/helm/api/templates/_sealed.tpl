{{- /*
The sealed file for .Values.environment, shipped byte for byte as `kseal seal` wrote it. Rendering
fails when the file is missing, or was sealed for another namespace or Secret name: the strict
scope ties the values to both, so the controller could not open it there.
*/ -}}
{{- define "api.sealedEnv" -}}
{{- $path := printf "secrets/%s.%s.sealed.yaml" .Values.secretName .Values.environment }}
{{- $text := .Files.Get $path }}
{{- if not $text }}
{{- fail (printf "%s is missing: run `kseal seal .env.api.%s -w`" $path .Values.environment) }}
{{- end }}
{{- $doc := fromYaml $text }}
{{- if ne $doc.metadata.namespace .Release.Namespace }}
{{- fail (printf "%s is sealed for namespace %s; install the release there (-n %s), not in %s" $path $doc.metadata.namespace $doc.metadata.namespace .Release.Namespace) }}
{{- end }}
{{- if ne $doc.metadata.name .Values.secretName }}
{{- fail (printf "%s is sealed as %s but secretName is %s" $path $doc.metadata.name .Values.secretName) }}
{{- end }}
{{- $text }}
{{- end -}}

{{- define "api.labels" -}}
app.kubernetes.io/name: api
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
