/**
 * Snapshot + proxy scope → every Envoy resource that scope receives.
 *
 * Translation is a pure function of (snapshot, scope). The Translator adds
 * one optimisation that does not change results: the resources of a service
 * depend only on that service (its fingerprint), the proxy mode and whether
 * the caller shares its namespace, so they are reused across snapshots and
 * scopes. After one policy edit only that service is translated again, and the
 * unchanged resources are the same objects, which lets the xDS cache skip
 * re-encoding them.
 */
import { checkValidateRules } from '../envoy/validate-rules.js';
import type { MeshService, Snapshot } from '../model/snapshot.js';
import { inboundClusters, isHttpPort, outboundClusters, passthroughClusters } from './cluster.js';
import { serviceLoadAssignments } from './endpoint.js';
import { outboundHttpListener, proxylessApiListener, virtualInboundListener, virtualOutboundListener, type InboundPort } from './listener.js';
import type { ProxyMode, ProxyScope } from './proxy-scope.js';
import { envoyTypeOfKind, type EnvoyJson, type EnvoyResource, type ResourceKind, type ScopeResources, type TranslationIssue } from './resources.js';
import { passthroughVirtualHost, virtualHost } from './route.js';

export interface TranslateOptions {
  /**
   * Check every resource against Envoy's protos and validate rules; a resource
   * that fails is left out and reported as an error (a translation bug).
   */
  readonly validate?: boolean;
}

/** What one service contributes to a scope. */
interface ServicePieces {
  readonly clusters: readonly EnvoyResource[];
  readonly endpoints: readonly EnvoyResource[];
  /** Sidecars: per port, the service's virtual host in route table `<port>`. */
  readonly virtualHosts: ReadonlyArray<{ readonly port: number; readonly virtualHost: EnvoyJson; readonly jsonPointers: readonly string[] }>;
  /** Proxyless: the API listeners and their route tables. */
  readonly listeners: readonly EnvoyResource[];
  readonly routes: readonly EnvoyResource[];
  readonly issues: readonly TranslationIssue[];
}

function translateService(service: MeshService, mode: ProxyMode, callerNamespace: string): ServicePieces {
  const issues: TranslationIssue[] = [];
  const clusters = outboundClusters(service, mode, issues);
  const endpoints = serviceLoadAssignments(service, mode, issues);
  const virtualHosts: Array<{ port: number; virtualHost: EnvoyJson; jsonPointers: readonly string[] }> = [];
  const listeners: EnvoyResource[] = [];
  const routes: EnvoyResource[] = [];
  for (const port of service.ports) {
    if (!isHttpPort(port)) continue;
    const result = virtualHost(service, port, callerNamespace, mode, issues);
    if (mode === 'sidecar') {
      virtualHosts.push({ port: port.port, virtualHost: result.virtualHost, jsonPointers: result.jsonPointers });
    } else {
      const target = `${service.host}:${port.port}`;
      listeners.push(proxylessApiListener(target));
      routes.push({ name: target, body: { name: target, virtual_hosts: [result.virtualHost] } });
    }
  }
  // The same warning for every port of a service is one warning.
  const unique = [...new Map(issues.map((i) => [`${i.severity}|${i.object}|${i.message}`, i])).values()];
  return { clusters, endpoints, virtualHosts, listeners, routes, issues: unique };
}

const byName = (a: EnvoyResource, b: EnvoyResource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export class Translator {
  readonly #pieces = new Map<string, { pieces: ServicePieces; lastUsed: string }>();
  readonly #validated = new WeakMap<EnvoyJson, TranslationIssue[]>();
  #currentSnapshot = '';
  #previousSnapshot = '';

  translate(snapshot: Snapshot, scope: ProxyScope, options: TranslateOptions = {}): ScopeResources {
    this.#sweep(snapshot.version);
    const listeners: EnvoyResource[] = [];
    const routes: EnvoyResource[] = [];
    const clusters: EnvoyResource[] = [...passthroughClusters()];
    const endpoints: EnvoyResource[] = [];
    const issues: TranslationIssue[] = [];
    const portHosts = new Map<number, { virtualHosts: EnvoyJson[]; jsonPointers: string[] }>();

    for (const service of snapshot.services.values()) {
      const pieces = this.#piecesOf(service, scope, snapshot.version);
      clusters.push(...pieces.clusters);
      endpoints.push(...pieces.endpoints);
      listeners.push(...pieces.listeners);
      routes.push(...pieces.routes);
      issues.push(...pieces.issues);
      for (const { port, virtualHost: host, jsonPointers } of pieces.virtualHosts) {
        const entry = portHosts.get(port) ?? { virtualHosts: [], jsonPointers: [] };
        entry.virtualHosts.push(host);
        entry.jsonPointers.push(...jsonPointers);
        portHosts.set(port, entry);
      }
    }

    if (scope.mode === 'sidecar') {
      listeners.push(virtualOutboundListener());
      for (const [port, { virtualHosts, jsonPointers }] of portHosts) {
        listeners.push(outboundHttpListener(port, jsonPointers));
        routes.push({ name: String(port), body: { name: String(port), virtual_hosts: [...virtualHosts, passthroughVirtualHost], validate_clusters: false } });
      }
      const inbound = inboundPorts(snapshot, scope);
      listeners.push(virtualInboundListener(inbound));
      clusters.push(...inboundClusters(inbound.map((p) => p.port)));
    }

    // Order is deterministic (services in host order) but not sorted by name: sorting six
    // thousand names on every change costs more than the rest of an incremental
    // translation, and the cache keys resources by name anyway. translateScope sorts.
    const result = { listeners, routes, clusters, endpoints };
    if (options.validate) {
      for (const kind of Object.keys(result) as ResourceKind[]) {
        result[kind] = result[kind].filter((resource) => {
          const problems = this.#check(kind, resource);
          issues.push(...problems);
          return problems.length === 0;
        });
      }
    }
    return { ...result, issues };
  }

  #piecesOf(service: MeshService, scope: ProxyScope, snapshotVersion: string): ServicePieces {
    const sameNamespace = service.namespace === scope.namespace;
    const key = `${service.fingerprint}|${scope.mode}|${sameNamespace ? scope.namespace : ''}`;
    let entry = this.#pieces.get(key);
    if (!entry) {
      entry = { pieces: translateService(service, scope.mode, scope.namespace), lastUsed: snapshotVersion };
      this.#pieces.set(key, entry);
    }
    entry.lastUsed = snapshotVersion;
    return entry.pieces;
  }

  #check(kind: ResourceKind, resource: EnvoyResource): TranslationIssue[] {
    let problems = this.#validated.get(resource.body);
    if (!problems) {
      problems = checkValidateRules(envoyTypeOfKind[kind], resource.body).map((v) => ({
        severity: 'error' as const,
        resource: resource.name,
        kind,
        message: `${kind} "${resource.name}" breaks Envoy's rules at ${v.field || '(root)'}: ${v.rule}: ${v.message}`,
      }));
      this.#validated.set(resource.body, problems);
    }
    return problems;
  }

  /** Keep pieces used by the current or previous snapshot; drop older ones so memory tracks the mesh, not its history. */
  #sweep(version: string): void {
    if (version === this.#currentSnapshot) return;
    this.#previousSnapshot = this.#currentSnapshot;
    this.#currentSnapshot = version;
    for (const [key, entry] of this.#pieces) {
      if (entry.lastUsed !== this.#previousSnapshot && entry.lastUsed !== this.#currentSnapshot) this.#pieces.delete(key);
    }
  }
}

/** The ports this sidecar's workload serves, from the services that select it. */
function inboundPorts(snapshot: Snapshot, scope: ProxyScope): InboundPort[] {
  const ports = new Map<number, boolean>();
  for (const host of scope.servedHosts) {
    const service = snapshot.services.get(host);
    if (!service) continue;
    for (const port of service.ports) {
      const target = typeof port.targetPort === 'number' ? port.targetPort : service.endpoints.find((e) => e.ports[port.name] !== undefined)?.ports[port.name];
      if (target === undefined) continue;
      ports.set(target, (ports.get(target) ?? false) || isHttpPort(port));
    }
  }
  return [...ports.entries()].sort(([a], [b]) => a - b).map(([port, http]) => ({ port, http }));
}

/** One-shot translation (no reuse across calls), each kind sorted by name: for the CLI, goldens and diffs. */
export function translateScope(snapshot: Snapshot, scope: ProxyScope, options: TranslateOptions = {}): ScopeResources {
  const result = new Translator().translate(snapshot, scope, options);
  return {
    listeners: [...result.listeners].sort(byName),
    routes: [...result.routes].sort(byName),
    clusters: [...result.clusters].sort(byName),
    endpoints: [...result.endpoints].sort(byName),
    issues: result.issues,
  };
}
