/**
 * What every xDS stream shares: the cache, the registry of connections,
 * metrics, and how to authenticate a proxy and find its scope.
 */
import type { PeerCertificate } from 'node:tls';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { protobufjsMessageToJson } from '../envoy/codec.js';
import type { Logger } from '../log/logger.js';
import { scopeKey, scopeOf, type ProxyIdentity, type ProxyScope } from '../translate/proxy-scope.js';
import type { XdsCache } from './cache.js';
import type { ConnectionRegistry } from './connections.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { authenticateProxy } from './proxy-authentication.js';
import { clipForLog, type XdsLimits } from './stream-limits.js';
import type { SecretServing } from './secret-discovery.js';

export interface StreamContext {
  readonly cache: XdsCache;
  readonly connections: ConnectionRegistry;
  readonly metrics: ControlPlaneMetrics;
  readonly logger: Logger;
  readonly requireClientCertificate: boolean;
  /** The trust domain a client certificate's SPIFFE ID must name. */
  readonly trustDomain: string;
  readonly limits: XdsLimits;
  /** Workload certificates over SDS; undefined when the control plane runs no CA. */
  readonly secrets?: SecretServing;
  /** Streams register here so a graceful shutdown can end them. */
  readonly openStreams: Set<{ close(): void }>;
}

/** The node of a first request as JSON (metadata as a plain object). */
export function nodeOf(request: { node?: unknown }): { id: string; metadata: Record<string, unknown>; client?: string } | undefined {
  if (!request.node) return undefined;
  const node = protobufjsMessageToJson('envoy.config.core.v3.Node', request.node as Record<string, unknown>) as { id?: string; metadata?: Record<string, unknown>; user_agent_name?: string; user_agent_version?: string };
  // Which client it is ("gRPC Python 1.51.1", "envoy 1.28.0"): shown next to its sync state and NACKs.
  const client = [node.user_agent_name, node.user_agent_version].filter((part) => typeof part === 'string' && part).join(' ').slice(0, 128);
  return { id: node.id ?? '', metadata: node.metadata ?? {}, ...(client ? { client } : {}) };
}

export function peerCertificate(call: ServerDuplexStream<unknown, unknown>): PeerCertificate | undefined {
  const context = call.getAuthContext?.();
  return (context?.sslPeerCertificate as PeerCertificate | undefined) ?? undefined;
}

export function identify(context: StreamContext, call: ServerDuplexStream<unknown, unknown>, node: { id: string; metadata: Record<string, unknown> }): ProxyIdentity {
  const { identity, overridden } = authenticateProxy(node.id, node.metadata, peerCertificate(call), context.requireClientCertificate, context.trustDomain);
  if (overridden) {
    context.logger.warn({ nodeId: clipForLog(node.id), claimed: clipForLog(overridden), certified: identity.namespace }, 'node metadata claims another namespace than its certificate; serving the certificate\'s');
  }
  return identity;
}

/**
 * Scopes resolved per snapshot: thousands of sidecars of one Deployment share
 * mode, namespace and labels, so the selector matching is done once for them.
 */
const resolvedScopes = new WeakMap<object, Map<string, { scope: ProxyScope; key: string }>>();
const identityKeys = new WeakMap<ProxyIdentity, string>();

function identityKey(identity: ProxyIdentity): string {
  let key = identityKeys.get(identity);
  if (key === undefined) {
    key = `${identity.mode}|${identity.gateway ?? ''}|${identity.namespace}|${Object.entries(identity.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',')}`;
    identityKeys.set(identity, key);
  }
  return key;
}

/** The proxy's scope under the cache's current snapshot (which services a sidecar fronts can change). */
export function currentScope(cache: XdsCache, identity: ProxyIdentity): { scope: ProxyScope; key: string } {
  const snapshot = cache.snapshot;
  if (!snapshot) {
    const scope: ProxyScope = { mode: identity.mode, namespace: identity.namespace, servedHosts: [], ...(identity.gateway ? { gateway: identity.gateway } : {}) };
    return { scope, key: scopeKey(scope) };
  }
  let perSnapshot = resolvedScopes.get(snapshot);
  if (!perSnapshot) {
    perSnapshot = new Map();
    resolvedScopes.set(snapshot, perSnapshot);
  }
  const key = identityKey(identity);
  let resolved = perSnapshot.get(key);
  if (!resolved) {
    const scope = scopeOf(snapshot, identity);
    resolved = { scope, key: scopeKey(scope) };
    perSnapshot.set(key, resolved);
  }
  return resolved;
}
