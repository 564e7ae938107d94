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
import { ProxyIdentityError, type ProxyIdentity, type ProxyScope } from '../translate/proxy-scope.js';
import type { ResourceKind } from '../translate/resources.js';
import { kindOfTypeUrl, pushOrder, typeUrlOfKind } from './cache.js';
import type { ProxyConnection, TypeSyncState } from './connections.js';
import { ProxyAuthenticationError } from './proxy-authentication.js';
import { currentScope, identify, nodeOf, type StreamContext } from './stream-context.js';
import { encodeDeltaDiscoveryResponse } from './wire.js';

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
  /** What the proxy has: name → version. */
  known: Map<string, string>;
  /** Versions the proxy rejected: not resent until they change. */
  rejected: Map<string, string>;
  inFlight?: { nonce: string; changes: Map<string, string | null> };
  dirty: boolean;
  sentSnapshotAt?: number;
  sync: TypeSyncState;
}

export class DeltaStream {
  readonly #types = new Map<ResourceKind, DeltaTypeState>();
  readonly #connection: ProxyConnection;
  #identity?: ProxyIdentity;
  #scope?: ProxyScope;
  #scopeKey?: string;
  #unsubscribe?: () => void;
  #blocked = false;
  #closed = false;
  #nonce = 0;

  constructor(
    private readonly call: ServerDuplexStream<DeltaDiscoveryRequestMessage, Buffer>,
    private readonly context: StreamContext,
  ) {
    this.#connection = context.connections.open('delta', call.getPeer());
    context.openStreams.add(this);
    call.on('data', (request: DeltaDiscoveryRequestMessage) => this.#onRequest(request));
    call.on('end', () => this.#finish('client closed the stream'));
    call.on('cancelled', () => this.#finish('stream cancelled'));
    call.on('error', (error) => this.#finish(`stream error: ${error.message}`));
    call.on('drain', () => {
      this.#blocked = false;
      for (const kind of pushOrder) this.#send(kind);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.call.end();
    this.#finish('control plane shutting down');
  }

  #finish(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.context.openStreams.delete(this);
    this.context.connections.close(this.#connection);
    if (this.#identity) {
      this.context.metrics.connectedProxies.dec({ mode: this.#identity.mode, protocol: 'delta' });
      this.context.logger.info({ nodeId: this.#identity.nodeId, peer: this.#connection.peer, reason }, 'proxy disconnected');
    }
  }

  #onRequest(request: DeltaDiscoveryRequestMessage): void {
    if (this.#closed) return;
    if (!this.#identity) {
      const node = nodeOf(request);
      if (!node) {
        this.call.destroy(new Error('the first DeltaDiscoveryRequest on a stream must carry the node'));
        return;
      }
      try {
        this.#identity = identify(this.context, this.call as ServerDuplexStream<unknown, unknown>, node);
      } catch (error) {
        const message = error instanceof ProxyAuthenticationError || error instanceof ProxyIdentityError ? error.message : String(error);
        this.context.logger.warn({ nodeId: node.id, peer: this.#connection.peer }, `proxy refused: ${message}`);
        this.call.emit('error', Object.assign(new Error(message), { code: 16 }));
        this.call.destroy();
        return;
      }
      this.#connection.identity = this.#identity;
      this.context.metrics.connectedProxies.inc({ mode: this.#identity.mode, protocol: 'delta' });
      this.context.logger.info({ nodeId: this.#identity.nodeId, namespace: this.#identity.namespace, mode: this.#identity.mode, peer: this.#connection.peer, protocol: 'delta' }, 'proxy connected');
      this.#resubscribe();
    }
    const kind = kindOfTypeUrl.get(request.type_url ?? '');
    if (!kind) return;
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    let state = this.#types.get(kind);
    if (!state) {
      // The first request of a type: no names at all means wildcard (for every type, per the delta protocol).
      state = { wildcard: subscribe.length === 0 || subscribe.includes('*'), names: new Set(), known: new Map(), rejected: new Map(), dirty: true, sync: { resources: 0 } };
      for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) state.known.set(name, version);
      this.#types.set(kind, state);
      this.#connection.types[kind] = state.sync;
    }
    const nonce = request.response_nonce ?? '';
    if (nonce !== '' && state.inFlight?.nonce === nonce) {
      const changes = state.inFlight.changes;
      state.inFlight = undefined;
      if (request.error_detail && (request.error_detail.code || request.error_detail.message)) {
        for (const [name, version] of changes) if (version !== null) state.rejected.set(name, version);
        state.sync.nacked = nonce;
        state.sync.nackMessage = request.error_detail.message ?? '';
        this.context.metrics.nacks.inc({ type: kind });
        this.context.logger.warn({ nodeId: this.#identity.nodeId, type: kind, nonce, errorDetail: request.error_detail.message }, 'proxy rejected configuration (NACK)');
      } else {
        for (const [name, version] of changes) {
          if (version === null) state.known.delete(name);
          else state.known.set(name, version);
        }
        state.sync.acked = nonce;
        if (state.sentSnapshotAt !== undefined) this.context.metrics.pushLatency.observe({ type: kind }, (Date.now() - state.sentSnapshotAt) / 1000);
      }
      state.sync.resources = state.known.size;
    }
    for (const name of subscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
      state.dirty = true;
    }
    for (const name of unsubscribe) {
      if (name === '*') state.wildcard = false;
      state.names.delete(name);
      // The proxy forgets unsubscribed resources; it does not expect a removal for them.
      state.known.delete(name);
    }
    if (state.dirty) this.#send(kind);
  }

  #onView(): void {
    this.#resubscribe();
    for (const kind of pushOrder) {
      const state = this.#types.get(kind);
      if (state) {
        state.dirty = true;
        this.#send(kind);
      }
    }
  }

  #resubscribe(): void {
    const { scope, key } = currentScope(this.context.cache, this.#identity!);
    if (key === this.#scopeKey) return;
    this.#unsubscribe?.();
    this.#scope = scope;
    this.#scopeKey = key;
    this.#connection.scopeKey = key;
    this.#unsubscribe = this.context.cache.subscribe(scope, () => this.#onView());
  }

  #send(kind: ResourceKind): void {
    const state = this.#types.get(kind);
    if (!state || this.#closed || !state.dirty) return;
    if (state.inFlight || this.#blocked) return;
    const view = this.context.cache.view(this.#scope!);
    if (!view) return;
    state.dirty = false;
    const available = view.resources[kind];
    const changes = new Map<string, string | null>();
    const updated: Buffer[] = [];
    const wanted = state.wildcard ? available.keys() : state.names.values();
    for (const name of wanted) {
      const resource = available.get(name);
      if (!resource) continue;
      if (state.known.get(name) === resource.version || state.rejected.get(name) === resource.version) continue;
      updated.push(resource.deltaResource);
      changes.set(name, resource.version);
    }
    const removed: string[] = [];
    for (const name of state.known.keys()) {
      const subscribed = state.wildcard || state.names.has(name);
      if (subscribed && !available.has(name)) {
        removed.push(name);
        changes.set(name, null);
      }
    }
    if (updated.length === 0 && removed.length === 0) return;
    const nonce = String(++this.#nonce);
    state.inFlight = { nonce, changes };
    state.sentSnapshotAt = this.context.cache.updatedAt;
    state.sync.sent = nonce;
    this.context.metrics.pushes.inc({ type: kind });
    const bytes = encodeDeltaDiscoveryResponse(view.snapshotVersion, typeUrlOfKind[kind], updated, removed.sort(), nonce);
    if (!this.call.write(bytes)) this.#blocked = true;
  }
}
