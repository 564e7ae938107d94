/**
 * Typed proto3 JSON (proto field names) for what Sluice sends Envoy, from the
 * types generated out of Envoy's protos (generated/proto-json-types.ts). The
 * translator can type its output with these; the codec checks the same
 * shapes at run time.
 */
import type { AnyJson, EnvoyJsonTypes } from './generated/proto-json-types.js';
import { typeUrlOf } from './proto-registry.js';

export type { AnyJson, EnvoyJsonTypes };

/** The four xDS resources. */
export type ListenerJson = EnvoyJsonTypes['envoy.config.listener.v3.Listener'];
export type RouteConfigurationJson = EnvoyJsonTypes['envoy.config.route.v3.RouteConfiguration'];
export type ClusterJson = EnvoyJsonTypes['envoy.config.cluster.v3.Cluster'];
export type ClusterLoadAssignmentJson = EnvoyJsonTypes['envoy.config.endpoint.v3.ClusterLoadAssignment'];
/** The sidecar bootstrap the webhook writes. */
export type BootstrapJson = EnvoyJsonTypes['envoy.config.bootstrap.v3.Bootstrap'];

/** The typed_config payloads Sluice emits. */
export type HttpConnectionManagerJson = EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'];
export type TcpProxyJson = EnvoyJsonTypes['envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy'];
export type RouterJson = EnvoyJsonTypes['envoy.extensions.filters.http.router.v3.Router'];
export type JsonToMetadataJson = EnvoyJsonTypes['envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata'];
export type OriginalDstJson = EnvoyJsonTypes['envoy.extensions.filters.listener.original_dst.v3.OriginalDst'];
export type HttpInspectorJson = EnvoyJsonTypes['envoy.extensions.filters.listener.http_inspector.v3.HttpInspector'];
export type HttpProtocolOptionsJson = EnvoyJsonTypes['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
export type MetricsServiceConfigJson = EnvoyJsonTypes['envoy.config.metrics.v3.MetricsServiceConfig'];

/** The JSON of each xDS resource kind (the keys of resource-types.ts's ResourceKind). */
export interface ResourceJsonOfKind {
  listeners: ListenerJson;
  routes: RouteConfigurationJson;
  clusters: ClusterJson;
  endpoints: ClusterLoadAssignmentJson;
}

/**
 * An `Any` whose body is checked against its type at compile time:
 * `typedAny('envoy.extensions.filters.http.router.v3.Router', {})`.
 */
export function typedAny<T extends keyof EnvoyJsonTypes>(typeName: T, body: EnvoyJsonTypes[T]): AnyJson {
  return { '@type': typeUrlOf(typeName), ...body };
}
