import { describe, expect, it } from 'vitest';
import {
  EnvoyJsonError,
  decodeEnvoy,
  encodeEnvoy,
  messageFromEnvoyJson,
  packEnvoyAny,
} from '../../control-plane/envoy/proto-json.js';
import {
  BOOTSTRAP_TYPE,
  CLUSTER_LOAD_ASSIGNMENT_TYPE,
  CLUSTER_LOAD_ASSIGNMENT_TYPE_URL,
  CLUSTER_TYPE,
  CLUSTER_TYPE_URL,
  LISTENER_TYPE,
  LISTENER_TYPE_URL,
  ROUTE_CONFIGURATION_TYPE,
  ROUTE_CONFIGURATION_TYPE_URL,
  XDS_RESOURCE_TYPE_URLS,
  lookupEnvoyService,
  lookupEnvoyType,
  typeNameOfUrl,
  typeUrlOf,
} from '../../control-plane/envoy/proto-registry.js';

const ADS = { ads: {}, resource_api_version: 'V3' };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const listener = {
  name: 'inbound_0.0.0.0_8080',
  address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
  use_original_dst: false,
  listener_filters: [
    {
      name: 'envoy.filters.listener.tls_inspector',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
    },
  ],
  filter_chains: [
    {
      filter_chain_match: { destination_port: 8080, transport_protocol: 'raw_buffer' },
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': HCM,
            stat_prefix: 'inbound_8080',
            codec_type: 'HTTP2',
            rds: { config_source: ADS, route_config_name: 'inbound|8080' },
            http_filters: [
              {
                name: 'envoy.filters.http.json_to_metadata',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata',
                  request_rules: {
                    rules: [
                      {
                        selectors: [{ key: 'tenant' }],
                        on_present: { metadata_namespace: 'sluice', key: 'tenant', type: 'STRING' },
                        on_missing: { metadata_namespace: 'sluice', key: 'tenant', value: 'none' },
                      },
                    ],
                    allow_content_types: ['application/json'],
                  },
                },
              },
              {
                name: 'envoy.filters.http.router',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  suppress_envoy_headers: true,
                },
              },
            ],
            common_http_protocol_options: { idle_timeout: '3600s', max_headers_count: 100 },
            stream_idle_timeout: '0.250s',
            access_log: [
              {
                name: 'envoy.access_loggers.stdout',
                typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog' },
              },
            ],
          },
        },
      ],
    },
  ],
  traffic_direction: 'INBOUND',
};

const cluster = {
  name: 'outbound|80|v2|orders.shop.svc.cluster.local',
  type: 'EDS',
  eds_cluster_config: { eds_config: ADS, service_name: 'outbound|80|v2|orders.shop.svc.cluster.local' },
  connect_timeout: '0.250s',
  lb_policy: 'LEAST_REQUEST',
  per_connection_buffer_limit_bytes: 32768,
  circuit_breakers: {
    thresholds: [
      { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
      { priority: 'HIGH', max_connections: 2048, track_remaining: true },
    ],
  },
  outlier_detection: {
    consecutive_5xx: 5,
    interval: '10s',
    base_ejection_time: '30s',
    max_ejection_percent: 50,
    max_ejection_time: '300.000000001s',
  },
  common_lb_config: { healthy_panic_threshold: { value: 25.5 } },
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': HTTP_OPTIONS,
      explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
    },
  },
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        alpn_protocols: ['h2'],
        tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: ADS }],
        combined_validation_context: {
          default_validation_context: {
            match_typed_subject_alt_names: [
              { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/orders' } },
            ],
          },
          validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: ADS },
        },
      },
      sni: 'outbound_.80_.v2_.orders.shop.svc.cluster.local',
    },
  },
  metadata: {
    filter_metadata: { sluice: { service: 'orders', version: 'v2', weight: 10, canary: true, tags: ['a', null] } },
  },
};

const routeConfiguration = {
  name: 'outbound|80',
  validate_clusters: false,
  virtual_hosts: [
    {
      name: 'orders.shop.svc.cluster.local:80',
      domains: ['orders', 'orders.shop', 'orders.shop.svc.cluster.local'],
      routes: [
        {
          name: 'canary-header',
          match: { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: 'always' } }] },
          route: { cluster: 'outbound|80|v2|orders.shop.svc.cluster.local' },
        },
        {
          name: 'beta-tenants',
          match: {
            prefix: '/',
            dynamic_metadata: [
              { filter: 'sluice', path: [{ key: 'tenant' }], value: { string_match: { exact: 'beta' } } },
            ],
          },
          route: { cluster: 'outbound|80|v2|orders.shop.svc.cluster.local' },
        },
        {
          name: 'default',
          match: { prefix: '/' },
          route: {
            weighted_clusters: {
              clusters: [
                { name: 'outbound|80|v1|orders.shop.svc.cluster.local', weight: 90 },
                { name: 'outbound|80|v2|orders.shop.svc.cluster.local', weight: 10 },
              ],
            },
            timeout: '15s',
            retry_policy: { retry_on: '5xx,reset,connect-failure', num_retries: 2, per_try_timeout: '2s' },
          },
          request_headers_to_add: [
            { header: { key: 'x-sluice-route', value: 'default' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          ],
        },
      ],
    },
  ],
};

const clusterLoadAssignment = {
  cluster_name: 'outbound|80|v2|orders.shop.svc.cluster.local',
  endpoints: [
    {
      locality: { region: 'eu-west-1', zone: 'eu-west-1a' },
      load_balancing_weight: 100,
      lb_endpoints: [
        {
          endpoint: { address: { socket_address: { address: '10.0.0.12', port_value: 8080 } }, hostname: 'orders-v2-7f9c' },
          health_status: 'HEALTHY',
          load_balancing_weight: 1,
        },
        {
          endpoint: { address: { socket_address: { address: '10.0.0.13', port_value: 8080 } } },
          health_status: 'DRAINING',
          metadata: { filter_metadata: { sluice: { version: 'v2' } } },
        },
      ],
    },
    { locality: { zone: 'eu-west-1b' }, priority: 1, lb_endpoints: [] },
  ],
  policy: { overprovisioning_factor: 140 },
};

const bootstrap = {
  node: {
    id: 'sidecar~10.0.0.12~orders-v2-7f9c.shop~shop.svc.cluster.local',
    cluster: 'orders.shop',
    metadata: { namespace: 'shop', labels: { app: 'orders', version: 'v2' } },
    locality: { zone: 'eu-west-1a' },
  },
  admin: { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } },
  dynamic_resources: {
    ads_config: {
      api_type: 'GRPC',
      transport_api_version: 'V3',
      set_node_on_first_message_only: true,
      grpc_services: [{ envoy_grpc: { cluster_name: 'sluice-xds' }, timeout: '5s' }],
    },
    cds_config: ADS,
    lds_config: ADS,
  },
  static_resources: {
    clusters: [
      {
        name: 'sluice-xds',
        type: 'STRICT_DNS',
        connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': HTTP_OPTIONS,
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        load_assignment: {
          cluster_name: 'sluice-xds',
          endpoints: [
            { lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'sluice.sluice-system.svc', port_value: 15010 } } } }] },
          ],
        },
      },
    ],
  },
  cluster_manager: {
    load_stats_config: {
      api_type: 'GRPC',
      transport_api_version: 'V3',
      grpc_services: [{ envoy_grpc: { cluster_name: 'sluice-xds' } }],
    },
  },
  stats_flush_interval: '5s',
};

/** The JSON with proto3 defaults removed, i.e. what decoding can give back. */
function withoutEmptyRepeated<T>(json: T): T {
  return JSON.parse(JSON.stringify(json, (_key, value: unknown) => (Array.isArray(value) && value.length === 0 ? undefined : value)));
}

function roundTrip(typeName: string, json: unknown): unknown {
  return decodeEnvoy(typeName, encodeEnvoy(typeName, json));
}

describe('proto registry', () => {
  it('builds type URLs and resolves every type Sluice emits', () => {
    expect(typeUrlOf('envoy.config.cluster.v3.Cluster')).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(typeNameOfUrl(CLUSTER_LOAD_ASSIGNMENT_TYPE_URL)).toBe('envoy.config.endpoint.v3.ClusterLoadAssignment');
    expect(XDS_RESOURCE_TYPE_URLS).toEqual([CLUSTER_TYPE_URL, CLUSTER_LOAD_ASSIGNMENT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_CONFIGURATION_TYPE_URL]);
    for (const name of [
      LISTENER_TYPE, ROUTE_CONFIGURATION_TYPE, CLUSTER_TYPE, CLUSTER_LOAD_ASSIGNMENT_TYPE, BOOTSTRAP_TYPE,
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.filters.http.router.v3.Router',
      'envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata',
      'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      'envoy.extensions.transport_sockets.tls.v3.Secret',
      'envoy.service.discovery.v3.DiscoveryRequest',
      'envoy.service.discovery.v3.DiscoveryResponse',
      'envoy.service.discovery.v3.DeltaDiscoveryRequest',
      'envoy.service.discovery.v3.DeltaDiscoveryResponse',
      'envoy.service.load_stats.v3.LoadStatsRequest',
      'envoy.config.core.v3.Node',
      'google.rpc.Status',
      'google.protobuf.UInt32Value',
    ]) {
      expect(lookupEnvoyType(name).fullName).toBe(`.${name}`);
    }
    expect(lookupEnvoyService('envoy.service.discovery.v3.AggregatedDiscoveryService').methodsArray.map((m) => m.name)).toEqual([
      'StreamAggregatedResources',
      'DeltaAggregatedResources',
    ]);
    expect(lookupEnvoyService('envoy.service.load_stats.v3.LoadReportingService').methods['StreamLoadStats']).toBeDefined();
  });
});

describe('round trips encode → decode to identical JSON', () => {
  it('Listener with HttpConnectionManager (rds, json_to_metadata, router) inside Any', () => {
    expect(roundTrip(LISTENER_TYPE, listener)).toEqual(listener);
  });

  it('Cluster with EDS, circuit breakers, outlier detection, durations, TLS and a protocol-options map of Any', () => {
    expect(roundTrip(CLUSTER_TYPE, cluster)).toEqual(cluster);
  });

  it('RouteConfiguration with weighted clusters, header matchers and dynamic metadata match', () => {
    expect(roundTrip(ROUTE_CONFIGURATION_TYPE, routeConfiguration)).toEqual(routeConfiguration);
  });

  it('ClusterLoadAssignment (empty repeated fields are proto3 defaults and come back absent)', () => {
    expect(roundTrip(CLUSTER_LOAD_ASSIGNMENT_TYPE, clusterLoadAssignment)).toEqual(withoutEmptyRepeated(clusterLoadAssignment));
  });

  it('Bootstrap', () => {
    expect(roundTrip(BOOTSTRAP_TYPE, bootstrap)).toEqual(bootstrap);
  });

  it('DiscoveryResponse carrying packed resources decodes them expanded', () => {
    const response = {
      version_info: '7',
      type_url: CLUSTER_TYPE_URL,
      nonce: 'n-7',
      resources: [{ '@type': CLUSTER_TYPE_URL, ...cluster }],
      control_plane: { identifier: 'sluice-0' },
    };
    expect(roundTrip('envoy.service.discovery.v3.DiscoveryResponse', response)).toEqual(response);
    const packed = packEnvoyAny(CLUSTER_TYPE, cluster);
    expect(packed.type_url).toBe(CLUSTER_TYPE_URL);
    expect(decodeEnvoy(CLUSTER_TYPE, packed.value)).toEqual(cluster);
  });

  it('DeltaDiscoveryRequest with a map and a google.rpc.Status error_detail', () => {
    const request = {
      node: { id: 'sidecar~1', cluster: 'c' },
      type_url: LISTENER_TYPE_URL,
      resource_names_subscribe: ['a', 'b'],
      initial_resource_versions: { a: '1', b: '2' },
      response_nonce: 'n-1',
      error_detail: {
        code: 3,
        message: 'bad listener',
        details: [{ '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s' }],
      },
    };
    expect(roundTrip('envoy.service.discovery.v3.DeltaDiscoveryRequest', request)).toEqual(request);
  });
});

describe('proto3 JSON details', () => {
  it('accepts lowerCamel JSON names and prints proto (snake_case) names', () => {
    const camel = {
      name: 'c',
      connectTimeout: '1s',
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
      type: 'EDS',
    };
    expect(roundTrip(CLUSTER_TYPE, camel)).toEqual({
      name: 'c',
      connect_timeout: '1s',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      type: 'EDS',
    });
  });

  it('encodes like the reference encoder: same bytes regardless of name spelling, defaults omitted', () => {
    const snake = encodeEnvoy(CLUSTER_TYPE, { name: 'c', connect_timeout: '1s', per_connection_buffer_limit_bytes: 0 });
    const camel = encodeEnvoy(CLUSTER_TYPE, { name: 'c', connectTimeout: '1s', perConnectionBufferLimitBytes: 0 });
    expect(Buffer.from(snake).toString('hex')).toBe(Buffer.from(camel).toString('hex'));
    // name (field 1) "c", connect_timeout (field 4) {seconds: 1}, the explicit-presence wrapper as an empty message (field 5).
    expect(Buffer.from(snake).toString('hex')).toBe('0a0163' + '22020801' + '2a00');
    expect(decodeEnvoy(CLUSTER_TYPE, encodeEnvoy(CLUSTER_TYPE, { name: 'c', lb_policy: 'ROUND_ROBIN', ignore_health_on_host_removal: false }))).toEqual({ name: 'c' });
  });

  it('Duration and Timestamp strings', () => {
    for (const text of ['3s', '0.250s', '-1.500s', '1.000000001s', '315576000000s', '0s', '-0.000001s']) {
      expect(roundTrip('google.protobuf.Duration', text)).toBe(text);
    }
    expect(roundTrip('google.protobuf.Duration', '1.5s')).toBe('1.500s');
    expect(roundTrip('google.protobuf.Timestamp', '2024-02-29T13:14:15.5Z')).toBe('2024-02-29T13:14:15.500Z');
    expect(roundTrip('google.protobuf.Timestamp', '2024-03-01T01:00:00+02:00')).toBe('2024-02-29T23:00:00Z');
    expect(roundTrip('google.protobuf.Timestamp', '0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00Z');
    expect(() => encodeEnvoy('google.protobuf.Duration', '3')).toThrow('"3" is not a duration');
    expect(() => encodeEnvoy('google.protobuf.Duration', '315576000001s')).toThrow('out of range');
    expect(() => encodeEnvoy('google.protobuf.Timestamp', '2023-02-29T00:00:00Z')).toThrow('not a valid date');
  });

  it('wrappers are bare scalars; 64-bit integers print as strings and accept numbers or strings', () => {
    const stats = {
      cluster_stats: [
        {
          cluster_name: 'orders',
          total_dropped_requests: '18446744073709551615',
          load_report_interval: '10s',
          upstream_locality_stats: [{ locality: { zone: 'a' }, total_successful_requests: '9007199254740993', priority: 1 }],
        },
      ],
    };
    expect(roundTrip('envoy.service.load_stats.v3.LoadStatsRequest', stats)).toEqual(stats);
    expect(roundTrip('envoy.service.load_stats.v3.LoadStatsRequest', { cluster_stats: [{ cluster_name: 'x', total_dropped_requests: 42 }] })).toEqual({
      cluster_stats: [{ cluster_name: 'x', total_dropped_requests: '42' }],
    });
    expect(roundTrip('google.protobuf.UInt64Value', '5')).toBe('5');
    expect(roundTrip('google.protobuf.BoolValue', false)).toBe(false);
    expect(roundTrip('google.protobuf.FloatValue', 0.1)).toBe(0.1);
    expect(roundTrip('google.protobuf.DoubleValue', 'Infinity')).toBe('Infinity');
    expect(() => encodeEnvoy('google.protobuf.UInt64Value', '18446744073709551616')).toThrow('out of range for uint64');
    expect(() => encodeEnvoy('google.protobuf.Int64Value', 2 ** 60)).toThrow('pass int64 as a string');
  });

  it('bytes as base64, enums by name or number, Struct with free JSON, FieldMask, Empty', () => {
    const header = { key: 'x-bin', raw_value: Buffer.from([0, 1, 2, 250]).toString('base64') };
    expect(roundTrip('envoy.config.core.v3.HeaderValue', header)).toEqual(header);
    expect(roundTrip(CLUSTER_TYPE, { name: 'c', lb_policy: 2 })).toEqual({ name: 'c', lb_policy: 'RING_HASH' });
    expect(roundTrip(CLUSTER_TYPE, { name: 'c', lb_policy: 99 })).toEqual({ name: 'c', lb_policy: 99 });
    const struct = { a: 1.5, b: 'x', c: true, d: null, e: [1, 'two', { f: [] }], g: {} };
    expect(roundTrip('google.protobuf.Struct', struct)).toEqual(struct);
    expect(roundTrip('google.protobuf.FieldMask', 'virtualHosts.routes,name')).toBe('virtualHosts.routes,name');
    expect(messageFromEnvoyJson('google.protobuf.FieldMask', 'virtualHosts.routes,name')).toEqual({ paths: ['virtual_hosts.routes', 'name'] });
    expect(roundTrip('google.protobuf.Empty', {})).toEqual({});
  });

  it('null and undefined members mean "not set"', () => {
    expect(roundTrip(CLUSTER_TYPE, { name: 'c', connect_timeout: null, lb_policy: undefined })).toEqual({ name: 'c' });
  });
});

describe('proto3 JSON errors name the full field path', () => {
  function errorOf(typeName: string, json: unknown): EnvoyJsonError {
    try {
      encodeEnvoy(typeName, json);
    } catch (err) {
      if (err instanceof EnvoyJsonError) return err;
      throw err;
    }
    throw new Error('expected an EnvoyJsonError');
  }

  const listenerWithRoutes = (routes: unknown[]) => ({
    name: 'l',
    filter_chains: [
      {
        filters: [
          {
            name: 'hcm',
            typed_config: {
              '@type': HCM,
              stat_prefix: 's',
              route_config: { virtual_hosts: [{ name: 'vh', domains: ['*'], routes }] },
            },
          },
        ],
      },
    ],
  });

  it('unknown field deep inside an Any', () => {
    const err = errorOf(LISTENER_TYPE, listenerWithRoutes([{ match: { prefix: '/' } }, { match: { path: '/a' } }, { match: { prefx: '/' } }]));
    expect(err.message).toBe('filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[2].match.prefx: unknown field');
    expect(err.field).toBe('filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[2].match.prefx');
    expect(err.reason).toBe('unknown_field');
    expect(err.code).toBe('envoy-json');
    expect(err.typeName).toBe(LISTENER_TYPE);
  });

  it('wrong value types', () => {
    expect(errorOf(CLUSTER_TYPE, { name: 7 }).message).toBe('name: expected string, got number');
    expect(errorOf(CLUSTER_TYPE, { name: 'c', circuit_breakers: { thresholds: {} } }).message).toBe(
      'circuit_breakers.thresholds: expected array, got object',
    );
    expect(errorOf(CLUSTER_TYPE, { name: 'c', circuit_breakers: { thresholds: [{ max_connections: -1 }] } }).message).toBe(
      'circuit_breakers.thresholds[0].max_connections: -1 is out of range for uint32',
    );
    expect(errorOf(CLUSTER_TYPE, { name: 'c', lb_policy: 'FASTEST' }).message).toBe(
      'lb_policy: "FASTEST" is not a value of enum envoy.config.cluster.v3.Cluster.LbPolicy',
    );
    expect(errorOf(CLUSTER_TYPE, { name: 'c', connect_timeout: 5 }).reason).toBe('wrong_type');
    expect(errorOf(CLUSTER_TYPE, { name: 'c', metadata: { filter_metadata: { sluice: 3 } } }).message).toBe(
      'metadata.filter_metadata["sluice"]: expected object (google.protobuf.Struct), got number',
    );
    expect(errorOf(CLUSTER_TYPE, { name: 'c', connect_timeout: '1s', connectTimeout: '2s' }).reason).toBe('duplicate_field');
  });

  it('a oneof set twice', () => {
    const err = errorOf(ROUTE_CONFIGURATION_TYPE, { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', path: '/x' } }] }] });
    expect(err.message).toBe('virtual_hosts[0].routes[0].match.path: oneof path_specifier is already set by "prefix"');
  });

  it('Any without "@type", or with a type not in the loaded protos', () => {
    const missing = errorOf(LISTENER_TYPE, { name: 'l', filter_chains: [{ filters: [{ name: 'hcm', typed_config: { stat_prefix: 's' } }] }] });
    expect(missing.message).toBe('filter_chains[0].filters[0].typed_config: missing "@type"');
    const unknown = errorOf(LISTENER_TYPE, {
      name: 'l',
      filter_chains: [{ filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope' } }] }],
    });
    expect(unknown.message).toBe(
      'filter_chains[0].filters[0].typed_config.@type: unknown type "type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope" (not in the loaded Envoy protos)',
    );
  });
});

describe('encoding speed', () => {
  it('encodes a mixed batch of 5,000 resources well within the translation budget', () => {
    const resources: [string, unknown][] = [];
    for (let i = 0; i < 1000; i++) {
      const name = `outbound|80|v${i % 3}|svc-${i}.shop.svc.cluster.local`;
      resources.push([CLUSTER_TYPE, { ...cluster, name, eds_cluster_config: { eds_config: ADS, service_name: name } }]);
      resources.push([CLUSTER_LOAD_ASSIGNMENT_TYPE, { ...clusterLoadAssignment, cluster_name: name }]);
      resources.push([ROUTE_CONFIGURATION_TYPE, { ...routeConfiguration, name: `route-${i}` }]);
      resources.push([LISTENER_TYPE, { ...listener, name: `listener-${i}` }]);
      resources.push([CLUSTER_TYPE, { name: `plain-${i}`, type: 'EDS', eds_cluster_config: { eds_config: ADS }, connect_timeout: '1s' }]);
    }
    for (const [type, json] of resources.slice(0, 50)) encodeEnvoy(type, json); // warm plans and codegen
    const started = performance.now();
    let bytes = 0;
    for (const [type, json] of resources) bytes += encodeEnvoy(type, json).length;
    const elapsed = performance.now() - started;
    expect(bytes).toBeGreaterThan(5000 * 100);
    // Generous bound for slow CI machines; typically a small fraction of this.
    expect(elapsed).toBeLessThan(2000);
  });
});
