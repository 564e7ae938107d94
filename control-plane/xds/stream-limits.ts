/**
 * Budgets for what anything that reaches the xDS port can make the control
 * plane hold: concurrent ADS streams, resource names subscribed per stream,
 * the node a stream announces, and how much of its input reaches the log.
 * A stream over a budget is ended with a gRPC status that says which limit it
 * hit (Envoy logs the status of a closed xDS stream), never left hanging.
 */
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import { SluiceError } from '../core/errors.js';

export interface XdsLimits {
  /** ADS streams (state of the world and delta) held at once; more are refused with RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** Resource names one stream may subscribe to, per resource type; more end the stream with RESOURCE_EXHAUSTED. */
  readonly maxSubscriptions: number;
  /**
   * How long a stream may stay open without a first request carrying its node.
   * Envoy and gRPC clients send it at once; a client that does not only holds
   * one of the `maxStreams` slots.
   */
  readonly identifyWithinMs: number;
}

export const defaultXdsLimits: XdsLimits = { maxStreams: 10_000, maxSubscriptions: 10_000, identifyWithinMs: 30_000 };

/** Envoy node ids are `<pod>.<namespace>`-like (well under 300 chars); anything far longer is not a proxy. */
export const maxNodeIdLength = 1_024;
/** Node metadata (labels, namespace, mode…) as JSON; a sidecar's is a few KiB at most. */
export const maxNodeMetadataBytes = 64 * 1_024;
/** Kubernetes namespace names are DNS labels. */
export const maxNamespaceLength = 63;
/** A NACK's error_detail kept for /debug/syncz (Envoy's are a few lines; the log gets less). */
export const maxNackMessageLength = 4_096;
/** Resource names Sluice serves are cluster, listener and route names built from DNS names (≤ 253). */
export const maxResourceNameLength = 1_024;
/** How much of a client-supplied string goes into one log field. */
export const logFieldLength = 256;

/** Why a stream was refused or cut off: the `reason` label of sluice_xds_streams_refused_total. */
export type RefusalReason = 'stream-limit' | 'subscription-limit' | 'invalid-node' | 'invalid-request' | 'unauthenticated' | 'internal-error';

/** A stream broke a rule or a budget: ended with `grpcCode` and this message. */
export class XdsStreamRefusal extends SluiceError {
  constructor(
    readonly grpcCode: status,
    readonly reason: RefusalReason,
    message: string,
    context: Record<string, unknown> = {},
  ) {
    super(`xds-${reason}`, message, context);
  }
}

/**
 * A client-supplied string as it may appear in a log: the first 256
 * characters, then how long it really was, so a 15 MiB node id costs a few
 * hundred bytes of log, not 15 MiB per line.
 */
export function clipForLog(value: string | undefined): string | undefined {
  if (value === undefined || value.length <= logFieldLength) return value;
  return `${value.slice(0, logFieldLength)}…(${Buffer.byteLength(value)} bytes)`;
}

/** The node's id and metadata must be present and of a sane size before the proxy is identified. */
export function checkNode(node: { id: string; metadata: Record<string, unknown> } | undefined): void {
  if (!node || node.id === '') {
    throw new XdsStreamRefusal(status.INVALID_ARGUMENT, 'invalid-node', 'the first request on an xDS stream must carry node with a non-empty node.id');
  }
  if (node.id.length > maxNodeIdLength) {
    throw new XdsStreamRefusal(status.INVALID_ARGUMENT, 'invalid-node', `node.id is ${node.id.length} characters long; at most ${maxNodeIdLength} are accepted`, { length: node.id.length });
  }
  const namespace = node.metadata.namespace;
  if (typeof namespace === 'string' && namespace.length > maxNamespaceLength) {
    throw new XdsStreamRefusal(status.INVALID_ARGUMENT, 'invalid-node', `node.metadata.namespace is ${namespace.length} characters long; Kubernetes namespaces have at most ${maxNamespaceLength}`, { length: namespace.length });
  }
  const metadataBytes = Buffer.byteLength(JSON.stringify(node.metadata));
  if (metadataBytes > maxNodeMetadataBytes) {
    throw new XdsStreamRefusal(status.INVALID_ARGUMENT, 'invalid-node', `node.metadata is ${metadataBytes} bytes as JSON; at most ${maxNodeMetadataBytes} are accepted`, { metadataBytes });
  }
}

/** A resource name the proxy asks for must be of a size Sluice could serve. */
export function checkResourceName(name: string): void {
  if (name.length > maxResourceNameLength) {
    throw new XdsStreamRefusal(status.INVALID_ARGUMENT, 'invalid-request', `a subscribed resource name is ${name.length} characters long; at most ${maxResourceNameLength} are accepted`, { length: name.length });
  }
}

/** The subscription budget of one stream for one resource type. */
export function checkSubscriptionCount(count: number, kind: string, limits: XdsLimits): void {
  if (count > limits.maxSubscriptions) {
    throw new XdsStreamRefusal(
      status.RESOURCE_EXHAUSTED,
      'subscription-limit',
      `this stream subscribes to ${count} ${kind} names; the limit is ${limits.maxSubscriptions} per resource type per stream (sluice serve --xds-max-subscriptions)`,
      { count, kind, limit: limits.maxSubscriptions },
    );
  }
}

/** The stream budget of the server, checked before a stream is registered. */
export function checkStreamCount(open: number, limits: XdsLimits): void {
  if (open >= limits.maxStreams) {
    throw new XdsStreamRefusal(
      status.RESOURCE_EXHAUSTED,
      'stream-limit',
      `this control plane already holds ${open} xDS streams, its limit (sluice serve --xds-max-streams); retry later or connect to another replica`,
      { open, limit: limits.maxStreams },
    );
  }
}

/**
 * End a stream with a status the client sees (code and message). grpc-js
 * turns an 'error' event into the trailing status when the stream ends;
 * destroying the call instead would drop it without any status at all.
 */
export function endWithStatus(call: ServerDuplexStream<unknown, unknown>, code: status, message: string): void {
  call.emit('error', { code, details: message, message });
}
