/**
 * Routes: for each service port, a virtual host whose routes are the
 * TrafficPolicy's routes in order (user-ID, header and path matches; weighted
 * versions; timeout and retries), then a default route last.
 */
import type { RouteSpec, WeightedVersionSpec } from '../api/types.js';
import { parseDuration, toProtoDuration } from '../lib/duration.js';
import type { MeshService, ServicePort } from '../model/snapshot.js';
import { outboundClusterName } from './cluster-names.js';
import type { ProxyMode } from './proxy-scope.js';
import type { EnvoyJson, TranslationIssue } from './resources.js';
import { isCatchAll, routeMatch } from './route-match.js';

/** gRPC clients retry only on gRPC status codes (gRFC A44). */
const grpcRetryConditions = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/**
 * Without a retry policy Envoy does not retry; Istio users expect two retries of
 * failures that cannot have reached the application, so sidecars get that default.
 */
const defaultSidecarRetry = { retry_on: 'connect-failure,refused-stream,unavailable,cancelled', num_retries: 2 };

function weightedAction(service: MeshService, port: ServicePort, to: readonly WeightedVersionSpec[]): Record<string, unknown> {
  const live = to.filter((destination) => destination.weight > 0);
  if (live.length === 1) return { cluster: outboundClusterName(port.port, service.host, live[0]!.version) };
  return {
    weighted_clusters: {
      clusters: live.map((destination) => ({ name: outboundClusterName(port.port, service.host, destination.version), weight: destination.weight })),
    },
  };
}

function retryPolicy(service: MeshService, mode: ProxyMode, issues: TranslationIssue[]): Record<string, unknown> | undefined {
  const spec = service.policy?.spec.retries;
  if (!spec) return mode === 'sidecar' ? defaultSidecarRetry : undefined;
  if (spec.attempts === 0) return undefined;
  let conditions = spec.retryOn ?? ['connect-failure', 'refused-stream', 'unavailable', 'cancelled'];
  if (mode === 'proxyless') {
    const dropped = conditions.filter((c) => !grpcRetryConditions.has(c));
    conditions = conditions.filter((c) => grpcRetryConditions.has(c));
    if (dropped.length > 0) {
      issues.push({
        severity: 'warning',
        object: `TrafficPolicy ${service.policy!.namespace}/${service.policy!.name}`,
        message: `proxyless gRPC clients retry only on gRPC status codes; ignoring retryOn ${dropped.join(', ')}${conditions.length ? '' : ', so they do not retry'}`,
      });
    }
    if (conditions.length === 0) return undefined;
  }
  const policy: Record<string, unknown> = { retry_on: conditions.join(','), num_retries: spec.attempts };
  if (spec.perTryTimeout) policy.per_try_timeout = toProtoDuration(parseDuration(spec.perTryTimeout)!);
  if (spec.retriableStatusCodes?.length && mode === 'sidecar') policy.retriable_status_codes = [...spec.retriableStatusCodes];
  return policy;
}

function withPolicy(action: Record<string, unknown>, service: MeshService, mode: ProxyMode, retry: Record<string, unknown> | undefined): Record<string, unknown> {
  const timeout = service.policy?.spec.timeout;
  if (mode === 'sidecar') {
    // Envoy's default is a 15 s route timeout; a mesh should add none unless asked (as Istio does).
    action.timeout = timeout ? toProtoDuration(parseDuration(timeout)!) : '0s';
  } else if (timeout && parseDuration(timeout)! > 0) {
    // gRPC clients read the deadline from max_stream_duration, not `timeout` (gRFC A31).
    action.max_stream_duration = { max_stream_duration: toProtoDuration(parseDuration(timeout)!) };
  }
  if (retry) action.retry_policy = retry;
  return action;
}

/** Short names a caller may use for the service: in its own namespace `orders`, elsewhere `orders.shop`. */
export function serviceDomains(service: MeshService, port: ServicePort, callerNamespace: string, mode: ProxyMode): string[] {
  if (mode === 'proxyless') return [`${service.host}:${port.port}`, service.host];
  const names = [service.host, `${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}`];
  if (service.namespace === callerNamespace) names.push(service.name);
  return names.flatMap((name) => [name, `${name}:${port.port}`]);
}

export interface VirtualHostResult {
  readonly virtualHost: EnvoyJson;
  /** JSON Pointers its routes read the user ID from (the listener needs the json_to_metadata filter). */
  readonly jsonPointers: readonly string[];
}

export function virtualHost(service: MeshService, port: ServicePort, callerNamespace: string, mode: ProxyMode, issues: TranslationIssue[]): VirtualHostResult {
  const retry = retryPolicy(service, mode, issues);
  const routes: unknown[] = [];
  const jsonPointers: string[] = [];
  let caughtAll = false;
  const policyRoutes: readonly RouteSpec[] = service.policy?.spec.routes ?? [];
  for (const spec of policyRoutes) {
    if (caughtAll) {
      issues.push({ severity: 'warning', object: `TrafficPolicy ${service.policy!.namespace}/${service.policy!.name}`, message: `route "${spec.name}" comes after a route that matches everything and is never used` });
      continue;
    }
    const result = routeMatch(spec.match, mode);
    if ('unsupported' in result) {
      issues.push({ severity: 'warning', object: `TrafficPolicy ${service.policy!.namespace}/${service.policy!.name}`, message: `route "${spec.name}": ${result.unsupported}` });
      continue;
    }
    if (spec.match?.userId?.jsonBody) jsonPointers.push(spec.match.userId.jsonBody);
    routes.push({ name: spec.name, match: result.match, route: withPolicy(weightedAction(service, port, spec.to), service, mode, retry) });
    caughtAll = isCatchAll(spec.match);
  }
  if (!caughtAll) {
    routes.push({ name: 'default', match: { prefix: '/' }, route: withPolicy({ cluster: outboundClusterName(port.port, service.host) }, service, mode, retry) });
  }
  return {
    virtualHost: { name: `${service.host}:${port.port}`, domains: serviceDomains(service, port, callerNamespace, mode), routes },
    jsonPointers,
  };
}

/** Unknown hosts on a mesh port still reach their destination, as with Istio's ALLOW_ANY. */
export const passthroughVirtualHost = {
  name: 'allow_any',
  domains: ['*'],
  routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: 'PassthroughCluster', timeout: '0s' } }],
};
