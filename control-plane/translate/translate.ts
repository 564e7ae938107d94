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
import { checkValidateRules, type RuleViolation } from '../envoy/validate-rules.js';
import { canonicalJson, contentHash } from '../lib/canonical-json.js';
import { telemetryOf, type ProxyTelemetry } from '../model/telemetry.js';
import type { MeshService, Snapshot } from '../model/snapshot.js';
import { inboundClusters, isHttpPort, outboundClusters, passthroughClusters } from './cluster.js';
import { serviceLoadAssignments } from './endpoint.js';
import { outboundHttpListener, proxylessApiListener, serviceHttpListener, virtualInboundListener, virtualOutboundListener, type InboundPort } from './listener.js';
import type { ProxyMode, ProxyScope } from './proxy-scope.js';
import { envoyTypeOfKind, type EnvoyJson, type EnvoyResource, type ResourceKind, type ScopeResources, type TranslationIssue } from './resources.js';
import { translateGateway } from './gateway.js';
import { podAddressDomains } from './pod-address.js';
import { passthroughVirtualHost, routeTable, virtualHost, type VirtualHostJson } from './route.js';
import { tracingCluster } from './tracing.js';
import { proxylessServerListeners } from './proxyless-server.js';
import { defaultTrustDomain, type MtlsMode, type ServiceAuthorization } from '../model/security.js';

export interface TranslateOptions {
  /**
   * Check every resource against Envoy's protos and validate rules; a resource
   * that fails is left out and reported as an error (a translation bug).
   */
  readonly validate?: boolean;
  /** The mesh's SPIFFE trust domain (peer SAN checks, authorization principals); default cluster.local. */
  readonly trustDomain?: string;
}

/** What one service contributes to a scope. */
interface ServicePieces {
  readonly clusters: readonly EnvoyResource[];
  readonly endpoints: readonly EnvoyResource[];
  /**
   * Sidecars: per port, the service's virtual host in route table `<port>`;
   * also under the ports its endpoints listen on, for calls to a pod's address.
   * `podDomains` are the pod-address names in it, which two services selecting
   * the same pod could both claim (the first keeps them).
   */
  readonly virtualHosts: ReadonlyArray<PortVirtualHost>;
  /** Sidecars: the service's own listeners (one per virtual IP and HTTP port), built per namespace because access logs differ. */
  readonly serviceListeners: ReadonlyArray<ServiceListener>;
  /** Proxyless: the API listeners; both modes: the route tables of their own. */
  readonly listeners: readonly EnvoyResource[];
  readonly routes: readonly EnvoyResource[];
  readonly issues: readonly TranslationIssue[];
}

interface ServiceListener {
  readonly ip: string;
  readonly port: number;
  readonly routeName: string;
  readonly jsonPointers: readonly string[];
}

interface PortVirtualHost {
  readonly port: number;
  readonly virtualHost: VirtualHostJson;
  readonly jsonPointers: readonly string[];
  readonly podDomains: readonly string[];
}

function translateService(service: MeshService, mode: ProxyMode, callerNamespace: string, trustDomain: string): ServicePieces {
  const issues: TranslationIssue[] = [];
  const clusters = outboundClusters(service, mode, issues, trustDomain);
  const endpoints = serviceLoadAssignments(service, mode, issues);
  const virtualHosts: PortVirtualHost[] = [];
  const listeners: EnvoyResource[] = [];
  const serviceListeners: ServiceListener[] = [];
  const routes: EnvoyResource[] = [];
  for (const port of service.ports) {
    if (!isHttpPort(port)) continue;
    const podDomains = podAddressDomains(service, port);
    if (mode === 'sidecar' && service.clusterIPs?.length) {
      // The service's own listener per virtual IP, and its own route table: any Host reaching that IP is this service.
      const result = virtualHost(service, port, callerNamespace, mode, issues);
      const routeName = `${service.host}:${port.port}`;
      const own: VirtualHostJson = { ...result.virtualHost, domains: ['*'] };
      routes.push({ name: routeName, body: { name: routeName, virtual_hosts: [own], validate_clusters: false } });
      for (const ip of service.clusterIPs) serviceListeners.push({ ip, port: port.port, routeName, jsonPointers: result.jsonPointers });
      // Calls to its pods' addresses (podAddressCalls) still arrive on the port's listener.
      for (const [listening, domains] of podDomains) {
        const host = { ...result.virtualHost, name: `${service.host}:${port.port}@${listening}`, domains };
        virtualHosts.push({ port: listening, virtualHost: host, jsonPointers: result.jsonPointers, podDomains: domains });
      }
    } else if (mode === 'sidecar') {
      // Calls to a pod on the service port share the service's virtual host; on another port they get their own.
      const samePort = podDomains.get(port.port) ?? [];
      const result = virtualHost(service, port, callerNamespace, mode, issues, samePort);
      virtualHosts.push({ port: port.port, virtualHost: result.virtualHost, jsonPointers: result.jsonPointers, podDomains: samePort });
      for (const [listening, domains] of podDomains) {
        if (listening === port.port) continue;
        const host = { ...result.virtualHost, name: `${service.host}:${port.port}@${listening}`, domains };
        virtualHosts.push({ port: listening, virtualHost: host, jsonPointers: result.jsonPointers, podDomains: domains });
      }
    } else {
      // A gRPC client dialing `xds:///10.1.2.3:50051` asks for that listener; it shares the service's route table.
      const addressTargets = [...podDomains.entries()].flatMap(([listening, domains]) => domains.filter((d) => d.endsWith(`:${listening}`)));
      const result = virtualHost(service, port, callerNamespace, mode, issues, addressTargets);
      const target = `${service.host}:${port.port}`;
      listeners.push(proxylessApiListener(target));
      for (const address of addressTargets) listeners.push(proxylessApiListener(address, target));
      routes.push({ name: target, body: { name: target, virtual_hosts: [result.virtualHost] } });
    }
  }
  // A proxyless gRPC server of this namespace asks for its own listener (mTLS mode, RBAC).
  if (mode === 'proxyless' && service.namespace === callerNamespace) listeners.push(...proxylessServerListeners(service, trustDomain));
  // The same warning for every port of a service is one warning.
  const unique = [...new Map(issues.map((i) => [`${i.severity}|${i.object}|${i.message}`, i])).values()];
  return { clusters, endpoints, virtualHosts, serviceListeners, listeners, routes, issues: unique };
}

const noResources: readonly EnvoyResource[] = Object.freeze([]);

const byName = (a: EnvoyResource, b: EnvoyResource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** What every proxy of one mode in one namespace shares (everything but a sidecar's inbound side). */
interface NamespaceResources {
  readonly listeners: readonly EnvoyResource[];
  readonly routes: readonly EnvoyResource[];
  readonly clusters: readonly EnvoyResource[];
  readonly endpoints: readonly EnvoyResource[];
  readonly issues: readonly TranslationIssue[];
}

/**
 * Memoised translation. Three levels of reuse, none of which changes results:
 * - per service (its fingerprint, the mode, and whether the caller shares its
 *   namespace): its clusters, endpoints, virtual hosts, proxyless listeners;
 * - per (snapshot, mode, namespace): the lists every proxy there gets, and the
 *   per-port route tables and listeners, which are also kept across snapshots
 *   while the virtual hosts they hold are the same objects;
 * - per set of inbound ports: a sidecar's inbound listener and clusters.
 * Reused resources are the same objects, so the xDS cache encodes (and checks
 * against Envoy's rules) each distinct resource once, not once per scope.
 */
export class Translator {
  readonly #pieces = new Map<string, { pieces: ServicePieces; lastUsed: string }>();
  readonly #namespaces = new Map<string, NamespaceResources>();
  readonly #scoped = new Map<string, ScopeResources>();
  /** Route tables and outbound listeners by content key (the virtual hosts' identities), kept one snapshot back. */
  readonly #composites = new Map<string, { resource: EnvoyResource; lastUsed: string }>();
  readonly #inbound = new Map<string, { listener: EnvoyResource; clusters: readonly EnvoyResource[]; lastUsed: string }>();
  readonly #validated = new WeakMap<EnvoyJson, TranslationIssue[]>();
  readonly #partsChecked = new WeakMap<EnvoyJson, RuleViolation[]>();
  /** Identity tokens for virtual-host objects, so a composite's key is cheap to build and compare. */
  readonly #ids = new WeakMap<object, number>();
  #nextId = 1;
  #currentSnapshot = '';
  #previousSnapshot = '';

  /**
   * Scopes that share a namespace and inbound ports get the same result object
   * (and the same arrays), so the cache can share its per-kind maps and responses.
   */
  translate(snapshot: Snapshot, scope: ProxyScope, options: TranslateOptions = {}): ScopeResources {
    this.#sweep(snapshot.version);
    if (scope.mode === 'gateway') return this.#gatewayResources(snapshot, scope, options);
    const shared = this.#namespaceResources(snapshot, scope.mode, scope.namespace, options);
    if (scope.mode !== 'sidecar') return shared;
    const ports = inboundPorts(snapshot, scope);
    const portsKey = ports.map((p) => `${p.port}${p.http ? 'h' : 't'}${p.mtls || p.authorization ? `:${contentHash([p.mtls ?? null, p.authorization ?? null])}` : ''}`).join(',');
    const key = `${snapshot.version}|${scope.namespace}|${portsKey}|${options.validate ? 'v' : ''}`;
    const known = this.#scoped.get(key);
    if (known) return known;
    const telemetry = telemetryOf(snapshot.telemetry, scope.namespace);
    const inbound = this.#inboundResources(snapshot.version, ports, `${portsKey}|${canonicalJson(telemetry)}`, options, telemetry);
    const result: ScopeResources = {
      listeners: [...shared.listeners, ...inbound.listeners],
      routes: shared.routes,
      clusters: [...shared.clusters, ...inbound.clusters],
      endpoints: shared.endpoints,
      issues: [...shared.issues, ...inbound.issues],
      layers: { shared, own: { listeners: inbound.listeners, routes: noResources, clusters: inbound.clusters, endpoints: noResources } },
    };
    this.#scoped.set(key, result);
    return result;
  }

  /**
   * A gateway: its Gateway's listeners and route tables, and the clusters and
   * endpoints a sidecar of its namespace has (the same objects, shared).
   */
  #gatewayResources(snapshot: Snapshot, scope: ProxyScope, options: TranslateOptions): ScopeResources {
    const key = `${snapshot.version}|gateway|${scope.gateway ?? ''}|${options.validate ? 'v' : ''}`;
    const known = this.#scoped.get(key);
    if (known) return known;
    const mesh = this.#namespaceResources(snapshot, 'sidecar', scope.namespace, options);
    const gateway = scope.gateway ? snapshot.gateway?.gateways.get(scope.gateway) : undefined;
    const issues: TranslationIssue[] = [];
    const edge = gateway ? translateGateway(snapshot, gateway) : { listeners: [], routes: [], issues: [] };
    issues.push(...edge.issues);
    if (!gateway) issues.push({ severity: 'warning', object: `Gateway ${scope.gateway ?? '?'}`, message: 'no Gateway of a GatewayClass handled by Sluice has this name: the gateway gets clusters but no listeners' });
    const own = { listeners: edge.listeners, routes: edge.routes, clusters: [] as EnvoyResource[], endpoints: [] as EnvoyResource[] };
    if (options.validate) this.#keepValid(own, issues);
    // The mesh's clusters already hold the namespace's tracing collector (a sidecar of the namespace needs it too).
    const result: ScopeResources = { listeners: own.listeners, routes: own.routes, clusters: mesh.clusters, endpoints: mesh.endpoints, issues: [...mesh.issues, ...issues] };
    this.#scoped.set(key, result);
    return result;
  }

  #namespaceResources(snapshot: Snapshot, mode: ProxyMode, namespace: string, options: TranslateOptions): NamespaceResources {
    const key = `${snapshot.version}|${mode}|${namespace}|${options.validate ? 'v' : ''}`;
    const known = this.#namespaces.get(key);
    if (known) return known;
    const listeners: EnvoyResource[] = [];
    const routes: EnvoyResource[] = [];
    const clusters: EnvoyResource[] = [...passthroughClusters()];
    const endpoints: EnvoyResource[] = [];
    const issues: TranslationIssue[] = [];
    const portHosts = new Map<number, { virtualHosts: VirtualHostJson[]; jsonPointers: string[]; podDomains: Map<string, string> }>();
    const listenerNames = new Map<string, string>();
    // Access logs and tracing differ by namespace; composites shared across namespaces are keyed by them.
    const telemetry = telemetryOf(snapshot.telemetry, namespace);
    const telemetryKey = canonicalJson(telemetry);

    for (const service of snapshot.services.values()) {
      const pieces = this.#piecesOf(service, mode, namespace, snapshot.version, options.trustDomain ?? defaultTrustDomain);
      clusters.push(...pieces.clusters);
      endpoints.push(...pieces.endpoints);
      for (const listener of pieces.listeners) {
        // Proxyless: a pod's address names one listener; with two services selecting the pod, the first keeps it.
        if (listenerNames.has(listener.name)) {
          issues.push({ severity: 'warning', object: `listener ${listener.name}`, message: `pod address ${listener.name} already routes to ${listenerNames.get(listener.name)} (two services select the same pod); calls to it follow that service's policy` });
          continue;
        }
        listenerNames.set(listener.name, service.host);
        listeners.push(listener);
      }
      for (const own of pieces.serviceListeners) {
        const listener = this.#composite(`service-listener|${own.ip}|${own.port}|${own.routeName}|${own.jsonPointers.join('\0')}|${telemetryKey}`, snapshot.version, () =>
          serviceHttpListener(own.ip, own.port, own.routeName, own.jsonPointers, telemetry),
        );
        if (listenerNames.has(listener.name)) {
          issues.push({ severity: 'warning', object: `listener ${listener.name}`, message: `address ${own.ip}:${own.port} already routes to ${listenerNames.get(listener.name)} (two services claim it); calls to it follow that service's policy` });
          continue;
        }
        listenerNames.set(listener.name, service.host);
        listeners.push(listener);
      }
      routes.push(...pieces.routes);
      issues.push(...pieces.issues);
      for (const { port, virtualHost: host, jsonPointers, podDomains } of pieces.virtualHosts) {
        const entry = portHosts.get(port) ?? { virtualHosts: [], jsonPointers: [], podDomains: new Map<string, string>() };
        entry.virtualHosts.push(this.#claimPodDomains(host, podDomains, entry.podDomains, issues));
        entry.jsonPointers.push(...jsonPointers);
        portHosts.set(port, entry);
      }
    }

    if (mode === 'sidecar') {
      listeners.push(this.#composite('virtualOutbound', snapshot.version, virtualOutboundListener));
      const tracing = telemetry.tracing;
      if (tracing) clusters.push(this.#composite(`tracing|${canonicalJson(tracing)}`, snapshot.version, () => tracingCluster(tracing)));
      for (const [port, { virtualHosts, jsonPointers }] of portHosts) {
        const hostsKey = virtualHosts.map((host) => this.#idOf(host)).join(',');
        listeners.push(this.#composite(`listener|${port}|${jsonPointers.join('\0')}|${telemetryKey}`, snapshot.version, () => outboundHttpListener(port, jsonPointers, telemetry)));
        routes.push(this.#composite(`routes|${port}|${hostsKey}`, snapshot.version, () => routeTable(String(port), [...virtualHosts, passthroughVirtualHost])));
      }
    }

    // Order is deterministic (services in host order) but not sorted by name: sorting six
    // thousand names on every change costs more than the rest of an incremental
    // translation, and the cache keys resources by name anyway. translateScope sorts.
    const result = { listeners, routes, clusters, endpoints };
    if (options.validate) this.#keepValid(result, issues);
    const resources: NamespaceResources = { ...result, issues };
    this.#namespaces.set(key, resources);
    return resources;
  }

  /**
   * Envoy refuses a route table naming a domain twice: when two services select
   * the same pod on the same port, the first (in host order) keeps its address
   * and the other's virtual host is copied without it.
   */
  #claimPodDomains(host: VirtualHostJson, podDomains: readonly string[], claimed: Map<string, string>, issues: TranslationIssue[]): VirtualHostJson {
    const taken = podDomains.filter((domain) => claimed.has(domain) && claimed.get(domain) !== host.name);
    for (const domain of podDomains) if (!claimed.has(domain)) claimed.set(domain, host.name!);
    if (taken.length === 0) return host;
    issues.push({ severity: 'warning', object: `virtual host ${host.name}`, message: `pod address${taken.length === 1 ? '' : 'es'} ${taken.join(', ')} already route${taken.length === 1 ? 's' : ''} to ${claimed.get(taken[0]!)} (two services select the same pod); calls to ${taken.length === 1 ? 'it' : 'them'} follow that service's policy` });
    const copy = { ...host, domains: host.domains!.filter((domain) => !taken.includes(domain)) };
    return copy;
  }

  #inboundResources(snapshotVersion: string, ports: readonly InboundPort[], key: string, options: TranslateOptions, telemetry: ProxyTelemetry): { listeners: readonly EnvoyResource[]; clusters: readonly EnvoyResource[]; issues: TranslationIssue[] } {
    let entry = this.#inbound.get(key);
    if (!entry) {
      entry = { listener: virtualInboundListener(ports, telemetry, options.trustDomain ?? defaultTrustDomain), clusters: inboundClusters(ports.map((p) => p.port)), lastUsed: snapshotVersion };
      this.#inbound.set(key, entry);
    }
    entry.lastUsed = snapshotVersion;
    const issues: TranslationIssue[] = [];
    const result = { listeners: [entry.listener], routes: [], clusters: [...entry.clusters], endpoints: [] };
    // An inbound resource that fails is left out and reported; the cache keeps its last good version.
    if (options.validate) this.#keepValid(result, issues);
    return { listeners: result.listeners, clusters: result.clusters, issues };
  }

  /** Drop (and report) resources that break Envoy's rules; each distinct object is checked once. */
  #keepValid(result: Record<ResourceKind, EnvoyResource[]>, issues: TranslationIssue[]): void {
    for (const kind of Object.keys(result) as ResourceKind[]) {
      result[kind] = result[kind].filter((resource) => {
        const problems = this.#check(kind, resource);
        issues.push(...problems);
        return problems.length === 0;
      });
    }
  }

  #composite(key: string, snapshotVersion: string, build: () => EnvoyResource): EnvoyResource {
    let entry = this.#composites.get(key);
    if (!entry) {
      entry = { resource: build(), lastUsed: snapshotVersion };
      this.#composites.set(key, entry);
    }
    entry.lastUsed = snapshotVersion;
    return entry.resource;
  }

  #idOf(value: object): number {
    let id = this.#ids.get(value);
    if (id === undefined) {
      id = this.#nextId++;
      this.#ids.set(value, id);
    }
    return id;
  }

  #piecesOf(service: MeshService, mode: ProxyMode, namespace: string, snapshotVersion: string, trustDomain: string): ServicePieces {
    const sameNamespace = service.namespace === namespace;
    const key = `${service.fingerprint}|${mode}|${sameNamespace ? namespace : ''}`;
    let entry = this.#pieces.get(key);
    if (!entry) {
      entry = { pieces: translateService(service, mode, namespace, trustDomain), lastUsed: snapshotVersion };
      this.#pieces.set(key, entry);
    }
    entry.lastUsed = snapshotVersion;
    return entry.pieces;
  }

  #check(kind: ResourceKind, resource: EnvoyResource): TranslationIssue[] {
    let problems = this.#validated.get(resource.body);
    if (!problems) {
      const composite = resource.composite;
      const violations = composite
        ? [
            ...checkValidateRules(envoyTypeOfKind[kind], composite.shell),
            ...composite.parts.flatMap((part, index) => this.#partViolations(composite.partType, part).map((v) => ({ ...v, field: `${composite.fieldName}[${index}]${v.field ? `.${v.field}` : ''}` }))),
          ]
        : checkValidateRules(envoyTypeOfKind[kind], resource.body);
      problems = violations.map((v) => ({
        severity: 'error' as const,
        resource: resource.name,
        kind,
        message: `${kind} "${resource.name}" breaks Envoy's rules at ${v.field || '(root)'}: ${v.rule}: ${v.message}`,
      }));
      this.#validated.set(resource.body, problems);
    }
    return problems;
  }

  /** A shared part (a virtual host) is checked once, however many tables hold it. */
  #partViolations(typeName: string, part: EnvoyJson): RuleViolation[] {
    let violations = this.#partsChecked.get(part);
    if (!violations) {
      violations = checkValidateRules(typeName, part);
      this.#partsChecked.set(part, violations);
    }
    return violations;
  }

  /** Keep what the current or previous snapshot used; drop older entries so memory tracks the mesh, not its history. */
  #sweep(version: string): void {
    if (version === this.#currentSnapshot) return;
    this.#previousSnapshot = this.#currentSnapshot;
    this.#currentSnapshot = version;
    const stale = (entry: { lastUsed: string }) => entry.lastUsed !== this.#previousSnapshot && entry.lastUsed !== this.#currentSnapshot;
    for (const map of [this.#pieces, this.#composites, this.#inbound] as Array<Map<string, { lastUsed: string }>>) {
      for (const [key, entry] of map) if (stale(entry)) map.delete(key);
    }
    for (const map of [this.#namespaces, this.#scoped]) for (const key of map.keys()) if (!key.startsWith(`${version}|`)) map.delete(key);
  }
}

/** The ports this sidecar's workload serves, from the services that select it. */
function inboundPorts(snapshot: Snapshot, scope: ProxyScope): InboundPort[] {
  const ports = new Map<number, { http: boolean; mtls?: MtlsMode; authorization?: ServiceAuthorization }>();
  for (const host of scope.servedHosts) {
    const service = snapshot.services.get(host);
    if (!service) continue;
    for (const port of service.ports) {
      const target = typeof port.targetPort === 'number' ? port.targetPort : service.endpoints.find((e) => e.ports[port.name] !== undefined)?.ports[port.name];
      if (target === undefined) continue;
      const entry = ports.get(target) ?? { http: false };
      entry.http ||= isHttpPort(port);
      // Two services on one pod port: the stricter mode and the first one's rules hold (the port is one chain).
      const mode = service.security?.mtls?.mode;
      if (mode && strictness[mode] > (entry.mtls ? strictness[entry.mtls] : -1)) entry.mtls = mode;
      entry.authorization ??= service.security?.authorization;
      ports.set(target, entry);
    }
  }
  return [...ports.entries()].sort(([a], [b]) => a - b).map(([port, entry]) => ({ port, ...entry }));
}

const strictness: Readonly<Record<MtlsMode, number>> = { DISABLE: 0, PERMISSIVE: 1, STRICT: 2 };

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
