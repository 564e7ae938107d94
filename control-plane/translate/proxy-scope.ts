/**
 * Who is asking for configuration, and which scope it belongs to. Proxies
 * with the same scope get byte-identical resources, so translation and
 * encoding are done once per scope, not once per proxy.
 */
import { labelsMatch, type ServiceHost, type Snapshot } from '../model/snapshot.js';

export type ProxyMode = 'sidecar' | 'proxyless' | 'gateway';

export interface ProxyIdentity {
  /** `<pod-name>.<namespace>` for sidecars; any id for proxyless clients. */
  readonly nodeId: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workload?: string;
  readonly mode: ProxyMode;
  /** Gateways only: the Gateway it serves, `<namespace>/<name>` (node metadata `gateway`). */
  readonly gateway?: string;
}

export interface ProxyScope {
  readonly mode: ProxyMode;
  /** The proxy's namespace: decides short host names (`orders` vs `orders.shop`). */
  readonly namespace: string;
  /** Services whose pods this sidecar fronts (inbound listener and clusters); empty for proxyless. */
  readonly servedHosts: readonly ServiceHost[];
  /** Gateways only: `<namespace>/<name>` of the Gateway it serves. */
  readonly gateway?: string;
}

export class ProxyIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyIdentityError';
  }
}

/**
 * From the xDS Node: id and metadata (`namespace`, `labels`, `workload`, `mode`).
 * The namespace falls back to the id's suffix (`orders-v1-0.shop`).
 */
export function proxyIdentityFromNode(nodeId: string, metadata: Readonly<Record<string, unknown>> = {}): ProxyIdentity {
  const dot = nodeId.lastIndexOf('.');
  const namespace = typeof metadata.namespace === 'string' && metadata.namespace ? metadata.namespace : dot > 0 ? nodeId.slice(dot + 1) : '';
  if (!namespace) throw new ProxyIdentityError(`node ${JSON.stringify(nodeId)} names no namespace: set metadata.namespace or use the id <pod-name>.<namespace>`);
  const rawLabels = metadata.labels;
  const labels: Record<string, string> = {};
  if (rawLabels && typeof rawLabels === 'object') {
    for (const [key, value] of Object.entries(rawLabels)) if (typeof value === 'string') labels[key] = value;
  }
  const workload = typeof metadata.workload === 'string' ? metadata.workload : undefined;
  if (metadata.mode === 'gateway') {
    const gateway = metadata.gateway;
    if (typeof gateway !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(gateway)) {
      throw new ProxyIdentityError(`node ${JSON.stringify(nodeId)} has mode=gateway but metadata.gateway is ${JSON.stringify(gateway)}: set it to the Gateway it serves, <namespace>/<name>`);
    }
    return { nodeId, namespace, labels, workload, mode: 'gateway', gateway };
  }
  const mode = metadata.mode === 'proxyless' ? 'proxyless' : 'sidecar';
  return { nodeId, namespace, labels, workload, mode };
}

export function scopeOf(snapshot: Snapshot, proxy: ProxyIdentity): ProxyScope {
  if (proxy.mode === 'proxyless') return { mode: 'proxyless', namespace: proxy.namespace, servedHosts: [] };
  // A gateway fronts no service of its own: its scope is the Gateway it serves.
  if (proxy.mode === 'gateway') return { mode: 'gateway', namespace: proxy.namespace, servedHosts: [], gateway: proxy.gateway };
  const servedHosts: string[] = [];
  for (const service of snapshot.services.values()) {
    if (service.namespace !== proxy.namespace || Object.keys(service.selector).length === 0) continue;
    if (labelsMatch(service.selector, proxy.labels)) servedHosts.push(service.host);
  }
  return { mode: 'sidecar', namespace: proxy.namespace, servedHosts };
}

/** A stable string naming the scope: the cache key for translated and encoded resources. */
export function scopeKey(scope: ProxyScope): string {
  if (scope.mode === 'gateway') return `gateway/${scope.namespace}/${scope.gateway ?? ''}`;
  return `${scope.mode}/${scope.namespace}/${scope.servedHosts.join(',')}`;
}
