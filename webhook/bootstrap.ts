/**
 * The Envoy bootstrap for one sidecar, as proto3 JSON with Envoy's own
 * snake_case field names (the form Envoy's docs and `config_dump` use).
 *
 * Everything here is static except the node identity: a Deployment's pod has
 * no name when it is admitted, so the node id and the namespace are written as
 * the kubelet references `$(POD_NAME)` / `$(POD_NAMESPACE)`. The kubelet expands
 * them from downward-API env vars when it starts the container (see sidecar.ts),
 * which is what Istio achieves by rendering its bootstrap in pilot-agent.
 */
import { DEFAULT_PROXY_PORTS, parseControlPlaneAddress, InjectionConfigError, type ProxyPorts } from './config.js';
import { xdsTransportSocket, type ControlPlaneTls } from './xds-tls.js';

export const XDS_CLUSTER = 'sluice-xds';
export const ADMIN_CLUSTER = 'sluice-admin';
export const ADMIN_PORT = 15000;
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
export const HEALTH_PORT = 15021;
export const PROMETHEUS_PORT = 15090;
export const PROMETHEUS_PATH = '/stats/prometheus';
export const READY_PATH = '/healthz/ready';

export interface BootstrapInput {
  /** Becomes `node.id`; normally `$(POD_NAME).$(POD_NAMESPACE)`. */
  readonly nodeId: string;
  /** Becomes `node.metadata.namespace`; normally `$(POD_NAMESPACE)`. */
  readonly namespace: string;
  readonly workload: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `host:port` of the control plane (ADS and metrics service). */
  readonly controlPlaneAddress: string;
  /**
   * A standalone gateway Envoy instead of a sidecar: node metadata `mode:
   * gateway` and the Gateway it serves (`<namespace>/<name>`). Everything else
   * — ADS, the stats sink canaries count, the health and Prometheus ports —
   * is the sidecar's.
   */
  readonly gateway?: string;
  /** The proxy's admin, status and Prometheus ports (default 15000, 15021, 15090). */
  readonly ports?: ProxyPorts;
  /** Routes for the status listener and their clusters: the app probes it answers (probe-rewrite.ts). */
  readonly appProbes?: { readonly routes: readonly Json[]; readonly clusters: readonly Json[] };
  /** Connect to the control plane over TLS, trusting this CA (xds-tls.ts). */
  readonly controlPlaneTls?: ControlPlaneTls;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function buildBootstrap(input: BootstrapInput): { [key: string]: Json } {
  const target = parseControlPlaneAddress(input.controlPlaneAddress);
  if (!target) {
    throw new InjectionConfigError(`control-plane address "${input.controlPlaneAddress}" is not host:port`, { address: input.controlPlaneAddress });
  }
  const ports = input.ports ?? DEFAULT_PROXY_PORTS;
  const grpcToControlPlane = { envoy_grpc: { cluster_name: XDS_CLUSTER } };
  const viaAds = { ads: {}, resource_api_version: 'V3' };
  return {
    node: {
      id: input.nodeId,
      // The cluster names the workload across its pods: what the control plane groups by.
      cluster: `${input.workload}.${input.namespace}`,
      metadata: {
        namespace: input.namespace,
        labels: { ...input.labels },
        workload: input.workload,
        ...(input.gateway ? { mode: 'gateway', gateway: input.gateway } : { mode: 'sidecar' }),
      },
    },
    admin: {
      // Loopback only: the admin API can drain or stop the proxy.
      address: socketAddress('127.0.0.1', ports.admin),
    },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        // The node (with its labels) is sent once per stream, not on every request.
        set_node_on_first_message_only: true,
        grpc_services: [grpcToControlPlane],
      },
      lds_config: viaAds,
      cds_config: viaAds,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: 'STRICT_DNS',
          connect_timeout: '1s',
          // ADS and the metrics service are gRPC: HTTP/2 to the control plane.
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: staticEndpoint(XDS_CLUSTER, target.host, target.port),
          ...(input.controlPlaneTls ? { transport_socket: xdsTransportSocket(target.host, input.controlPlaneTls) } : {}),
        },
        {
          name: ADMIN_CLUSTER,
          type: 'STATIC',
          connect_timeout: '0.25s',
          load_assignment: staticEndpoint(ADMIN_CLUSTER, '127.0.0.1', ports.admin),
        },
        ...(input.appProbes?.clusters ?? []),
      ],
      // The admin API stays on loopback; these two listeners expose only the
      // read-only paths the kubelet (readiness) and Prometheus (scrape) need.
      listeners: [
        adminPathListener('sluice-prometheus', ports.prometheus, PROMETHEUS_PATH, PROMETHEUS_PATH),
        adminPathListener('sluice-health', ports.status, READY_PATH, '/ready', input.appProbes?.routes),
      ],
    },
    stats_sinks: [
      {
        name: 'envoy.stat_sinks.metrics_service',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig',
          transport_api_version: 'V3',
          grpc_service: grpcToControlPlane,
        },
      },
    ],
  };
}

function socketAddress(address: string, port: number): { [key: string]: Json } {
  return { socket_address: { address, port_value: port } };
}

function staticEndpoint(clusterName: string, host: string, port: number): { [key: string]: Json } {
  return { cluster_name: clusterName, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }] };
}

function adminPathListener(name: string, port: number, path: string, adminPath: string, extraRoutes: readonly Json[] = []): { [key: string]: Json } {
  const route: { [key: string]: Json } = { cluster: ADMIN_CLUSTER };
  if (adminPath !== path) route.prefix_rewrite = adminPath;
  return {
    name,
    address: socketAddress('0.0.0.0', port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              route_config: {
                virtual_hosts: [{ name, domains: ['*'], routes: [...extraRoutes, { match: { path }, route }] }],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}
