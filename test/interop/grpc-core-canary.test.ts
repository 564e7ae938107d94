/**
 * Canaries judged from gRPC C-core clients' load reports (Debian 12's
 * python3-grpcio 1.51): the LRS counts are exact, a healthy version is
 * promoted, a failing one rolled back, and a canary whose routes the clients
 * NACK fails naming the NACK instead of "no data". The metrics give no
 * `source`, so they read whatever telemetry the version has (here: LRS).
 *
 * C-core reports at most once a second, so the LRS interval is 1 s and the
 * canary interval 1.5 s. Skips, saying why, only without python3-grpcio.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { echoCanary, echoServiceManifests, echoStablePolicy, startEchoBackend, type Behaviour } from '../support/echo-backend.js';
import { grpcCoreAvailability, startGrpcCoreClient, type Counts, type GrpcCoreClient } from './grpc-core-client.js';

const core = grpcCoreAvailability();
const missing = 'missing' in core ? core.missing : undefined;
if (missing) process.stderr.write(`gRPC C-core canary tests skipped: ${missing}\n`);

const target = 'echo.shop.svc.cluster.local:9090';
const host = 'echo.shop.svc.cluster.local';

const policy = echoStablePolicy;

const canary = (options: { steps?: number[]; threshold?: number; cohort?: string } = {}) => echoCanary({ steps: options.steps ?? [50], threshold: options.threshold ?? 2, interval: '1500ms', cohort: options.cohort });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(files: Record<string, string>, v2Behaviour: Behaviour = {}) {
  const v1 = await startEchoBackend('v1');
  const v2 = await startEchoBackend('v2', v2Behaviour);
  cleanups.push(() => v1.stop(), () => v2.stop());
  const running = await startControlPlane({ 'mesh.yaml': echoServiceManifests([v1, v2]), 'policy.yaml': policy, ...files }, { telemetry: { slotMs: 100, lrsReportIntervalMs: 1000 } });
  cleanups.push(() => running.stop());
  const client = await startGrpcCoreClient({ target, xdsAddress: running.xdsAddress, nodeId: 'core-canary', metadata: { namespace: 'shop', mode: 'proxyless' } });
  cleanups.push(() => client.close());
  return { v1, v2, running, client };
}

/** Plain calls on two loops, a cohort user and a user outside the cohort. */
async function steadyLoad(client: GrpcCoreClient) {
  await client.tally(10);
  await client.startLoad([{}, {}, { metadata: { 'x-user-id': 'u-1' } }, { metadata: { 'x-user-id': 'u-9' } }], 5);
  cleanups.push(() => client.stopLoad());
}

type View = { phase: string; canaryWeight: number; failedChecks: number; message: string; lastAnalysis?: { results: Array<{ metric: string; outcome: string; message: string }> } };

async function waitForPhase(running: Awaited<ReturnType<typeof startControlPlane>>, phases: string[], timeoutMs: number, seen: string[] = []): Promise<View> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = (await running.admin('/api/v1/canaries/shop/echo')).json() as View;
    if (seen[seen.length - 1] !== `${current.phase}@${current.canaryWeight}`) seen.push(`${current.phase}@${current.canaryWeight}`);
    if (phases.includes(current.phase)) return current;
    if (Date.now() > deadline) throw new Error(`canary still ${current.phase} (${current.message}) after ${timeoutMs} ms; seen ${seen.join(' → ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sum = (loops: Counts[]): Counts => {
  const total: Counts = {};
  for (const loop of loops) for (const [answer, n] of Object.entries(loop)) total[answer] = (total[answer] ?? 0) + n;
  return total;
};

describe.skipIf(missing !== undefined)(`canaries from gRPC C-core ${'version' in core ? core.version : ''} load reports`, () => {
  it('LRS reports carry exactly the calls the client made, per version and with errors', async () => {
    const { running, client } = await setup({}, { alternateFailures: true, errorCode: 13 });
    await running.config.write('policy.yaml', policy.replace('[{ version: v1, weight: 100 }]', '[{ version: v1, weight: 50 }, { version: v2, weight: 50 }]'));
    await expect.poll(async () => Object.keys(await client.tally(40)).length, { timeout: 3000 }).toBe(3);
    // Everything the client made from here on, against what its reports say once they are all in.
    await new Promise((r) => setTimeout(r, 1200));
    const windowMs = 60_000;
    type Rows = { versions: Array<{ source: string; version: string; requests: number; errors: number }> };
    const before = ((await running.admin(`/debug/telemetry?windowMs=${windowMs}`)).json() as Rows).versions;
    const observed = sum([await client.tally(400), await client.tally(200, { metadata: { 'x-user-id': 'u-5' } })]);
    await new Promise((r) => setTimeout(r, 2300));
    const after = ((await running.admin(`/debug/telemetry?windowMs=${windowMs}`)).json() as Rows).versions;
    const delta = (version: string, field: 'requests' | 'errors') =>
      (after.find((r) => r.source === 'lrs' && r.version === version)?.[field] ?? 0) - (before.find((r) => r.source === 'lrs' && r.version === version)?.[field] ?? 0);
    // v2 fails every other call with INTERNAL (13): the client sees answers from v1 and v2, and errors only from v2.
    expect(delta('v1', 'requests')).toBe(observed.v1);
    expect(delta('v1', 'errors')).toBe(0);
    expect(delta('v2', 'requests')).toBe((observed.v2 ?? 0) + (observed['error:13'] ?? 0));
    expect(delta('v2', 'errors')).toBe(observed['error:13']);
  });

  it('a healthy version walks cohort → 50% → promoted on LRS alone', async () => {
    const { running, client } = await setup({ 'canary.yaml': canary({ steps: [50] }) });
    await steadyLoad(client);
    const seen: string[] = [];
    const done = await waitForPhase(running, ['Succeeded', 'Failed'], 20_000, seen);
    expect(done.phase, seen.join(' → ')).toBe('Succeeded');
    expect(seen).toContain('CohortTesting@0');
    expect(seen).toContain('Progressing@50');
    await client.stopLoad();
    expect(await client.tally(100)).toEqual({ v2: 100 });
  });

  it('a version failing 20% of calls is rolled back, and the cohort user is back on the stable version', async () => {
    const { running, client } = await setup({ 'canary.yaml': canary({ steps: [50] }) }, { errorRate: 0.2, errorCode: 14 });
    await steadyLoad(client);
    const done = await waitForPhase(running, ['Failed', 'Succeeded'], 15_000);
    expect(done.phase).toBe('Failed');
    expect(done.message).toMatch(/success-rate .*% < 95%/);
    await client.stopLoad();
    await expect.poll(async () => (await client.tally(50, { metadata: { 'x-user-id': 'u-1' } })).v2 ?? 0, { timeout: 3000 }).toBe(0);
  });

  it('a canary whose routes the clients NACK fails naming the NACK, not "no data"', async () => {
    // A cohort regex with a `(?<name>…)` group: fine for Sluice and Envoy, rejected by the RE2 in Debian 12's gRPC.
    const { running, client } = await setup({ 'canary.yaml': canary({ cohort: "regex: '(?<id>u-[12])'" }) });
    await steadyLoad(client);
    const done = await waitForPhase(running, ['Failed', 'Succeeded'], 15_000);
    expect(done.phase).toBe('Failed');
    expect(done.message).toMatch(new RegExp(`1 proxy \\(gRPC [^)]*\\) NACKed routes ${host.replace(/\./g, '\\.')}:9090: .*Invalid regex string`));
    expect(done.message).not.toMatch(/no data/);
  });
});
