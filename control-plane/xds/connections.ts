/**
 * Every connected proxy and, per resource type, what it was sent and what it
 * ACKed or NACKed: the data behind /debug/syncz and `sluice status`.
 */
import type { ProxyIdentity } from '../translate/proxy-scope.js';
import type { ResourceKind } from '../translate/resources.js';

export interface TypeSyncState {
  sent?: string;
  acked?: string;
  nacked?: string;
  nackMessage?: string;
  /** The resources of the rejected response (names; 'wildcard' when the proxy asked for all). */
  nackedResources?: readonly string[] | 'wildcard';
  /** Number of resources in the last response (SotW) or known to the proxy (delta). */
  resources: number;
}

export type SyncStatus = 'NACKED' | 'NOT SENT' | 'SYNCED' | 'STALE';

/** A NACK is current while the rejected version is the last one sent; a newer push supersedes it. */
export function syncStatusOf(state: TypeSyncState): SyncStatus {
  if (state.nacked !== undefined && state.nacked === state.sent) return 'NACKED';
  if (state.sent === undefined) return 'NOT SENT';
  return state.acked === state.sent ? 'SYNCED' : 'STALE';
}

/** One proxy currently rejecting one resource type. */
export interface ProxyNack {
  readonly nodeId: string;
  readonly namespace: string;
  readonly mode: string;
  readonly client?: string;
  readonly type: ResourceKind;
  readonly version: string;
  readonly resources: readonly string[] | 'wildcard';
  readonly message: string;
}

export interface ProxyConnection {
  readonly streamId: number;
  readonly protocol: 'sotw' | 'delta';
  readonly peer: string;
  readonly connectedAt: string;
  identity?: ProxyIdentity;
  /** The node's user agent ("gRPC Python 1.51.1"), when it sent one. */
  client?: string;
  scopeKey?: string;
  /** The workload certificate last sent over SDS (never the key). */
  workloadCertificate?: { readonly spiffeId: string; readonly notAfter: string };
  readonly types: Partial<Record<ResourceKind, TypeSyncState>>;
}

/** Identities of disconnected proxies kept for /debug/config_dump (bounded: oldest forgotten first). */
const maxRemembered = 1024;

export class ConnectionRegistry {
  readonly #connections = new Map<number, ProxyConnection>();
  readonly #departed = new Map<string, ProxyIdentity>();
  #nextId = 1;

  open(protocol: 'sotw' | 'delta', peer: string): ProxyConnection {
    const connection: ProxyConnection = { streamId: this.#nextId++, protocol, peer, connectedAt: new Date().toISOString(), types: {} };
    this.#connections.set(connection.streamId, connection);
    return connection;
  }

  close(connection: ProxyConnection): void {
    this.#connections.delete(connection.streamId);
    const identity = connection.identity;
    if (!identity) return;
    this.#departed.delete(identity.nodeId);
    this.#departed.set(identity.nodeId, identity);
    if (this.#departed.size > maxRemembered) this.#departed.delete(this.#departed.keys().next().value as string);
  }

  /**
   * The identity a proxy had when it last connected, connected now or not:
   * a disconnected proxyless client must not be shown a sidecar's config.
   */
  knownIdentity(nodeId: string): ProxyIdentity | undefined {
    return this.byNodeId(nodeId)?.identity ?? this.#departed.get(nodeId);
  }

  all(): ProxyConnection[] {
    return [...this.#connections.values()];
  }

  byNodeId(nodeId: string): ProxyConnection | undefined {
    for (const connection of this.#connections.values()) if (connection.identity?.nodeId === nodeId) return connection;
    return undefined;
  }

  /** The rows of /debug/syncz. */
  syncStatus(currentVersion: string | undefined): Array<Record<string, unknown>> {
    return this.all()
      .filter((c) => c.identity)
      .sort((a, b) => a.identity!.nodeId.localeCompare(b.identity!.nodeId))
      .map((c) => ({
        nodeId: c.identity!.nodeId,
        namespace: c.identity!.namespace,
        mode: c.identity!.mode,
        ...(c.identity!.gateway ? { gateway: c.identity!.gateway } : {}),
        client: c.client ?? null,
        protocol: c.protocol,
        peer: c.peer,
        connectedAt: c.connectedAt,
        snapshot: currentVersion ?? null,
        ...(c.workloadCertificate ? { certificate: c.workloadCertificate } : {}),
        types: Object.fromEntries(Object.entries(c.types).map(([kind, state]) => [kind, syncRow(state!)])),
      }));
  }

  /** Every proxy whose last response of a type was rejected: /readyz, metrics and canaries report these. */
  nacks(): ProxyNack[] {
    const result: ProxyNack[] = [];
    for (const c of this.all()) {
      if (!c.identity) continue;
      for (const [kind, state] of Object.entries(c.types) as Array<[ResourceKind, TypeSyncState]>) {
        if (syncStatusOf(state) !== 'NACKED') continue;
        result.push({ nodeId: c.identity.nodeId, namespace: c.identity.namespace, mode: c.identity.mode, client: c.client, type: kind, version: state.nacked!, resources: state.nackedResources ?? [], message: state.nackMessage ?? '' });
      }
    }
    return result.sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.type.localeCompare(b.type));
  }
}

/**
 * A /debug/syncz cell. Once a newer version has been sent the old NACK is no
 * longer the proxy's state: it is dropped when that version is ACKed, and
 * kept as `lastNack` while the newer one is still in flight.
 */
function syncRow(state: TypeSyncState): Record<string, unknown> {
  const status = syncStatusOf(state);
  const { nacked, nackMessage, nackedResources, ...rest } = state;
  if (nacked === undefined) return { ...rest, status };
  if (status === 'NACKED') return { ...rest, nacked, nackMessage, nackedResources, status };
  if (status === 'STALE') return { ...rest, status, lastNack: { version: nacked, message: nackMessage } };
  return { ...rest, status };
}
