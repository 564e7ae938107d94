/**
 * One state-of-the-world ADS stream (StreamAggregatedResources).
 *
 * Per resource type the stream keeps the subscription, the last response sent
 * and what the proxy ACKed or NACKed. At most one response per type is in
 * flight: while the proxy has not answered, newer snapshots only mark the type
 * dirty, so a slow proxy gets the latest version when it is ready and
 * intermediate versions are skipped. gRPC flow control (write() returning
 * false) pauses sending the same way. Responses are the cache's shared buffers.
 */
import { createHash } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ProxyIdentity } from '../translate/proxy-scope.js';
import type { ResourceKind } from '../translate/resources.js';
import { kindOfTypeUrl, typeUrlOfKind } from '../envoy/resource-types.js';
import { pushOrder, type ScopeView } from './cache.js';
import type { TypeSyncState } from './connections.js';
import { ProxyStream } from './proxy-stream.js';
import type { StreamContext } from './stream-context.js';
import { checkResourceName, checkSubscriptionCount, clipForLog, maxNackMessageLength } from './stream-limits.js';

import type { DiscoveryRequestMessage } from './discovery-request.js';
export type { DiscoveryRequestMessage };

interface TypeState {
  names: Set<string> | 'wildcard';
  subscriptionKey: string;
  /** The encoded names of the request that set `names` (shared by streams with the same subscription): an ACK repeating them is recognised by its bytes. */
  namesBytes?: Uint8Array;
  /** The response in flight (its nonce is its version), if any. */
  inFlight?: string;
  sentVersion?: string;
  sentAt?: number;
  sentSnapshotAt?: number;
  /** The last response the proxy accepted: what it holds, and the base of EDS/RDS incremental responses. */
  ackedVersion?: string;
  nackedVersion?: string;
  /** Something changed while a response was in flight or the stream was blocked. */
  dirty: boolean;
  /** A request arrived that must be answered even if the content is unchanged. */
  mustRespond: boolean;
  sync: TypeSyncState;
}

/**
 * Subscriptions are interned: a thousand sidecars of a scope name the same
 * hundreds of EDS clusters, and one shared Set costs far less than a thousand.
 * The table is keyed by a digest, not the names, and holds each Set weakly,
 * so it never holds more than the live streams' subscriptions (each within
 * the per-stream budget) plus a digest for those not yet collected.
 */
const internedSubscriptions = new Map<string, WeakRef<Set<string>>>();
const forgetSubscription = new FinalizationRegistry<string>((key) => {
  if (internedSubscriptions.get(key)?.deref() === undefined) internedSubscriptions.delete(key);
});

/** A digest of the name set, independent of order and duplicates; also the SotW response cache key. */
function subscriptionDigest(names: readonly string[]): string {
  const digest = createHash('sha256');
  let previous: string | undefined;
  for (const name of [...names].sort()) {
    if (name === previous) continue;
    previous = name;
    // Length-prefixed, so no choice of names can make two different sets hash alike by concatenation.
    digest.update(`${name.length}:${name}`);
  }
  return digest.digest('hex').slice(0, 32);
}

function internNames(names: readonly string[]): { names: Set<string>; key: string } {
  const key = subscriptionDigest(names);
  const existing = internedSubscriptions.get(key)?.deref();
  if (existing && names.every((name) => existing.has(name))) return { names: existing, key };
  const set = new Set(names);
  internedSubscriptions.set(key, new WeakRef(set));
  forgetSubscription.register(set, key);
  return { names: set, key };
}

function sameNames(a: Set<string> | 'wildcard', b: Set<string> | 'wildcard'): boolean {
  if (a === b) return true;
  if (a === 'wildcard' || b === 'wildcard') return false;
  if (a.size !== b.size) return false;
  for (const name of a) if (!b.has(name)) return false;
  return true;
}

/** Encoded subscriptions, shared like the Sets (a scope's sidecars send the same bytes). */
const internedNamesBytes = new Map<string, WeakRef<Uint8Array>>();
const forgetNamesBytes = new FinalizationRegistry<string>((key) => {
  if (internedNamesBytes.get(key)?.deref() === undefined) internedNamesBytes.delete(key);
});

function internNamesBytes(key: string, bytes: Uint8Array): Uint8Array {
  const held = internedNamesBytes.get(key)?.deref();
  if (held && Buffer.compare(held, bytes) === 0) return held;
  // A copy: the request's bytes are a view into the whole received message.
  const copy = Uint8Array.prototype.slice.call(bytes);
  internedNamesBytes.set(key, new WeakRef(copy));
  forgetNamesBytes.register(copy, key);
  return copy;
}

/** The request names exactly the held subscription: same size, every name held, and no name twice. */
function sameAsHeld(state: TypeState, requested: readonly string[]): boolean {
  if (state.names === 'wildcard') return requested.length === 0 || (requested.length === 1 && requested[0] === '*');
  if (requested.length !== state.names.size) return false;
  for (const name of requested) if (!state.names.has(name)) return false;
  return new Set(requested).size === requested.length;
}

export class SotwStream extends ProxyStream<DiscoveryRequestMessage> {
  readonly #types = new Map<ResourceKind, TypeState>();

  constructor(call: ServerDuplexStream<DiscoveryRequestMessage, Buffer>, context: StreamContext) {
    super(call, context, 'sotw');
  }

  protected handle(request: DiscoveryRequestMessage, identity: ProxyIdentity): void {
    const kind = kindOfTypeUrl.get(request.type_url ?? '');
    if (!kind) {
      this.context.logger.debug({ nodeId: clipForLog(identity.nodeId), typeUrl: clipForLog(request.type_url) }, 'request for a resource type Sluice does not serve; ignored');
      return;
    }
    let state = this.#types.get(kind);
    // An ACK repeats the whole subscription: when it is the one already held — byte for byte, or else name for name —
    // skip decoding, re-checking and re-interning it.
    const bytes = request.resourceNamesBytes;
    const sameBytes = state?.namesBytes !== undefined && bytes !== undefined && Buffer.compare(state.namesBytes, bytes) === 0;
    const { names, key } =
      state && (sameBytes || sameAsHeld(state, request.resource_names ?? [])) ? { names: state.names, key: state.subscriptionKey } : this.#requestedNames(kind, request.resource_names ?? []);
    if (!state) {
      state = { names, subscriptionKey: key, dirty: false, mustRespond: true, sync: { resources: 0 } };
      this.#types.set(kind, state);
      this.connection.types[kind] = state.sync;
    } else {
      const nonce = request.response_nonce ?? '';
      // A response to something older than our last response is stale: the spec says ignore it.
      if (nonce !== '' && nonce !== state.inFlight && nonce !== state.sentVersion) return;
      if (nonce !== '' && nonce === state.inFlight) {
        state.inFlight = undefined;
        if (request.error_detail && (request.error_detail.code || request.error_detail.message)) {
          state.nackedVersion = nonce;
          state.sync.nacked = nonce;
          state.sync.nackMessage = (request.error_detail.message ?? '').slice(0, maxNackMessageLength);
          state.sync.nackedResources = state.names === 'wildcard' ? 'wildcard' : [...state.names].sort();
          this.context.metrics.nacks.inc({ type: kind });
          this.context.logger.warn(
            { nodeId: clipForLog(identity.nodeId), type: kind, rejectedVersion: nonce, keptVersion: clipForLog(request.version_info ?? ''), errorDetail: clipForLog(request.error_detail.message) },
            'proxy rejected configuration (NACK)',
          );
        } else {
          state.sync.acked = request.version_info ?? nonce;
          state.ackedVersion = nonce;
          if (state.sentSnapshotAt !== undefined) this.context.metrics.pushLatency.observe({ type: kind }, (Date.now() - state.sentSnapshotAt) / 1000);
        }
      }
      if (!sameNames(names, state.names)) {
        state.names = names;
        state.subscriptionKey = key;
        state.mustRespond = true;
      }
    }
    if (bytes !== undefined && !sameBytes) state.namesBytes = internNamesBytes(state.subscriptionKey, bytes);
    this.#send(kind, state);
  }

  /** LDS and CDS with no names (or `*`) mean "everything"; RDS and EDS always name what they want. */
  #requestedNames(kind: ResourceKind, names: string[]): { names: Set<string> | 'wildcard'; key: string } {
    if (names.includes('*') || (names.length === 0 && (kind === 'listeners' || kind === 'clusters'))) return { names: 'wildcard', key: '*' };
    // Checked before anything is interned or cached: SotW resends the whole list, so the list is the budget.
    checkSubscriptionCount(names.length, kind, this.context.limits);
    for (const name of names) checkResourceName(name);
    return internNames(names);
  }

  protected onView(): void {
    // A sidecar's scope can move with the snapshot; either way every type is re-checked.
    if (this.resubscribe()) for (const state of this.#types.values()) state.dirty = true;
    for (const kind of pushOrder) {
      const state = this.#types.get(kind);
      if (state) {
        state.dirty = true;
        this.#send(kind, state);
      }
    }
  }

  protected flush(): void {
    for (const kind of pushOrder) {
      const state = this.#types.get(kind);
      if (state && (state.dirty || state.mustRespond)) this.#send(kind, state);
    }
  }

  #send(kind: ResourceKind, state: TypeState): void {
    if (this.closed) return;
    if (state.inFlight !== undefined || this.blocked) {
      state.dirty = true;
      return;
    }
    const view: ScopeView | undefined = this.context.cache.view(this.scope!);
    if (!view) return; // no valid snapshot yet: answered when the first one arrives
    const response = this.context.cache.sotwResponse(view, kind, state.names, state.subscriptionKey, state.ackedVersion);
    state.dirty = false;
    const unchanged = response.version === state.sentVersion;
    // Never resend what the proxy already has or has just rejected, unless it asked anew.
    if (!state.mustRespond && (unchanged || response.version === state.nackedVersion)) return;
    state.mustRespond = false;
    state.inFlight = response.version;
    state.sentVersion = response.version;
    state.sentSnapshotAt = this.context.cache.updatedAt;
    state.sync.sent = response.version;
    state.sync.resources = response.resources;
    this.context.metrics.pushes.inc({ type: kind });
    this.write(response.bytes);
    if (this.context.logger.isLevelEnabled('debug')) this.context.logger.debug({ nodeId: clipForLog(this.identity?.nodeId), type: kind, version: response.version, typeUrl: typeUrlOfKind[kind] }, 'pushed');
  }
}
