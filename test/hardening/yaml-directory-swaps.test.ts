/**
 * The YAML source follows the configuration *path*: deploys that replace the
 * directory (rm -rf && cp -r, the mv swap, a symlink swap) are served; while
 * the path names nothing the last good snapshot stays and the problem is
 * reported; a directory emptied of every object is held unless allowed.
 * Real files, real watchers (chokidar and fs.watch on the parent).
 */
import { cp, mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { YamlDirectorySource, type YamlDirectorySourceOptions } from '../../control-plane/sources/yaml-directory.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const logger = createLogger('silent');
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A scratch root holding `config/` (what the source is given) and room for replacements. */
async function workspace() {
  const root = await mkdtemp(path.join(tmpdir(), 'sluice-swap-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const writeMesh = async (dir: string, weights: [number, number]) => {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'svc.yaml'), ordersService);
    await writeFile(path.join(dir, 'tp.yaml'), ordersPolicy(weights));
  };
  return { root, config: path.join(root, 'config'), writeMesh };
}

async function serve(directory: string, options: Partial<YamlDirectorySourceOptions> = {}) {
  const store = new SnapshotStore(logger);
  // pollMs is long so these tests see the parent-directory watch work, not the backstop poll.
  const source = new YamlDirectorySource({ directory, logger, settleMs: 20, pollMs: 60_000, ...options });
  await source.start((load) => store.apply(load));
  cleanups.push(() => source.stop());
  return store;
}

const weightOfV2 = (snapshot: Snapshot | undefined) => snapshot?.services.get('orders.shop.svc.cluster.local')?.traffic?.routes[0]?.destinations[1]?.weight;
const poll = { timeout: 5_000, interval: 20 };

describe('YAML directory replaced while served', () => {
  it('rm -rf DIR && cp -r new DIR: reported while missing, then the new content is served', async () => {
    const { root, config, writeMesh } = await workspace();
    await writeMesh(config, [90, 10]);
    await writeMesh(path.join(root, 'next'), [60, 40]);
    const store = await serve(config);
    const good = store.current!;
    expect(weightOfV2(good)).toBe(10);

    await rm(config, { recursive: true });
    await expect.poll(() => store.lastError?.issues[0]?.message, poll).toMatch(/cannot read directory: it does not exist/);
    expect(store.current).toBe(good);

    await cp(path.join(root, 'next'), config, { recursive: true });
    await expect.poll(() => weightOfV2(store.current), poll).toBe(40);
    expect(store.lastError).toBeUndefined();
    // And the new directory is watched: an edit in it is served.
    await writeFile(path.join(config, 'tp.yaml'), ordersPolicy([50, 50]));
    await expect.poll(() => weightOfV2(store.current), poll).toBe(50);
  });

  it('mv DIR DIR.old && mv DIR.new DIR (the atomic deploy): the new content is served and watched', async () => {
    const { config, writeMesh } = await workspace();
    await writeMesh(config, [90, 10]);
    await writeMesh(`${config}.new`, [70, 30]);
    const store = await serve(config);
    expect(weightOfV2(store.current)).toBe(10);

    await rename(config, `${config}.old`);
    await rename(`${config}.new`, config);
    await expect.poll(() => weightOfV2(store.current), poll).toBe(30);
    expect(store.lastError).toBeUndefined();
    // Edits to the old directory are not served; edits to the new one are.
    await writeFile(path.join(`${config}.old`, 'tp.yaml'), ordersPolicy([20, 80]));
    await writeFile(path.join(config, 'tp.yaml'), ordersPolicy([55, 45]));
    await expect.poll(() => weightOfV2(store.current), poll).toBe(45);
  });

  it('a symlink swapped to another directory (ln -sfn): the target is followed', async () => {
    const { root, writeMesh } = await workspace();
    await writeMesh(path.join(root, 'v1'), [90, 10]);
    await writeMesh(path.join(root, 'v2'), [80, 20]);
    const link = path.join(root, 'current');
    await symlink(path.join(root, 'v1'), link);
    const store = await serve(link);
    expect(weightOfV2(store.current)).toBe(10);

    // Atomic re-point, as `ln -sfn` plus rename does it.
    await symlink(path.join(root, 'v2'), `${link}.tmp`);
    await rename(`${link}.tmp`, link);
    await expect.poll(() => weightOfV2(store.current), poll).toBe(20);
    await writeFile(path.join(root, 'v2', 'tp.yaml'), ordersPolicy([65, 35]));
    await expect.poll(() => weightOfV2(store.current), poll).toBe(35);
  });

  it('a missing directory is found by the backstop poll too (no parent event needed)', async () => {
    const { root, config, writeMesh } = await workspace();
    await writeMesh(config, [90, 10]);
    const store = await serve(config, { pollMs: 100 });
    // Replace the parent itself: the parent watch now watches a dead inode.
    await rename(root, `${root}.moved`);
    cleanups.push(() => rm(`${root}.moved`, { recursive: true, force: true }));
    await writeMesh(config, [75, 25]);
    await expect.poll(() => weightOfV2(store.current), poll).toBe(25);
  });
});

describe('YAML directory emptied', () => {
  it('rm -rf DIR/* is held as suspicious: the last good snapshot stays and the issue says how to accept it', async () => {
    const { config, writeMesh } = await workspace();
    await writeMesh(config, [90, 10]);
    const store = await serve(config);
    const good = store.current!;
    expect(good.counts.Service).toBe(1);

    await unlink(path.join(config, 'svc.yaml'));
    await unlink(path.join(config, 'tp.yaml'));
    await expect.poll(() => store.lastError?.issues[0]?.message, poll).toMatch(/no objects .*--allow-empty-config/);
    expect(store.lastError!.issues[0]!.location?.file).toBe(config);
    expect(store.current).toBe(good);

    // Comment-only files are still "no objects".
    await writeFile(path.join(config, 'notes.yaml'), '# nothing here yet\n');
    await expect.poll(() => store.lastError?.issues[0]?.message, poll).toMatch(/no objects \(1 manifest files\)/);
    expect(store.current).toBe(good);

    // Putting objects back serves them and clears the issue.
    await writeMesh(config, [85, 15]);
    await expect.poll(() => weightOfV2(store.current), poll).toBe(15);
    expect(store.lastError).toBeUndefined();
  });

  it('with allowEmpty (serve --allow-empty-config) the empty configuration is served', async () => {
    const { config, writeMesh } = await workspace();
    await writeMesh(config, [90, 10]);
    const store = await serve(config, { allowEmpty: true });
    await unlink(path.join(config, 'svc.yaml'));
    await unlink(path.join(config, 'tp.yaml'));
    await expect.poll(() => store.current?.services.size, poll).toBe(0);
    expect(store.lastError).toBeUndefined();
  });

  it('a directory that starts empty is served empty (nothing was withdrawn)', async () => {
    const { config } = await workspace();
    await mkdir(config);
    const store = await serve(config);
    expect(store.current?.services.size).toBe(0);
    expect(store.lastError).toBeUndefined();
  });
});

describe('what /readyz says (a whole control plane)', () => {
  it('missing, then emptied, then restored: the snapshot served never changes until real objects come back', async () => {
    const plane = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([90, 10]) });
    cleanups.push(() => plane.stop());
    const readyz = async () => (await plane.admin('/readyz')).json() as { snapshot: string | null; lastConfigError: { issues: string[] } | null };
    await expect.poll(async () => (await readyz()).snapshot, poll).not.toBeNull();
    const served = (await readyz()).snapshot;
    const dir = plane.config.dir;

    await rm(dir, { recursive: true });
    await expect.poll(async () => (await readyz()).lastConfigError?.issues[0], poll).toBe(`${dir}:1:1: cannot read directory: it does not exist (being replaced, or removed); the last good configuration stays served until it is back`);
    expect((await readyz()).snapshot).toBe(served);

    await mkdir(dir);
    await writeFile(path.join(dir, 'README.yaml'), '# deployed by CI\n');
    await expect.poll(async () => (await readyz()).lastConfigError?.issues[0], poll).toMatch(/^.*:1:1: the directory now holds no objects \(1 manifest files\) after serving some; .* --allow-empty-config/);
    expect((await readyz()).snapshot).toBe(served);

    await writeFile(path.join(dir, 'svc.yaml'), ordersService);
    await writeFile(path.join(dir, 'tp.yaml'), ordersPolicy([50, 50]));
    await expect.poll(async () => (await readyz()).snapshot, poll).not.toBe(served);
    expect((await readyz()).lastConfigError).toBeNull();
  });
});
