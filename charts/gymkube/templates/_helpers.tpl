{{/* The release's base name: the release name, prefixed to the chart name unless it already contains it (50 characters, so suffixes fit in 63). */}}
{{- define "gymkube.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels every object of the release carries. */}}
{{- define "gymkube.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gymkube.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that pick out the release's pods (each workload adds app.kubernetes.io/component). */}}
{{- define "gymkube.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the operator's Deployment, ServiceAccount and RBAC objects. */}}
{{- define "gymkube.operator.fullname" -}}
{{- printf "%s-operator" (include "gymkube.fullname" .) }}
{{- end }}

{{/* Name of the control plane's Deployment, Service, Ingress, claim, ServiceAccount and RBAC objects. */}}
{{- define "gymkube.controlplane.fullname" -}}
{{- printf "%s-controlplane" (include "gymkube.fullname" .) }}
{{- end }}

{{/* The gymkube image reference; the tag defaults to the chart's appVersion. */}}
{{- define "gymkube.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Name of the Secret with participant-token-secret and admin-secret: the given one or the chart's own. */}}
{{- define "gymkube.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "gymkube.fullname" .)) }}
{{- end }}

{{/* The storage URL s3://bucket[/prefix]; empty without a bucket. */}}
{{- define "gymkube.storageUrl" -}}
{{- with .Values.storage.s3 }}
{{- if .bucket }}
{{- printf "s3://%s" .bucket }}{{ with .prefix }}/{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Environment shared by the control plane and the operator: where storage is and how to reach it. */}}
{{- define "gymkube.storageEnv" -}}
{{- with include "gymkube.storageUrl" . }}
- name: GYMKUBE_STORAGE
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.s3.endpoint }}
- name: GYMKUBE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.s3.region }}
- name: GYMKUBE_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Pod security context of every gymkube pod: the image's non-root user 10001. */}}
{{- define "gymkube.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container security context of every gymkube container: read-only root, no privileges. */}}
{{- define "gymkube.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* RBAC rules of the operator in the namespaces it watches (its ClusterRole adds cluster-scoped ones). */}}
{{- define "gymkube.operator.rules" -}}
# Experiments: kopf watches them and patches finalizers and its progress annotations.
- apiGroups: ["gymkube.io"]
  resources: ["experiments"]
  verbs: ["get", "list", "watch", "patch", "update"]
# The operator keeps status.phase, readyReplicas, url and participants true.
- apiGroups: ["gymkube.io"]
  resources: ["experiments/status"]
  verbs: ["get", "patch", "update"]
# The children of each Experiment: game pods, their per-pod Services, config, PDB and Ingress.
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Game pods are read for readiness and load, never changed directly.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# kopf reports handler outcomes as events on the Experiment.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
