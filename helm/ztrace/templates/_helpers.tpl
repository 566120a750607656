{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "ztrace.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ztrace.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ztrace.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ztrace.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ztrace.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The agent's config file (ztrace run --config). */}}
{{- define "ztrace.config" -}}
tracing:
  mode: {{ .Values.tracing.mode }}
  sampling:
    ratio: {{ .Values.tracing.samplingRatio }}
api:
  listen: 0.0.0.0:{{ .Values.metrics.port }}
k8s:
  enabled: true
selection:
  k8s_pod_labels:
    {{- if .Values.selection.podLabels }}
    {{- range $k, $v := .Values.selection.podLabels }}
    {{ $k }}: {{ $v | toString | quote }}
    {{- end }}
    {{- else }} {}
    {{- end }}
  k8s_namespaces: {{ .Values.selection.namespaces | toJson }}
  k8s_exclude_namespaces: {{ .Values.selection.excludeNamespaces | toJson }}
{{- with .Values.otlp.tenants }}
export:
  otlp:
    unmatched_namespaces: {{ $.Values.otlp.unmatchedNamespaces }}
    host_spans: {{ $.Values.otlp.hostSpans }}
    tenants:
      {{- range . }}
      - name: {{ .name | quote }}
        namespaces: {{ .namespaces | toJson }}
        {{- with .endpoint }}
        endpoint: {{ . | quote }}
        {{- end }}
        {{- with .headers }}
        headers: {{ . | toJson }}
        {{- end }}
        {{- if .headersSecret }}
        headers_file: {{ include "ztrace.tenantHeadersDir" . }}/headers
        {{- end }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* Where a tenant's headers Secret is mounted (the agent reads it at start). */}}
{{- define "ztrace.tenantHeadersDir" -}}
/etc/ztrace-tenants/{{ .name }}
{{- end -}}
