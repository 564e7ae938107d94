/**
 * Test fixtures for the Kubernetes source: a fake API server serving our
 * CRDs, manifest builders, and a source wired to a SnapshotStore exactly as
 * `sluice serve` wires it.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { kubernetesSource as createKubernetesSource } from '../../control-plane/pipeline/kubernetes-source.js';
import { type KubernetesSource, type KubernetesSourceOptions } from '../../control-plane/sources/kubernetes.js';
import { FakeKubeApiServer, type FakeKubeApiServerOptions } from '../support/fake-kube-apiserver.js';

export const silent = createLogger('silent');
export const repoRoot = path.resolve(import.meta.dirname, '../..');

export async function readYamlDocuments(file: string): Promise<Record<string, any>[]> {
  const text = await readFile(file, 'utf8');
  return parseAllDocuments(text).map((doc) => doc.toJS() as Record<string, any>).filter((d) => d !== null);
}

export async function yamlFilesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  // As the YAML source does: a Helm chart's templates are not manifests until rendered.
  const charts = entries.filter((e) => e.isFile() && e.name === 'Chart.yaml' && e.parentPath !== dir).map((e) => `${e.parentPath}${path.sep}`);
  for (const entry of entries) {
    if (entry.isFile() && /\.ya?ml$/.test(entry.name) && !charts.some((c) => `${entry.parentPath}${path.sep}`.startsWith(c))) found.push(path.join(entry.parentPath, entry.name));
  }
  return found.sort();
}

export async function crdManifests(): Promise<Record<string, any>[]> {
  const dir = path.join(repoRoot, 'examples/crds');
  const docs = await Promise.all((await yamlFilesUnder(dir)).map(readYamlDocuments));
  return docs.flat();
}

export async function startFakeCluster(options: Omit<FakeKubeApiServerOptions, 'crds'> = {}): Promise<FakeKubeApiServer> {
  return FakeKubeApiServer.start({ ...options, crds: await crdManifests() });
}

export interface RunningSource {
  readonly source: KubernetesSource;
  readonly store: SnapshotStore;
  /** Every snapshot the store published, oldest first. */
  readonly snapshots: Snapshot[];
  /** How many loads the source emitted. */
  loads: number;
  stop(): Promise<void>;
}

export async function startSource(fake: FakeKubeApiServer, options: Partial<KubernetesSourceOptions> & { user?: string } = {}): Promise<RunningSource> {
  const { user, ...sourceOptions } = options;
  const store = new SnapshotStore(silent);
  const snapshots: Snapshot[] = [];
  store.subscribe((snapshot) => snapshots.push(snapshot));
  const source = createKubernetesSource({ kubeconfig: await fake.writeKubeconfig(user), logger: silent, coalesceMs: 20, backoff: { initialMs: 20, maxMs: 200 }, ...sourceOptions });
  const running: RunningSource = {
    source,
    store,
    snapshots,
    loads: 0,
    stop: () => source.stop(),
  };
  await source.start((load) => {
    running.loads += 1;
    const error = store.apply(load);
    if (error) throw error;
  });
  return running;
}

/** Poll until `check` returns a truthy value (or stops throwing); fail with the last reason after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- manifests ----

export const namespace = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

export const service = (ns: string, name: string, port = 8080) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP' }] },
});

export const pod = (ns: string, name: string, labels: Record<string, string>, phase = 'Running') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: { containers: [{ name: 'app', image: 'example/app:1' }] },
  status: { phase },
});

/** An EndpointSlice for `serviceName` with one endpoint per [ip, podName, ready]. */
export const endpointSlice = (ns: string, serviceName: string, endpoints: Array<[ip: string, podName: string, ready?: boolean]>, port = 8080, name = `${serviceName}-abc12`) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': serviceName } },
  addressType: 'IPv4',
  endpoints: endpoints.map(([ip, podName, ready = true]) => ({ addresses: [ip], conditions: { ready }, targetRef: { kind: 'Pod', name: podName, namespace: ns } })),
  ports: [{ name: 'http', port, protocol: 'TCP' }],
});

export const trafficPolicy = (ns: string, name: string, serviceName: string, weights: Record<string, number>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name, namespace: ns },
  spec: {
    service: serviceName,
    versions: Object.fromEntries(Object.keys(weights).map((v) => [v, { labels: { version: v } }])),
    routes: [{ name: 'split', to: Object.entries(weights).map(([version, weight]) => ({ version, weight })) }],
    ...extra,
  },
});

export const canary = (ns: string, name: string, serviceName: string, stable: string, canaryVersion: string) => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Canary',
  metadata: { name, namespace: ns },
  spec: { service: serviceName, stable, canary: canaryVersion, steps: [10, 50], metrics: [{ name: 'success-rate', min: 99 }] },
});

export const workloadEntry = (ns: string, name: string, address: string, labels: Record<string, string>) => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'WorkloadEntry',
  metadata: { name, namespace: ns },
  spec: { address, labels },
});

/** A small mesh: namespace shop, Service orders with v1 (2 pods) and v2 (1 pod), policy 90/10. */
export function seedOrders(fake: FakeKubeApiServer): void {
  fake.apply(namespace('shop', { 'sluice.dev/inject': 'enabled' }));
  fake.apply(service('shop', 'orders'));
  fake.apply(pod('shop', 'orders-v1-0', { app: 'orders', version: 'v1' }));
  fake.apply(pod('shop', 'orders-v1-1', { app: 'orders', version: 'v1' }));
  fake.apply(pod('shop', 'orders-v2-0', { app: 'orders', version: 'v2' }));
  fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], ['10.0.0.2', 'orders-v1-1'], ['10.0.0.3', 'orders-v2-0']]));
  fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 90, v2: 10 }));
}

export const ordersHost = 'orders.shop.svc.cluster.local';

/** version → endpoint addresses of a service in a snapshot. */
export function versionEndpoints(snapshot: Snapshot | undefined, host = ordersHost): Record<string, string[]> {
  const svc = snapshot?.services.get(host);
  if (!svc) return {};
  return Object.fromEntries([...svc.versions].map(([name, v]) => [name, v.endpoints.map((e) => e.address)]));
}

export function routeWeights(snapshot: Snapshot | undefined, host = ordersHost): Array<[string, number]> | undefined {
  return snapshot?.services.get(host)?.traffic?.routes[0]?.destinations.map((t) => [t.version, t.weight] as [string, number]);
}

/** The Accepted condition on a stored object. */
export function acceptedOf(fake: FakeKubeApiServer, kind: string, ns: string, name: string): Record<string, any> | undefined {
  const object = fake.get('sluice.dev/v1alpha1', kind, ns, name) as { status?: { conditions?: Array<Record<string, any>> } } | undefined;
  return object?.status?.conditions?.find((c) => c.type === 'Accepted');
}
