/**
 * The client-compatibility matrix (README), proxyless half: each real xDS
 * client against `sluice serve` — weights, user-ID and header routes in every
 * matcher form, retries, timeouts, a live weight edit, the last good
 * configuration after a bad edit — and, for gRPC C-core, a route it rejects,
 * which must be loud (/debug/syncz, /readyz, metrics, `sluice status`) and
 * forgotten once a newer version is ACKed.
 *
 * Clients: @grpc/grpc-js-xds (in process) and gRPC C-core through Debian 12's
 * python3-grpcio 1.51 (what Python, C++, Ruby and PHP services use). Traffic
 * assertions are what each client observed. The C-core suite skips, saying
 * why, only when python3-grpcio is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { echoServiceManifests, startEchoBackend, type EchoBackend } from '../support/echo-backend.js';
import { grpcCoreAvailability, startGrpcCoreClient, type Counts, type GrpcCoreClient, type GrpcCoreClientOptions } from './grpc-core-client.js';
import { startGrpcJsClient } from './grpc-js-client.js';
import { sluiceInProcess } from './sluice-cli.js';

const core = grpcCoreAvailability('python');
const missing = 'missing' in core ? core.missing : undefined;
if (missing) process.stderr.write(`gRPC C-core (Python) interop tests skipped: ${missing}\n`);
const ruby = grpcCoreAvailability('ruby');
const rubyMissing = 'missing' in ruby ? ruby.missing : undefined;
if (rubyMissing) process.stderr.write(`gRPC C-core (Ruby) interop tests skipped: ${rubyMissing}\n`);

interface ClientKind {
  readonly name: string;
  readonly start: (options: GrpcCoreClientOptions) => Promise<GrpcCoreClient>;
  readonly skip?: string;
  /** Links an RE2 older than 2023, without `(?<name>…)` groups (Sluice and Envoy accept them). */
  readonly rejectsAngleNamedGroups: boolean;
}
const clientKinds: ClientKind[] = [
  { name: '@grpc/grpc-js-xds', start: startGrpcJsClient, rejectsAngleNamedGroups: false },
  { name: `gRPC C-core ${'version' in core ? core.version : '(python3-grpcio not installed)'} (Python)`, start: (o) => startGrpcCoreClient({ ...o, runtime: 'python' }), skip: missing, rejectsAngleNamedGroups: true },
  { name: `gRPC C-core ${'version' in ruby ? ruby.version : '(ruby-grpc not installed)'} (Ruby)`, start: (o) => startGrpcCoreClient({ ...o, runtime: 'ruby' }), skip: rubyMissing, rejectsAngleNamedGroups: true },
];

const target = 'echo.shop.svc.cluster.local:9090';
const routeName = target;

const policy = (weights: [number, number], extra = '', cohortMatch = 'values: [u-1001, u-1002]') => `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  versions:
    v1: { labels: { version: v1 } }
    v2: { labels: { version: v2 } }
  routes:
    - name: cohort                     # several IDs: one RE2 alternation
      match: { userId: { header: x-user-id, ${cohortMatch} } }
      to: [{ version: v2, weight: 100 }]
    - name: vip                        # one ID: an exact match
      match: { userId: { header: x-user-id, values: [vip-7] } }
      to: [{ version: v2, weight: 100 }]
    - name: beta                       # a prefix
      match: { userId: { header: x-user-id, prefix: beta- } }
      to: [{ version: v2, weight: 100 }]
    - name: tenant                     # a plain header match, and presence
      match: { headers: [{ name: x-tenant, exact: acme }, { name: x-debug, present: true }] }
      to: [{ version: v2, weight: 100 }]
    - name: split
      to:
        - { version: v1, weight: ${weights[0]} }
        - { version: v2, weight: ${weights[1]} }
${extra}`;

type SyncRow = { nodeId: string; client?: string; types: Record<string, { status: string; nackMessage?: string; nackedResources?: string[]; lastNack?: unknown }> };

/** The C-core client only reads xDS updates while it has calls to make: keep a trickle going while polling. */
async function pollWithCalls<T>(c: GrpcCoreClient, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await c.tally(2, { concurrency: 2 });
  }
}

async function sluiceStatus(running: Awaited<ReturnType<typeof startControlPlane>>): Promise<string> {
  return (await sluiceInProcess(['status', '--admin', `http://127.0.0.1:${running.controlPlane.admin.port}`])).stdout;
}

describe.each(clientKinds)('$name through sluice serve', (kind) => {
  let v1: EchoBackend;
  let v2: EchoBackend;
  let running: Awaited<ReturnType<typeof startControlPlane>>;
  const clients: GrpcCoreClient[] = [];
  const client = async (id = `client-${clients.length}`): Promise<GrpcCoreClient> => {
    const c = await kind.start({ target, xdsAddress: running.xdsAddress, nodeId: id, metadata: { namespace: 'shop', mode: 'proxyless' } });
    clients.push(c);
    return c;
  };
  // Without the client installed every case skips, and the suite's name says why.
  const test = kind.skip ? it.skip : it;
  const syncRow = async (nodeId: string) => ((await running.admin('/debug/syncz')).json() as SyncRow[]).find((row) => row.nodeId === nodeId);

  beforeAll(async () => {
    if (kind.skip) return;
    v1 = await startEchoBackend('v1');
    v2 = await startEchoBackend('v2');
    running = await startControlPlane({ 'mesh.yaml': echoServiceManifests([v1, v2]), 'policy.yaml': policy([90, 10]) });
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await running?.stop();
    await v1?.stop();
    await v2?.stop();
  });

  test('accepts the route table, and a 90/10 split lands within statistical bounds', async () => {
    const c = await client();
    // Until its first routes arrive a client may fail fast; then every one of 1,000 calls must land (a generous deadline: CI is loaded).
    await pollWithCalls(c, () => c.tally(10), (counts) => (counts.v1 ?? 0) + (counts.v2 ?? 0) === 10, 10_000);
    const counts = await c.tally(1000, { timeoutMs: 20_000 });
    process.stdout.write(`${kind.name}: 90/10 split → ${(counts.v2 ?? 0) / 10}% of 1,000 calls on v2\n`);
    // Binomial(1000, 0.1): mean 100, sd ≈ 9.5; ±5 sd.
    expect(counts.v2, c.stderr()).toBeGreaterThan(52);
    expect(counts.v2).toBeLessThan(148);
    expect(counts.v1! + counts.v2!).toBe(1000);
    const row = await syncRow(c.nodeId);
    expect(Object.values(row!.types).map((t) => t.status)).toEqual(['SYNCED', 'SYNCED', 'SYNCED', 'SYNCED']);
  });

  test('routes by user ID (alternation, exact, prefix) and by plain header and presence matches', async () => {
    const c = await client();
    for (const id of ['u-1001', 'u-1002', 'vip-7', 'beta-42']) expect(await c.tally(50, { metadata: { 'x-user-id': id } }), id).toEqual({ v2: 50 });
    expect(await c.tally(50, { metadata: { 'x-tenant': 'acme', 'x-debug': '1' } })).toEqual({ v2: 50 });
    // Near misses take the split: mostly v1.
    const nearMisses: Array<Record<string, string>> = [{ 'x-user-id': 'u-10011' }, { 'x-user-id': 'vip-77' }, { 'x-user-id': 'xbeta-1' }, { 'x-tenant': 'acme' }];
    for (const metadata of nearMisses) {
      expect((await c.tally(100, { metadata })).v1 ?? 0, JSON.stringify(metadata)).toBeGreaterThan(70);
    }
  });

  test('keeps each user on one version (sticky by user ID), and moves users only forward as a canary grows 10 → 30 → 60 %', async () => {
    const c = await client();
    const versionOf = async (user: string, calls = 1): Promise<string> => {
      const counts = await c.tally(calls, { metadata: { 'x-user-id': user } });
      return Object.keys(counts).length === 1 && (counts.v1 === calls || counts.v2 === calls) ? Object.keys(counts)[0]! : JSON.stringify(counts);
    };
    // Users u-4200 … u-4299: their last two digits are their numbers 00–99.
    const users = Array.from({ length: 100 }, (_, n) => `u-42${String(n).padStart(2, '0')}`);
    await running.config.write('policy.yaml', policy([50, 50]));
    await pollWithCalls(c, () => versionOf('u-4250'), (v) => v === 'v2', 8000);
    // 50/50: 50 calls of one user all land on one version — the one its number says (v1 owns 00–49).
    for (const user of ['u-1007', 'u-1093', 'u-4249', 'u-4250']) {
      const expected = Number(user.slice(-2)) < 50 ? 'v1' : 'v2';
      expect(await versionOf(user, 50), user).toBe(expected);
    }
    // Requests without a user ID are still split per request.
    const anonymous = await c.tally(200);
    expect(anonymous.v1, JSON.stringify(anonymous)).toBeGreaterThan(50);
    expect(anonymous.v2, JSON.stringify(anonymous)).toBeGreaterThan(50);

    const history = new Map<string, string[]>(users.map((u) => [u, []]));
    for (const canary of [10, 30, 60]) {
      await running.config.write('policy.yaml', policy([100 - canary, canary]));
      // Wait for the step: the boundary users are on either side of it (each differs from the previous step).
      const [lastStable, firstCanary] = [users[99 - canary]!, users[100 - canary]!];
      await pollWithCalls(c, async () => [await versionOf(lastStable), await versionOf(firstCanary)].join(), (v) => v === 'v1,v2', 8000);
      for (const user of users) history.get(user)!.push(await versionOf(user));
      const onCanary = users.filter((u) => history.get(u)!.at(-1) === 'v2').length;
      expect(onCanary, `${canary}% step`).toBe(canary);
    }
    // No user went back from v2 to v1 between steps.
    const movedBack = users.filter((u) => history.get(u)!.join(',').includes('v2,v1'));
    expect(movedBack).toEqual([]);
    expect(history.get('u-4295')).toEqual(['v2', 'v2', 'v2']);
    expect(history.get('u-4275')).toEqual(['v1', 'v2', 'v2']);
    expect(history.get('u-4245')).toEqual(['v1', 'v1', 'v2']);
    expect(history.get('u-4205')).toEqual(['v1', 'v1', 'v1']);
  });

  test('a weight edit on disk reaches a busy client quickly', async () => {
    const c = await client();
    await c.tally(20);
    await c.startLoad([{}, {}]);
    const edited = Date.now();
    await running.config.write('policy.yaml', policy([0, 100]));
    let switchedMs = 0;
    while (Date.now() - edited < 3000) {
      await new Promise((r) => setTimeout(r, 25));
      const sample = (await c.take()).reduce<Counts>((sum, loop) => ({ v1: (sum.v1 ?? 0) + (loop.v1 ?? 0), v2: (sum.v2 ?? 0) + (loop.v2 ?? 0) }), {});
      if ((sample.v2 ?? 0) > 0 && !sample.v1) {
        switchedMs = Date.now() - edited;
        break;
      }
    }
    await c.stopLoad();
    process.stdout.write(`${kind.name}: weight edit on disk → client all on v2 in ${switchedMs} ms\n`);
    expect(switchedMs).toBeGreaterThan(0);
    expect(switchedMs).toBeLessThan(2000);
    expect(await c.tally(100)).toEqual({ v2: 100 });
  });

  test('a bad edit keeps the client on the last good configuration', async () => {
    const c = await client();
    await running.config.write('policy.yaml', policy([0, 100]).replace('{ version: v2, weight: 100 }\n', '{ version: v2, weight: 1000 }\n'));
    await expect.poll(async () => JSON.stringify((await running.admin('/readyz')).json()), { timeout: 2000 }).toContain('must be at most 100');
    expect(await c.tally(100)).toEqual({ v2: 100 });
  });

  test('retries on UNAVAILABLE turn a flaky backend\'s failures into successes', async () => {
    await running.config.write('policy.yaml', policy([100, 0]));
    v1.behaviour = { alternateFailures: true, errorCode: 14 };
    const c = await client();
    try {
      const without = await pollWithCalls(c, () => c.tally(40, { concurrency: 1 }), (counts) => (counts['error:14'] ?? 0) > 10, 3000);
      expect(without['error:14']).toBeGreaterThan(10);
      await running.config.write('policy.yaml', policy([100, 0], '  retries: { attempts: 3, retryOn: [unavailable] }\n'));
      const withRetries = await pollWithCalls(c, () => c.tally(100, { concurrency: 1 }), (counts) => counts.v1 === 100, 8000);
      expect(withRetries).toEqual({ v1: 100 });
    } finally {
      v1.behaviour = {};
    }
  });

  test('a route timeout cuts a slow backend off with DEADLINE_EXCEEDED', async () => {
    await running.config.write('policy.yaml', policy([100, 0]));
    v1.behaviour = { latencyMs: 400 };
    const c = await client();
    try {
      expect(await c.tally(10, { timeoutMs: 3000 })).toEqual({ v1: 10 });
      await running.config.write('policy.yaml', policy([100, 0], '  timeout: 100ms\n'));
      const cut = await pollWithCalls(c, () => c.tally(10, { timeoutMs: 3000 }), (counts) => counts['error:4'] === 10, 4000);
      // The caller allows 3 s and the backend answers in 400 ms: only the route's 100 ms can make these DEADLINE_EXCEEDED.
      expect(cut).toEqual({ 'error:4': 10 });
    } finally {
      v1.behaviour = {};
    }
  });

  (kind.rejectsAngleNamedGroups ? test : it.skip)('a route the client rejects is loud — syncz, /readyz, metrics, sluice status — and forgotten once a fixed version is ACKed', async () => {
    await running.config.write('policy.yaml', policy([100, 0]));
    // Only this client, so every count below is its own (idle clients may or may not read the bad table).
    for (const other of clients.splice(0)) await other.close();
    await expect.poll(async () => ((await running.admin('/debug/syncz')).json() as SyncRow[]).length, { timeout: 5000 }).toBe(0);
    const c = await client('core-nack');
    expect(await c.tally(20)).toEqual({ v1: 20 });
    // `(?<name>…)` groups are valid RE2 today (Sluice and Envoy accept them) but not in the RE2 Debian 12's gRPC links.
    await running.config.write('policy.yaml', policy([0, 100], '', "regex: '(?<id>u-100[12])'"));
    const row = await pollWithCalls(c, () => syncRow('core-nack'), (r) => r?.types.routes?.status === 'NACKED', 4000);
    expect(row?.types.routes).toMatchObject({ status: 'NACKED', nackedResources: [routeName] });
    expect(row?.client).toMatch(/^gRPC /); // the node's user agent, so an operator knows which client rejects
    expect(row?.types.routes?.nackMessage).toMatch(/Invalid regex string/);
    // The client keeps its last accepted routes: all v1, though the rejected config says v2.
    expect(await c.tally(50)).toEqual({ v1: 50 });

    const ready = (await running.admin('/readyz')).json() as { proxyNacks: string[] };
    expect(ready.proxyNacks).toEqual([expect.stringMatching(new RegExp(`^core-nack \\(gRPC [^)]*\\) NACKed routes ${routeName.replace(/\./g, '\\.')}: .*Invalid regex string`))]);
    const metrics = (await running.admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_xds_nacked_proxies\{type="routes"\} 1/);
    expect(metrics).toMatch(/sluice_xds_nacks_total\{type="routes"\} [1-9]/);
    const status = await sluiceStatus(running);
    expect(status).toMatch(/core-nack\s+shop\s+proxyless\s+sotw\s+SYNCED\s+SYNCED\s+SYNCED\s+NACKED/);
    expect(status).toContain('1 of 1 proxy rejects the latest configuration');
    expect(status).toMatch(new RegExp(`core-nack \\(gRPC [^)]*\\) NACKED routes ${routeName.replace(/\./g, '\\.')}: .*Invalid regex string`));

    // Fixed: the newer version is ACKed and the stale NACK is gone everywhere.
    await running.config.write('policy.yaml', policy([0, 100], '', "regex: '(?P<id>u-100[12])'"));
    const fixed = await pollWithCalls(c, () => syncRow('core-nack'), (r) => r?.types.routes?.status === 'SYNCED', 4000);
    expect(fixed?.types.routes).not.toHaveProperty('nackMessage');
    expect(fixed?.types.routes).not.toHaveProperty('lastNack');
    expect(await c.tally(50)).toEqual({ v2: 50 });
    expect(((await running.admin('/readyz')).json() as { proxyNacks: string[] }).proxyNacks).toEqual([]);
    expect((await running.admin('/metrics')).text).toMatch(/sluice_xds_nacked_proxies\{type="routes"\} 0/);
    expect(await sluiceStatus(running)).not.toContain('NACKED');
  });
});
