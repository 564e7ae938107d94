/**
 * Routes: for each service port, a virtual host whose routes are the
 * TrafficPolicy's routes in order (user-ID, header and path matches; weighted
 * versions; timeout and retries), then a default route last.
 */
import { toProtoDuration } from '../lib/duration.js';
import type { MeshService, ServicePort } from '../model/snapshot.js';
import { matchesEverything, type WeightedDestination } from '../model/traffic.js';
import { outboundClusterName } from './cluster-names.js';
import type { ProxyMode } from './proxy-scope.js';
import type { EnvoyJsonTypes, RouteConfigurationJson } from '../envoy/envoy-types.js';
import type { EnvoyResource, TranslationIssue } from './resources.js';

type RouteActionJson = EnvoyJsonTypes['envoy.config.route.v3.RouteAction'];
type RetryPolicyJson = EnvoyJsonTypes['envoy.config.route.v3.RetryPolicy'];
type RouteJson = EnvoyJsonTypes['envoy.config.route.v3.Route'];
export type VirtualHostJson = EnvoyJsonTypes['envoy.config.route.v3.VirtualHost'];
import { jsonBodyEnabled } from './json-body.js';
import { routeMatch } from './route-match.js';
import { stickyRoutes } from './sticky-routes.js';

/** gRPC clients retry only on gRPC status codes (gRFC A44). */
const grpcRetryConditions = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/**
 * Without a retry policy Envoy does not retry; Istio users expect two retries of
 * failures that cannot have reached the application, so sidecars get that default.
 */
const defaultSidecarRetry = { retry_on: 'connect-failure,refused-stream,unavailable,cancelled', num_retries: 2 };

function weightedAction(service: MeshService, port: ServicePort, to: readonly WeightedDestination[]): RouteActionJson {
  const live = to.filter((destination) => destination.weight > 0);
  if (live.length === 1) return { cluster: outboundClusterName(port.port, service.host, live[0]!.version) };
  return {
    weighted_clusters: {
      clusters: live.map((destination) => ({ name: outboundClusterName(port.port, service.host, destination.version), weight: destination.weight })),
    },
  };
}

const policyName = (service: MeshService): string => `TrafficPolicy ${service.traffic!.policy.namespace}/${service.traffic!.policy.name}`;

function retryPolicy(service: MeshService, mode: ProxyMode, issues: TranslationIssue[]): RetryPolicyJson | undefined {
  const retry = service.traffic?.retry;
  if (!retry) return mode === 'sidecar' ? defaultSidecarRetry : undefined;
  if (retry.attempts === 0) return undefined;
  let conditions = retry.retryOn;
  if (mode === 'proxyless') {
    const dropped = conditions.filter((c) => !grpcRetryConditions.has(c));
    conditions = conditions.filter((c) => grpcRetryConditions.has(c));
    if (dropped.length > 0) {
      issues.push({
        severity: 'warning',
        object: policyName(service),
        message: `proxyless gRPC clients retry only on gRPC status codes; ignoring retryOn ${dropped.join(', ')}${conditions.length ? '' : ', so they do not retry'}`,
      });
    }
    if (conditions.length === 0) return undefined;
  }
  const policy: RetryPolicyJson = { retry_on: conditions.join(','), num_retries: retry.attempts };
  if (retry.perTryTimeout !== undefined) policy.per_try_timeout = toProtoDuration(retry.perTryTimeout);
  if (retry.retriableStatusCodes.length && mode === 'sidecar') policy.retriable_status_codes = [...retry.retriableStatusCodes];
  return policy;
}

function withPolicy(action: RouteActionJson, service: MeshService, mode: ProxyMode, retry: RetryPolicyJson | undefined): RouteActionJson {
  const timeout = service.traffic?.timeout;
  if (mode === 'sidecar') {
    // Envoy's default is a 15 s route timeout; a mesh should add none unless asked (as Istio does).
    action.timeout = timeout !== undefined ? toProtoDuration(timeout) : '0s';
  } else if (timeout !== undefined && timeout > 0) {
    // gRPC clients read the deadline from max_stream_duration, not `timeout` (gRFC A31).
    action.max_stream_duration = { max_stream_duration: toProtoDuration(timeout) };
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
  readonly virtualHost: VirtualHostJson;
  /** JSON Pointers its routes read the user ID from (the listener needs the json_to_metadata filter). */
  readonly jsonPointers: readonly string[];
}

export function virtualHost(service: MeshService, port: ServicePort, callerNamespace: string, mode: ProxyMode, issues: TranslationIssue[], podDomains: readonly string[] = []): VirtualHostResult {
  const retry = retryPolicy(service, mode, issues);
  const routes: RouteJson[] = [];
  const jsonPointers: string[] = [];
  let caughtAll = false;
  const unreadableWarnings = new Set<string>();
  for (const route of service.traffic?.routes ?? []) {
    if (caughtAll) {
      issues.push({ severity: 'warning', object: policyName(service), message: `route "${route.name}" comes after a route that matches everything and is never used` });
      continue;
    }
    const result = routeMatch(route.match, mode);
    if ('unsupported' in result) {
      issues.push({ severity: 'warning', object: policyName(service), message: `route "${route.name}": ${result.unsupported}` });
      continue;
    }
    if (route.match.userId?.source.kind === 'jsonBody') jsonPointers.push(route.match.userId.source.pointer);
    const sticky = stickyRoutes(route, result.match, service.traffic?.stickyUsers ?? [], mode);
    for (const stickyRoute of sticky.routes) {
      routes.push({ name: stickyRoute.name, match: stickyRoute.match, route: withPolicy({ cluster: outboundClusterName(port.port, service.host, stickyRoute.version) }, service, mode, retry) });
    }
    for (const source of sticky.readBody) jsonPointers.push(source);
    for (const source of sticky.unreadable) {
      if (source.kind === 'jsonBody') unreadableWarnings.add(`sticky splits by the JSON-body user ID (${source.pointer}) need an Envoy sidecar; gRPC clients split those requests per request`);
    }
    routes.push({ name: route.name, match: result.match, route: withPolicy(weightedAction(service, port, route.destinations), service, mode, retry) });
    caughtAll = matchesEverything(route.match);
  }
  for (const message of unreadableWarnings) issues.push({ severity: 'warning', object: policyName(service), message });
  if (!caughtAll) {
    routes.push({ name: 'default', match: { prefix: '/' }, route: withPolicy({ cluster: outboundClusterName(port.port, service.host) }, service, mode, retry) });
  }
  const host: VirtualHostJson = { name: `${service.host}:${port.port}`, domains: [...serviceDomains(service, port, callerNamespace, mode), ...podDomains], routes };
  if (jsonPointers.length > 0) host.typed_per_filter_config = jsonBodyEnabled();
  return {
    virtualHost: host,
    jsonPointers,
  };
}

/** A sidecar's route table for one port: every service's virtual host on it, as a composite of shared parts. */
export function routeTable(name: string, virtualHosts: readonly VirtualHostJson[]): EnvoyResource<RouteConfigurationJson> {
  const shell = { name, validate_clusters: false };
  return {
    name,
    body: { name, virtual_hosts: [...virtualHosts], validate_clusters: false },
    composite: { shell, fieldName: 'virtual_hosts', fieldNumber: 2, partType: 'envoy.config.route.v3.VirtualHost', parts: virtualHosts },
  };
}

/** Unknown hosts on a mesh port still reach their destination, as with Istio's ALLOW_ANY. */
export const passthroughVirtualHost: VirtualHostJson = {
  name: 'allow_any',
  domains: ['*'],
  routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: 'PassthroughCluster', timeout: '0s' } }],
};
