/**
 * The IR as a plain document (what the IR goldens hold): every service with
 * its ports, endpoints, versions and traffic, without hashes. Reading a
 * document back gives a Snapshot the translator accepts, so translation can
 * be tested from hand-written IR, without manifests (like Envoy Gateway's
 * xds-ir goldens).
 */
import { contentHash } from '../lib/canonical-json.js';
import { deepFreeze } from '../core/source-object.js';
import { FrozenMap } from '../lib/frozen-map.js';
import { labelsMatch, serviceFingerprint, serviceHost, type Endpoint, type MeshService, type NamespaceInfo, type ServicePort, type ServiceVersion, type Snapshot } from './snapshot.js';
import type { ProxyTelemetry } from './telemetry.js';
import type { ServiceTraffic } from './traffic.js';
import type { MeshGateway } from './gateway.js';
import type { ServiceSecurity } from './security.js';

export interface IrServiceDocument {
  readonly name: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  readonly clusterIPs?: readonly string[];
  readonly selector?: Readonly<Record<string, string>>;
  readonly endpoints: readonly Endpoint[];
  /** Version name → the labels that select its endpoints. */
  readonly versions?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly traffic?: ServiceTraffic;
  readonly security?: ServiceSecurity;
}

export interface IrDocument {
  readonly services: readonly IrServiceDocument[];
  readonly namespaces?: readonly NamespaceInfo[];
  /** The edge: each Gateway's programmed listeners, virtual hosts and routes (only when there are Gateways). */
  readonly gateways?: readonly MeshGateway[];
  /** Access logs and tracing: mesh-wide, and namespaces with their own TelemetryConfig. */
  readonly telemetry?: { readonly mesh: ProxyTelemetry; readonly namespaces?: Readonly<Record<string, ProxyTelemetry>> };
}

export function irDocumentOf(snapshot: Snapshot): IrDocument {
  return {
    services: [...snapshot.services.values()].map((service) => ({
      name: service.name,
      namespace: service.namespace,
      ports: service.ports,
      ...(service.clusterIPs ? { clusterIPs: service.clusterIPs } : {}),
      selector: service.selector,
      endpoints: service.endpoints,
      versions: Object.fromEntries([...service.versions.values()].map((v) => [v.name, v.labels])),
      ...(service.traffic ? { traffic: service.traffic } : {}),
      ...(service.security ? { security: service.security } : {}),
    })),
    namespaces: [...snapshot.namespaces.values()],
    ...(snapshot.gateway?.gateways.size ? { gateways: [...snapshot.gateway.gateways.values()] } : {}),
    ...(snapshot.telemetry ? { telemetry: { mesh: snapshot.telemetry.mesh, namespaces: Object.fromEntries(snapshot.telemetry.namespaces) } } : {}),
  };
}

/** A snapshot from an IR document (for translation tests; the document is trusted to be valid IR). */
export function snapshotFromIrDocument(document: IrDocument): Snapshot {
  const services = new Map<string, MeshService>();
  for (const entry of document.services) {
    const endpoints = [...entry.endpoints].map((e) => ({ ...e, ports: e.ports ?? {}, labels: e.labels ?? {}, ready: e.ready ?? true, weight: e.weight ?? 1 }));
    const versions = new Map<string, ServiceVersion>();
    for (const [name, labels] of Object.entries(entry.versions ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      versions.set(name, { name, labels, endpoints: endpoints.filter((e) => labelsMatch(labels, e.labels)) });
    }
    const content: Omit<MeshService, 'fingerprint'> = {
      host: serviceHost(entry.name, entry.namespace),
      name: entry.name,
      namespace: entry.namespace,
      ports: entry.ports,
      ...(entry.clusterIPs?.length ? { clusterIPs: entry.clusterIPs } : {}),
      selector: entry.selector ?? {},
      endpoints,
      versions: new FrozenMap(versions),
      ...(entry.traffic ? { traffic: entry.traffic } : {}),
      ...(entry.security ? { security: entry.security } : {}),
    };
    services.set(content.host, { ...content, fingerprint: serviceFingerprint(content) });
  }
  const sorted = [...services.values()].sort((a, b) => a.host.localeCompare(b.host));
  return deepFreeze({
    version: contentHash(document),
    services: new FrozenMap(sorted.map((s) => [s.host, s] as const)),
    namespaces: new FrozenMap((document.namespaces ?? []).map((n) => [n.name, n] as const)),
    trafficPolicies: [],
    canaries: [],
    workloadEntries: [],
    ...(document.telemetry ? { telemetry: { mesh: document.telemetry.mesh, namespaces: new FrozenMap(Object.entries(document.telemetry.namespaces ?? {})) } } : {}),
    counts: {},
    ignored: {},
    warnings: [],
  });
}
