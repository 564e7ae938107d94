/**
 * Two `sluice serve` processes against one (test) cluster, as the shipped
 * Deployment runs them: the leader advertises its admin URL on the Lease;
 * the follower forwards canary commands to it (with the caller's token, so
 * RBAC decides at the leader) and sends it its telemetry windows, so the
 * leader judges the canary on the traffic of the proxies connected to both.
 *
 * The traffic is split so that the leader's share alone is below the metric's
 * minRequests: without the follower's windows every check would be "no data"
 * and the canary would roll back; with them it is promoted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { EnvoyClusterStats, openStatsSinkStream, type SinkStream } from '../support/telemetry-clients.js';
import { endpointSlice, namespace, pod, readYamlDocuments, repoRoot, service, startFakeCluster, trafficPolicy, waitFor } from './helpers.js';

const SERVICE_ACCOUNT = 'system:serviceaccount:sluice-system:sluice';
let fake: FakeKubeApiServer;
const children: ChildProcess[] = [];
const sinks: SinkStream[] = [];
const timers: NodeJS.Timeout[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Replica {
  readonly name: string;
  readonly admin: string;
  readonly xds: string;
  stderr(): string;
}

/** A free port found here can be taken by another test before serve binds it: then try again with new ports. */
async function startReplica(name: string, kubeconfig: string): Promise<Replica> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startReplicaOnce(name, kubeconfig);
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

async function startReplicaOnce(name: string, kubeconfig: string): Promise<Replica> {
  const [xdsPort, adminPort] = [await freePort(), await freePort()];
  const admin = `http://127.0.0.1:${adminPort}`;
  const child = spawn(process.execPath, [
    '--import', 'tsx', 'control-plane/cli/main.ts', 'serve', '--kubeconfig', kubeconfig, '--host', '127.0.0.1',
    '--xds-port', String(xdsPort), '--admin-port', String(adminPort), '--admin-address', '127.0.0.1', '--advertise-admin-url', admin,
  ], { cwd: repoRoot, env: { ...process.env, POD_NAME: name, POD_NAMESPACE: 'sluice-system', SLUICE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const replica = { name, admin, xds: `127.0.0.1:${xdsPort}`, stderr: () => stderr };
  const exited = new Promise<false>((resolve) => child.once('exit', () => resolve(false)));
  const ready = await Promise.race([pollReady(admin, 20_000), exited]);
  if (!ready) throw new Error(`${name} not ready: ${stderr}`);
  return replica;
}

/** Poll an async check until it returns a value (or throws: then fail at once). */
async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function pollReady(admin: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await fetch(`${admin}/readyz`).then((r) => r.status, () => 0)) === 200) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

const lease = () => fake.get('coordination.k8s.io/v1', 'Lease', 'sluice-system', 'sluice-leader') as Record<string, any> | undefined;
const canaryOf = async (replica: Replica) => (await (await fetch(`${replica.admin}/api/v1/canaries/shop/orders`)).json()) as Record<string, any>;
const command = (replica: Replica, verb: string, token?: string) =>
  fetch(`${replica.admin}/api/v1/canaries/shop/orders/${verb}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: '{}' });

/** A sidecar reporting `perSecond` successful requests to orders v2 (and v1) to one replica's stats sink. */
function sidecarTraffic(replica: Replica, nodeId: string, perSecond: number): void {
  const sink = openStatsSinkStream(replica.xds, nodeId);
  sinks.push(sink);
  const stats = ['v1', 'v2'].map((v) => new EnvoyClusterStats(`outbound|8080|${v}|orders.shop.svc.cluster.local`));
  timers.push(setInterval(() => {
    for (const s of stats) for (let i = 0; i < perSecond / 4; i++) s.observe(2, 12);
    sink.send(stats.flatMap((s) => s.families()));
  }, 250));
}

let leader: Replica;
let follower: Replica;

beforeAll(async () => {
  fake = await startFakeCluster();
  fake.apply(namespace('sluice-system'));
  for (const doc of await readYamlDocuments(path.join(repoRoot, 'examples/deploy/10-rbac.yaml'))) fake.apply(doc);
  fake.apply(namespace('shop'));
  fake.apply(service('shop', 'orders'));
  fake.apply(pod('shop', 'orders-v1-0', { app: 'orders', version: 'v1' }));
  fake.apply(pod('shop', 'orders-v2-0', { app: 'orders', version: 'v2' }));
  fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], ['10.0.0.3', 'orders-v2-0']]));
  fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 100, v2: 0 }));
  // Who may command canaries in shop: the ClusterRole shipped for it, bound to a release group.
  fake.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'shop-releases', namespace: 'shop' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sluice-canary-operator' }, subjects: [{ kind: 'Group', name: 'shop-release-managers' }] });
  const kubeconfig = await fake.writeKubeconfig(SERVICE_ACCOUNT);
  leader = await startReplica('replica-a', kubeconfig);
  await waitFor(() => String(lease()?.spec?.holderIdentity ?? '').startsWith('replica-a_'), 10_000, 'replica-a to lead');
  follower = await startReplica('replica-b', kubeconfig);
  // Traffic flows before the Canary exists, so every check sees it: the leader's sidecar ~12 requests/s, the follower's ~160.
  sidecarTraffic(leader, 'web-a.shop', 12);
  sidecarTraffic(follower, 'web-b.shop', 160);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  fake.apply({
    apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'orders', namespace: 'shop' },
    // 60 requests per 3 s interval: more than the leader's share (~36), much less than the mesh's (~500).
    // 3 s: a follower's slots reach the leader up to a slot plus a send later, so a window holds at least two of them.
    spec: { service: 'orders', stable: 'v1', canary: 'v2', steps: [50], interval: '3s', threshold: 3, metrics: [{ name: 'success-rate', min: 99, minRequests: 60 }] },
  });
  await until(async () => (await fetch(`${leader.admin}/api/v1/canaries/shop/orders`)).status === 200, 10_000, 'the leader to serve the Canary');
}, 60_000);

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
  await Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
  })));
  await fake?.close();
});

describe('two serve replicas', () => {
  it('the leader advertises its admin URL on the Lease', () => {
    expect(lease()!.metadata.annotations['sluice.dev/admin-url']).toBe(leader.admin);
  });

  it('a follower forwards canary commands to the leader, which authorises the caller', async () => {
    const unauthenticated = await command(follower, 'pause');
    expect(unauthenticated.status).toBe(401);
    const outsider = await command(follower, 'pause', fake.issueToken('intern', ['interns']));
    expect(outsider.status).toBe(403);
    const token = fake.issueToken('release-bot', ['shop-release-managers']);
    const paused = await command(follower, 'pause', token);
    expect(paused.status, await paused.clone().text()).toBe(200);
    expect(paused.headers.get('x-sluice-forwarded-to')).toBe(leader.admin);
    expect(((await paused.json()) as Record<string, unknown>).phase).toBe('Paused');
    expect((await canaryOf(leader)).phase).toBe('Paused');
    const resumed = await command(follower, 'resume', token);
    expect(resumed.status).toBe(200);
    expect((await canaryOf(leader)).phase).not.toBe('Paused');
  }, 20_000);

  it('the leader judges the canary on both replicas\' telemetry and promotes it', async () => {
    await until(async () => {
      const c = await canaryOf(leader);
      if (c.phase === 'Failed' || c.phase === 'RollingBack') throw new Error(`rolled back: ${c.message}; follower: ${follower.stderr().slice(-1500)}`);
      return c.phase === 'Succeeded' ? c : undefined;
    }, 30_000, 'the canary to succeed');
    const telemetry = (await (await fetch(`${leader.admin}/debug/telemetry?windowMs=5000`)).json()) as Record<string, any>;
    expect((telemetry.replicas as Array<{ peer: string }>).map((r) => r.peer)).toEqual([expect.stringMatching(/^replica-b_/)]);
    // The follower serves the same verdict (it follows the status the leader wrote).
    await until(async () => (await canaryOf(follower)).phase === 'Succeeded', 10_000, 'the follower to follow');
  }, 45_000);
});
