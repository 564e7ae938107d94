/**
 * Which workload a pod belongs to — the name the control plane and dashboards
 * group proxies by. Derived as Istio does: from the controlling owner, with a
 * Deployment's ReplicaSet hash stripped, so every pod of `orders` reports
 * `orders`, whatever its ReplicaSet.
 */
import type { ObjectMeta } from './kube.js';

export function workloadName(meta: ObjectMeta): string {
  const owner = meta.ownerReferences?.find((o) => o.controller) ?? meta.ownerReferences?.[0];
  if (owner) {
    const hash = meta.labels?.['pod-template-hash'];
    if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
      return owner.name.slice(0, -(hash.length + 1));
    }
    // A CronJob's Job is `<cronjob>-<scheduled minute>`; report the CronJob.
    if (owner.kind === 'Job' && /-\d{8,}$/.test(owner.name)) return owner.name.replace(/-\d{8,}$/, '');
    return owner.name;
  }
  if (meta.name) return meta.name;
  if (meta.generateName) return meta.generateName.replace(/-+$/, '');
  return meta.labels?.['app.kubernetes.io/name'] ?? meta.labels?.app ?? 'unknown';
}
