/**
 * Property: whatever bytes end up in the configuration directory — mutated
 * manifests, invalid UTF-8, deep nesting, runaway repetition, oversized files,
 * an emptied directory — reading it with the YAML source and applying it to
 * the SnapshotStore never throws, the heap stays bounded, and the served
 * snapshot is either exactly the new configuration (when it is valid) or the
 * one served before.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { evaluateLoad } from '../../control-plane/model/build.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import type { LoadResult } from '../../control-plane/core/config-source.js';
import { loadDirectory, YamlDirectorySource } from '../../control-plane/sources/yaml-directory.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-yaml-property-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const goodFiles: Record<string, Buffer> = { 'svc.yaml': Buffer.from(ordersService), 'tp.yaml': Buffer.from(ordersPolicy([90, 10])) };

/** What a broken editor, a bad CD job or an attacker with write access leaves in a file. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('text' as const), at: fc.nat(), text: fc.constantFrom('\n---\n', '\n---\n# only a comment\n', '[', '{', '- ', ': ', '&a ', '*a', '!!binary ', '\t', '"', '4294967296', '100000000h', '0s', '1e400', 'null', '\r\n', '\ufeff', '\u0000') }),
  fc.record({ kind: fc.constant('nest' as const), at: fc.nat(), depth: fc.integer({ min: 50, max: 20_000 }), open: fc.constantFrom('[', '{a: ', '- ') }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }), times: fc.integer({ min: 2, max: 20_000 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function apply(bytes: Buffer, change: Edit): Buffer {
  const at = change.at % (bytes.length + 1);
  switch (change.kind) {
    case 'bytes':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(change.bytes), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + change.length)]);
    case 'text':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(change.text), bytes.subarray(at)]);
    case 'nest':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(change.open.repeat(change.depth)), bytes.subarray(at)]);
    case 'repeat':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(bytes.subarray(at, at + change.length).toString('latin1').repeat(change.times), 'latin1'), bytes.subarray(at)]);
    case 'truncate':
      return bytes.subarray(0, at);
  }
}

const scenario = fc.record({
  svcEdits: fc.array(edit, { maxLength: 3 }),
  tpEdits: fc.array(edit, { maxLength: 3 }),
  /** Sometimes a file disappears: a half-finished deploy. */
  drop: fc.constantFrom('none', 'none', 'none', 'svc.yaml', 'tp.yaml', 'both'),
  /** Sometimes the size limit is small, so the refused-by-size path is taken too. */
  maxFileBytes: fc.constantFrom(4 * 1024 * 1024, 4 * 1024 * 1024, 2_000),
});

async function writeDirectory(files: Record<string, Buffer | undefined>) {
  for (const [name, bytes] of Object.entries(files)) {
    if (bytes === undefined) await rm(path.join(dir, name), { force: true });
    else await writeFile(path.join(dir, name), bytes);
  }
}

describe('YAML source + SnapshotStore under random directory contents', () => {
  it('never throws, keeps the heap bounded, and serves either the new valid configuration or the previous one', async () => {
    const store = new SnapshotStore(createLogger('silent'));
    await writeDirectory(goodFiles);
    expect(store.apply(await loadDirectory(dir))).toBeUndefined();
    const heapBaseline = process.memoryUsage().heapUsed;
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ svcEdits, tpEdits, drop, maxFileBytes }) => {
        const files: Record<string, Buffer | undefined> = {
          'svc.yaml': drop === 'svc.yaml' || drop === 'both' ? undefined : svcEdits.reduce(apply, goodFiles['svc.yaml']!),
          'tp.yaml': drop === 'tp.yaml' || drop === 'both' ? undefined : tpEdits.reduce(apply, goodFiles['tp.yaml']!),
        };
        await writeDirectory(files);
        const before = store.current!;
        const load = await loadDirectory(dir, { maxFileBytes });
        const verdict = evaluateLoad(load);
        const error = store.apply(load);
        if (verdict.ok) {
          accepted++;
          expect(error).toBeUndefined();
          expect(store.current!.version).toBe(verdict.snapshot.version);
        } else {
          rejected++;
          expect(error?.issues.length).toBeGreaterThan(0);
          for (const issue of error!.issues) expect(issue.location?.file ?? issue.object?.name).toBeTruthy();
          expect(store.current).toBe(before);
        }
        // Parsing is budgeted per file: no input here may take hundreds of MB.
        expect(process.memoryUsage().heapUsed - heapBaseline).toBeLessThan(400 * 1024 * 1024);
        // Back to the good directory, so every run starts from the same served snapshot.
        await writeDirectory(goodFiles);
        expect(store.apply(await loadDirectory(dir))).toBeUndefined();
      }),
      { numRuns: 80, seed: 16_2026 },
    );
    // Both outcomes were exercised.
    expect(accepted).toBeGreaterThan(3);
    expect(rejected).toBeGreaterThan(30);
  }, 120_000);

  it('through the watching source: a sequence of edits ends with the final directory served, or held with the last good snapshot', async () => {
    const watched = await mkdtemp(path.join(tmpdir(), 'sluice-yaml-watched-'));
    const store = new SnapshotStore(createLogger('silent'));
    const loads: LoadResult[] = [];
    const source = new YamlDirectorySource({ directory: watched, logger: createLogger('silent'), settleMs: 10, pollMs: 60_000 });
    for (const [name, bytes] of Object.entries(goodFiles)) await writeFile(path.join(watched, name), bytes);
    await source.start((load) => {
      loads.push(load);
      store.apply(load);
    });
    /** Waits until no load has arrived for a while: the source's last load read the final state. */
    const settled = async () => {
      let seen = -1;
      while (seen !== loads.length) {
        seen = loads.length;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    try {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ svcEdits, tpEdits, drop }) => {
          const before = store.current!;
          const count = loads.length;
          const files: Record<string, Buffer | undefined> = {
            'svc.yaml': drop === 'svc.yaml' || drop === 'both' ? undefined : svcEdits.reduce(apply, goodFiles['svc.yaml']!),
            'tp.yaml': drop === 'tp.yaml' || drop === 'both' ? undefined : tpEdits.reduce(apply, goodFiles['tp.yaml']!),
          };
          const unchanged = Object.entries(files).every(([name, bytes]) => bytes?.equals(goodFiles[name]!));
          for (const [name, bytes] of Object.entries(files)) {
            if (bytes === undefined) await rm(path.join(watched, name), { force: true });
            else await writeFile(path.join(watched, name), bytes);
          }
          await settled();
          if (unchanged && loads.length === count) return;
          expect(loads.length).toBeGreaterThan(count);
          const last = loads[loads.length - 1]!;
          const verdict = evaluateLoad(last);
          if (verdict.ok) expect(store.current!.version).toBe(verdict.snapshot.version);
          else expect(store.current).toBe(before);
          // Every object gone: never served, whatever else the directory holds.
          if (drop === 'both') expect(store.current).toBe(before);
          for (const [name, bytes] of Object.entries(goodFiles)) await writeFile(path.join(watched, name), bytes);
          await settled();
          expect(store.current!.version).toBe(before.version);
        }),
        { numRuns: 8, seed: 5_2026 },
      );
    } finally {
      await source.stop();
      await rm(watched, { recursive: true, force: true });
    }
  }, 120_000);
});
