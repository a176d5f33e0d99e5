{{- define "hubsync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hubsync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "hubsync.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hubsync.secretName" -}}
{{- default (printf "%s-secrets" (include "hubsync.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "hubsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* every component's environment: its own settings, then Kafka's, then HubSpot's credentials */}}
{{- define "hubsync.env" -}}
{{ include "hubsync.baseEnv" . }}
{{ include "hubsync.kafkaEnv" . }}
{{ include "hubsync.hubspotEnv" . }}
{{- end -}}

{{/* what every pod needs, the console included: the drain, the metrics port, the settings, PostgreSQL */}}
{{- define "hubsync.baseEnv" -}}
- name: HUBSYNC_SHUTDOWN_GRACE_S
  value: {{ .Values.shutdownGraceSeconds | quote }}
- name: HUBSYNC_METRICS_HOST
  value: "0.0.0.0"
- name: HUBSYNC_METRICS_PORT
  value: {{ .Values.metricsPort | quote }}
{{- range $name, $value := .Values.settings }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "hubsync.secretName" . }}, key: {{ .Values.secrets.databaseUrlKey }}}
{{- end -}}

{{- define "hubsync.kafkaEnv" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- with .Values.kafka.sasl }}
{{- if .mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ required "kafka.sasl.username (with kafka.sasl.mechanism)" .username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "hubsync.secretName" $ }}, key: {{ $.Values.secrets.kafkaSaslPasswordKey }}}
{{- end }}
{{- end }}
{{- if .Values.kafka.tls.secretName }}
- name: KAFKA_SSL_CA_LOCATION
  value: /etc/hubsync/kafka-tls/ca.crt
{{- if .Values.kafka.tls.clientCertificate }}
- name: KAFKA_SSL_CERTIFICATE_LOCATION
  value: /etc/hubsync/kafka-tls/tls.crt
- name: KAFKA_SSL_KEY_LOCATION
  value: /etc/hubsync/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* the private app's token or the public app's credentials: never given to the console, which calls no HubSpot API */}}
{{- define "hubsync.hubspotEnv" -}}
{{- if .Values.hubspot.clientId }}
- name: HUBSPOT_CLIENT_ID
  value: {{ .Values.hubspot.clientId | quote }}
- name: HUBSPOT_OAUTH_REDIRECT_URI
  value: {{ required "hubspot.oauthRedirectUri (with hubspot.clientId)" .Values.hubspot.oauthRedirectUri | quote }}
- name: HUBSPOT_CLIENT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "hubsync.secretName" . }}, key: {{ .Values.secrets.hubspotClientSecretKey }}}
- name: HUBSYNC_TOKEN_KEYS
  valueFrom:
    secretKeyRef: {name: {{ include "hubsync.secretName" . }}, key: {{ .Values.secrets.tokenKeysKey }}}
{{- else }}
- name: HUBSPOT_ACCESS_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "hubsync.secretName" . }}, key: {{ .Values.secrets.hubspotAccessTokenKey }}}
{{- end }}
{{- end -}}

{{- define "hubsync.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 4
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
startupProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 5
  failureThreshold: 24
{{- end -}}

{{/* the volumes every pod has: a writable /tmp (the root file system is read-only) and, unless the context
     says "kafka": false (the console), the Kafka TLS files */}}
{{- define "hubsync.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if and .Values.kafka.tls.secretName (ne .kafka false) }}
- {name: kafka-tls, mountPath: /etc/hubsync/kafka-tls, readOnly: true}
{{- end }}
{{- end -}}

{{- define "hubsync.volumes" -}}
- {name: tmp, emptyDir: {}}
{{- if and .Values.kafka.tls.secretName (ne .kafka false) }}
- name: kafka-tls
  secret: {secretName: {{ .Values.kafka.tls.secretName }}, defaultMode: 0440}
{{- end }}
{{- end -}}

{{/* the console's own settings (docs/console.md): sign-in mode, session secret, what the overview reads */}}
{{- define "hubsync.consoleEnv" -}}
- name: HUBSYNC_CONSOLE_AUTH
  value: {{ .Values.console.auth | quote }}
- name: HUBSYNC_CONSOLE_SESSION_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "hubsync.secretName" . }}, key: {{ .Values.secrets.consoleSessionSecretKey }}}
{{- if eq .Values.console.auth "proxy" }}
- name: HUBSYNC_CONSOLE_PROXY_USER_HEADER
  value: {{ .Values.console.proxy.userHeader | quote }}
- name: HUBSYNC_CONSOLE_PROXY_ADMINS
  value: {{ .Values.console.proxy.admins | quote }}
- name: HUBSYNC_CONSOLE_TRUSTED_PROXIES
  value: {{ required "console.proxy.trustedProxies (the proxy's addresses, with console.auth=proxy)" .Values.console.proxy.trustedProxies | quote }}
{{- else if ne .Values.console.auth "password" }}
{{- fail "console.auth is password or proxy" }}
{{- end }}
{{- with .Values.console.components }}
- name: HUBSYNC_CONSOLE_COMPONENTS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.console.prometheusUrl }}
- name: HUBSYNC_CONSOLE_PROMETHEUS_URL
  value: {{ . | quote }}
{{- end }}
{{- end -}}
