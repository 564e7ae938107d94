/**
 * Builds a Snapshot (the model and its typed IR) from checked source objects
 * and runs every cross-object check. The only place manifests are read. All problems are collected (not just the first); if there is any,
 * no snapshot is produced and the caller keeps serving the last good one.
 */
import { isIP } from 'node:net';
import type { ConfigIssue, ConfigErrorCode, ObjectReference } from '../core/errors.js';
import type { CanarySpec, TelemetryConfigSpec, TrafficPolicySpec, WorkloadEntrySpec } from '../api/types.js';
import { deepFreeze, formatFieldPath, type FieldPath, type SourceObject } from '../core/source-object.js';
import { contentHash } from '../lib/canonical-json.js';
import { FrozenMap } from '../lib/frozen-map.js';
import { defaultProxyTelemetry, meshConfigNamespace, resolveTelemetry, type MeshTelemetry, type ProxyTelemetry } from './telemetry.js';
import { trafficFromPolicy } from './traffic-from-policy.js';
import { gatewaysFromManifests } from './gateway-from-manifests.js';
import { matchesEverything, type ServiceTraffic } from './traffic.js';
import { trafficProblems } from './validate-traffic.js';
import { policyApplies, securityOf, sidecarStatusAnnotation, type SecurityPolicy } from './security.js';
import type { AuthorizationPolicySpec, PeerAuthenticationSpec } from '../api/policy-api.generated.js';
import {
  labelsMatch,
  serviceFingerprint,
  serviceHost,
  type Canary,
  type ConfigWarning,
  type Endpoint,
  type MeshService,
  type NamespaceInfo,
  type ServicePort,
  type ServiceVersion,
  type Snapshot,
  type TrafficPolicy,
  type WorkloadEntry,
} from './snapshot.js';

export type BuildResult =
  | { readonly ok: true; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

interface Manifest {
  metadata?: { generation?: number; annotations?: unknown };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A manifest's annotations with string values (a YAML `true` or number is not an annotation the API server would keep). */
function stringAnnotations(value: unknown): { annotations?: Record<string, string> } {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const entries = Object.entries(value as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length > 0 ? { annotations: Object.fromEntries(entries) } : {};
}

const identityKey = (o: SourceObject) => `${o.apiVersion.split('/')[0]}|${o.kind}|${o.namespace}|${o.name}`;
const referenceOf = (o: SourceObject): ObjectReference => ({ kind: o.kind, namespace: o.namespace, name: o.name });

/** Istio's convention: the port's protocol from appProtocol, else the name's prefix (`http-web`, `grpc`). */
function appProtocolOf(name: string, appProtocol: unknown): string {
  if (typeof appProtocol === 'string' && appProtocol) return appProtocol.toLowerCase().replace(/^kubernetes\.io\/h2c$/, 'http2');
  const prefix = name.split('-')[0]!.toLowerCase();
  return ['http', 'http2', 'grpc', 'grpc-web', 'tcp', 'tls', 'https', 'mongo', 'redis', 'mysql'].includes(prefix) ? prefix : 'tcp';
}

/** Protocols whose traffic a policy routes (the translator's HTTP ports). */
const httpProtocols = new Set(['http', 'http2', 'grpc', 'grpc-web']);

export interface BuildOptions {
  /** The control plane's namespace, whose TelemetryConfig applies mesh-wide (default sluice-system). */
  readonly meshNamespace?: string;
}

export function buildSnapshot(objects: readonly SourceObject[], ignored: Readonly<Record<string, number>> = {}, options: BuildOptions = {}): BuildResult {
  const meshNamespace = options.meshNamespace ?? meshConfigNamespace;
  const issues: ConfigIssue[] = [];
  const warnings: ConfigWarning[] = [];
  const issue = (code: ConfigErrorCode, object: SourceObject, path: FieldPath, message: string): void => {
    issues.push({ code, object: referenceOf(object), field: path.length ? formatFieldPath(path) : undefined, message, location: object.origin.locate(path) });
  };
  const warn = (object: SourceObject, path: FieldPath, message: string): void => {
    warnings.push({ object: referenceOf(object), field: path.length ? formatFieldPath(path) : undefined, message, location: object.origin.locate(path) });
  };

  // Sorting first makes every later choice (which duplicate is "second", output order) deterministic.
  const sorted = [...objects].sort((a, b) => identityKey(a).localeCompare(identityKey(b)) || a.origin.label.localeCompare(b.origin.label));
  const unique: SourceObject[] = [];
  const firstSeen = new Map<string, SourceObject>();
  for (const object of sorted) {
    const key = identityKey(object);
    const first = firstSeen.get(key);
    if (first) {
      const where = first.origin.locate(['metadata', 'name']);
      issue('duplicate-object', object, ['metadata', 'name'], `${object.kind} ${object.namespace}/${object.name} is defined twice (first in ${where ? `${where.file}:${where.line}:${where.column}` : first.origin.label})`);
      continue;
    }
    firstSeen.set(key, object);
    unique.push(object);
  }

  const byKind = (kind: string) => unique.filter((o) => o.kind === kind);
  const counts: Record<string, number> = {};
  for (const object of unique) counts[object.kind] = (counts[object.kind] ?? 0) + 1;

  const namespaces = new Map<string, NamespaceInfo>();
  for (const ns of byKind('Namespace')) namespaces.set(ns.name, { name: ns.name, labels: ns.labels });

  const podLabels = new Map<string, Readonly<Record<string, string>>>();
  for (const pod of byKind('Pod')) podLabels.set(`${pod.namespace}/${pod.name}`, pod.labels);
  const podsWithSidecar = new Set(byKind('Pod').filter((pod) => ((pod.manifest as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations ?? {})[sidecarStatusAnnotation] !== undefined).map((pod) => `${pod.namespace}/${pod.name}`));

  const workloadEntries: WorkloadEntry[] = byKind('WorkloadEntry').map((o) => {
    const spec = (o.manifest as Manifest).spec as unknown as WorkloadEntrySpec;
    return { namespace: o.namespace, name: o.name, spec, origin: o.origin, labels: spec.labels ?? {}, generation: (o.manifest as Manifest).metadata?.generation };
  });

  // Services and their endpoints.
  const serviceObjects = new Map<string, SourceObject>();
  for (const svc of byKind('Service')) serviceObjects.set(`${svc.namespace}/${svc.name}`, svc);
  const slicesByService = new Map<string, SourceObject[]>();
  for (const slice of byKind('EndpointSlice')) {
    const owner = slice.labels['kubernetes.io/service-name'];
    if (!owner) {
      warnings.push({ object: referenceOf(slice), field: 'metadata.labels', message: 'has no kubernetes.io/service-name label; its endpoints belong to no service' });
      continue;
    }
    const key = `${slice.namespace}/${owner}`;
    if (!serviceObjects.has(key)) warnings.push({ object: referenceOf(slice), field: 'metadata.labels["kubernetes.io/service-name"]', message: `names Service ${key}, which does not exist` });
    slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice]);
  }

  const servicePorts = (svc: SourceObject): ServicePort[] => {
    const spec = ((svc.manifest as Manifest).spec ?? {}) as { ports?: Array<Record<string, unknown>> };
    return (spec.ports ?? []).map((p) => {
      const name = typeof p.name === 'string' ? p.name : '';
      return {
        name,
        port: p.port as number,
        targetPort: (p.targetPort as number | string | undefined) ?? (p.port as number),
        protocol: ((p.protocol as string | undefined) ?? 'TCP') as ServicePort['protocol'],
        appProtocol: appProtocolOf(name, p.appProtocol),
      };
    });
  };

  const endpointsOf = (svc: SourceObject, ports: ServicePort[], selector: Record<string, string>): Endpoint[] => {
    const endpoints: Endpoint[] = [];
    for (const slice of slicesByService.get(`${svc.namespace}/${svc.name}`) ?? []) {
      const body = slice.manifest as { endpoints?: Array<Record<string, unknown>>; ports?: Array<{ name?: string; port?: number }> };
      const slicePorts = body.ports ?? [];
      for (const entry of body.endpoints ?? []) {
        const targetRef = entry.targetRef as { kind?: string; name?: string; namespace?: string } | undefined;
        const conditions = (entry.conditions ?? {}) as { ready?: boolean };
        const labels = targetRef?.kind === 'Pod' && targetRef.name ? podLabels.get(`${targetRef.namespace ?? slice.namespace}/${targetRef.name}`) ?? {} : {};
        const endpointPorts: Record<string, number> = {};
        for (const port of ports) {
          const match = slicePorts.find((sp) => (sp.name ?? '') === port.name);
          if (match?.port !== undefined) endpointPorts[port.name] = match.port;
        }
        for (const address of entry.addresses as string[]) {
          endpoints.push({
            address,
            ports: endpointPorts,
            labels,
            // Kubernetes: a nil `ready` means ready.
            ready: conditions.ready !== false,
            weight: 1,
            zone: typeof entry.zone === 'string' ? entry.zone : undefined,
            workload: targetRef?.name ? { kind: targetRef.kind ?? 'Pod', namespace: targetRef.namespace ?? slice.namespace, name: targetRef.name } : undefined,
          });
        }
      }
    }
    // VMs and external systems: a WorkloadEntry in the namespace whose labels the selector matches.
    if (Object.keys(selector).length > 0) {
      for (const entry of workloadEntries) {
        if (entry.namespace !== svc.namespace || !labelsMatch(selector, entry.labels)) continue;
        const endpointPorts: Record<string, number> = {};
        for (const port of ports) {
          const explicit = entry.spec.ports?.[port.name];
          endpointPorts[port.name] = explicit ?? (typeof port.targetPort === 'number' ? port.targetPort : port.port);
        }
        endpoints.push({ address: entry.spec.address, ports: endpointPorts, labels: entry.labels, ready: true, weight: entry.spec.weight ?? 1, workload: { kind: 'WorkloadEntry', namespace: entry.namespace, name: entry.name } });
      }
    }
    return endpoints.sort((a, b) => a.address.localeCompare(b.address) || (a.workload?.name ?? '').localeCompare(b.workload?.name ?? ''));
  };

  // TrafficPolicies: one per service, versions and routes consistent.
  const policyByService = new Map<string, TrafficPolicy>();
  const policyVersions = new Map<TrafficPolicy, Set<string>>();
  const trafficOf = new Map<TrafficPolicy, ServiceTraffic>();
  for (const object of byKind('TrafficPolicy')) {
    const spec = (object.manifest as Manifest).spec as unknown as TrafficPolicySpec;
    const policy: TrafficPolicy = { namespace: object.namespace, name: object.name, spec, origin: object.origin, generation: (object.manifest as Manifest).metadata?.generation };
    const serviceKey = `${object.namespace}/${spec.service}`;
    if (!serviceObjects.has(serviceKey)) {
      issue('unknown-service', object, ['spec', 'service'], `Service ${serviceKey} does not exist`);
    }
    const other = policyByService.get(serviceKey);
    if (other) {
      issue('duplicate-policy', object, ['spec', 'service'], `Service ${serviceKey} already has TrafficPolicy ${other.namespace}/${other.name}; a service takes one policy`);
    } else {
      policyByService.set(serviceKey, policy);
    }
    const versions = new Set(Object.keys(spec.versions));
    policyVersions.set(policy, versions);
    const traffic = trafficFromPolicy({ kind: 'TrafficPolicy', namespace: object.namespace, name: object.name }, spec);
    trafficOf.set(policy, traffic);
    for (const problem of trafficProblems(versions, traffic)) issue(problem.code, object, problem.path, problem.message);
    if (spec.stickyBy === 'userId' && !traffic.stickyUsers) {
      warn(object, ['spec', 'stickyBy'], 'no user ID is known (set spec.userId, or match on userId in a route): splits choose per request until a Canary with a cohort names one');
    }
    // Legal, but a route below one that matches everything silently never applies.
    const catchAll = traffic.routes.findIndex((route) => matchesEverything(route.match));
    traffic.routes.forEach((route, index) => {
      if (catchAll >= 0 && index > catchAll) warn(object, ['spec', 'routes', index], `route "${route.name}" is never used: route "${traffic.routes[catchAll]!.name}" above it matches every request`);
    });
  }

  // Canaries: a policy for the service, both versions in it, steps increasing.
  const canaryByService = new Map<string, Canary>();
  for (const object of byKind('Canary')) {
    const spec = (object.manifest as Manifest).spec as unknown as CanarySpec;
    const metadata = (object.manifest as Manifest).metadata;
    const canary: Canary = { namespace: object.namespace, name: object.name, spec, origin: object.origin, generation: metadata?.generation, ...stringAnnotations(metadata?.annotations) };
    const serviceKey = `${object.namespace}/${spec.service}`;
    const policy = policyByService.get(serviceKey);
    if (!policy) {
      issue('canary-without-policy', object, ['spec', 'service'], `Service ${serviceKey} has no TrafficPolicy; a canary shifts traffic between the versions a TrafficPolicy defines`);
    } else {
      const versions = policyVersions.get(policy)!;
      for (const field of ['stable', 'canary'] as const) {
        if (!versions.has(spec[field])) issue('canary-version', object, ['spec', field], `version "${spec[field]}" is not in TrafficPolicy ${policy.namespace}/${policy.name} (versions: ${[...versions].sort().join(', ')})`);
      }
    }
    if (spec.stable === spec.canary) issue('canary-version', object, ['spec', 'canary'], 'must differ from spec.stable');
    spec.steps.forEach((step, index) => {
      if (index > 0 && step <= spec.steps[index - 1]!) issue('schema', object, ['spec', 'steps', index], `steps must increase, got ${step} after ${spec.steps[index - 1]}`);
    });
    spec.metrics.forEach((metric, index) => {
      const need = (field: 'min' | 'maxMs' | 'query', why: string) => {
        if (metric[field] === undefined) issue('schema', object, ['spec', 'metrics', index, field], `is required ${why}`);
      };
      if (metric.name === 'success-rate') need('min', 'for success-rate (the lowest acceptable success rate in percent)');
      if (metric.name === 'latency-p99') need('maxMs', 'for latency-p99 (the highest acceptable p99 in milliseconds)');
      if (metric.name === 'custom' && metric.source !== 'prometheus') issue('schema', object, ['spec', 'metrics', index, 'source'], 'must be prometheus for a custom metric');
      if (metric.source === 'prometheus') need('query', 'for source prometheus (the PromQL to evaluate)');
      if (metric.name === 'custom' && metric.min === undefined && metric.max === undefined) issue('schema', object, ['spec', 'metrics', index], 'a custom metric needs min or max');
    });
    const other = canaryByService.get(serviceKey);
    if (other) issue('duplicate-canary', object, ['spec', 'service'], `Service ${serviceKey} already has Canary ${other.namespace}/${other.name}`);
    else canaryByService.set(serviceKey, canary);
  }

  // TelemetryConfigs: one per namespace; the mesh-wide one first, since every namespace's is resolved over it.
  const telemetryConfigs = new Map<string, SourceObject>();
  for (const object of byKind('TelemetryConfig')) {
    const other = telemetryConfigs.get(object.namespace);
    if (other) issue('duplicate-telemetry-config', object, ['metadata', 'name'], `namespace ${object.namespace} already has TelemetryConfig ${other.name}; a namespace takes one`);
    else telemetryConfigs.set(object.namespace, object);
  }
  const telemetrySpec = (object: SourceObject) => ((object.manifest as Manifest).spec ?? {}) as TelemetryConfigSpec;
  const meshObject = telemetryConfigs.get(meshNamespace);
  const meshResolved = meshObject ? resolveTelemetry(telemetrySpec(meshObject), defaultProxyTelemetry, {}) : { telemetry: defaultProxyTelemetry, tracingSpec: {}, problems: [] };
  for (const problem of meshResolved.problems) issue('telemetry-config', meshObject!, problem.path, problem.message);
  const namespaceTelemetry = new Map<string, ProxyTelemetry>();
  for (const [namespace, object] of [...telemetryConfigs].sort(([a], [b]) => a.localeCompare(b))) {
    if (namespace === meshNamespace) continue;
    const resolved = resolveTelemetry(telemetrySpec(object), meshResolved.telemetry, meshResolved.tracingSpec);
    for (const problem of resolved.problems) issue('telemetry-config', object, problem.path, problem.message);
    namespaceTelemetry.set(namespace, resolved.telemetry);
  }
  const telemetry: MeshTelemetry = { mesh: meshResolved.telemetry, namespaces: new FrozenMap(namespaceTelemetry) };

  // Security: one namespace-wide PeerAuthentication per namespace, one per selector.
  const peerPolicies: SecurityPolicy<PeerAuthenticationSpec>[] = [];
  const peerBySelector = new Map<string, SourceObject>();
  for (const object of byKind('PeerAuthentication')) {
    const spec = (object.manifest as Manifest).spec as unknown as PeerAuthenticationSpec;
    const selector = spec.selector ?? {};
    const key = `${object.namespace}|${JSON.stringify(Object.entries(selector).sort(([a], [b]) => a.localeCompare(b)))}`;
    const other = peerBySelector.get(key);
    if (other) {
      issue('duplicate-policy', object, Object.keys(selector).length ? ['spec', 'selector'] : ['spec'], `PeerAuthentication ${other.namespace}/${other.name} already sets the mode of ${Object.keys(selector).length ? `the workloads with labels ${JSON.stringify(selector)}` : `namespace ${object.namespace}`}; a namespace takes one per selector`);
      continue;
    }
    peerBySelector.set(key, object);
    peerPolicies.push({ reference: referenceOf(object), spec });
  }
  const authorizationPolicies: SecurityPolicy<AuthorizationPolicySpec>[] = byKind('AuthorizationPolicy').map((object) => ({ reference: referenceOf(object), spec: (object.manifest as Manifest).spec as unknown as AuthorizationPolicySpec }));
  const serviceSelectors = [...serviceObjects.values()].map((svc) => ({ namespace: svc.namespace, selector: (((svc.manifest as Manifest).spec ?? {}) as { selector?: Record<string, string> }).selector ?? {} }));
  for (const object of [...byKind('PeerAuthentication'), ...byKind('AuthorizationPolicy')]) {
    const selector = ((object.manifest as Manifest).spec as { selector?: Record<string, string> }).selector;
    if (selector && Object.keys(selector).length > 0 && !serviceSelectors.some((service) => policyApplies(object.namespace, selector, service))) {
      warn(object, ['spec', 'selector'], `no Service in namespace ${object.namespace} selects pods with labels ${JSON.stringify(selector)}, so this policy applies to nothing`);
    }
  }

  // The edge: Gateway API objects (checked here so their errors are gathered with the rest).
  const readsGatewayApi = unique.some((o) => ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute'].includes(o.kind));
  const gateway = readsGatewayApi
    ? gatewaysFromManifests({
        objects: unique,
        namespaces,
        servicePorts: (namespace, name) => {
          const svc = serviceObjects.get(`${namespace}/${name}`);
          return svc ? servicePorts(svc).map((p) => p.port) : undefined;
        },
        issue,
        warn,
      })
    : undefined;

  if (issues.length > 0) return { ok: false, issues };

  const services = new Map<string, MeshService>();
  const serviceList = [...serviceObjects.values()].map((svc) => {
    const ports = servicePorts(svc);
    const selector = (((svc.manifest as Manifest).spec ?? {}) as { selector?: Record<string, string> }).selector ?? {};
    const endpoints = endpointsOf(svc, ports, selector);
    const clusterIPs = serviceClusterIPs(svc);
    const policy = policyByService.get(`${svc.namespace}/${svc.name}`);
    if (policy) {
      // A policy applies to HTTP and gRPC ports only; anything else is passed through as TCP.
      for (const port of ports.filter((p) => !httpProtocols.has(p.appProtocol))) {
        warnings.push({
          object: { kind: 'TrafficPolicy', namespace: policy.namespace, name: policy.name },
          field: 'spec.service',
          location: policy.origin.locate(['spec', 'service']),
          message: `Service ${svc.namespace}/${svc.name} port ${port.port}${port.name ? ` ("${port.name}")` : ''} is not recognised as HTTP or gRPC, so this policy does not apply to it (its traffic passes through as TCP): name the port http, http-*, grpc or grpc-*, or set appProtocol: http, http2 or grpc`,
        });
      }
    }
    const versions = new Map<string, ServiceVersion>();
    for (const [name, { labels }] of Object.entries(policy?.spec.versions ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const members = endpoints.filter((e) => labelsMatch(labels, e.labels));
      if (members.length === 0) {
        warnings.push({ object: { kind: 'TrafficPolicy', namespace: policy!.namespace, name: policy!.name }, field: `spec.versions.${name}`, message: `no endpoint of Service ${svc.namespace}/${svc.name} has labels ${JSON.stringify(labels)}` });
      }
      versions.set(name, { name, labels, endpoints: members });
    }
    const service: Omit<MeshService, 'fingerprint'> = {
      host: serviceHost(svc.name, svc.namespace),
      name: svc.name,
      namespace: svc.namespace,
      ports,
      ...(clusterIPs.length > 0 ? { clusterIPs } : {}),
      selector,
      endpoints,
      versions: new FrozenMap(versions),
      ...(policy ? { traffic: trafficOf.get(policy)! } : {}),
    };
    const sidecars = endpoints.length > 0 && endpoints.every((e) => e.workload?.kind === 'Pod' && podsWithSidecar.has(`${e.workload.namespace}/${e.workload.name}`));
    const security = securityOf({ namespace: svc.namespace, selector, sidecars }, peerPolicies, authorizationPolicies);
    if (security) (service as { security?: typeof security }).security = security;
    const tcpPorts = ports.filter((p) => !httpProtocols.has(p.appProtocol));
    const authorizationRules = security?.authorization ? [...security.authorization.allow, ...security.authorization.deny] : [];
    if (tcpPorts.length > 0 && authorizationRules.some((rule) => rule.paths.length > 0 || rule.methods.length > 0)) {
      warnings.push({ object: { kind: 'Service', namespace: svc.namespace, name: svc.name }, message: `${tcpPorts.length > 1 ? 'ports' : 'port'} ${tcpPorts.map((p) => p.port).join(', ')} of Service ${svc.namespace}/${svc.name} ${tcpPorts.length > 1 ? 'carry' : 'carries'} TCP, which has no paths or methods: there, ALLOW rules naming them never match and DENY rules naming them deny by caller alone (fail closed)` });
    }
    if (security?.authorization && security.mtls?.mode !== 'STRICT' && security.mtls?.mode !== 'PERMISSIVE') {
      const rules = [...security.authorization.allow, ...security.authorization.deny, ...security.authorization.shadowAllow, ...security.authorization.shadowDeny];
      if (rules.some((rule) => rule.from)) {
        warnings.push({ object: { kind: 'Service', namespace: svc.namespace, name: svc.name }, message: `AuthorizationPolicy rules with "from" need the caller's identity, but Service ${svc.namespace}/${svc.name} does not accept mutual TLS (set a PeerAuthentication with mode PERMISSIVE or STRICT): those rules never match plaintext callers` });
      }
    }
    return { ...service, fingerprint: serviceFingerprint(service) };
  });
  for (const service of serviceList.sort((a, b) => a.host.localeCompare(b.host))) services.set(service.host, service);

  const snapshot: Snapshot = {
    version: contentHash(unique.map((o) => [o.kind, o.namespace, o.name, o.manifest])),
    services: new FrozenMap(services),
    namespaces: new FrozenMap(namespaces),
    trafficPolicies: [...policyByService.values()],
    canaries: [...canaryByService.values()],
    workloadEntries,
    telemetry,
    counts,
    ignored,
    warnings,
    ...(gateway ? { gateway } : {}),
  };
  return { ok: true, snapshot: deepFreeze(snapshot) };
}

/**
 * Everything wrong with a load: the per-object problems the source found plus
 * the cross-object checks over the objects that passed. Cross-object findings
 * that only restate a per-object problem ("Service shop/x does not exist" when
 * shop/x was itself rejected) are dropped so every line is worth reading.
 */
export function evaluateLoad(load: { objects: readonly SourceObject[]; ignored: Readonly<Record<string, number>>; issues: readonly ConfigIssue[] }, options: BuildOptions = {}): BuildResult {
  const built = buildSnapshot(load.objects, load.ignored, options);
  if (load.issues.length === 0) return built;
  const rejected = new Set(load.issues.filter((i) => i.object).map((i) => `${i.object!.kind}|${i.object!.namespace}|${i.object!.name}`));
  const consequential = (issue: ConfigIssue): boolean => {
    if (issue.code !== 'unknown-service' && issue.code !== 'canary-without-policy') return false;
    const target = /(?:Service) ([a-z0-9-]+)\/([a-z0-9.-]+)/.exec(issue.message);
    if (!target) return false;
    return rejected.has(`Service|${target[1]}|${target[2]}`) || [...rejected].some((key) => key.startsWith('TrafficPolicy|') || key.startsWith('Canary|'));
  };
  const extra = built.ok ? [] : built.issues.filter((issue) => !consequential(issue));
  return { ok: false, issues: [...load.issues, ...extra] };
}

/**
 * A Service's virtual IPs: spec.clusterIPs (dual stack), else spec.clusterIP.
 * `None` marks a headless service (callers reach pods directly) and gets none;
 * so does an address that is not an IP (the schema does not check it).
 */
function serviceClusterIPs(svc: SourceObject): string[] {
  const spec = ((svc.manifest as Manifest).spec ?? {}) as { clusterIP?: unknown; clusterIPs?: unknown };
  const listed = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
  return [...new Set(listed.filter((ip): ip is string => typeof ip === 'string' && isIP(ip) !== 0))];
}
