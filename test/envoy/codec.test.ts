import { describe, expect, it } from 'vitest';
import {
  EnvoyJsonError,
  decodeMessage,
  decodeToJson,
  encodeResource,
  envoySchema,
  messageFromJson,
  protobufjsMessageToJson,
} from '../../control-plane/envoy/codec.js';
import { EnvoyTypeError, lookupEnvoyType } from '../../control-plane/envoy/proto-registry.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const LISTENER = 'envoy.config.listener.v3.Listener';
const ROUTES = 'envoy.config.route.v3.RouteConfiguration';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const CLA = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

const listener = {
  name: 'outbound_0.0.0.0_8080',
  address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
  traffic_direction: 'OUTBOUND',
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': HCM,
            stat_prefix: 'outbound_8080',
            rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: '8080' },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER, suppress_envoy_headers: true } }],
            stream_idle_timeout: '0.250s',
          },
        },
      ],
    },
  ],
  metadata: { filter_metadata: { sluice: { revision: 3, canary: true, owner: 'shop' } } },
};

/** The error a conversion throws, for asserting on it. */
function errorOf(fn: () => unknown): EnvoyJsonError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EnvoyJsonError) return err;
    throw err;
  }
  throw new Error('expected an EnvoyJsonError');
}

describe('proto3 JSON ↔ wire bytes', () => {
  it('round-trips a Listener with nested Anys, a Struct, a Duration and enums, printing proto names', () => {
    expect(decodeToJson(LISTENER, encodeResource(LISTENER, listener))).toEqual(listener);
  });

  it('reads lowerCamel names, enum numbers and 64-bit integers as numbers or strings', () => {
    const camel = encodeResource(CLUSTER, { name: 'c', type: 1, connectTimeout: '1s', maxRequestsPerConnection: 5, lrsServer: { self: {} }, dnsRefreshRate: '5s', circuitBreakers: { thresholds: [{ maxRequests: 7 }] } });
    const snake = encodeResource(CLUSTER, { name: 'c', type: 'STRICT_DNS', connect_timeout: '1s', max_requests_per_connection: 5, lrs_server: { self: {} }, dns_refresh_rate: '5s', circuit_breakers: { thresholds: [{ max_requests: 7 }] } });
    expect(camel).toEqual(snake);
    const withInt64 = (value: unknown) => encodeResource('envoy.config.cluster.v3.OutlierDetection', { max_ejection_time_jitter: '1s', consecutive_5xx: 5, max_ejection_percent: 10, enforcing_consecutive_5xx: value });
    expect(withInt64(100)).toEqual(withInt64('100'));
  });

  it('keeps presence: a false wrapper is sent, a default scalar is not', () => {
    const withWrapper = decodeToJson(ROUTES, encodeResource(ROUTES, { name: 'r', validate_clusters: false, ignore_port_in_host_matching: false }));
    expect(withWrapper).toEqual({ name: 'r', validate_clusters: false });
  });

  it('writes the same bytes as protobufjs for a message without Anys (an independent encoder)', () => {
    const cla = {
      cluster_name: 'outbound|80|v1|orders.shop.svc.cluster.local',
      endpoints: [
        { locality: { zone: 'a' }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.12', port_value: 8080 } } }, health_status: 'HEALTHY' }] },
        { locality: { zone: 'b' }, priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.1.3', port_value: 8080 } } } }] },
      ],
    };
    const type = lookupEnvoyType(CLA);
    expect(Buffer.from(encodeResource(CLA, cla))).toEqual(Buffer.from(type.encode(type.fromObject(cla)).finish()));
  });

  it('decodes into messages and JSON the gRPC services decoded with protobufjs', () => {
    const node = { id: 'sidecar~10.0.0.1~a.shop~shop.svc.cluster.local', metadata: { namespace: 'shop', labels: { app: 'a' } } };
    const type = lookupEnvoyType('envoy.config.core.v3.Node');
    const protobufjsMessage = type.decode(encodeResource('envoy.config.core.v3.Node', node));
    expect(protobufjsMessageToJson('envoy.config.core.v3.Node', protobufjsMessage)).toEqual(node);
    const message = decodeMessage('envoy.config.core.v3.Node', encodeResource('envoy.config.core.v3.Node', node)) as unknown as { id: string };
    expect(message.id).toBe(node.id);
  });

  it('encodes a resource the checker has just read from that reading, with the same bytes', () => {
    const body = structuredClone(listener);
    messageFromJson(LISTENER, body);
    expect(encodeResource(LISTENER, body)).toEqual(encodeResource(LISTENER, structuredClone(listener)));
    expect(decodeToJson(LISTENER, encodeResource(LISTENER, body))).toEqual(listener);
  });

  it('treats undefined properties of in-code objects as not set', () => {
    expect(encodeResource(CLUSTER, { name: 'c', connect_timeout: undefined, metadata: undefined })).toEqual(encodeResource(CLUSTER, { name: 'c' }));
  });
});

describe('errors name the field path from the resource root', () => {
  it('an unknown field inside an Any inside a list', () => {
    const bad = structuredClone(listener) as typeof listener;
    (bad.filter_chains[0]!.filters[0]!.typed_config.http_filters[0]!.typed_config as Record<string, unknown>)['suppress_envoy_headerz'] = true;
    const err = errorOf(() => encodeResource(LISTENER, bad, 'outbound_0.0.0.0_8080'));
    expect(err.code).toBe('envoy-json');
    expect(err.reason).toBe('unknown_field');
    expect(err.path).toBe('filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.suppress_envoy_headerz');
    expect(err.message).toBe('Listener "outbound_0.0.0.0_8080": filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.suppress_envoy_headerz: unknown field');
  });

  it('a bad value in a map entry, with the message bufbuild gives', () => {
    const err = errorOf(() => messageFromJson(CLUSTER, { name: 'c', typed_extension_protocol_options: { x: { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', common_http_protocol_options: { idle_timeout: 'soon' } } } }));
    expect(err.reason).toBe('bad_value');
    expect(err.path).toBe('typed_extension_protocol_options["x"].common_http_protocol_options.idle_timeout');
    expect(err.detail).toContain('soon');
  });

  it('a scalar of the wrong type names its message', () => {
    const err = errorOf(() => messageFromJson(CLA, { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 'eighty' } } } }] }] }));
    expect(err.path).toBe('endpoints[0].lb_endpoints[0].endpoint.address.socket_address');
    expect(err.detail).toContain('envoy.config.core.v3.SocketAddress.port_value');
  });

  it('an Any whose type is not generated, or that has no "@type"', () => {
    const nope = errorOf(() => messageFromJson(LISTENER, { name: 'l', filter_chains: [{ filters: [{ name: 'n', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope' } }] }] }));
    expect([nope.path, nope.reason]).toEqual(['filter_chains[0].filters[0].typed_config.@type', 'unknown_type']);
    const missing = errorOf(() => messageFromJson(LISTENER, { name: 'l', filter_chains: [{ filters: [{ name: 'n', typed_config: { stat_prefix: 'x' } }] }] }));
    expect([missing.path, missing.reason, missing.detail]).toEqual(['filter_chains[0].filters[0].typed_config', 'unknown_type', 'missing "@type"']);
  });

  it('an unknown message type', () => {
    expect(() => envoySchema('envoy.config.nope.v3.Nope')).toThrow(EnvoyTypeError);
  });
});
