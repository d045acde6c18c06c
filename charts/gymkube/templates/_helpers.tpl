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

{{/* Where game pods reach the control plane's internal API: its Service, by its cluster DNS name. */}}
{{- define "gymkube.controlplane.internalUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "gymkube.controlplane.fullname" .) .Release.Namespace .Values.controlPlane.service.port }}
{{- end }}

{{/* The images an Experiment may name, as JSON: gamePods.allowedImages, else the platform's own image. */}}
{{- define "gymkube.allowedImages" -}}
{{- .Values.gamePods.allowedImages | default (list (include "gymkube.image" .)) | toJson }}
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

{{/* The control plane's environment for storage: where it is and how to reach it. */}}
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
# Each experiment's own key lives in a Secret of the experiment (gx-NAME-key) that the operator
# creates and keeps; `get` also reads the label of a Secret an Experiment names as its TURN secret.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "patch"]
{{- if .Values.networkPolicy.enabled }}
# Each experiment's game pods get a NetworkPolicy (gx-NAME) before they start.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "create", "patch"]
{{- end }}
# Game pods are read for readiness and load, never changed directly.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# kopf reports handler outcomes as events on the Experiment.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Labels of every experiment's game pods (set by the operator), in any namespace. */}}
{{- define "gymkube.gamePodLabels" -}}
app.kubernetes.io/name: gymkube
app.kubernetes.io/component: game-pod
app.kubernetes.io/managed-by: gymkube-operator
{{- end }}

{{/* NetworkPolicy egress rule: DNS, in cluster pods or on the nodes (node-local caches), never at the metadata endpoint. */}}
{{- define "gymkube.networkPolicy.dnsEgress" -}}
- to:
    - namespaceSelector: {}
    - ipBlock:
        cidr: 0.0.0.0/0
        except: [169.254.169.254/32]
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end }}

{{/* NetworkPolicy egress rule: the Kubernetes API server (networkPolicy.apiServer). */}}
{{- define "gymkube.networkPolicy.apiServerEgress" -}}
{{- with .Values.networkPolicy.apiServer }}
- to:
    {{- range .ipBlocks }}
    - ipBlock:
        {{- toYaml . | nindent 8 }}
    {{- end }}
  ports:
    {{- range .ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end }}

{{/* NetworkPolicy egress rule: the S3 endpoint (networkPolicy.storage); none without ranges or peers, since a rule without `to` allows everything. */}}
{{- define "gymkube.networkPolicy.storageEgress" -}}
{{- with .Values.networkPolicy.storage }}
{{- if or .ipBlocks .peers }}
- to:
    {{- range .ipBlocks }}
    - ipBlock:
        {{- toYaml . | nindent 8 }}
    {{- end }}
    {{- with .peers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    {{- range .ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* NetworkPolicy egress rule: every experiment's game pods, on their HTTP port (8100), for their load reports. */}}
{{- define "gymkube.networkPolicy.gamePodEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          {{- include "gymkube.gamePodLabels" . | nindent 10 }}
  ports:
    - {protocol: TCP, port: 8100}
{{- end }}

{{/* What the operator builds each experiment's NetworkPolicy from (JSON for GYMKUBE_NETWORK_POLICY). */}}
{{- define "gymkube.gamePodNetwork" -}}
{{- $selector := include "gymkube.selectorLabels" . | fromYaml }}
{{- $controlPlane := dict "namespace" .Release.Namespace "podLabels" (merge (dict "app.kubernetes.io/component" "controlplane") $selector) }}
{{- $operator := dict "namespace" .Release.Namespace "podLabels" (merge (dict "app.kubernetes.io/component" "operator") $selector) }}
{{- $network := .Values.networkPolicy }}
{{- $policy := dict "controlPlane" $controlPlane "controlPlanePort" 8000 "operator" $operator "ingressController" $network.ingressController "storage" (pick $network.storage "ipBlocks" "peers" "ports") }}
{{- with $network.prometheus.namespace }}
{{- $_ := set $policy "prometheus" (dict "namespace" . "podLabels" $network.prometheus.podLabels) }}
{{- end }}
{{- $policy | toJson }}
{{- end }}

{{/* NetworkPolicy ingress rule: Prometheus (networkPolicy.prometheus) to the `metrics` port; nothing when no namespace is set. */}}
{{- define "gymkube.networkPolicy.prometheusIngress" -}}
{{- with .Values.networkPolicy.prometheus }}
{{- if .namespace }}
- from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .namespace }}
      podSelector:
        {{- with .podLabels }}
        matchLabels:
          {{- toYaml . | nindent 10 }}
        {{- else }} {}
        {{- end }}
  ports:
    - {protocol: TCP, port: metrics}
{{- end }}
{{- end }}
{{- end }}

{{/* The monitors' labels: the chart's, and those the Prometheus instance selects by. */}}
{{- define "gymkube.monitorLabels" -}}
{{ include "gymkube.labels" . }}
{{- with .Values.metrics.serviceMonitor.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}
