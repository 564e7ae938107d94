/**
 * Listeners.
 *
 * Sidecars get Istio's layout, because the injected iptables rules send every
 * outbound connection to 15001 and every inbound one to 15006:
 *   - `virtualOutbound` (0.0.0.0:15001, use_original_dst) hands each connection
 *     to the listener of its original destination port, or passes it through;
 *   - a service with a virtual IP (ClusterIP) gets its own `<ip>_<port>`
 *     listener per HTTP port (bind_to_port false), whose HttpConnectionManager
 *     takes route configuration `<host>:<port>` over RDS, holding that service
 *     alone: a policy edit then re-sends one small route table, not one that
 *     holds the whole mesh (at 5,000 pods a port's table was 245 KB per proxy);
 *   - one `0.0.0.0_<port>` listener per remaining HTTP port, whose route
 *     configuration `<port>` holds the services without a virtual IP
 *     (headless, or manifests naming none) and calls to pod addresses
 *     (`podAddressCalls`), one virtual host each;
 *   - `virtualInbound` (0.0.0.0:15006) with a filter chain per port the
 *     workload serves, to the application on 127.0.0.1.
 * Listeners change only when services come or go; a policy edit changes only
 * RDS, which Envoy applies without draining.
 *
 * Proxyless gRPC clients get one API listener per service port, named as the
 * target they dial: `xds:///orders.shop.svc.cluster.local:8080`.
 */
import { inboundClusterName, inboundPassthroughClusterName, passthroughClusterName } from './cluster-names.js';
import { hcmTelemetry } from './access-log.js';
import { jsonToMetadataFilter } from './json-body.js';
import type { ProxyTelemetry } from '../model/telemetry.js';
import { typedAny, type EnvoyJsonTypes, type ListenerJson } from '../envoy/envoy-types.js';
import { adsConfigSource, type EnvoyResource } from './resources.js';
import { inboundChainsForMode, needsTlsInspector, tlsInspector } from './mtls.js';
import { authorizationFilters, authorizationNetworkFilters } from './authorization.js';
import { defaultTrustDomain, type MtlsMode, type ServiceAuthorization } from '../model/security.js';

type NetworkFilterJson = EnvoyJsonTypes['envoy.config.listener.v3.Filter'];
type HttpFilterJson = EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter'];
type AddressJson = EnvoyJsonTypes['envoy.config.core.v3.Address'];

const hcmType = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager' as const;
const routerFilter: HttpFilterJson = { name: 'envoy.filters.http.router', typed_config: typedAny('envoy.extensions.filters.http.router.v3.Router', {}) };

export const virtualOutboundPort = 15001;
export const virtualInboundPort = 15006;

function tcpProxy(statPrefix: string, cluster: string): NetworkFilterJson {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: typedAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: statPrefix, cluster }),
  };
}

function address(port: number): AddressJson {
  return { socket_address: { address: '0.0.0.0', port_value: port } };
}

export function virtualOutboundListener(): EnvoyResource<ListenerJson> {
  return {
    name: 'virtualOutbound',
    body: {
      name: 'virtualOutbound',
      address: address(virtualOutboundPort),
      use_original_dst: true,
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ name: 'passthrough', filters: [tcpProxy('PassthroughCluster', passthroughClusterName)] }],
    },
  };
}

/** `telemetry` adds the namespace's access log and tracer (access-log.ts, tracing.ts). */
export function outboundHttpListener(port: number, jsonPointers: readonly string[], telemetry?: ProxyTelemetry): EnvoyResource<ListenerJson> {
  return httpListener(`0.0.0.0_${port}`, address(port), String(port), jsonPointers, telemetry);
}

/**
 * A service's own listener on one of its virtual IPs: connections whose
 * original destination is that IP and port are handed to it (an exact
 * address beats 0.0.0.0), and its route table holds only that service.
 */
export function serviceHttpListener(ip: string, port: number, routeConfigName: string, jsonPointers: readonly string[], telemetry?: ProxyTelemetry): EnvoyResource<ListenerJson> {
  return httpListener(`${ip}_${port}`, { socket_address: { address: ip, port_value: port } }, routeConfigName, jsonPointers, telemetry);
}

function httpListener(name: string, listenerAddress: AddressJson, routeConfigName: string, jsonPointers: readonly string[], telemetry: ProxyTelemetry | undefined): EnvoyResource<ListenerJson> {
  const httpFilters = jsonPointers.length > 0 ? [jsonToMetadataFilter(jsonPointers), routerFilter] : [routerFilter];
  return {
    name,
    body: {
      name,
      address: listenerAddress,
      bind_to_port: false,
      traffic_direction: 'OUTBOUND',
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: typedAny(hcmType, {
                stat_prefix: `outbound_${name}`,
                codec_type: 'AUTO',
                rds: { config_source: adsConfigSource, route_config_name: routeConfigName },
                http_filters: httpFilters,
                ...hcmTelemetry(telemetry, 'outbound'),
              }),
            },
          ],
        },
      ],
    },
  };
}

export interface InboundPort {
  readonly port: number;
  readonly http: boolean;
  /** From the served services' PeerAuthentication and AuthorizationPolicy (translate/mtls.ts, authorization.ts). */
  readonly mtls?: MtlsMode;
  readonly authorization?: ServiceAuthorization;
}

export function virtualInboundListener(ports: readonly InboundPort[], telemetry?: ProxyTelemetry, trustDomain = defaultTrustDomain): EnvoyResource<ListenerJson> {
  const chains = ports.flatMap(({ port, http, mtls, authorization }) => {
    const cluster = inboundClusterName(port);
    const filters = http
      ? [{
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: typedAny(hcmType, {
            stat_prefix: `inbound_${port}`,
            codec_type: 'AUTO',
            route_config: {
              name: cluster,
              virtual_hosts: [{ name: cluster, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: '0s' } }] }],
            },
            http_filters: [...authorizationFilters(authorization, trustDomain), routerFilter],
            ...hcmTelemetry(telemetry, 'inbound'),
          }),
        }]
      : [...authorizationNetworkFilters(authorization, trustDomain, `inbound_${port}`), tcpProxy(`inbound_${port}`, cluster)];
    return inboundChainsForMode({ name: cluster, filter_chain_match: { destination_port: port }, filters }, mtls);
  });
  return {
    name: 'virtualInbound',
    body: {
      name: 'virtualInbound',
      address: address(virtualInboundPort),
      traffic_direction: 'INBOUND',
      listener_filters: [
        { name: 'envoy.filters.listener.original_dst', typed_config: typedAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}) },
        ...(needsTlsInspector(ports.map((p) => p.mtls)) ? [tlsInspector] : []),
      ],
      filter_chains: [...chains, { name: 'passthrough', filters: [tcpProxy('InboundPassthroughCluster', inboundPassthroughClusterName)] }],
    },
  };
}

/** `routeConfigName` differs from the target when a pod address shares its service's route table. */
export function proxylessApiListener(target: string, routeConfigName = target): EnvoyResource<ListenerJson> {
  return {
    name: target,
    body: {
      name: target,
      api_listener: {
        api_listener: typedAny(hcmType, {
          stat_prefix: target,
          rds: { config_source: adsConfigSource, route_config_name: routeConfigName },
          http_filters: [routerFilter],
        }),
      },
    },
  };
}
