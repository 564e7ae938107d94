/**
 * Clusters: one per service version plus one for the whole service, per
 * port; the sidecar's inbound clusters; the passthrough for unknown traffic.
 * Circuit breaking and outlier detection come from the TrafficPolicy.
 */
import type { MeshService, ServicePort } from '../model/snapshot.js';
import { toProtoDuration } from '../lib/duration.js';
import type { ProxyMode } from './proxy-scope.js';
import { typedAny, type ClusterJson, type EnvoyJsonTypes } from '../envoy/envoy-types.js';
import { adsConfigSource, type EnvoyResource, type TranslationIssue } from './resources.js';
import { upstreamTransportSocket } from './mtls.js';
import { defaultTrustDomain } from '../model/security.js';

type CircuitBreakersJson = EnvoyJsonTypes['envoy.config.cluster.v3.CircuitBreakers'];
type ThresholdsJson = EnvoyJsonTypes['envoy.config.cluster.v3.CircuitBreakers.Thresholds'];
type OutlierDetectionJson = EnvoyJsonTypes['envoy.config.cluster.v3.OutlierDetection'];
import { clusterMetadataNamespace } from './access-log.js';
import { inboundClusterName, inboundPassthroughClusterName, outboundClusterName, passthroughClusterName } from './cluster-names.js';

/** Envoy's default (5 s) is short for a JVM pod under load; Istio uses 10 s. */
const connectTimeout = '10s';

export function isHttpPort(port: ServicePort): boolean {
  return ['http', 'http2', 'grpc', 'grpc-web'].includes(port.appProtocol);
}

export function isHttp2Port(port: ServicePort): boolean {
  return port.appProtocol === 'http2' || port.appProtocol === 'grpc';
}

function circuitBreakers(service: MeshService): CircuitBreakersJson | undefined {
  const spec = service.traffic?.circuitBreaker;
  if (!spec) return undefined;
  const threshold: ThresholdsJson = { priority: 'DEFAULT' };
  if (spec.maxConnections !== undefined) threshold.max_connections = spec.maxConnections;
  if (spec.maxPendingRequests !== undefined) threshold.max_pending_requests = spec.maxPendingRequests;
  if (spec.maxRequests !== undefined) threshold.max_requests = spec.maxRequests;
  if (spec.maxRetries !== undefined) threshold.max_retries = spec.maxRetries;
  return { thresholds: [threshold] };
}

function outlierDetection(service: MeshService, mode: ProxyMode, issues: TranslationIssue[]): OutlierDetectionJson | undefined {
  const spec = service.traffic?.outlierDetection;
  if (!spec) return undefined;
  const body: OutlierDetectionJson = {};
  if (spec.interval !== undefined) body.interval = toProtoDuration(spec.interval);
  if (spec.baseEjectionTime !== undefined) body.base_ejection_time = toProtoDuration(spec.baseEjectionTime);
  if (spec.maxEjectionPercent !== undefined) body.max_ejection_percent = spec.maxEjectionPercent;
  if (mode === 'sidecar') {
    if (spec.consecutive5xx !== undefined) body.consecutive_5xx = spec.consecutive5xx;
    return body;
  }
  // gRPC clients implement only success-rate and failure-percentage ejection (gRFC A50),
  // not consecutive errors: the nearest equivalent is ejecting an endpoint whose
  // failure share in an interval is high, once it has seen that many requests.
  if (spec.consecutive5xx !== undefined) {
    body.failure_percentage_threshold = 50;
    body.enforcing_failure_percentage = 100;
    body.failure_percentage_minimum_hosts = 1;
    body.failure_percentage_request_volume = Math.max(spec.consecutive5xx, 5);
    body.enforcing_success_rate = 0;
    issues.push({
      severity: 'warning',
      object: `TrafficPolicy ${service.traffic!.policy.namespace}/${service.traffic!.policy.name}`,
      message: 'proxyless gRPC clients have no consecutive-5xx ejection; they eject endpoints with ≥ 50% failures instead',
    });
  }
  return body;
}

/** Every outbound cluster of one service: the whole service, then each version, per port. */
export function outboundClusters(service: MeshService, mode: ProxyMode, issues: TranslationIssue[], trustDomain = defaultTrustDomain): EnvoyResource<ClusterJson>[] {
  const clusters: EnvoyResource<ClusterJson>[] = [];
  const breakers = circuitBreakers(service);
  const outlier = outlierDetection(service, mode, issues);
  for (const port of service.ports) {
    if (!isHttpPort(port) && mode === 'proxyless') continue;
    for (const version of ['', ...service.versions.keys()]) {
      const name = outboundClusterName(port.port, service.host, version);
      const body: ClusterJson = {
        name,
        type: 'EDS',
        eds_cluster_config: { eds_config: adsConfigSource, service_name: name },
        connect_timeout: connectTimeout,
        lb_policy: 'ROUND_ROBIN',
      };
      if (breakers) body.circuit_breakers = breakers;
      if (outlier) body.outlier_detection = outlier;
      // mTLS when the destination's workloads accept it (translate/mtls.ts).
      const socket = upstreamTransportSocket(service, mode, trustDomain, isHttp2Port(port));
      if (socket) body.transport_socket = socket;
      if (mode === 'proxyless') {
        // Load reports go back to the control plane that sent this cluster (telemetry for canaries).
        body.lrs_server = { self: {} };
      } else {
        // What a sidecar's access log names as upstream_service and upstream_version.
        body.metadata = { filter_metadata: { [clusterMetadataNamespace]: { service: service.host, ...(version ? { version } : {}) } } };
      }
      if (mode === 'sidecar' && isHttp2Port(port)) {
        body.typed_extension_protocol_options = {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typedAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
            explicit_http_config: { http2_protocol_options: {} },
          }),
        };
      }
      clusters.push({ name, body });
    }
  }
  return clusters;
}

/** The sidecar's own workload: one static cluster per served target port, to the app on localhost. */
export function inboundClusters(targetPorts: readonly number[]): EnvoyResource<ClusterJson>[] {
  return targetPorts.map((port) => {
    const name = inboundClusterName(port);
    return {
      name,
      body: {
        name,
        type: 'STATIC',
        connect_timeout: connectTimeout,
        lb_policy: 'ROUND_ROBIN',
        load_assignment: {
          cluster_name: name,
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
        },
      },
    };
  });
}

/** Traffic to destinations the mesh does not know goes where it was headed (iptables kept the original destination). */
export function passthroughClusters(): EnvoyResource<ClusterJson>[] {
  return [passthroughClusterName, inboundPassthroughClusterName].map((name) => ({
    name,
    body: { name, type: 'ORIGINAL_DST', connect_timeout: connectTimeout, lb_policy: 'CLUSTER_PROVIDED' },
  }));
}
