{{- /*
The sealed app-env for .Values.environment, shipped byte for byte as `kseal seal` wrote it:
  kseal seal .env.staging -w helm/shop/secrets/app-env.staging.sealed.yaml
Rendering fails (instead of shipping something the controller cannot open) when the file is
missing or was sealed for another namespace or name: the strict scope ties it to both.
*/ -}}
{{- define "shop.appEnv" -}}
{{- $path := printf "secrets/app-env.%s.sealed.yaml" .Values.environment }}
{{- $text := .Files.Get $path }}
{{- if not $text }}
{{- fail (printf "%s is missing: run `kseal seal .env.%s -w helm/shop/%s`" $path .Values.environment $path) }}
{{- end }}
{{- $doc := fromYaml $text }}
{{- if ne $doc.metadata.namespace .Release.Namespace }}
{{- fail (printf "%s is sealed for namespace %s; install the release there (-n %s), not in %s" $path $doc.metadata.namespace $doc.metadata.namespace .Release.Namespace) }}
{{- end }}
{{- if ne $doc.metadata.name .Values.global.appEnvSecret }}
{{- fail (printf "%s is sealed as %s but global.appEnvSecret is %s" $path $doc.metadata.name .Values.global.appEnvSecret) }}
{{- end }}
{{- $text }}
{{- end -}}
