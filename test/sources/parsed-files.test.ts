/**
 * A reload re-reads and re-parses only the files whose stat changed; the
 * object set handed to the model is still the whole directory.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ParsedFiles } from '../../control-plane/sources/parsed-files.js';
import { loadDirectory } from '../../control-plane/sources/yaml-directory.js';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => cleanup?.());

const names = (load: Awaited<ReturnType<typeof loadDirectory>>) => load.objects.map((o) => `${o.kind}/${o.name}`).sort();

describe('incremental directory reloads', () => {
  it('parses only changed files, and still returns every object', async () => {
    const config = await tempConfig({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([90, 10]), 'other.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n' });
    cleanup = config.cleanup;
    const cache = new ParsedFiles();
    const first = await loadDirectory(config.dir, {}, cache);
    expect(cache.parsedThisLoad).toBe(3);
    const unchanged = await loadDirectory(config.dir, {}, cache);
    expect(cache.parsedThisLoad).toBe(0);
    expect(names(unchanged)).toEqual(names(first));

    await config.write('tp.yaml', ordersPolicy([50, 50]));
    const edited = await loadDirectory(config.dir, {}, cache);
    expect(cache.parsedThisLoad).toBe(1);
    expect(names(edited)).toEqual(names(first));
    const policy = edited.objects.find((o) => o.kind === 'TrafficPolicy')!;
    expect(JSON.stringify(policy.manifest)).toContain('"weight":50');

    // Same size, new inode (an atomic rename over the file, as editors and deploys do): read again.
    await writeFile(path.join(config.dir, 'tp.new'), ordersPolicy([60, 40]));
    await rename(path.join(config.dir, 'tp.new'), path.join(config.dir, 'tp.yaml'));
    const renamed = await loadDirectory(config.dir, {}, cache);
    expect(cache.parsedThisLoad).toBe(1);
    expect(JSON.stringify(renamed.objects.find((o) => o.kind === 'TrafficPolicy')!.manifest)).toContain('"weight":60');

    await rm(path.join(config.dir, 'other.yaml'));
    const removed = await loadDirectory(config.dir, {}, cache);
    expect(cache.parsedThisLoad).toBe(0);
    expect(names(removed)).not.toContain('Namespace/shop');
  });
});
