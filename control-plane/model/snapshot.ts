/**
 * The model: one immutable, validated view of the whole mesh. Every later
 * stage (translate, xDS, canary) reads a Snapshot and never mutates it; a
 * change anywhere produces a new Snapshot with a new version.
 *
 * Services are the typed IR the translator reads (ports, endpoints, versions,
 * and `traffic`, see traffic.ts). The user's TrafficPolicy and Canary objects
 * are kept alongside for the canary controller and status, not for translation.
 */
import type { ObjectReference, SourceLocation } from '../core/errors.js';
import type { CanarySpec, TrafficPolicySpec, WorkloadEntrySpec } from '../api/types.js';
import type { ObjectOrigin } from '../core/source-object.js';
import { contentHash } from '../lib/canonical-json.js';
import type { MeshTelemetry } from './telemetry.js';
import type { GatewayModel } from './gateway.js';
import type { ServiceTraffic } from './traffic.js';
import type { ServiceSecurity } from './security.js';

/** A Service's cluster-local DNS name: `orders.shop.svc.cluster.local`. */
export type ServiceHost = string;

export interface ServicePort {
  /** Port name ('' when the Service has a single unnamed port). */
  readonly name: string;
  readonly port: number;
  /** Where endpoints listen: a number, or a container port name. */
  readonly targetPort: number | string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  /** http, http2, grpc, tcp… from `appProtocol` or the port name prefix (Istio's convention). */
  readonly appProtocol: string;
}

export interface Endpoint {
  readonly address: string;
  /** Service port name → the port this endpoint listens on for it. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly ready: boolean;
  /** Load-balancing weight (WorkloadEntry), default 1. */
  readonly weight: number;
  readonly zone?: string;
  /** The Pod or WorkloadEntry behind this endpoint. */
  readonly workload?: ObjectReference;
}

export interface ServiceVersion {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly endpoints: readonly Endpoint[];
}

export interface PolicyObject<Spec> {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly spec: Spec;
  readonly origin: ObjectOrigin;
}

export type TrafficPolicy = PolicyObject<TrafficPolicySpec>;
/** `annotations` carry operators' commands (`sluice.dev/command`), read by the canary controller. */
export type Canary = PolicyObject<CanarySpec> & { readonly annotations?: Readonly<Record<string, string>> };
export type WorkloadEntry = PolicyObject<WorkloadEntrySpec> & { readonly labels: Readonly<Record<string, string>> };

export interface MeshService {
  readonly host: ServiceHost;
  /**
   * Content hash of everything this service's configuration depends on (ports,
   * endpoints, versions, traffic): equal fingerprints translate to equal
   * resources, which lets translation reuse work across snapshots.
   */
  readonly fingerprint: string;
  readonly name: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  /**
   * The service's virtual IPs (spec.clusterIPs / clusterIP), when it has any:
   * a sidecar then gets a listener of the service's own for calls to them
   * (translate/listener.ts). Absent for headless services and manifests that
   * name none.
   */
  readonly clusterIPs?: readonly string[];
  readonly selector: Readonly<Record<string, string>>;
  /** Every endpoint of the service, sorted by address. */
  readonly endpoints: readonly Endpoint[];
  /** Version name → its endpoints; empty without a TrafficPolicy. Sorted by name. */
  readonly versions: ReadonlyMap<string, ServiceVersion>;
  /** Routing and resilience settings; undefined without a TrafficPolicy (plain round robin). */
  readonly traffic?: ServiceTraffic;
  /** mTLS mode and authorization rules; undefined when no PeerAuthentication or AuthorizationPolicy covers it. */
  readonly security?: ServiceSecurity;
}

/** The fingerprint of a service from its content (build and overrides use the same rule). */
export function serviceFingerprint(service: Omit<MeshService, 'fingerprint'>): string {
  return contentHash([service.name, service.namespace, service.ports, service.clusterIPs ?? null, service.selector, service.endpoints, [...service.versions.values()].map((v) => [v.name, v.labels]), service.traffic ?? null, service.security ?? null]);
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Something legal but probably not what the user meant (a version with no endpoints…). */
export interface ConfigWarning {
  readonly object: ObjectReference;
  readonly field?: string;
  readonly message: string;
  /** Where in the user's file, when known. */
  readonly location?: SourceLocation;
}

export interface Snapshot {
  /** Content hash of everything the snapshot was built from. */
  readonly version: string;
  /** Services by host, in host order. */
  readonly services: ReadonlyMap<ServiceHost, MeshService>;
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  readonly trafficPolicies: readonly TrafficPolicy[];
  readonly canaries: readonly Canary[];
  readonly workloadEntries: readonly WorkloadEntry[];
  /** Access logs and tracing per namespace (TelemetryConfig); absent means the defaults everywhere. */
  readonly telemetry?: MeshTelemetry;
  /** Objects read, by kind (Service, EndpointSlice, Pod, Namespace, TrafficPolicy, Canary, WorkloadEntry, TelemetryConfig). */
  readonly counts: Readonly<Record<string, number>>;
  /** Objects of kinds Sluice does not read (Deployments…), by kind. */
  readonly ignored: Readonly<Record<string, number>>;
  readonly warnings: readonly ConfigWarning[];
  /** The edge (Gateway API Gateways and their HTTPRoutes); absent when no Gateway API object was read. */
  readonly gateway?: GatewayModel;
}

export const clusterDomain = 'svc.cluster.local';

export function serviceHost(name: string, namespace: string): ServiceHost {
  return `${name}.${namespace}.${clusterDomain}`;
}

export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector)) if (labels[key] !== value) return false;
  return true;
}
