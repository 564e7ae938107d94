/**
 * End to end with the real xDS client, @grpc/grpc-js-xds: proxyless gRPC
 * clients get their routing from `sluice serve` and call test backends v1 and
 * v2 on 127.0.0.1. Everything asserted is what the clients observe.
 */
import { register } from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { echoServiceManifests, startEchoBackend, tally, xdsEchoClient, type EchoBackend } from '../support/echo-backend.js';

register();

const target = 'echo.shop.svc.cluster.local:9090';

const mesh = (v1: EchoBackend, v2: EchoBackend) => echoServiceManifests([v1, v2]);

const policy = (weights: [number, number], extra = '') => `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  podAddressCalls: true
  versions:
    v1: { labels: { version: v1 } }
    v2: { labels: { version: v2 } }
  routes:
    - name: canary-users
      match: { userId: { header: x-user-id, values: [u-1001, u-1002] } }
      to: [{ version: v2, weight: 100 }]
    - name: split
      to:
        - { version: v1, weight: ${weights[0]} }
        - { version: v2, weight: ${weights[1]} }
${extra}`;

let v1: EchoBackend;
let v2: EchoBackend;
let running: Awaited<ReturnType<typeof startControlPlane>>;
const clients: Array<{ close(): void }> = [];

function client(id = `client-${clients.length}`) {
  const c = xdsEchoClient(target, running.xdsAddress, { id, metadata: { namespace: 'shop', mode: 'proxyless' } });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  v1 = await startEchoBackend('v1');
  v2 = await startEchoBackend('v2');
  running = await startControlPlane({ 'mesh.yaml': mesh(v1, v2), 'policy.yaml': policy([90, 10]) });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await running?.stop();
  await v1?.stop();
  await v2?.stop();
});

describe('proxyless gRPC clients through sluice serve', () => {
  it('a 90/10 split is observed within statistical bounds', async () => {
    const c = client();
    const counts = await tally(() => c.whoami(), 1000);
    // Binomial(1000, 0.1): mean 100, sd ≈ 9.5; ±5 sd.
    expect(counts.v2).toBeGreaterThan(52);
    expect(counts.v2).toBeLessThan(148);
    expect(counts.v1! + counts.v2!).toBe(1000);
  });

  it("a call addressed to a v1 endpoint's own address (client-side discovery, Eureka-style) follows the policy", async () => {
    const byAddress = xdsEchoClient(`127.0.0.1:${v1.port}`, running.xdsAddress, { id: 'eureka-caller', metadata: { namespace: 'shop', mode: 'proxyless' } });
    clients.push(byAddress);
    // The cohort route sends these users to v2, although the caller dialed a v1 pod.
    expect(await tally(() => byAddress.whoami({ 'x-user-id': 'u-1001' }), 100)).toEqual({ v2: 100 });
    // Everyone else is split like a call by name, not pinned to the dialed pod.
    const others = await tally(() => byAddress.whoami(), 400);
    expect(others.v2).toBeGreaterThan(10);
    expect(others.v1).toBeGreaterThan(300);
  });

  it('calls carrying a canary user ID always reach v2', async () => {
    const c = client();
    const counts = await tally(() => c.whoami({ 'x-user-id': 'u-1002' }), 200);
    expect(counts).toEqual({ v2: 200 });
    // Other users are sticky (their last two digits, 00–89 on v1 at 90/10): u-9950 always on v1.
    expect(await tally(() => c.whoami({ 'x-user-id': 'u-9950' }), 200)).toEqual({ v1: 200 });
  });

  it('a policy edit on disk changes live traffic within 2 s', async () => {
    const c = client();
    expect((await tally(() => c.whoami(), 100)).v1).toBeGreaterThan(70);
    const edited = Date.now();
    await running.config.write('policy.yaml', policy([0, 100]));
    let switched = 0;
    while (Date.now() - edited < 2000) {
      const counts = await tally(() => c.whoami(), 20, 5);
      if (counts.v2 === 20) {
        switched = Date.now() - edited;
        break;
      }
    }
    expect(switched).toBeGreaterThan(0);
    expect(switched).toBeLessThan(2000);
    expect(await tally(() => c.whoami(), 100)).toEqual({ v2: 100 });
  });

  it('a bad edit keeps traffic flowing on the last good configuration', async () => {
    const c = client();
    await running.config.write('policy.yaml', policy([0, 100]).replace('{ version: v2, weight: 100 }', '{ version: v2, weight: 1000 }'));
    await expect.poll(async () => JSON.stringify((await running.admin('/readyz')).json()), { timeout: 2000 }).toContain('must be at most 100');
    expect(await tally(() => c.whoami(), 100)).toEqual({ v2: 100 });
  });

  it('a retry policy turns a flaky backend\'s failures into successes', async () => {
    await running.config.write('policy.yaml', policy([100, 0]));
    v1.behaviour = { alternateFailures: true, errorCode: 14 };
    const c = client();
    await expect.poll(async () => (await tally(() => c.whoami(), 10, 1)).v1 ?? 0, { timeout: 3000 }).toBeGreaterThan(0);
    const without = await tally(() => c.whoami(), 100, 1);
    expect(without['error:14']).toBeGreaterThan(30);
    await running.config.write('policy.yaml', policy([100, 0], '  retries: { attempts: 3, retryOn: [unavailable] }\n'));
    await new Promise((r) => setTimeout(r, 1000));
    const withRetries = await tally(() => c.whoami(), 100, 1);
    expect(withRetries).toEqual({ v1: 100 });
    v1.behaviour = {};
  });
});
