/**
 * The edge: a Gateway (model/gateway.ts) → the listeners and route tables of
 * the Envoy that serves it (node metadata `mode: gateway`, `gateway: ns/name`).
 *
 * - One listener per Gateway port, bound (unlike a sidecar's outbound ones):
 *   HTTP gets one HttpConnectionManager whose route table `gateway|<ns>/<name>|<port>`
 *   holds a virtual host per hostname; HTTPS gets a filter chain per Gateway
 *   listener (chosen by SNI), each terminating TLS with the certificates of
 *   its Secrets and taking its own route table.
 * - One policy for every hop: a rule with one backendRef to a mesh Service
 *   takes that Service's routes as a sidecar would (route.ts's virtualHost:
 *   user-ID header and JSON-body routes, weighted versions, retries, timeout,
 *   and a canary's override, which is the same IR), each ANDed with the
 *   HTTPRoute's match. So a release by user ID is decided the same way at the
 *   edge and at every later hop. A rule splitting over several backendRefs
 *   sends each its share of the whole Service (its default cluster).
 * - The clusters are the mesh's own (`outbound|<port>|<version>|<host>`), so
 *   the gateway's stats sink reports under the names canaries count.
 */
import { hcmTelemetry } from './access-log.js';
import { telemetryOf, type ProxyTelemetry } from '../model/telemetry.js';
import { toProtoDuration } from '../lib/duration.js';
import type { GatewayListener, GatewayRoute, GatewayVirtualHost, HeaderModifier, MeshGateway } from '../model/gateway.js';
import type { Snapshot } from '../model/snapshot.js';
import { typedAny, type EnvoyJsonTypes, type ListenerJson, type RouteConfigurationJson } from '../envoy/envoy-types.js';
import { isHttpPort } from './cluster.js';
import { outboundClusterName } from './cluster-names.js';
import { jsonBodyEnabled, jsonToMetadataFilter } from './json-body.js';
import { adsConfigSource, type EnvoyResource, type TranslationIssue } from './resources.js';
import { routeMatch, type RouteMatchJson } from './route-match.js';
import { virtualHost as serviceVirtualHost } from './route.js';

type RouteJson = EnvoyJsonTypes['envoy.config.route.v3.Route'];
type RouteActionJson = EnvoyJsonTypes['envoy.config.route.v3.RouteAction'];
type VirtualHostJson = EnvoyJsonTypes['envoy.config.route.v3.VirtualHost'];
type FilterChainJson = EnvoyJsonTypes['envoy.config.listener.v3.FilterChain'];
type HeaderValueOptionJson = EnvoyJsonTypes['envoy.config.core.v3.HeaderValueOption'];
type RedirectActionJson = EnvoyJsonTypes['envoy.config.route.v3.RedirectAction'];

const hcmType = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager' as const;
const routerFilter = { name: 'envoy.filters.http.router', typed_config: typedAny('envoy.extensions.filters.http.router.v3.Router', {}) };

/** Never defined: the target of the weight of unresolved backendRefs. */
export const unresolvedBackendCluster = 'sluice-unresolved-backend';

export function gatewayRouteTableName(gateway: MeshGateway, port: number, listener?: string): string {
  return `gateway|${gateway.namespace}/${gateway.name}|${port}${listener ? `|${listener}` : ''}`;
}

export function gatewayListenerName(port: number): string {
  return `gateway_${port}`;
}

/** The Gateway API's redirect codes → Envoy's enum. */
const redirectCodes: Record<number, RedirectActionJson['response_code']> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

function headerOptions(modifier: HeaderModifier | undefined): HeaderValueOptionJson[] {
  if (!modifier) return [];
  return [
    ...modifier.set.map(({ name, value }) => ({ header: { key: name, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' as const })),
    ...modifier.add.map(({ name, value }) => ({ header: { key: name, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' as const })),
  ];
}

/** The HTTPRoute match in Envoy's terms. A Gateway API prefix matches whole path segments: Envoy's path_separated_prefix. */
function gatewayMatch(route: GatewayRoute): RouteMatchJson {
  const result = routeMatch({ path: route.match.path, headers: route.match.headers }, 'sidecar');
  // routeMatch only refuses JSON-body user IDs for proxyless clients; an HTTPRoute match has none.
  const match = { ...(result as { match: RouteMatchJson }).match };
  if (route.match.path.kind === 'prefix' && route.match.path.value !== '/') {
    delete match.prefix;
    match.path_separated_prefix = route.match.path.value;
  }
  if (route.match.method) match.headers = [...(match.headers ?? []), { name: ':method', string_match: { exact: route.match.method } }];
  if (route.match.queryParams.length > 0) {
    match.query_parameters = route.match.queryParams.map((param) => ({
      name: param.name,
      string_match: param.match.kind === 'exact' ? { exact: param.match.value } : { safe_regex: { regex: param.match.pattern } },
    }));
  }
  return match;
}

const pathFields = ['prefix', 'path', 'safe_regex', 'path_separated_prefix'] as const;

function withoutPath(match: RouteMatchJson): RouteMatchJson {
  const rest = { ...match };
  for (const field of pathFields) delete rest[field];
  return rest;
}

/**
 * Both matches must hold. Envoy takes one path matcher, so the two paths are
 * combined when one implies the other (a catch-all, or a prefix inside a
 * prefix); otherwise there is no single route and undefined is returned.
 */
export function intersectMatches(edge: RouteMatchJson, service: RouteMatchJson): RouteMatchJson | undefined {
  let path: RouteMatchJson;
  const edgePrefix = edge.prefix ?? edge.path_separated_prefix;
  if (service.prefix === '/') path = edge;
  else if (edge.prefix === '/') path = service;
  else if (edgePrefix !== undefined && service.prefix !== undefined && service.prefix.startsWith(edgePrefix)) path = service;
  else if (edgePrefix !== undefined && service.prefix !== undefined && edgePrefix.startsWith(service.prefix)) path = edge;
  else if (edge.path !== undefined && service.prefix !== undefined && edge.path.startsWith(service.prefix)) path = edge;
  else if (service.path !== undefined && edgePrefix !== undefined && service.path.startsWith(edgePrefix)) path = service;
  else return undefined;
  const merged: RouteMatchJson = { ...withoutPath(edge), ...withoutPath(service) };
  for (const field of pathFields) if (path[field] !== undefined) (merged as Record<string, unknown>)[field] = path[field];
  const headers = [...(edge.headers ?? []), ...(service.headers ?? [])];
  if (headers.length > 0) merged.headers = headers;
  return merged;
}

/** What the HTTPRoute rule adds to any action: rewrite, timeouts. */
function withRuleSettings(action: RouteActionJson, route: GatewayRoute): RouteActionJson {
  const result: RouteActionJson = { ...action };
  if (route.rewrite?.hostname) result.host_rewrite_literal = route.rewrite.hostname;
  if (route.rewrite?.path?.kind === 'prefix' && route.match.path.kind === 'prefix') result.prefix_rewrite = route.rewrite.path.value;
  else if (route.rewrite?.path) result.regex_rewrite = { pattern: { regex: '^/.*$' }, substitution: route.rewrite.path.value };
  if (route.timeout !== undefined) result.timeout = toProtoDuration(route.timeout);
  if (route.backendTimeout !== undefined) {
    if (result.retry_policy) result.retry_policy = { ...result.retry_policy, per_try_timeout: toProtoDuration(route.backendTimeout) };
    else if (route.timeout === undefined) result.timeout = toProtoDuration(route.backendTimeout);
  }
  return result;
}

function withHeaders(route: RouteJson, rule: GatewayRoute): RouteJson {
  const requestAdd = headerOptions(rule.requestHeaders);
  const responseAdd = headerOptions(rule.responseHeaders);
  if (requestAdd.length) route.request_headers_to_add = requestAdd;
  if (rule.requestHeaders?.remove.length) route.request_headers_to_remove = [...rule.requestHeaders.remove];
  if (responseAdd.length) route.response_headers_to_add = responseAdd;
  if (rule.responseHeaders?.remove.length) route.response_headers_to_remove = [...rule.responseHeaders.remove];
  return route;
}

interface HostResult {
  readonly virtualHost: VirtualHostJson;
  readonly jsonPointers: readonly string[];
}

function gatewayRoutes(snapshot: Snapshot, gateway: MeshGateway, rule: GatewayRoute, issues: TranslationIssue[], jsonPointers: string[]): RouteJson[] {
  const parts = rule.name.split('/');
  const object = `${parts[2] === 'grpc' ? 'GRPCRoute' : 'HTTPRoute'} ${parts.slice(0, 2).join('/')}`;
  const match = gatewayMatch(rule);
  if (rule.redirect) {
    const r = rule.redirect;
    const redirect: RedirectActionJson = { response_code: redirectCodes[r.statusCode] ?? 'FOUND' };
    if (r.scheme) redirect.scheme_redirect = r.scheme;
    if (r.hostname) redirect.host_redirect = r.hostname;
    if (r.port !== undefined) redirect.port_redirect = r.port;
    if (r.path?.kind === 'full') redirect.path_redirect = r.path.value;
    else if (r.path?.kind === 'prefix') redirect.prefix_rewrite = r.path.value;
    return [withHeaders({ name: rule.name, match, redirect }, rule)];
  }
  const backends = rule.backends.flatMap((backend) => {
    const service = snapshot.services.get(backend.host);
    const port = service?.ports.find((p) => p.port === backend.port);
    return service && port ? [{ backend, service, port }] : [];
  });
  if (backends.length === 0) {
    // The Gateway API: requests for a rule whose backends do not resolve are answered with 500.
    return [withHeaders({ name: rule.name, match, direct_response: { status: 500 } }, rule)];
  }
  if (backends.length === 1 && !rule.unresolvedWeight && isHttpPort(backends[0]!.port)) {
    // One policy for every hop: the Service's own routes, each within the HTTPRoute's match.
    const { service, port } = backends[0]!;
    const serviceHost = serviceVirtualHost(service, port, gateway.namespace, 'sidecar', issues);
    jsonPointers.push(...serviceHost.jsonPointers);
    const routes: RouteJson[] = [];
    for (const serviceRoute of serviceHost.virtualHost.routes ?? []) {
      const merged = intersectMatches(match, serviceRoute.match ?? {});
      if (!merged) {
        issues.push({ severity: 'warning', object, message: `rule ${rule.name}: the route "${serviceRoute.name}" of ${service.traffic ? `TrafficPolicy ${service.traffic.policy.namespace}/${service.traffic.policy.name}` : service.host} matches other paths than the rule, so it does not apply at the edge` });
        continue;
      }
      const route: RouteJson = { name: `${rule.name}/${serviceRoute.name}`, match: merged, route: withRuleSettings(serviceRoute.route ?? {}, rule) };
      // Body-routing services read the body on every route of theirs (the filter is chosen by the first route match).
      if (serviceHost.jsonPointers.length > 0) route.typed_per_filter_config = jsonBodyEnabled();
      routes.push(withHeaders(route, rule));
    }
    return routes;
  }
  for (const { service } of backends) {
    if (backends.length > 1 && service.traffic) issues.push({ severity: 'warning', object, message: `rule ${rule.name} splits over ${backends.length} backendRefs, so TrafficPolicy ${service.traffic.policy.namespace}/${service.traffic.policy.name} routes (user ID, versions) do not apply to its share; give the Service a rule of its own for that` });
  }
  const clusters = backends.map(({ backend }) => ({ name: outboundClusterName(backend.port, backend.host), weight: backend.weight }));
  // The share of backendRefs that did not resolve goes to a cluster that does not exist, which Envoy answers with 500.
  if (rule.unresolvedWeight) clusters.push({ name: unresolvedBackendCluster, weight: rule.unresolvedWeight });
  const action: RouteActionJson = clusters.length === 1 ? { cluster: clusters[0]!.name } : { weighted_clusters: { clusters } };
  if (rule.unresolvedWeight) action.cluster_not_found_response_code = 'INTERNAL_SERVER_ERROR';
  action.timeout = '0s';
  return [withHeaders({ name: rule.name, match, route: withRuleSettings(action, rule) }, rule)];
}

function gatewayVirtualHost(snapshot: Snapshot, gateway: MeshGateway, port: number, host: GatewayVirtualHost, issues: TranslationIssue[]): HostResult {
  const jsonPointers: string[] = [];
  const routes = host.routes.flatMap((rule) => gatewayRoutes(snapshot, gateway, rule, issues, jsonPointers));
  const domains = host.hostname === '*' ? ['*'] : [host.hostname, `${host.hostname}:${port}`];
  return { virtualHost: { name: host.hostname, domains, routes }, jsonPointers };
}

function routeTable(snapshot: Snapshot, gateway: MeshGateway, name: string, port: number, listeners: readonly GatewayListener[], issues: TranslationIssue[]): { table: EnvoyResource<RouteConfigurationJson>; jsonPointers: string[] } {
  // Two listeners on one HTTP port (different hostnames) share the port's table; a hostname is one virtual host.
  const byHostname = new Map<string, GatewayVirtualHost>();
  for (const listener of listeners) {
    for (const host of listener.virtualHosts) {
      const known = byHostname.get(host.hostname);
      // A route attached to two listeners of the port (parentRefs by section) is one set of routes.
      byHostname.set(host.hostname, known ? { hostname: host.hostname, routes: [...known.routes, ...host.routes.filter((r) => !known.routes.some((k) => k.name === r.name))] } : host);
    }
  }
  const jsonPointers: string[] = [];
  const virtualHosts = [...byHostname.values()].map((host) => {
    const result = gatewayVirtualHost(snapshot, gateway, port, host, issues);
    jsonPointers.push(...result.jsonPointers);
    return result.virtualHost;
  });
  return { table: { name, body: { name, virtual_hosts: virtualHosts, validate_clusters: false } }, jsonPointers };
}

function connectionManager(statPrefix: string, routeTableName: string, jsonPointers: readonly string[], telemetry: ProxyTelemetry) {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: typedAny(hcmType, {
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      // The edge: the client address is the peer's (Nginx), which it forwards in X-Forwarded-For.
      use_remote_address: true,
      // Routes match the path a backend will see: /a//b and /a/./b are /a/b, so no rule is bypassed by spelling.
      normalize_path: true,
      merge_slashes: true,
      // Envoy's advice for an edge: bound slow clients and idle streams, and what one HTTP/2 connection may hold.
      request_headers_timeout: '10s',
      stream_idle_timeout: '300s',
      // Headers with '_' are dropped, as Nginx does by default, so no upstream confuses x_user_id with x-user-id.
      common_http_protocol_options: { idle_timeout: '3600s', headers_with_underscores_action: 'DROP_HEADER' },
      http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65536, initial_connection_window_size: 1048576 },
      rds: { config_source: adsConfigSource, route_config_name: routeTableName },
      http_filters: jsonPointers.length > 0 ? [jsonToMetadataFilter(jsonPointers), routerFilter] : [routerFilter],
      // Access log and tracer of the gateway's namespace (TelemetryConfig), like a sidecar's.
      ...hcmTelemetry(telemetry, 'gateway'),
    }),
  };
}

/** Every listener and route table of one Gateway. */
export function translateGateway(snapshot: Snapshot, gateway: MeshGateway): { listeners: EnvoyResource[]; routes: EnvoyResource[]; issues: TranslationIssue[] } {
  const issues: TranslationIssue[] = [];
  const listeners: EnvoyResource<ListenerJson>[] = [];
  const routes: EnvoyResource[] = [];
  const telemetry = telemetryOf(snapshot.telemetry, gateway.namespace);
  const ports = [...new Set(gateway.listeners.map((l) => l.port))].sort((a, b) => a - b);
  for (const port of ports) {
    const onPort = gateway.listeners.filter((l) => l.port === port);
    const name = gatewayListenerName(port);
    const address = { socket_address: { address: '0.0.0.0', port_value: port } };
    if (onPort[0]!.protocol === 'HTTP') {
      const tableName = gatewayRouteTableName(gateway, port);
      const { table, jsonPointers } = routeTable(snapshot, gateway, tableName, port, onPort, issues);
      routes.push(table);
      listeners.push({ name, body: { name, address, filter_chains: [{ filters: [connectionManager(`gateway_${port}`, tableName, jsonPointers, telemetry)] }] } });
      continue;
    }
    // HTTPS: a filter chain per listener, chosen by SNI (the one without a hostname takes the rest).
    const chains: FilterChainJson[] = onPort.map((listener) => {
      const tableName = gatewayRouteTableName(gateway, port, listener.name);
      const { table, jsonPointers } = routeTable(snapshot, gateway, tableName, port, [listener], issues);
      routes.push(table);
      const tls = typedAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
        common_tls_context: {
          tls_certificates: listener.certificates.map((c) => ({ certificate_chain: { inline_bytes: c.certificateChain }, private_key: { inline_bytes: c.privateKey } })),
          alpn_protocols: ['h2', 'http/1.1'],
        },
      });
      return {
        name: listener.name,
        ...(listener.hostname ? { filter_chain_match: { server_names: [listener.hostname] } } : {}),
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: tls },
        filters: [connectionManager(`gateway_${port}_${listener.name}`, tableName, jsonPointers, telemetry)],
      };
    });
    listeners.push({
      name,
      body: {
        name,
        address,
        listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: typedAny('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}) }],
        filter_chains: chains,
      },
    });
  }
  // The same warning for every hostname a rule serves is one warning.
  const unique = [...new Map(issues.map((i) => [`${i.severity}|${i.object}|${i.message}`, i])).values()];
  return { listeners, routes, issues: unique };
}

/** A copy of a resource with every TLS private key replaced (for config dumps and logs). */
export function withoutPrivateKeys<T>(json: T): T {
  if (Array.isArray(json)) return json.map((item) => withoutPrivateKeys(item)) as T;
  if (json === null || typeof json !== 'object') return json;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) copy[key] = key === 'private_key' ? { inline_string: '[redacted]' } : withoutPrivateKeys(value);
  return copy as T;
}
