{{/* Chart name, truncated to 63 characters. */}}
{{- define "rostersync.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name, truncated to 63 characters (DNS label limit). */}}
{{- define "rostersync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A service's resource name: <fullname>-<component>, truncated to 63. */}}
{{- define "rostersync.componentName" -}}
{{- printf "%s-%s" (include "rostersync.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Common labels. */}}
{{- define "rostersync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: rostersync
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels of one component (stable across upgrades). */}}
{{- define "rostersync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rostersync.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The services: component name -> values key, binary and what each needs. */}}
{{- define "rostersync.components" -}}
scheduler: {key: scheduler, redis: true, masterKey: true, archive: false}
sftp-transfer: {key: sftpTransfer, redis: true, masterKey: true, archive: false}
roster: {key: roster, redis: true, masterKey: false, archive: false}
backup: {key: backup, redis: false, masterKey: false, archive: true}
{{- end -}}
