/**
 * Listeners.
 *
 * Sidecars get Istio's layout, because the injected iptables rules send every
 * outbound connection to 15001 and every inbound one to 15006:
 *   - `virtualOutbound` (0.0.0.0:15001, use_original_dst) hands each connection
 *     to the listener of its original destination port, or passes it through;
 *   - one `0.0.0.0_<port>` listener per HTTP service port (bind_to_port false),
 *     whose HttpConnectionManager takes route configuration `<port>` over RDS,
 *     so every service on that port is one virtual host of one route table;
 *   - `virtualInbound` (0.0.0.0:15006) with a filter chain per port the
 *     workload serves, to the application on 127.0.0.1.
 * One listener per port, rather than per service, keeps the listener count
 * at the number of distinct ports (a handful) whatever the mesh size, and a
 * policy edit changes only RDS, which Envoy applies without draining.
 *
 * Proxyless gRPC clients get one API listener per service port, named as the
 * target they dial: `xds:///orders.shop.svc.cluster.local:8080`.
 */
import { inboundClusterName, inboundPassthroughClusterName, passthroughClusterName } from './cluster-names.js';
import { jsonToMetadataFilter } from './json-body.js';
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

export function outboundHttpListener(port: number, jsonPointers: readonly string[]): EnvoyResource<ListenerJson> {
  const name = `0.0.0.0_${port}`;
  const httpFilters = jsonPointers.length > 0 ? [jsonToMetadataFilter(jsonPointers), routerFilter] : [routerFilter];
  return {
    name,
    body: {
      name,
      address: address(port),
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
                rds: { config_source: adsConfigSource, route_config_name: String(port) },
                http_filters: httpFilters,
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

export function virtualInboundListener(ports: readonly InboundPort[], trustDomain = defaultTrustDomain): EnvoyResource<ListenerJson> {
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
