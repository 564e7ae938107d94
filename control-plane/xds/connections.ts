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
  /** Number of resources in the last response (SotW) or known to the proxy (delta). */
  resources: number;
}

export interface ProxyConnection {
  readonly streamId: number;
  readonly protocol: 'sotw' | 'delta';
  readonly peer: string;
  readonly connectedAt: string;
  identity?: ProxyIdentity;
  scopeKey?: string;
  readonly types: Partial<Record<ResourceKind, TypeSyncState>>;
}

export class ConnectionRegistry {
  readonly #connections = new Map<number, ProxyConnection>();
  #nextId = 1;

  open(protocol: 'sotw' | 'delta', peer: string): ProxyConnection {
    const connection: ProxyConnection = { streamId: this.#nextId++, protocol, peer, connectedAt: new Date().toISOString(), types: {} };
    this.#connections.set(connection.streamId, connection);
    return connection;
  }

  close(connection: ProxyConnection): void {
    this.#connections.delete(connection.streamId);
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
        protocol: c.protocol,
        peer: c.peer,
        connectedAt: c.connectedAt,
        snapshot: currentVersion ?? null,
        types: Object.fromEntries(
          Object.entries(c.types).map(([kind, state]) => [
            kind,
            {
              ...state,
              status: state!.nacked && state!.nacked === state!.sent ? 'NACKED' : state!.sent === undefined ? 'NOT SENT' : state!.acked === state!.sent ? 'SYNCED' : 'STALE',
            },
          ]),
        ),
      }));
  }
}
