/**
 * Tracing: the HTTP connection manager's tracer and the cluster that reaches
 * its collector outside the mesh.
 *
 * - SkyWalking (`envoy.tracers.skywalking`): segments over gRPC to an OAP
 *   (port 11800), context in the `sw8` header. The service name is left to
 *   Envoy, which then uses the bootstrap's node.cluster (`<workload>.<namespace>`,
 *   set by the injector) and the node id (`<pod>.<namespace>`) as instance,
 *   so one translated listener serves every workload of a namespace.
 * - Zipkin (`envoy.tracers.zipkin`): JSON v2 spans over HTTP to
 *   `/api/v2/spans` (port 9411), B3 headers; its service name is node.cluster too.
 *
 * Sampling: `random_sampling` is the share of requests each connection
 * manager traces; the same percentage everywhere keeps the hops of a request
 * sampled alike.
 */
import { typedAny, type ClusterJson, type EnvoyJsonTypes } from '../envoy/envoy-types.js';
import type { TracingSettings } from '../model/telemetry.js';
import type { EnvoyResource } from './resources.js';

type HcmTracingJson = EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing'];

/** `tracing|skywalking|oap.example:11800`: naming the collector, so moving it adds a cluster rather than mutating one in use. */
export function tracingClusterName(tracing: TracingSettings): string {
  return `tracing|${tracing.provider}|${tracing.host}:${tracing.port}`;
}

export const zipkinCollectorPath = '/api/v2/spans';

/** The HCM's `tracing` field. */
export function hcmTracing(tracing: TracingSettings): HcmTracingJson {
  const cluster = tracingClusterName(tracing);
  const provider =
    tracing.provider === 'skywalking'
      ? { name: 'envoy.tracers.skywalking', typed_config: typedAny('envoy.config.trace.v3.SkyWalkingConfig', { grpc_service: { envoy_grpc: { cluster_name: cluster } } }) }
      : {
          name: 'envoy.tracers.zipkin',
          typed_config: typedAny('envoy.config.trace.v3.ZipkinConfig', {
            collector_cluster: cluster,
            collector_endpoint: zipkinCollectorPath,
            collector_endpoint_version: 'HTTP_JSON',
            collector_hostname: tracing.host,
            trace_id_128bit: true,
          }),
        };
  return { provider, random_sampling: { value: tracing.samplingPercent } };
}

/** The collector, resolved by DNS (an IP address works too); SkyWalking speaks gRPC, so HTTP/2. */
export function tracingCluster(tracing: TracingSettings): EnvoyResource<ClusterJson> {
  const name = tracingClusterName(tracing);
  const body: ClusterJson = {
    name,
    type: 'STRICT_DNS',
    connect_timeout: '5s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: tracing.host, port_value: tracing.port } } } }] }],
    },
  };
  if (tracing.provider === 'skywalking') {
    body.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typedAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', { explicit_http_config: { http2_protocol_options: {} } }),
    };
  }
  return { name, body };
}
