{{/*
Names and labels.
*/}}
{{- define "dashstream-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dashstream-operator.fullname" -}}
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

{{- define "dashstream-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dashstream-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dashstream-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dashstream-operator.labels" -}}
helm.sh/chart: {{ include "dashstream-operator.chart" . }}
{{ include "dashstream-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: dashstream
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Cluster-scoped objects are shared by every release in the cluster: their names carry
the release namespace so that two releases never fight over one object.
*/}}
{{- define "dashstream-operator.clusterName" -}}
{{- printf "%s-%s" (include "dashstream-operator.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "dashstream-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dashstream-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dashstream-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "dashstream-operator.workloadImage" -}}
{{- printf "%s:%s" .Values.workloadImage.repository (default .Chart.AppVersion .Values.workloadImage.tag) }}
{{- end }}

{{/*
The watched namespaces as a JSON list (use with fromJsonArray): watchNamespaces, or
the release namespace when it is empty. Duplicates are dropped.
*/}}
{{- define "dashstream-operator.watchNamespaces" -}}
{{- $ns := .Values.watchNamespaces | default (list .Release.Namespace) }}
{{- $ns | uniq | toJson }}
{{- end }}

{{- define "dashstream-operator.watches" -}}
{{- $ns := .namespace }}
{{- with .root }}
{{- if .Values.watchAllNamespaces }}true{{ else }}{{ has $ns (include "dashstream-operator.watchNamespaces" . | fromJsonArray) }}{{ end }}
{{- end }}
{{- end }}

{{/*
What the operator does with the API, as RBAC rules. Used by the Role of each watched
namespace, or by the ClusterRole when watchAllNamespaces is set. Only the verbs each
resource needs; no wildcards.
  - our CRs: kopf lists/watches them and patches the main object (its finalizer for
    topicDeletionPolicy Delete); the operator writes status only, through /status.
  - our CRs' /finalizers: update, which the API server requires of whoever sets
    blockOwnerDeletion on a child's ownerReference to them (OwnerReferencesPermissionEnforcement).
  - events: kopf posts (create) and aggregates (patch) them.
  - secrets: get only: the Kafka credentials a DashStreamPipeline names. Never list.
  - children: server-side apply (create/patch), prune (list + delete), watch.
*/}}
{{- define "dashstream-operator.rules" -}}
- apiGroups: ["dashstream.io"]
  resources: ["dashstreampipelines", "alertrulesets", "dashboardsets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["dashstream.io"]
  resources: ["dashstreampipelines/status", "alertrulesets/status", "dashboardsets/status"]
  verbs: ["get", "patch"]
- apiGroups: ["dashstream.io"]
  resources: ["dashstreampipelines/finalizers", "alertrulesets/finalizers",
              "dashboardsets/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors", "prometheusrules"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["grafana.integreatly.org"]
  resources: ["grafanadashboards"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
