/**
 * A stream must introduce itself: the first request without a node (or with
 * an empty or absurd node id) is answered at once with INVALID_ARGUMENT and
 * closed, on both ADS protocols; client-supplied strings reach the log clipped.
 */
import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { clipForLog, maxNodeIdLength } from '../../control-plane/xds/stream-limits.js';
import { DeltaClient, SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A control plane whose log lines are kept for inspection. */
async function setup(options: Parameters<typeof startControlPlane>[1] = {}) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([90, 10]) }, { logger: createLogger('info', sink), ...options });
  cleanups.push(() => running.stop());
  return { ...running, lines };
}

type Status = Error & { code?: number; details?: string };

/** The status a stream ends with (the client's 'error'), within a bound that only catches hangs. */
async function statusOf(client: SotwClient | DeltaClient): Promise<Status> {
  const error = await client.next(() => true, 5_000).then(
    () => new Error('the stream answered with a response instead of an error'),
    (e: Error) => e,
  );
  return error as Status;
}

function sotw(address: string, options: ConstructorParameters<typeof SotwClient>[1]) {
  const client = new SotwClient(address, options);
  cleanups.push(() => client.close());
  return client;
}

function delta(address: string, options: ConstructorParameters<typeof DeltaClient>[1]) {
  const client = new DeltaClient(address, options);
  cleanups.push(() => client.close());
  return client;
}

const shopMetadata = { namespace: 'shop', labels: { app: 'frontend' } };

describe('xDS streams without a usable node', () => {
  it('answers a SotW stream whose first request has no node with INVALID_ARGUMENT', async () => {
    const { xdsAddress, admin } = await setup();
    const client = sotw(xdsAddress, { nodeId: 'ignored', omitNode: true });
    client.request(typeUrls.clusters);
    const error = await statusOf(client);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/must carry node/);
    const metrics = (await admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_xds_streams_refused_total\{reason="invalid-node"\} 1/);
    expect(metrics).toMatch(/sluice_xds_open_streams 0/);
  });

  it('answers a delta stream whose first request has no node with INVALID_ARGUMENT', async () => {
    const { xdsAddress } = await setup();
    const client = delta(xdsAddress, { nodeId: 'ignored', omitNode: true });
    client.request({ typeUrl: typeUrls.clusters });
    const error = await statusOf(client);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/must carry node/);
  });

  it('refuses an empty node id', async () => {
    const { xdsAddress } = await setup();
    const client = delta(xdsAddress, { nodeId: '', metadata: shopMetadata });
    client.request({ typeUrl: typeUrls.clusters });
    const error = await statusOf(client);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/non-empty node.id/);
  });

  it('refuses an absurd node id and logs it clipped, while a normal proxy on the same server is served', async () => {
    const { xdsAddress, lines } = await setup();
    const hugeId = `${'x'.repeat(4 * 1024 * 1024)}.shop`;
    const hostile = sotw(xdsAddress, { nodeId: hugeId, metadata: shopMetadata });
    hostile.request(typeUrls.clusters);
    const error = await statusOf(hostile);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(`at most ${maxNodeIdLength}`);

    // A long but acceptable id is served, and every log line naming it carries the clipped form.
    const longId = `${'p'.repeat(maxNodeIdLength - 5)}.shop`;
    const proxy = sotw(xdsAddress, { nodeId: longId, metadata: shopMetadata });
    proxy.request(typeUrls.clusters);
    const cds = await proxy.nextOf(typeUrls.clusters);
    expect(cds.resources.length).toBeGreaterThan(0);
    proxy.close();
    await expect.poll(() => lines.some((line) => line.includes('proxy disconnected')), { timeout: 5_000 }).toBe(true);

    const logged = lines.join('\n');
    expect(logged).not.toContain('x'.repeat(1_000));
    expect(logged).not.toContain('p'.repeat(1_000));
    expect(logged).toContain(clipForLog(longId)!);
    expect(logged.length).toBeLessThan(64 * 1024);
  });

  it('refuses node metadata naming an impossible namespace', async () => {
    const { xdsAddress } = await setup();
    const client = sotw(xdsAddress, { nodeId: 'frontend-0', metadata: { namespace: 'n'.repeat(10_000) } });
    client.request(typeUrls.clusters);
    const error = await statusOf(client);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/namespace/);
  });
});

describe('streams that never identify', () => {
  it('ends a stream that sends nothing within the identification deadline, freeing its slot', async () => {
    const { xdsAddress, admin } = await setup({ xdsLimits: { identifyWithinMs: 300 } });
    const silent = delta(xdsAddress, { nodeId: 'silent.shop', metadata: shopMetadata });
    const error = await statusOf(silent);
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error.details).toContain('no request carrying the node arrived within 0.3 s');
    await expect.poll(async () => /sluice_xds_open_streams 0/.test((await admin('/metrics')).text), { timeout: 5_000 }).toBe(true);

    // A proxy that identifies in time is not touched by the deadline.
    const proxy = sotw(xdsAddress, { nodeId: 'frontend-0.shop', metadata: shopMetadata });
    proxy.request(typeUrls.clusters);
    const cds = await proxy.nextOf(typeUrls.clusters);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(proxy.closed).toBeUndefined();
    proxy.ack(cds);
    proxy.request(typeUrls.endpoints, ['outbound|8080|v1|orders.shop.svc.cluster.local']);
    expect((await proxy.nextOf(typeUrls.endpoints)).resources).toHaveLength(1);
  });
});

describe('clipForLog', () => {
  it('keeps short strings and clips long ones to 256 characters plus their real size', () => {
    expect(clipForLog('frontend-0.shop')).toBe('frontend-0.shop');
    expect(clipForLog(undefined)).toBeUndefined();
    const clipped = clipForLog('é'.repeat(1_000))!;
    expect(clipped).toBe(`${'é'.repeat(256)}…(2000 bytes)`);
  });
});
