{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kubetune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, or "<release>-<chart>", or just the release
name when it already contains the chart name. Truncated to 63 characters, the DNS label limit.
*/}}
{{- define "kubetune.fullname" -}}
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

{{/* "<chart>-<version>", for the helm.sh/chart label. */}}
{{- define "kubetune.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kubetune.labels" -}}
helm.sh/chart: {{ include "kubetune.chart" . }}
{{ include "kubetune.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kubetune
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels the Deployment, Service and PodDisruptionBudget select pods by; never change them. */}}
{{- define "kubetune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubetune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubetune.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubetune.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: a digest wins over a tag; the tag defaults to the appVersion. */}}
{{- define "kubetune.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
What the operator may do with the resources it reconciles: the same rules in a ClusterRole
(cluster-wide mode) and in a Role per watched namespace (namespaced mode). docs/rbac.md gives
the reason for each rule; keep the two in step.
*/}}
{{- define "kubetune.operatorRules" -}}
- apiGroups: ["kubetune.io"]
  resources: ["hpotasks"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kubetune.io"]
  resources: ["hpotasks/status", "trials/status"]
  verbs: ["patch"]
- apiGroups: ["kubetune.io"]
  resources: ["hpotasks/finalizers", "trials/finalizers"]
  verbs: ["update"]
- apiGroups: ["kubetune.io"]
  resources: ["trials"]
  verbs: ["get", "list", "watch", "create"]
{{- range .Values.workloadKinds }}
- apiGroups: [{{ .group | quote }}]
  resources: [{{ .resource | quote }}]
  verbs: ["list", "watch", "create", "delete", "patch"]
{{- end }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* The workload kinds the operator manages, as it reads them: Kind.group, comma-separated. */}}
{{- define "kubetune.workloadKinds" -}}
{{- $names := list -}}
{{- range .Values.workloadKinds }}{{ $names = append $names (printf "%s.%s" .kind .group) }}{{ end -}}
{{- join "," $names -}}
{{- end }}

{{/* Values the schema cannot check alone. */}}
{{- define "kubetune.validate" -}}
{{- if eq (int .Values.healthPort) (int .Values.metricsPort) }}
{{- fail "healthPort and metricsPort must differ" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "serviceMonitor.enabled needs service.enabled: the ServiceMonitor scrapes the metrics Service" }}
{{- end }}
{{- end }}
