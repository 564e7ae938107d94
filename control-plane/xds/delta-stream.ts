/**
 * One incremental ADS stream (DeltaAggregatedResources).
 *
 * Per type the stream tracks which resources the proxy has, at which version
 * (seeded from `initial_resource_versions` when a proxy reconnects), and sends
 * only resources whose content hash differs, plus the names that disappeared.
 * As with state of the world, one response per type is in flight at a time and
 * newer snapshots coalesce while the proxy is busy.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ProxyIdentity } from '../translate/proxy-scope.js';
import type { ResourceKind } from '../translate/resources.js';
import { kindOfTypeUrl, typeUrlOfKind } from '../envoy/resource-types.js';
import { pushOrder } from './cache.js';
import type { TypeSyncState } from './connections.js';
import { ProxyStream } from './proxy-stream.js';
import type { StreamContext } from './stream-context.js';
import { checkResourceName, checkSubscriptionCount, clipForLog, maxNackMessageLength } from './stream-limits.js';
import { encodeDeltaDiscoveryResponse } from './wire.js';
import { resourceDiff } from './resource-diff.js';
import type { CachedResource } from './cache.js';

export interface DeltaDiscoveryRequestMessage {
  node?: unknown;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

interface DeltaTypeState {
  wildcard: boolean;
  names: Set<string>;
  /**
   * What the proxy has: name → version. Undefined while `synced` says it
   * (every subscribed name of that map, at its version): a synced stream keeps
   * no per-name state, and this is rebuilt only when it stops being synced.
   */
  known?: Map<string, string>;
  /** Versions the proxy rejected: not resent until they change. */
  rejected: Map<string, string>;
  inFlight?: { nonce: string; changes: Map<string, string | null>; scanned?: ReadonlyMap<string, CachedResource> };
  /**
   * The view map the proxy is known to hold exactly (for every subscribed
   * name: `known` equals its versions, nothing rejected, nothing left to
   * remove). From it, the next view is reached by a shared diff
   * (resource-diff.ts) instead of a scan of every subscribed name.
   */
  synced?: ReadonlyMap<string, CachedResource>;
  dirty: boolean;
  sentSnapshotAt?: number;
  sync: TypeSyncState;
}

export class DeltaStream extends ProxyStream<DeltaDiscoveryRequestMessage> {
  readonly #types = new Map<ResourceKind, DeltaTypeState>();
  #nonce = 0;

  constructor(call: ServerDuplexStream<DeltaDiscoveryRequestMessage, Buffer>, context: StreamContext) {
    super(call, context, 'delta');
  }

  protected handle(request: DeltaDiscoveryRequestMessage, identity: ProxyIdentity): void {
    const kind = kindOfTypeUrl.get(request.type_url ?? '');
    if (!kind) return;
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    for (const name of subscribe) checkResourceName(name);
    let state = this.#types.get(kind);
    if (!state) {
      const initialVersions = Object.entries(request.initial_resource_versions ?? {});
      // What a reconnecting proxy says it has is kept per name too: it counts against the same budget.
      checkSubscriptionCount(initialVersions.length, kind, this.context.limits);
      for (const [name] of initialVersions) checkResourceName(name);
      // The first request of a type: no names at all means wildcard (for every type, per the delta protocol).
      // Sluice's versions are 16-hex-digit hashes: a longer claimed version never matches, so its tail need not be kept.
      const known = new Map(initialVersions.map(([name, version]) => [name, version.slice(0, 64)] as const));
      state = { wildcard: subscribe.length === 0 || subscribe.includes('*'), names: new Set(), known, rejected: new Map(), dirty: true, sync: { resources: 0 } };
      this.#types.set(kind, state);
      this.connection.types[kind] = state.sync;
    }
    const nonce = request.response_nonce ?? '';
    if (nonce !== '' && state.inFlight?.nonce === nonce) {
      const inFlight = state.inFlight;
      const changes = inFlight.changes;
      state.inFlight = undefined;
      if (request.error_detail && (request.error_detail.code || request.error_detail.message)) {
        knownOf(state);
        for (const [name, version] of changes) if (version !== null) state.rejected.set(name, version);
        state.synced = undefined;
        state.sync.nacked = nonce;
        state.sync.nackMessage = (request.error_detail.message ?? '').slice(0, maxNackMessageLength);
        state.sync.nackedResources = [...changes].filter(([, version]) => version !== null).map(([name]) => name).sort();
        this.context.metrics.nacks.inc({ type: kind });
        this.context.logger.warn({ nodeId: clipForLog(identity.nodeId), type: kind, nonce, errorDetail: clipForLog(request.error_detail.message) }, 'proxy rejected configuration (NACK)');
      } else {
        const known = knownOf(state);
        for (const [name, version] of changes) {
          if (version === null) known.delete(name);
          else known.set(name, version);
        }
        state.synced = inFlight.scanned;
        if (state.synced) state.known = undefined;
        state.sync.acked = nonce;
        if (state.sentSnapshotAt !== undefined) this.context.metrics.pushLatency.observe({ type: kind }, (Date.now() - state.sentSnapshotAt) / 1000);
      }
      // Derived: every subscribed name of the synced map (names a view lacks are rare; they count here).
      state.sync.resources = state.known ? state.known.size : state.wildcard ? (state.synced?.size ?? 0) : state.names.size;
    }
    if (subscribe.length > 0 || unsubscribe.length > 0) {
      // Another subscription: what the proxy holds no longer follows from a view map.
      knownOf(state);
      state.synced = undefined;
      if (state.inFlight) state.inFlight.scanned = undefined;
    }
    for (const name of subscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
      state.dirty = true;
    }
    // Delta subscriptions accumulate over requests: the stream is cut off once the set outgrows the budget.
    checkSubscriptionCount(state.names.size, kind, this.context.limits);
    for (const name of unsubscribe) {
      if (name === '*') state.wildcard = false;
      state.names.delete(name);
      // The proxy forgets unsubscribed resources; it does not expect a removal for them.
      state.known?.delete(name);
    }
    if (state.dirty) this.#send(kind);
  }

  protected onView(): void {
    this.resubscribe();
    for (const kind of pushOrder) {
      const state = this.#types.get(kind);
      if (state) {
        state.dirty = true;
        this.#send(kind);
      }
    }
  }

  protected flush(): void {
    for (const kind of pushOrder) this.#send(kind);
  }

  #send(kind: ResourceKind): void {
    const state = this.#types.get(kind);
    if (!state || this.closed || !state.dirty) return;
    if (state.inFlight || this.blocked) return;
    const view = this.context.cache.view(this.scope!);
    if (!view) return;
    state.dirty = false;
    const available = view.resources[kind];
    if (state.synced === available) return;
    const changes = new Map<string, string | null>();
    const updated: Buffer[] = [];
    const removed: string[] = [];
    const subscribed = (name: string) => state.wildcard || state.names.has(name);
    // Only a clean state follows from a view map: nothing rejected (those names differ from the map on purpose).
    const clean = state.rejected.size === 0;
    if (state.synced && clean) {
      // The proxy holds `synced` exactly: send what the shared diff says changed, among its names.
      const diff = resourceDiff(state.synced, available);
      for (const name of diff.changed) {
        if (!subscribed(name)) continue;
        const resource = available.get(name)!;
        updated.push(resource.deltaResource);
        changes.set(name, resource.version);
      }
      for (const name of diff.removed) {
        if (subscribed(name) && (state.known ? state.known.has(name) : true)) {
          removed.push(name);
          changes.set(name, null);
        }
      }
    } else {
      const known = knownOf(state);
      const wanted = state.wildcard ? available.keys() : state.names.values();
      for (const name of wanted) {
        const resource = available.get(name);
        if (!resource) continue;
        if (known.get(name) === resource.version || state.rejected.get(name) === resource.version) continue;
        updated.push(resource.deltaResource);
        changes.set(name, resource.version);
      }
      for (const name of known.keys()) {
        if (subscribed(name) && !available.has(name)) {
          removed.push(name);
          changes.set(name, null);
        }
      }
    }
    if (updated.length === 0 && removed.length === 0) {
      if (clean) {
        state.synced = available;
        state.known = undefined;
      }
      return;
    }
    const nonce = String(++this.#nonce);
    state.inFlight = { nonce, changes, ...(clean ? { scanned: available } : {}) };
    state.sentSnapshotAt = this.context.cache.updatedAt;
    state.sync.sent = nonce;
    this.context.metrics.pushes.inc({ type: kind });
    const bytes = encodeDeltaDiscoveryResponse(view.snapshotVersion, typeUrlOfKind[kind], updated, removed.sort(), nonce);
    this.write(bytes);
  }
}

/** The proxy's name → version, rebuilt from the synced map if the stream kept none. */
function knownOf(state: DeltaTypeState): Map<string, string> {
  if (state.known) return state.known;
  const known = new Map<string, string>();
  const synced = state.synced;
  if (synced) {
    if (state.wildcard) for (const [name, resource] of synced) known.set(name, resource.version);
    else for (const name of state.names) {
      const resource = synced.get(name);
      if (resource) known.set(name, resource.version);
    }
  }
  state.known = known;
  return known;
}
