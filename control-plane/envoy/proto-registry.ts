/**
 * Envoy's own protos, loaded from the copies shipped in `@grpc/grpc-js-xds`
 * (never vendored into this repo), into one lazily built protobufjs Root,
 * which the gRPC service definitions (ADS, LRS, metrics) decode requests
 * with. ENVOY_PROTO_FILES is also the entry list of `npm run generate:envoy`;
 * the proto3 JSON mapping and resource encoding are codec.ts's.
 *
 * Fields keep their proto (snake_case) names (`keepCase: true`), as Envoy's
 * JSON config and config_dump do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { SluiceError } from '../core/errors.js';

const require = createRequire(import.meta.url);

/** A type name the loaded Root does not define, or a malformed type URL. */
export class EnvoyTypeError extends SluiceError {
  readonly typeName: string;

  constructor(typeName: string, message: string) {
    super('envoy-unknown-type', message, { typeName });
    this.typeName = typeName;
  }
}

const xdsPackageDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
// descriptor.proto is imported by every annotation file but is not among the
// deps; protobufjs ships it, so its package dir is the last include path.
const protobufjsPackageDir = path.dirname(require.resolve('protobufjs/package.json'));
// Our own protos (the Prometheus client model the metrics service imports):
// <repo>/proto from the sources, and from dist/ when built.
const here = path.dirname(new URL(import.meta.url).pathname);
const repoProtoDir = [path.resolve(here, '../../proto'), path.resolve(here, '../../../proto')].find((dir) => fs.existsSync(path.join(dir, 'io'))) ?? path.resolve(here, '../../proto');

/** Directories searched for imports, in order. */
export const ENVOY_PROTO_INCLUDE_DIRS: readonly string[] = Object.freeze([
  path.join(xdsPackageDir, 'deps', 'envoy-api'),
  path.join(xdsPackageDir, 'deps', 'xds'),
  path.join(xdsPackageDir, 'deps', 'googleapis'),
  path.join(xdsPackageDir, 'deps', 'protoc-gen-validate'),
  repoProtoDir,
  protobufjsPackageDir,
]);

/**
 * Entry files; their imports are followed. Anything that can appear inside a
 * `typed_config` we emit must be reachable from here, or encoding the Any fails
 * with "unknown type". Add extensions here as the translator starts using them.
 */
export const ENVOY_PROTO_FILES: readonly string[] = Object.freeze([
  // xDS resources and the sidecar bootstrap.
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  // The stats sink the injected bootstrap points back at the control plane.
  'envoy/config/metrics/v3/metrics_service.proto',
  // Transport and APIs.
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/load_stats/v3/lrs.proto',
  // The Envoy stats sink's service; imports io/prometheus/client/metrics.proto from repoProtoDir.
  'envoy/service/metrics/v3/metrics_service.proto',
  // Every core type, including ones only reachable through Any.
  ...[
    'address', 'backoff', 'base', 'config_source', 'event_service_config', 'extension',
    'grpc_method_list', 'grpc_service', 'health_check', 'http_service', 'http_uri',
    'protocol', 'proxy_protocol', 'resolver', 'socket_option',
    'substitution_format_string', 'udp_socket_config',
  ].map((name) => `envoy/config/core/v3/${name}.proto`),
  // Extensions that travel inside typed_config.
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/json_to_metadata/v3/json_to_metadata.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/cert.proto',
  'envoy/extensions/transport_sockets/tls/v3/common.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  // Tracers the HTTP connection manager names (translate/tracing.ts).
  'envoy/config/trace/v3/skywalking.proto',
  'envoy/config/trace/v3/zipkin.proto',
  // Well-known types (bundled with protobufjs) and google.rpc.Status.
  ...['any', 'duration', 'timestamp', 'wrappers', 'struct', 'empty', 'field_mask'].map(
    (name) => `google/protobuf/${name}.proto`,
  ),
  'google/rpc/status.proto',
]);

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** `typeUrlOf('envoy.config.cluster.v3.Cluster')` → `type.googleapis.com/envoy.config.cluster.v3.Cluster`. */
export function typeUrlOf(typeName: string): string {
  return TYPE_URL_PREFIX + (typeName.startsWith('.') ? typeName.slice(1) : typeName);
}

/** The fully-qualified message name a type URL names (everything after the last `/`). */
export function typeNameOfUrl(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf('/');
  const name = typeUrl.slice(slash + 1);
  if (slash < 0 || name.length === 0) {
    throw new EnvoyTypeError(typeUrl, `malformed type URL "${typeUrl}"`);
  }
  return name;
}

export const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
export const ROUTE_CONFIGURATION_TYPE = 'envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
export const CLUSTER_LOAD_ASSIGNMENT_TYPE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

export const LISTENER_TYPE_URL = typeUrlOf(LISTENER_TYPE);
export const ROUTE_CONFIGURATION_TYPE_URL = typeUrlOf(ROUTE_CONFIGURATION_TYPE);
export const CLUSTER_TYPE_URL = typeUrlOf(CLUSTER_TYPE);
export const CLUSTER_LOAD_ASSIGNMENT_TYPE_URL = typeUrlOf(CLUSTER_LOAD_ASSIGNMENT_TYPE);

/** The four resource types Sluice serves over xDS, in the order Envoy wants them applied (CDS, EDS, LDS, RDS). */
export const XDS_RESOURCE_TYPE_URLS = Object.freeze([
  CLUSTER_TYPE_URL,
  CLUSTER_LOAD_ASSIGNMENT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_CONFIGURATION_TYPE_URL,
] as const);

let envoyRoot: protobuf.Root | undefined;

function resolveImport(_origin: string, target: string): string {
  if (path.isAbsolute(target)) return target;
  for (const dir of ENVOY_PROTO_INCLUDE_DIRS) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  // Unresolved: protobufjs then falls back to its bundled well-known types,
  // or fails with ENOENT naming the file.
  return target;
}

/** The Root with every Envoy type Sluice needs; loaded and resolved on first use. */
export function envoyProtoRoot(): protobuf.Root {
  if (envoyRoot) return envoyRoot;
  const root = new protobuf.Root();
  root.resolvePath = resolveImport;
  root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  envoyRoot = root;
  return root;
}

const typeCache = new Map<string, protobuf.Type>();

/** The message type for a fully-qualified name (leading dot optional). */
export function lookupEnvoyType(typeName: string): protobuf.Type {
  const cached = typeCache.get(typeName);
  if (cached) return cached;
  const qualified = typeName.startsWith('.') ? typeName : `.${typeName}`;
  let found: protobuf.Type | null = null;
  try {
    found = envoyProtoRoot().lookupType(qualified);
  } catch {
    found = null;
  }
  if (!found) throw new EnvoyTypeError(typeName, `unknown message type "${typeName}"`);
  typeCache.set(typeName, found);
  return found;
}

/** Like lookupEnvoyType, but undefined instead of an error. */
export function findEnvoyType(typeName: string): protobuf.Type | undefined {
  try {
    return lookupEnvoyType(typeName);
  } catch (err) {
    if (err instanceof EnvoyTypeError) return undefined;
    throw err;
  }
}

/** A service definition, e.g. `envoy.service.discovery.v3.AggregatedDiscoveryService`. */
export function lookupEnvoyService(serviceName: string): protobuf.Service {
  try {
    return envoyProtoRoot().lookupService(serviceName.startsWith('.') ? serviceName : `.${serviceName}`);
  } catch {
    throw new EnvoyTypeError(serviceName, `unknown service "${serviceName}"`);
  }
}

/** Full name without the leading dot, as it appears in type URLs. */
export function envoyTypeName(type: protobuf.Type): string {
  return type.fullName.startsWith('.') ? type.fullName.slice(1) : type.fullName;
}
