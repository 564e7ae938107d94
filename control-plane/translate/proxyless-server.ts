/**
 * Listeners for proxyless gRPC servers (gRFC A36): a gRPC `XdsServer` asks for
 * `grpc/server?xds.resource.listening_address=<ip>:<port>` and serves with
 * the filter chain it gets, its transport security (gRFC A29) and HTTP
 * filters (RBAC, gRFC A41), but never forwards: the route says
 * `non_forwarding_action`.
 *
 * gRPC cannot look at the first bytes of a connection the way Envoy's TLS
 * inspector does (A36 only matches `raw_buffer`), so a server has one chain:
 * TLS in STRICT, plaintext in PERMISSIVE and DISABLE. A proxyless server in
 * PERMISSIVE therefore still accepts plaintext only; mixed callers need a sidecar.
 */
import { typedAny, type EnvoyJsonTypes, type ListenerJson } from '../envoy/envoy-types.js';
import type { MeshService } from '../model/snapshot.js';
import { authorizationFilters } from './authorization.js';
import { isHttpPort } from './cluster.js';
import { downstreamTransportSocket } from './mtls.js';
import type { EnvoyResource } from './resources.js';

type HttpFilterJson = EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter'];

const routerFilter: HttpFilterJson = { name: 'envoy.filters.http.router', typed_config: typedAny('envoy.extensions.filters.http.router.v3.Router', {}) };

/** The resource name gRPC's default `server_listener_resource_name_template` gives for an address. */
export function proxylessServerListenerName(address: string, port: number): string {
  return `grpc/server?xds.resource.listening_address=${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** One server listener per endpoint address and HTTP/gRPC port of a service with security settings. */
export function proxylessServerListeners(service: MeshService, trustDomain: string): EnvoyResource<ListenerJson>[] {
  if (!service.security) return [];
  const strict = service.security.mtls?.mode === 'STRICT';
  const httpFilters = [...authorizationFilters(service.security.authorization, trustDomain), routerFilter];
  const listeners: EnvoyResource<ListenerJson>[] = [];
  for (const port of service.ports.filter(isHttpPort)) {
    for (const endpoint of service.endpoints) {
      const listening = endpoint.ports[port.name] ?? (typeof port.targetPort === 'number' ? port.targetPort : undefined);
      if (listening === undefined) continue;
      const name = proxylessServerListenerName(endpoint.address, listening);
      const routeName = `inbound|${listening}|${service.host}`;
      listeners.push({
        name,
        body: {
          name,
          address: { socket_address: { address: endpoint.address, port_value: listening } },
          traffic_direction: 'INBOUND',
          filter_chains: [
            {
              name: routeName,
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: typedAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
                    // The prefix names the transport too. Besides telling the stats apart, it keeps a
                    // plaintext ↔ mTLS switch from looking like "the same listener" to grpc-js-xds 1.14,
                    // whose listener comparison gets unequal transport sockets wrong (ignores or crashes).
                    stat_prefix: strict ? `${routeName}|mtls` : routeName,
                    route_config: { name: routeName, virtual_hosts: [{ name: routeName, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, non_forwarding_action: {} }] }] },
                    http_filters: httpFilters,
                  }),
                },
              ],
              ...(strict ? { transport_socket: downstreamTransportSocket('proxyless') } : {}),
            },
          ],
        },
      });
    }
  }
  return listeners;
}
