/**
 * What the sidecars of each namespace log and trace: the IR of the
 * TelemetryConfig kind. The mesh-wide config (in the control plane's
 * namespace) is resolved over the built-in defaults, and each namespace's
 * config over the mesh-wide one, field by field, so the translator reads one
 * finished `ProxyTelemetry` per namespace and never a manifest.
 */
import type { TelemetryConfigSpec } from '../api/types.js';
import type { FieldPath } from '../core/source-object.js';

/** Where the mesh-wide TelemetryConfig lives: the namespace examples/deploy installs the control plane into. */
export const meshConfigNamespace = 'sluice-system';

export type AccessLogFilter = 'all' | 'errors';

export interface AccessLogSettings {
  readonly enabled: boolean;
  readonly filter: AccessLogFilter;
  readonly userIdHeader: string;
  /** JSON Pointer whose dynamic metadata (set by the json_to_metadata filter) is logged as user_id_body. */
  readonly userIdJsonBody?: string;
}

export type TracingProvider = 'skywalking' | 'zipkin';

export interface TracingSettings {
  readonly provider: TracingProvider;
  readonly host: string;
  readonly port: number;
  readonly samplingPercent: number;
}

export interface ProxyTelemetry {
  readonly accessLog: AccessLogSettings;
  /** Absent: no tracer. */
  readonly tracing?: TracingSettings;
}

export interface MeshTelemetry {
  /** What a namespace without its own TelemetryConfig gets. */
  readonly mesh: ProxyTelemetry;
  /** Namespaces with their own TelemetryConfig, resolved over `mesh`. */
  readonly namespaces: ReadonlyMap<string, ProxyTelemetry>;
}

export const defaultUserIdHeader = 'x-user-id';
export const defaultSamplingPercent = 1;

/** No TelemetryConfig anywhere: access logs on for every request, no tracing. */
export const defaultProxyTelemetry: ProxyTelemetry = { accessLog: { enabled: true, filter: 'all', userIdHeader: defaultUserIdHeader } };

/** Tracing fields as written (before defaults), kept to merge a namespace over the mesh. */
type TracingSpec = NonNullable<TelemetryConfigSpec['tracing']>;

export interface TelemetryProblem {
  readonly path: FieldPath;
  readonly message: string;
}

export interface ResolvedTelemetry {
  readonly telemetry: ProxyTelemetry;
  /** The tracing fields after merging, for the next level down. */
  readonly tracingSpec: TracingSpec;
  readonly problems: readonly TelemetryProblem[];
}

/** `spec` over `base` (the mesh-wide result, or the defaults for the mesh-wide config itself). */
export function resolveTelemetry(spec: TelemetryConfigSpec, base: ProxyTelemetry, baseTracing: TracingSpec): ResolvedTelemetry {
  const problems: TelemetryProblem[] = [];
  const log = spec.accessLog ?? {};
  const userIdJsonBody = log.userIdJsonBody ?? base.accessLog.userIdJsonBody;
  // The pointer goes inside Envoy's %DYNAMIC_METADATA(namespace:key)%, which splits keys on ':' and ends at ')'.
  if (log.userIdHeader !== undefined && log.userIdHeader.includes('%')) {
    problems.push({ path: ['spec', 'accessLog', 'userIdHeader'], message: `cannot contain '%' (it would end Envoy's %REQ(...)% operator), got ${JSON.stringify(log.userIdHeader)}` });
  }
  if (log.userIdJsonBody !== undefined && /[:)%]/.test(log.userIdJsonBody)) {
    problems.push({ path: ['spec', 'accessLog', 'userIdJsonBody'], message: `cannot contain ':', ')' or '%' (Envoy's access-log metadata operator cannot name such a key), got ${JSON.stringify(log.userIdJsonBody)}` });
  }
  const accessLog: AccessLogSettings = {
    enabled: log.enabled ?? base.accessLog.enabled,
    filter: log.filter ?? base.accessLog.filter,
    userIdHeader: log.userIdHeader ?? base.accessLog.userIdHeader,
    ...(userIdJsonBody !== undefined ? { userIdJsonBody } : {}),
  };
  const tracingSpec: TracingSpec = { ...baseTracing, ...(spec.tracing ?? {}) };
  let tracing: TracingSettings | undefined;
  if (tracingSpec.enabled !== false && (tracingSpec.provider !== undefined || tracingSpec.address !== undefined)) {
    // Half a tracer (a provider without a collector, or the reverse) is a mistake, not "off";
    // it is reported on the object that wrote tracing fields (an inherited one is the mesh's to report).
    const report = spec.tracing !== undefined;
    if (report && tracingSpec.provider === undefined) problems.push({ path: ['spec', 'tracing', 'provider'], message: 'is required with tracing.address (skywalking or zipkin), here or in the mesh-wide TelemetryConfig' });
    if (report && tracingSpec.address === undefined) problems.push({ path: ['spec', 'tracing', 'address'], message: 'is required with tracing.provider (the collector\'s host:port), here or in the mesh-wide TelemetryConfig' });
    if (tracingSpec.provider !== undefined && tracingSpec.address !== undefined) {
      const colon = tracingSpec.address.lastIndexOf(':');
      const port = Number(tracingSpec.address.slice(colon + 1));
      if (port < 1 || port > 65535) problems.push({ path: ['spec', 'tracing', 'address'], message: `port ${port} is not between 1 and 65535` });
      else tracing = { provider: tracingSpec.provider, host: tracingSpec.address.slice(0, colon), port, samplingPercent: tracingSpec.samplingPercent ?? defaultSamplingPercent };
    }
  }
  return { telemetry: { accessLog, ...(tracing ? { tracing } : {}) }, tracingSpec, problems };
}

/** The settings a namespace's sidecars get. */
export function telemetryOf(telemetry: MeshTelemetry | undefined, namespace: string): ProxyTelemetry {
  if (!telemetry) return defaultProxyTelemetry;
  return telemetry.namespaces.get(namespace) ?? telemetry.mesh;
}
