/**
 * A generated mesh for benchmarks: `services` services in `namespaces`
 * namespaces, each with `versions` versions of `endpointsPerVersion` pods, and
 * a TrafficPolicy on every service (user-ID route, weights, retries, timeout,
 * circuit breaker, outlier detection).
 */
import { evaluateLoad } from '../../control-plane/model/build.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';

export interface MeshShape {
  services: number;
  versions: number;
  endpointsPerVersion: number;
  namespaces: number;
  /** Give every Service a ClusterIP (10.96.x.y), as Services read from a cluster have: each then gets its own sidecar listener. */
  clusterIPs?: boolean;
}

/** Service `i`'s ClusterIP when the shape has them. */
export function clusterIPOf(i: number): string {
  return `10.96.${(i >> 8) & 255}.${(i & 255) + 1}`;
}

export function serviceName(i: number): string {
  return `svc-${String(i).padStart(4, '0')}`;
}

export function policyText(i: number, ns: string, versions: number, canaryWeight: number): string {
  const names = Array.from({ length: versions }, (_, v) => `v${v + 1}`);
  const weights = names.map((_, v) => (v === 0 ? 100 - canaryWeight : v === names.length - 1 ? canaryWeight : 0));
  return `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${serviceName(i)}, namespace: ${ns} }
spec:
  service: ${serviceName(i)}
  versions:
${names.map((n) => `    ${n}: { labels: { version: ${n} } }`).join('\n')}
  routes:
    - name: testers
      match: { userId: { header: x-user-id, values: [u-1, u-2, u-3] } }
      to: [{ version: ${names[names.length - 1]}, weight: 100 }]
    - name: split
      to:
${names.map((n, v) => `        - { version: ${n}, weight: ${weights[v]} }`).join('\n')}
  timeout: 3s
  retries: { attempts: 2, perTryTimeout: 1s, retryOn: [5xx, connect-failure] }
  circuitBreaker: { maxConnections: 1000, maxRequests: 2000 }
  outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s }
`;
}

/** The namespace of service `i`: services are spread round-robin over the namespaces. */
export function namespaceOf(i: number, shape: Pick<MeshShape, 'namespaces'>): string {
  return `ns-${i % shape.namespaces}`;
}

/** A pod of the mesh: what a sidecar in it sends as its identity. */
export interface MeshPod {
  readonly service: number;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly address: string;
}

/**
 * The pods of service `i`: `versions × endpointsPerVersion` of them, then
 * `extraEndpoints` more of the first version (an endpoint change adds one) on
 * addresses 10.250.x.y that appear nowhere else, so they can be found in bytes.
 */
export function podsOf(i: number, shape: MeshShape, extraEndpoints = 0): MeshPod[] {
  const ns = namespaceOf(i, shape);
  const name = serviceName(i);
  const pods: MeshPod[] = [];
  for (let v = 1; v <= shape.versions; v++) {
    for (let e = 0; e < shape.endpointsPerVersion; e++) {
      pods.push({ service: i, name: `${name}-v${v}-${e}`, namespace: ns, labels: { app: name, version: `v${v}` }, address: `10.${(i >> 8) & 255}.${i & 255}.${v * 16 + e}` });
    }
  }
  for (let x = 0; x < extraEndpoints; x++) {
    pods.push({ service: i, name: `${name}-v1-extra-${x}`, namespace: ns, labels: { app: name, version: 'v1' }, address: extraAddress(i, x) });
  }
  return pods;
}

/** The address of the `x`th added endpoint of service `i`. */
export function extraAddress(i: number, x: number): string {
  return `10.250.${i & 255}.${((i >> 8) & 15) * 16 + (x % 16)}`;
}

/** One service's file: its Service, its Pods and one EndpointSlice holding every pod. */
export function serviceFileText(i: number, shape: MeshShape, extraEndpoints = 0): string {
  const ns = namespaceOf(i, shape);
  const name = serviceName(i);
  const docs: string[] = [`apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { app: ${name} }${shape.clusterIPs ? `\n  clusterIP: ${clusterIPOf(i)}` : ''}
  ports: [{ name: http, port: 8080 }]
`];
  const endpoints: string[] = [];
  for (const pod of podsOf(i, shape, extraEndpoints)) {
    docs.push(`apiVersion: v1
kind: Pod
metadata: { name: ${pod.name}, namespace: ${ns}, labels: { app: ${name}, version: ${pod.labels.version} } }
spec: { containers: [{ name: app, image: app }] }
`);
    endpoints.push(`  - { addresses: [${pod.address}], targetRef: { kind: Pod, name: ${pod.name} } }`);
  }
  docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${ns}, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
${endpoints.join('\n')}
`);
  return docs.join('---\n');
}

/** Relative paths of service `i`'s files: `<ns>/<name>.yaml` and `<ns>/<name>-policy.yaml`. */
export function serviceFilePaths(i: number, shape: Pick<MeshShape, 'namespaces'>): { service: string; policy: string } {
  const ns = namespaceOf(i, shape);
  return { service: `${ns}/${serviceName(i)}.yaml`, policy: `${ns}/${serviceName(i)}-policy.yaml` };
}

export function meshFiles(shape: MeshShape): Array<[string, string]> {
  const files: Array<[string, string]> = [];
  for (let i = 0; i < shape.services; i++) {
    const paths = serviceFilePaths(i, shape);
    files.push([paths.service, serviceFileText(i, shape)]);
    files.push([paths.policy, policyText(i, namespaceOf(i, shape), shape.versions, 10)]);
  }
  return files;
}

export function snapshotOf(files: Array<[string, string]>): Snapshot {
  const result = evaluateLoad(loadFromTexts(files));
  if (!result.ok) throw new Error(`generated mesh is invalid: ${result.issues[0]?.message}`);
  return result.snapshot;
}
