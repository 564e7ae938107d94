/**
 * A renewed xDS serving certificate is served without a restart: the files
 * of a Secret volume change in place, and new connections get what they hold
 * (`reloadIntervalMs`, which `serve` sets), while the old CA stops working.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { afterAll, expect, it } from 'vitest';
import { SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { certificateAuthority } from '../support/spiffe-certificates.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Write a file the way the kubelet updates a Secret volume: a new file renamed over the old. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text);
  await rename(`${file}.new`, file);
}

async function listenersWith(address: string, caPem: string): Promise<number> {
  const client = new SotwClient(address, { nodeId: 'reload-0.shop', metadata: { namespace: 'shop' }, credentials: credentials.createSsl(Buffer.from(caPem)) });
  try {
    client.request(typeUrls.listeners, []);
    return (await client.nextOf(typeUrls.listeners)).resources.length;
  } finally {
    client.close();
  }
}

it('serves the renewed certificate to new connections without a restart', async () => {
  const [first, second] = [await certificateAuthority(), await certificateAuthority()];
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-tls-reload-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const sans = [{ type: 'ip' as const, value: '127.0.0.1' }];
  const initial = await first.issue('sluice-xds', sans);
  await writeFile(path.join(dir, 'tls.crt'), initial.cert);
  await writeFile(path.join(dir, 'tls.key'), initial.key);
  const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() }, { tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), reloadIntervalMs: 100 } });
  cleanups.push(() => running.stop());
  expect(await listenersWith(running.xdsAddress, first.ca.cert)).toBeGreaterThan(0);

  const renewed = await second.issue('sluice-xds', sans);
  await replace(path.join(dir, 'tls.key'), renewed.key);
  await replace(path.join(dir, 'tls.crt'), renewed.cert);
  const deadline = Date.now() + 5_000;
  let served = 0;
  while (Date.now() < deadline && served === 0) {
    served = await Promise.race([listenersWith(running.xdsAddress, second.ca.cert), new Promise<number>((resolve) => setTimeout(() => resolve(0), 500))]).catch(() => 0);
  }
  expect(served).toBeGreaterThan(0);
  // The previous CA no longer verifies what is served.
  const old = await Promise.race([listenersWith(running.xdsAddress, first.ca.cert).then(() => 'connected'), new Promise<string>((resolve) => setTimeout(() => resolve('refused'), 1500))]).catch(() => 'refused');
  expect(old).toBe('refused');
}, 20_000);

it('with reloading on, client certificates are still required and checked against the CA file', async () => {
  const authority = await certificateAuthority();
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-tls-reload-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const server = await authority.issue('sluice-xds', [{ type: 'ip', value: '127.0.0.1' }]);
  await writeFile(path.join(dir, 'tls.crt'), server.cert);
  await writeFile(path.join(dir, 'tls.key'), server.key);
  await writeFile(path.join(dir, 'ca.crt'), authority.ca.cert);
  const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() }, { tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), clientCaFile: path.join(dir, 'ca.crt'), reloadIntervalMs: 100 } });
  cleanups.push(() => running.stop());
  const proxy = await authority.issue('proxy', [{ type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/orders' }]);
  const withCert = new SotwClient(running.xdsAddress, { nodeId: 'orders-0.shop', metadata: { namespace: 'shop' }, credentials: credentials.createSsl(Buffer.from(authority.ca.cert), Buffer.from(proxy.key), Buffer.from(proxy.cert)) });
  withCert.request(typeUrls.listeners, []);
  expect((await withCert.nextOf(typeUrls.listeners)).resources.length).toBeGreaterThan(0);
  withCert.close();
  const without = await Promise.race([listenersWith(running.xdsAddress, authority.ca.cert).then(() => 'connected'), new Promise<string>((resolve) => setTimeout(() => resolve('refused'), 1500))]).catch(() => 'refused');
  expect(without).toBe('refused');
}, 20_000);
