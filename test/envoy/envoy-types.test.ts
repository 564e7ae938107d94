import { describe, expect, it } from 'vitest';
import { decodeToJson, encodeResource } from '../../control-plane/envoy/codec.js';
import { typedAny, type ClusterJson, type ListenerJson, type ResourceJsonOfKind } from '../../control-plane/envoy/envoy-types.js';
import { envoyTypeOfKind } from '../../control-plane/envoy/resource-types.js';

// Compile-time half: `npm test` runs tsc first, and each @ts-expect-error
// fails the typecheck if the line below it stops being an error.
const cluster: ClusterJson = {
  name: 'outbound|80|v1|orders.shop.svc.cluster.local',
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  connect_timeout: '0.250s',
  circuit_breakers: { thresholds: [{ max_connections: 1024, max_retries: 3 }] },
  outlier_detection: { consecutive_5xx: 5, interval: '10s', max_ejection_percent: 50 },
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typedAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
      explicit_http_config: { http2_protocol_options: {} },
    }),
  },
};

const listener: ListenerJson = {
  name: 'virtualInbound',
  address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
  listener_filters: [{ name: 'envoy.filters.listener.original_dst', typed_config: typedAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}) }],
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: typedAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
            stat_prefix: 'inbound',
            rds: { config_source: { ads: {} }, route_config_name: 'inbound|8080' },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: typedAny('envoy.extensions.filters.http.router.v3.Router', {}) }],
          }),
        },
      ],
    },
  ],
};

// @ts-expect-error a misspelt field
const misspelt: ClusterJson = { nam: 'x' };
// @ts-expect-error an enum name Envoy does not define
const badEnum: ClusterJson = { name: 'x', type: 'EDS_PLEASE' };
// @ts-expect-error a payload that does not fit its Any's type
const badPayload = typedAny('envoy.extensions.filters.http.router.v3.Router', { suppress_envoy_headerz: true });
// @ts-expect-error a Duration is a string in proto3 JSON
const badDuration: ClusterJson = { name: 'x', connect_timeout: { seconds: 1 } };

describe('typed Envoy JSON', () => {
  it('typed resources encode and decode unchanged', () => {
    const resources: Partial<{ [K in keyof ResourceJsonOfKind]: ResourceJsonOfKind[K] }> = { clusters: cluster, listeners: listener };
    for (const [kind, json] of Object.entries(resources)) {
      const typeName = envoyTypeOfKind[kind as keyof ResourceJsonOfKind];
      expect(decodeToJson(typeName, encodeResource(typeName, json))).toEqual(json);
    }
  });

  it('what the types reject, the codec rejects too', () => {
    expect(() => encodeResource(envoyTypeOfKind.clusters, misspelt)).toThrow('nam: unknown field');
    expect(() => encodeResource(envoyTypeOfKind.clusters, badEnum)).toThrow('EDS_PLEASE');
    expect(() => encodeResource('envoy.extensions.filters.http.router.v3.Router', { ...badPayload, '@type': undefined })).toThrow('suppress_envoy_headerz: unknown field');
    expect(() => encodeResource(envoyTypeOfKind.clusters, badDuration)).toThrow('connect_timeout');
  });
});
