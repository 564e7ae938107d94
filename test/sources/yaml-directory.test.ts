import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotStore } from '../../control-plane/model/store.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { YamlDirectorySource } from '../../control-plane/sources/yaml-directory.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

const logger = createLogger('silent');
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

async function running(files: Record<string, string>) {
  const config = await tempConfig(files);
  const store = new SnapshotStore(logger);
  const source = new YamlDirectorySource({ directory: config.dir, logger });
  await source.start((load) => store.apply(load));
  stops.push(config.cleanup, () => source.stop());
  const nextSnapshot = (timeoutMs = 1000) =>
    new Promise<Snapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no new snapshot within ${timeoutMs} ms`)), timeoutMs);
      const unsubscribe = store.subscribe((snapshot) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(snapshot);
      });
    });
  return { config, store, nextSnapshot };
}

const weightOfV2 = (snapshot: Snapshot | undefined) => snapshot?.services.get('orders.shop.svc.cluster.local')?.traffic?.routes[0]?.destinations[1]?.weight;

describe('YAML directory source', () => {
  it('loads multi-document files from nested directories at start', async () => {
    const { store } = await running({ 'svc.yaml': ordersService, 'policies/orders.yml': ordersPolicy() });
    expect(store.current?.counts).toEqual({ Service: 1, Pod: 2, EndpointSlice: 1, TrafficPolicy: 1 });
    expect(weightOfV2(store.current)).toBe(10);
  });

  it('a changed file produces a new snapshot within a second', async () => {
    const { config, store, nextSnapshot } = await running({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() });
    const first = store.current!.version;
    const started = Date.now();
    const next = nextSnapshot(1000);
    await config.write('tp.yaml', ordersPolicy([50, 50]));
    const snapshot = await next;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(snapshot.version).not.toBe(first);
    expect(weightOfV2(snapshot)).toBe(50);
  });

  it('a bad edit keeps the last good snapshot and reports file, line and field; fixing it recovers', async () => {
    const { config, store, nextSnapshot } = await running({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() });
    const good = store.current!;
    await config.write('tp.yaml', ordersPolicy([50, 60]));
    await expect.poll(() => store.lastError?.issues[0]?.message, { timeout: 1000 }).toBe('weights must sum to 100, got 110');
    expect(store.lastError!.issues[0]).toMatchObject({ field: 'spec.routes[0].to', location: { file: expect.stringContaining('tp.yaml'), line: 11, column: 7 } });
    expect(store.current).toBe(good);
    const recovered = nextSnapshot(1000);
    await config.write('tp.yaml', ordersPolicy([70, 30]));
    expect(weightOfV2(await recovered)).toBe(30);
    expect(store.lastError).toBeUndefined();
  });

  it('a deleted file removes its objects', async () => {
    const { config, store, nextSnapshot } = await running({ 'svc.yaml': ordersService, 'ns.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n' });
    expect(store.current?.namespaces.has('shop')).toBe(true);
    const next = nextSnapshot(1000);
    const { rm } = await import('node:fs/promises');
    await rm(`${config.dir}/ns.yaml`);
    expect((await next).namespaces.has('shop')).toBe(false);
  });
});
