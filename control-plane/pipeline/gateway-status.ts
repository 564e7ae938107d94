/**
 * Gateway API status follows the model: each snapshot whose Gateway API
 * verdict changed is written back (Kubernetes mode, leader only). Canary and
 * ejection overrides make new snapshots with the same verdict object, which
 * write nothing.
 */
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
