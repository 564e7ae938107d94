/**
 * Access logs: one JSON object per HTTP request on the proxy's stdout, so a
 * log shipper that collects pod output (Filebeat, Fluent Bit) sends it to
 * ELK unchanged. The fields are documented one by one in
 * docs/observability.md; keep the two in step.
 *
 * Only command operators Envoy 1.28 knows are used (the oldest sidecar we
 * support): an unknown operator makes Envoy reject the whole listener.
 * `%TRACE_ID%` (1.31) is therefore not used; the tracer's own propagation
 * header is logged instead, which carries the trace ID.
 *
 * Gateways call `accessLogs` with direction `gateway` for their HCM.
 */
import { typedAny, type AnyJson, type EnvoyJsonTypes } from '../envoy/envoy-types.js';
import type { AccessLogSettings, ProxyTelemetry, TracingProvider } from '../model/telemetry.js';
import { userIdMetadataNamespace } from './json-body.js';
import { hcmTracing } from './tracing.js';

export type AccessLogJson = EnvoyJsonTypes['envoy.config.accesslog.v3.AccessLog'];
type AccessLogFilterJson = EnvoyJsonTypes['envoy.config.accesslog.v3.AccessLogFilter'];

/** Which side of the proxy the HTTP connection manager serves; logged as `direction`. */
export type TrafficDirection = 'outbound' | 'inbound' | 'gateway';

/** Cluster metadata namespace of the upstream service and version (translate/cluster.ts writes it). */
export const clusterMetadataNamespace = 'sluice';

/** The header carrying each tracer's context; logged as `trace_id` (it holds the trace ID). */
export const traceHeaderOf: Readonly<Record<TracingProvider, string>> = { skywalking: 'sw8', zipkin: 'x-b3-traceid' };

/** Runtime key an operator can set (admin /runtime_modify) to move the errors-only threshold without a config push. */
export const errorStatusRuntimeKey = 'sluice.access_log.error_status';

/** The JSON line's fields: name → Envoy substitution format. */
export function accessLogFields(settings: AccessLogSettings, direction: TrafficDirection, tracer?: TracingProvider): Record<string, string> {
  const fields: Record<string, string> = {
    time: '%START_TIME%',
    direction,
    method: '%REQ(:METHOD)%',
    authority: '%REQ(:AUTHORITY)%',
    // The path before any rewrite, as the caller sent it.
    path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
    protocol: '%PROTOCOL%',
    status: '%RESPONSE_CODE%',
    grpc_status: '%GRPC_STATUS%',
    response_flags: '%RESPONSE_FLAGS%',
    duration_ms: '%DURATION%',
    bytes_received: '%BYTES_RECEIVED%',
    bytes_sent: '%BYTES_SENT%',
    route_name: '%ROUTE_NAME%',
    upstream_cluster: '%UPSTREAM_CLUSTER%',
    upstream_service: `%CLUSTER_METADATA(${clusterMetadataNamespace}:service)%`,
    upstream_version: `%CLUSTER_METADATA(${clusterMetadataNamespace}:version)%`,
    upstream_host: '%UPSTREAM_HOST%',
    downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
    user_agent: '%REQ(USER-AGENT)%',
    request_id: '%REQ(X-REQUEST-ID)%',
    user_id: `%REQ(${settings.userIdHeader})%`,
  };
  if (settings.userIdJsonBody !== undefined) fields.user_id_body = `%DYNAMIC_METADATA(${userIdMetadataNamespace}:${settings.userIdJsonBody})%`;
  if (tracer) fields.trace_id = `%REQ(${traceHeaderOf[tracer]})%`;
  return fields;
}

/**
 * Errors only: an HTTP status of 400 or more, any response flag (Envoy's own
 * failures: no healthy upstream, timeouts, resets, circuit breaker…), or a
 * gRPC call that did not end OK (gRPC errors travel with HTTP 200). The gRPC
 * check is limited to gRPC requests because Envoy maps a missing grpc-status
 * from the HTTP status, which would make every plain 200 an error.
 */
export function errorsOnlyFilter(): AccessLogFilterJson {
  return {
    or_filter: {
      filters: [
        { status_code_filter: { comparison: { op: 'GE', value: { default_value: 400, runtime_key: errorStatusRuntimeKey } } } },
        { response_flag_filter: {} },
        {
          and_filter: {
            filters: [
              { header_filter: { header: { name: 'content-type', string_match: { prefix: 'application/grpc' } } } },
              { grpc_status_filter: { statuses: ['OK'], exclude: true } },
            ],
          },
        },
      ],
    },
  };
}

/** The HCM's `access_log` list: empty when switched off. */
export function accessLogs(settings: AccessLogSettings, direction: TrafficDirection, tracer?: TracingProvider): AccessLogJson[] {
  if (!settings.enabled) return [];
  const stdout: AnyJson = typedAny('envoy.extensions.access_loggers.stream.v3.StdoutAccessLog', {
    log_format: { json_format: accessLogFields(settings, direction, tracer) },
  });
  return [{ name: 'envoy.access_loggers.stdout', ...(settings.filter === 'errors' ? { filter: errorsOnlyFilter() } : {}), typed_config: stdout }];
}

/**
 * Everything observability adds to one HTTP connection manager: its access
 * log and its tracer. Sidecar listeners and gateways spread it into their HCM;
 * the tracer's collector cluster comes from tracing.ts's `tracingCluster`.
 */
export function hcmTelemetry(telemetry: ProxyTelemetry | undefined, direction: TrafficDirection): { access_log?: AccessLogJson[]; tracing?: ReturnType<typeof hcmTracing> } {
  if (!telemetry) return {};
  const logs = accessLogs(telemetry.accessLog, direction, telemetry.tracing?.provider);
  return { ...(logs.length > 0 ? { access_log: logs } : {}), ...(telemetry.tracing ? { tracing: hcmTracing(telemetry.tracing) } : {}) };
}
