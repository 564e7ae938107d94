/**
 * What an operator sees about a proxyless client that is gone or that
 * describes itself badly: /debug/config_dump of a disconnected client shows
 * the proxyless view it had (not a sidecar's), and a client with no node
 * metadata is named in a warning with the scope it was given.
 */
import { register } from '@grpc/grpc-js-xds';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { startControlPlane } from '../support/control-plane.js';
import { echoServiceManifests, startEchoBackend, xdsEchoClient } from '../support/echo-backend.js';

register();

const target = 'echo.shop.svc.cluster.local:9090';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function mesh(options: Parameters<typeof startControlPlane>[1] = {}) {
  const v1 = await startEchoBackend('v1');
  cleanups.push(() => v1.stop());
  const running = await startControlPlane({ 'mesh.yaml': echoServiceManifests([v1]) }, options);
  cleanups.push(() => running.stop());
  return running;
}

describe('proxy diagnostics', () => {
  it('config_dump of a disconnected proxyless client shows its proxyless config, not a sidecar\'s', async () => {
    const running = await mesh();
    // A node id shaped like a sidecar's (<name>.<namespace>): only what the client said makes it proxyless.
    const client = xdsEchoClient(target, running.xdsAddress, { id: 'checkout-7.shop', metadata: { namespace: 'shop', mode: 'proxyless' } });
    expect(await client.whoami()).toBe('v1');
    const connected = (await running.admin('/debug/config_dump?proxy=checkout-7.shop')).json() as { scope: string; connected: boolean; listeners: Array<{ name: string }> };
    expect(connected).toMatchObject({ connected: true, scope: expect.stringMatching(/^proxyless\/shop/) });
    client.close();
    await expect.poll(async () => ((await running.admin('/debug/syncz')).json() as unknown[]).length, { timeout: 3000 }).toBe(0);
    const gone = (await running.admin('/debug/config_dump?proxy=checkout-7.shop')).json() as typeof connected;
    expect(gone.connected).toBe(false);
    expect(gone.scope).toBe(connected.scope);
    expect(gone.listeners.map((l) => l.name)).toEqual(connected.listeners.map((l) => l.name));
    // Never seen: previewed as the query says (a sidecar by default for <pod>.<namespace>), or refused with how to ask.
    expect(((await running.admin('/debug/config_dump?proxy=other-1.shop')).json() as { scope: string }).scope).toMatch(/^sidecar\/shop/);
    const unknown = await running.admin('/debug/config_dump?proxy=nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('mode=proxyless');
  });

  it('a client without node metadata is named in a warning with the scope it was given', async () => {
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    const running = await mesh({ logger: createLogger('warn', sink) });
    const client = xdsEchoClient(target, running.xdsAddress, { id: 'bare-client.shop', metadata: {} });
    cleanups.push(() => client.close());
    // Taken for a sidecar, it gets no outbound route to this target: the call fails, and the log says why.
    await client.whoami({}, 1500).catch(() => undefined);
    await expect.poll(() => lines.map((l) => JSON.parse(l) as { msg: string; nodeId?: string; scope?: string }).find((l) => l.nodeId === 'bare-client.shop'), { timeout: 3000 }).toMatchObject({
      msg: expect.stringContaining('proxy bare-client.shop sent no node metadata: serving it scope sidecar/shop'),
      scope: expect.stringMatching(/^sidecar\/shop/),
    });
  });
});
