{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "modelcanary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: <release>-<chart> unless the release contains it. */}}
{{- define "modelcanary.fullname" -}}
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

{{/* Name of the release's cluster-scoped objects (ClusterRoles, ClusterRoleBindings):
<fullname>-<release namespace>. A release is unique by namespace and name, so two releases
(say one scope: cluster, one scope: namespace, or the same name in two namespaces) and the
kustomize overlays (modelcanary-operator...) never share one of these objects. */}}
{{- define "modelcanary.clusterName" -}}
{{- printf "%s-%s" (include "modelcanary.fullname" .) .Release.Namespace | trunc 200 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "modelcanary.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "modelcanary.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelcanary
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "modelcanary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelcanary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The service account the operator runs as. */}}
{{- define "modelcanary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelcanary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces a namespace-scoped operator watches, one per line. */}}
{{- define "modelcanary.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
{{ . }}
{{- end }}
{{- else }}
{{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The operator image: repository:tag (tag defaults to the chart's appVersion). */}}
{{- define "modelcanary.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* RBAC rules for the namespaced resources (files/rbac.yaml): core, Secret copies, the
chosen routers, kopf peering (clusterkopfpeerings or kopfpeerings, as $.peeringResource) and,
with scope: namespace, get/patch of the operator's own RoleBinding by name ($.ownBinding). */}}
{{- define "modelcanary.rules" -}}
{{- $all := .Files.Get "files/rbac.yaml" | fromYaml }}
{{- $rules := $all.core }}
{{- if .Values.rbac.secretCopies }}
{{- $rules = concat $rules $all.secretCopies }}
{{- end }}
{{- range .Values.rbac.routers }}
{{- if not (hasKey $all.routers .) }}
{{- fail (printf "rbac.routers: unknown router %q; use some of: %s" . (keys $all.routers | sortAlpha | join ", ")) }}
{{- end }}
{{- $rules = concat $rules (get $all.routers .) }}
{{- end }}
{{- range .Values.rbac.metricProviders }}
{{- if not (hasKey $all.metricProviders .) }}
{{- fail (printf "rbac.metricProviders: unknown provider %q; use some of: %s" . (keys $all.metricProviders | sortAlpha | join ", ")) }}
{{- end }}
{{- if eq . "externalmetrics" }}
{{- if not $.Values.rbac.externalMetrics }}
{{- fail "rbac.metricProviders: externalmetrics needs rbac.externalMetrics, the metric names your queries read" }}
{{- end }}
{{- range get $all.metricProviders . }}
{{- $rules = append $rules (merge (dict "resources" $.Values.rbac.externalMetrics) .) }}
{{- end }}
{{- else }}
{{- $rules = concat $rules (get $all.metricProviders .) }}
{{- end }}
{{- end }}
{{- if .Values.peering.enabled }}
{{- $peering := dict "apiGroups" (list "kopf.dev") "resources" (list .peeringResource) "verbs" $all.peering.verbs }}
{{- $rules = append $rules $peering }}
{{- end }}
{{- with .ownBinding }}
{{- $own := dict "apiGroups" (list "rbac.authorization.k8s.io") "resources" (list "rolebindings") "resourceNames" (list .) "verbs" $all.ownBinding.verbs }}
{{- $rules = append $rules $own }}
{{- end }}
{{- toYaml (uniq $rules) }}
{{- end }}
