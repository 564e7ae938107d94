/**
 * Gateway API status follows the model: each snapshot whose Gateway API
 * verdict changed is written back (Kubernetes mode, leader only). Canary and
 * ejection overrides make new snapshots with the same verdict object, which
 * write nothing.
 */
import type { Snapshot } from '../model/snapshot.js';
import type { SnapshotStore } from '../model/store.js';
import type { GatewayStatusWriter } from '../sources/kubernetes-gateway-status.js';

export function followGatewayStatus(store: SnapshotStore, writer: GatewayStatusWriter): () => void {
  let last: unknown;
  const onSnapshot = (status: unknown) => {
    if (status === undefined || status === last) return;
    last = status;
    void writer.write(status as Parameters<GatewayStatusWriter['write']>[0]);
  };
  if (store.current) onSnapshot(store.current.gateway?.status);
  return store.subscribe((snapshot) => onSnapshot(snapshot.gateway?.status));
}

export interface GatewaySummaryRow {
  readonly gateway: string;
  readonly className: string;
  readonly programmed: boolean;
  readonly listeners: ReadonlyArray<{ readonly name: string; readonly port: number; readonly protocol: string; readonly programmed: boolean; readonly attachedRoutes: number }>;
  /** Gateway proxies connected with node metadata `gateway: <this one>`. */
  readonly proxies: number;
}

/** /debug/gateways (and `sluice status`): each Gateway of ours, from the model's verdict, with its connected proxies. */
export function gatewaySummary(snapshot: Snapshot | undefined, connectedGateways: readonly string[]): GatewaySummaryRow[] {
  const status = snapshot?.gateway?.status;
  if (!status) return [];
  return status.gateways.map((gateway) => {
    const key = `${gateway.namespace}/${gateway.name}`;
    return {
      gateway: key,
      className: snapshot.gateway!.gateways.get(key)?.className ?? '',
      programmed: gateway.status.conditions.some((c) => c.type === 'Programmed' && c.status === 'True'),
      listeners: gateway.status.listeners.map((l) => {
        const programmed = snapshot.gateway!.gateways.get(key)?.listeners.find((p) => p.name === l.name);
        return { name: l.name, port: programmed?.port ?? 0, protocol: programmed?.protocol ?? '', programmed: programmed !== undefined, attachedRoutes: l.attachedRoutes };
      }),
      proxies: connectedGateways.filter((g) => g === key).length,
    };
  });
}
