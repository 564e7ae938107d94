import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { decodeMessage, decodeToJson, encodeResource, envoySchema } from '../../control-plane/envoy/codec.js';
import { FieldRulesSchema } from '../../control-plane/envoy/generated/validate/validate_pb.js';
import {
  BOOTSTRAP_TYPE,
  CLUSTER_LOAD_ASSIGNMENT_TYPE,
  CLUSTER_TYPE,
  LISTENER_TYPE,
  ROUTE_CONFIGURATION_TYPE,
} from '../../control-plane/envoy/proto-registry.js';
import {
  EnvoyResourceError,
  SUPPORTED_RULES,
  UnknownValidateRuleError,
  assertEnvoyResource,
  compileFieldRules,
  checkEnvoyMessage,
  checkValidateRules,
  fieldRulesOf,
  validateRulesCoverage,
} from '../../control-plane/envoy/validate-rules.js';

const ADS = { ads: {}, resource_api_version: 'V3' };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

function listener(hcm: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'inbound_0.0.0.0_8080',
    address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'inbound_8080',
              rds: { config_source: ADS, route_config_name: 'inbound|8080' },
              http_filters: [
                {
                  name: 'envoy.filters.http.json_to_metadata',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata',
                    request_rules: { rules: [{ selectors: [{ key: 'tenant' }], on_present: { metadata_namespace: 'sluice', key: 'tenant' } }] },
                  },
                },
                ROUTER,
              ],
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

function cluster(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'outbound|80|v1|orders.shop.svc.cluster.local',
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS },
    connect_timeout: '0.250s',
    circuit_breakers: { thresholds: [{ max_connections: 1024, max_retries: 3 }] },
    outlier_detection: { consecutive_5xx: 5, interval: '10s', base_ejection_time: '30s' },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': HTTP_OPTIONS,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    ...extra,
  };
}

function routeConfiguration(route: Record<string, unknown> = {}, match: Record<string, unknown> = { prefix: '/' }): Record<string, unknown> {
  return {
    name: 'outbound|80',
    virtual_hosts: [
      {
        name: 'orders',
        domains: ['orders', 'orders.shop.svc.cluster.local'],
        routes: [
          {
            match: {
              headers: [{ name: 'x-canary', string_match: { exact: 'always' } }],
              dynamic_metadata: [{ filter: 'sluice', path: [{ key: 'tenant' }], value: { string_match: { exact: 'beta' } } }],
              ...match,
            },
            route: {
              weighted_clusters: { clusters: [{ name: 'v1', weight: 90 }, { name: 'v2', weight: 10 }] },
              ...route,
            },
          },
        ],
      },
    ],
  };
}

function clusterLoadAssignment(lbEndpoint: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cluster_name: 'outbound|80|v1|orders.shop.svc.cluster.local',
    endpoints: [
      {
        locality: { zone: 'a' },
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.12', port_value: 8080 } } }, load_balancing_weight: 3, ...lbEndpoint },
        ],
      },
    ],
  };
}

const bootstrap = {
  node: { id: 'sidecar~10.0.0.12~orders.shop~shop.svc.cluster.local', cluster: 'orders.shop' },
  dynamic_resources: {
    ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sluice-xds' } }] },
    cds_config: ADS,
    lds_config: ADS,
  },
  static_resources: {
    clusters: [
      {
        name: 'sluice-xds',
        type: 'STRICT_DNS',
        connect_timeout: '1s',
        load_assignment: {
          cluster_name: 'sluice-xds',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'sluice.sluice-system.svc', port_value: 15010 } } } }] }],
        },
      },
    ],
  },
};

/** Violations without their human message, for exact comparison. */
function violationsOf(typeName: string, json: unknown): { field: string; rule: string }[] {
  return checkValidateRules(typeName, json).map(({ field, rule }) => ({ field, rule }));
}

describe('rules are read from the loaded protos', () => {
  it('implements exactly the rules the loaded protos use', () => {
    const coverage = validateRulesCoverage();
    // The whole envoy-api tree has 1,143 annotated fields; the closure Sluice generates has about 400.
    expect(coverage.fieldsWithRules).toBeGreaterThan(300);
    expect(coverage.fieldsWithRules).toBeLessThan(1143);
    expect(coverage.requiredOneofs).toBeGreaterThan(40);
    // A rule the protos stop using is dead code here; one they start using must be implemented.
    expect(coverage.rulesInUse).toEqual([...SUPPORTED_RULES].sort());
  });

  it('reads aggregate options, repeated keys as lists', () => {
    const router = envoySchema('envoy.extensions.filters.http.router.v3.Router');
    expect(fieldRulesOf(router.fields.find((f) => f.name === 'strict_check_headers')!)).toEqual({
      repeated: {
        items: {
          string: {
            in: [
              'x-envoy-upstream-rq-timeout-ms',
              'x-envoy-upstream-rq-per-try-timeout-ms',
              'x-envoy-max-retries',
              'x-envoy-retry-grpc-on',
              'x-envoy-retry-on',
            ],
          },
        },
      },
    });
    const headerValue = envoySchema('envoy.config.core.v3.HeaderValue');
    expect(fieldRulesOf(headerValue.fields.find((f) => f.name === 'key')!)).toEqual({
      string: { min_len: '1', max_bytes: '16384', well_known_regex: 'HTTP_HEADER_NAME', strict: false },
    });
  });

  it('fails loudly on a rule it does not implement, naming the field and the rule', () => {
    const name = envoySchema(CLUSTER_TYPE).fields.find((f) => f.name === 'name')!;
    const email = create(FieldRulesSchema, { type: { case: 'string', value: { wellKnown: { case: 'email', value: true } } } });
    expect(() => compileFieldRules(name, email)).toThrow(UnknownValidateRuleError);
    expect(() => compileFieldRules(name, email)).toThrow('envoy.config.cluster.v3.Cluster.name: the PGV rule string.email is not implemented');
    // A family the field's type cannot hold is as unknown as an unimplemented rule.
    const wrongFamily = create(FieldRulesSchema, { type: { case: 'uint32', value: { gt: 1 } } });
    expect(() => compileFieldRules(name, wrongFamily)).toThrow('the PGV rule uint32 is not implemented');
    const nested = create(FieldRulesSchema, { type: { case: 'repeated', value: { items: { type: { case: 'string', value: { wellKnown: { case: 'uuid', value: true } } } } } } });
    const domains = envoySchema('envoy.config.route.v3.VirtualHost').fields.find((f) => f.name === 'domains')!;
    expect(() => compileFieldRules(domains, nested)).toThrow('the PGV rule string.uuid is not implemented');
    // The rules the field really has compile.
    expect(() => compileFieldRules(name, create(FieldRulesSchema, { type: { case: 'string', value: { minLen: 1n } } }))).not.toThrow();
  });
});

describe('valid resources have no violations', () => {
  it.each([
    ['Listener', LISTENER_TYPE, listener()],
    ['Cluster', CLUSTER_TYPE, cluster()],
    ['RouteConfiguration', ROUTE_CONFIGURATION_TYPE, routeConfiguration()],
    ['ClusterLoadAssignment', CLUSTER_LOAD_ASSIGNMENT_TYPE, clusterLoadAssignment()],
    ['Bootstrap', BOOTSTRAP_TYPE, bootstrap],
  ])('%s', (_kind, typeName, json) => {
    expect(checkValidateRules(typeName, json)).toEqual([]);
    const bytes = assertEnvoyResource(typeName, 'r', json);
    expect(decodeToJson(typeName, bytes)).toEqual(json);
    expect(bytes).toEqual(encodeResource(typeName, json));
  });
});

describe('each deliberately wrong resource gives exactly its violation', () => {
  it('empty cluster name', () => {
    expect(violationsOf(CLUSTER_TYPE, cluster({ name: '' }))).toEqual([{ field: 'name', rule: 'string.min_len' }]);
    // Unset equals empty under proto3.
    const { name: _name, ...unnamed } = cluster();
    expect(violationsOf(CLUSTER_TYPE, unnamed)).toEqual([{ field: 'name', rule: 'string.min_len' }]);
  });

  it('typed_config without its "@type"', () => {
    const bad = listener();
    const filter = (bad['filter_chains'] as { filters: { typed_config: Record<string, unknown> }[] }[])[0]!.filters[0]!;
    delete filter.typed_config['@type'];
    expect(checkValidateRules(LISTENER_TYPE, bad)).toEqual([
      { field: 'filter_chains[0].filters[0].typed_config', rule: 'proto3_json.unknown_type', message: 'missing "@type"' },
    ]);
  });

  it('a required typed_config that is missing', () => {
    const bad = cluster({ load_balancing_policy: { policies: [{ typed_extension_config: { name: 'envoy.load_balancing_policies.round_robin' } }] } });
    expect(violationsOf(CLUSTER_TYPE, bad)).toEqual([
      { field: 'load_balancing_policy.policies[0].typed_extension_config.typed_config', rule: 'any.required' },
    ]);
  });

  it('endpoint weight out of range', () => {
    expect(violationsOf(CLUSTER_LOAD_ASSIGNMENT_TYPE, clusterLoadAssignment({ load_balancing_weight: 0 }))).toEqual([
      { field: 'endpoints[0].lb_endpoints[0].load_balancing_weight', rule: 'uint32.gte' },
    ]);
    const [violation] = checkValidateRules(CLUSTER_LOAD_ASSIGNMENT_TYPE, clusterLoadAssignment({ load_balancing_weight: 0 }));
    expect(violation?.message).toBe('must be at least 1, got 0');
  });

  it('duplicate item where the proto demands unique', () => {
    const bad = routeConfiguration({ internal_redirect_policy: { response_headers_to_copy: ['x-tenant', 'x-user', 'x-tenant'] } });
    expect(checkValidateRules(ROUTE_CONFIGURATION_TYPE, bad)).toEqual([
      {
        field: 'virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy[2]',
        rule: 'repeated.unique',
        message: 'duplicates item [0]',
      },
    ]);
  });

  it('bad header names: loose rule (no CR/LF/NUL) and strict rule (token characters)', () => {
    const loose = routeConfiguration({}, { prefix: '/', headers: [{ name: 'x-canary\r\nx-evil', string_match: { exact: 'always' } }] });
    expect(violationsOf(ROUTE_CONFIGURATION_TYPE, loose)).toEqual([
      { field: 'virtual_hosts[0].routes[0].match.headers[0].name', rule: 'string.well_known_regex' },
    ]);
    const strict = cluster({
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': HTTP_OPTIONS,
          upstream_http_protocol_options: { auto_sni: true, override_auto_sni_header: 'x sni' },
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });
    expect(violationsOf(CLUSTER_TYPE, strict)).toEqual([
      {
        field: 'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].upstream_http_protocol_options.override_auto_sni_header',
        rule: 'string.well_known_regex',
      },
    ]);
    // Same field, empty: `ignore_empty` skips it.
    const empty = cluster({
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': HTTP_OPTIONS,
          upstream_http_protocol_options: { auto_sni: true },
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });
    expect(violationsOf(CLUSTER_TYPE, empty)).toEqual([]);
  });

  it('unknown field', () => {
    const bad = routeConfiguration({}, { prefx: '/api' });
    expect(checkValidateRules(ROUTE_CONFIGURATION_TYPE, bad)).toEqual([
      { field: 'virtual_hosts[0].routes[0].match.prefx', rule: 'proto3_json.unknown_field', message: 'unknown field' },
    ]);
  });

  it('negative duration', () => {
    expect(checkValidateRules(CLUSTER_TYPE, cluster({ connect_timeout: '-1s' }))).toEqual([
      { field: 'connect_timeout', rule: 'duration.gt', message: 'must be greater than 0s, got -1s' },
    ]);
    expect(violationsOf(CLUSTER_TYPE, cluster({ outlier_detection: { interval: '0s' } }))).toEqual([
      { field: 'outlier_detection.interval', rule: 'duration.gt' },
    ]);
  });
});

describe('rule families', () => {
  it('oneof required: a route with no path specifier and no action', () => {
    const bad = {
      name: 'r',
      virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: {} }] }],
    };
    expect(violationsOf(ROUTE_CONFIGURATION_TYPE, bad)).toEqual([
      { field: 'virtual_hosts[0].routes[0].action', rule: 'oneof.required' },
      { field: 'virtual_hosts[0].routes[0].match.path_specifier', rule: 'oneof.required' },
    ]);
  });

  it('message.required, repeated.min_items and enum.defined_only inside an Any', () => {
    const bad = listener({ rds: { route_config_name: 'x' }, codec_type: 17 });
    expect(violationsOf(LISTENER_TYPE, bad)).toEqual([
      { field: 'filter_chains[0].filters[0].typed_config.codec_type', rule: 'enum.defined_only' },
      { field: 'filter_chains[0].filters[0].typed_config.rds.config_source', rule: 'message.required' },
    ]);
    const noSelectors = listener({
      http_filters: [
        {
          name: 'envoy.filters.http.json_to_metadata',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata',
            request_rules: { rules: [{ selectors: [] }] },
          },
        },
        ROUTER,
      ],
    });
    expect(violationsOf(LISTENER_TYPE, noSelectors)).toEqual([
      { field: 'filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.request_rules.rules[0].selectors', rule: 'repeated.min_items' },
    ]);
  });

  it('repeated items with string "in" and domain header-value rules', () => {
    const bad = listener({
      http_filters: [
        { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', strict_check_headers: ['x-envoy-max-retries', 'x-nope'] } },
      ],
    });
    expect(violationsOf(LISTENER_TYPE, bad)).toEqual([
      { field: 'filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.strict_check_headers[1]', rule: 'repeated.items.string.in' },
    ]);
    const domains = routeConfiguration();
    (domains['virtual_hosts'] as { domains: string[] }[])[0]!.domains = ['ok', 'bad\ndomain'];
    expect(violationsOf(ROUTE_CONFIGURATION_TYPE, domains)).toEqual([
      { field: 'virtual_hosts[0].domains[1]', rule: 'repeated.items.string.well_known_regex' },
    ]);
  });

  it('map keys, double ranges, uint32 exclusive bounds and wrapped values', () => {
    expect(violationsOf(CLUSTER_TYPE, cluster({ metadata: { filter_metadata: { '': { a: 1 } } } }))).toEqual([
      { field: 'metadata.filter_metadata[""]', rule: 'map.keys.string.min_len' },
    ]);
    expect(violationsOf(CLUSTER_TYPE, cluster({ common_lb_config: { healthy_panic_threshold: { value: 100.5 } } }))).toEqual([
      { field: 'common_lb_config.healthy_panic_threshold.value', rule: 'double.lte' },
    ]);
    const hcmHeaders = listener({ max_request_headers_kb: 0 });
    expect(violationsOf(LISTENER_TYPE, hcmHeaders)).toEqual([
      { field: 'filter_chains[0].filters[0].typed_config.max_request_headers_kb', rule: 'uint32.gt' },
    ]);
    expect(violationsOf(LISTENER_TYPE, listener({ max_request_headers_kb: 8193 }))).toEqual([
      { field: 'filter_chains[0].filters[0].typed_config.max_request_headers_kb', rule: 'uint32.lte' },
    ]);
  });

  it('oneof members are only checked when set; unset wrappers are not checked', () => {
    // HeaderMatcher.prefix_match (min_len 1) sits in a oneof; string_match is the one set.
    expect(violationsOf(ROUTE_CONFIGURATION_TYPE, routeConfiguration())).toEqual([]);
    // LbEndpoint.load_balancing_weight (gte 1) is a wrapper: absent is fine.
    expect(violationsOf(CLUSTER_LOAD_ASSIGNMENT_TYPE, clusterLoadAssignment({ load_balancing_weight: undefined }))).toEqual([]);
  });

  it('checks messages decoded from wire bytes the same way (Any payloads decoded on demand)', () => {
    const bytes = assertEnvoyResource(LISTENER_TYPE, 'l', listener());
    expect(checkEnvoyMessage(LISTENER_TYPE, decodeMessage(LISTENER_TYPE, bytes))).toEqual([]);
    const badBytes = encodeResource(LISTENER_TYPE, { name: 'l', filter_chains: [{ filters: [{ name: '' }] }] });
    expect(checkEnvoyMessage(LISTENER_TYPE, decodeMessage(LISTENER_TYPE, badBytes)).map((v) => v.rule)).toEqual(['string.min_len']);
  });
});

describe('assertEnvoyResource', () => {
  it('names the resource, field and rule', () => {
    let caught: unknown;
    try {
      assertEnvoyResource(CLUSTER_TYPE, 'outbound|80|v1|orders', cluster({ name: '', connect_timeout: '-1s' }));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EnvoyResourceError);
    const err = caught as EnvoyResourceError;
    expect(err.code).toBe('envoy-resource-invalid');
    expect(err.resourceName).toBe('outbound|80|v1|orders');
    expect(err.message).toBe(
      'Cluster "outbound|80|v1|orders": name: string.min_len: must not be empty (at least 1 character) (and 1 more)',
    );
    expect(err.violations.map((v) => `${v.field} ${v.rule}`)).toEqual(['name string.min_len', 'connect_timeout duration.gt']);
  });

  it('reports JSON that does not fit the proto the same way', () => {
    expect(() => assertEnvoyResource(ROUTE_CONFIGURATION_TYPE, 'outbound|80', routeConfiguration({}, { prefx: '/' }))).toThrow(
      'RouteConfiguration "outbound|80": virtual_hosts[0].routes[0].match.prefx: proto3_json.unknown_field: unknown field',
    );
  });
});
