/**
 * Hostile YAML input: each case used to kill the process, hang it, corrupt
 * text silently or reject a whole directory; now each is one issue naming
 * file:line:column, and the rest of the directory is unaffected.
 */
import { execFile } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { formatConfigIssue, type ConfigIssue } from '../../control-plane/core/errors.js';
import { evaluateLoad } from '../../control-plane/model/build.js';
import { loadDirectory, loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { defaultYamlParseLimits } from '../../control-plane/sources/yaml-documents.js';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function directory(files: Record<string, string> = {}) {
  const config = await tempConfig(files);
  cleanups.push(config.cleanup);
  return config;
}

/** Writes `bytes` bytes of `unit` repeated, in 1 MiB chunks (the test itself stays small). */
async function junkFile(file: string, unit: string, bytes: number, prefix = '') {
  const handle = await open(file, 'w');
  const chunk = Buffer.from(unit.repeat(Math.ceil((1024 * 1024) / unit.length)).slice(0, 1024 * 1024));
  await handle.write(prefix);
  for (let written = prefix.length; written < bytes; written += chunk.length) await handle.write(chunk, 0, Math.min(chunk.length, bytes - written));
  await handle.close();
}

const lines = (issues: readonly ConfigIssue[], dir: string) => issues.map((i) => formatConfigIssue(i).replaceAll(`${dir}/`, ''));

describe('hostile YAML files', () => {
  it('a 50 MiB junk file is refused by size before it is read; the other files still load', async () => {
    const config = await directory({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() });
    await junkFile(path.join(config.dir, 'junk.yaml'), '- [{ &a ? *a : ! | > , ] } # \n', 50 * 1024 * 1024);
    const heapBefore = process.memoryUsage().heapUsed;
    const load = await loadDirectory(config.dir);
    // Nothing of the 50 MiB was held: the heap grew by far less than the file.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(20 * 1024 * 1024);
    expect(lines(load.issues, config.dir)).toEqual([
      'junk.yaml:1:1: file is 52428800 bytes (50 MiB); the limit is 4 MiB per file (sluice serve --max-config-file-mib), so it was not read; split it into smaller files',
    ]);
    expect(load.objects.map((o) => o.kind).sort()).toEqual(['EndpointSlice', 'Pod', 'Pod', 'Service', 'TrafficPolicy']);
    // The limit is an option (serve --max-config-file-mib).
    expect((await loadDirectory(config.dir, { maxFileBytes: 100 })).issues.map((i) => i.location?.file.replace(`${config.dir}/`, ''))).toEqual(['junk.yaml', 'svc.yaml', 'tp.yaml']);
  });

  it('sluice validate, with the heap capped at 192 MB, reports a 50 MiB file, 4 MiB files over the parse budget and an out-of-range value, and exits 1', async () => {
    const config = await directory({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy().replace('  routes:', '  circuitBreaker: { maxConnections: 4294967296 }\n  routes:') });
    await junkFile(path.join(config.dir, 'a-huge.yaml'), '{[:,]}? - ', 50 * 1024 * 1024);
    await junkFile(path.join(config.dir, 'b-commas.yaml'), ',', 4 * 1024 * 1024 - 8, 'x: [');
    await junkFile(path.join(config.dir, 'c-dashes.yaml'), '- ', 4 * 1024 * 1024);
    const run = promisify(execFile);
    const result = await run(process.execPath, ['--max-old-space-size=192', '--import', 'tsx', 'control-plane/cli/main.ts', 'validate', config.dir], { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' }, timeout: 120_000 })
      .then(({ stdout }) => ({ code: 0, stdout }), (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));
    expect(result.code, JSON.stringify(result)).toBe(1);
    expect(result.stdout.replaceAll(`${config.dir}/`, '').trim().split('\n')).toEqual([
      'a-huge.yaml:1:1: file is 52428800 bytes (50 MiB); the limit is 4 MiB per file (sluice serve --max-config-file-mib), so it was not read; split it into smaller files',
      `b-commas.yaml:1:${1_000_000 + 2}: more than 1000000 YAML tokens in one file (the parse budget per file, about 4 MiB of ordinary manifests); split the file`,
      'c-dashes.yaml:1:399: nesting deeper than 200 levels (the parse budget per file)',
      'tp.yaml:9:21: TrafficPolicy shop/orders: spec.circuitBreaker.maxConnections: must be at most 4294967295, got 4294967296',
      `${config.dir}: invalid — 4 problems in 5 files`,
    ]);
  }, 150_000);

  it('100,000-deep nesting (block, flow, compact maps) is a clear issue, never a stack overflow', () => {
    const deep = 100_000;
    const cases: Array<[string, string]> = [
      ['block.yaml', '- '.repeat(deep) + 'x\n'],
      ['flow.yaml', 'a: ' + '['.repeat(deep) + ']'.repeat(deep) + '\n'],
      ['maps.yaml', 'a: ' + '{b: '.repeat(deep) + '1' + '}'.repeat(deep) + '\n'],
      ['indented.yaml', Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x\n'],
    ];
    const load = loadFromTexts(cases);
    expect(load.issues.map(formatConfigIssue)).toEqual([
      'block.yaml:1:399: nesting deeper than 200 levels (the parse budget per file)',
      'flow.yaml:1:202: nesting deeper than 200 levels (the parse budget per file)',
      'maps.yaml:1:796: nesting deeper than 200 levels (the parse budget per file)',
      'indented.yaml:200:204: nesting deeper than 200 levels (the parse budget per file)',
    ]);
    for (const issue of load.issues) expect(issue.message).not.toMatch(/call stack/);
  });

  it('invalid UTF-8 is reported at file:line:column instead of becoming U+FFFD', () => {
    const bytes = Buffer.concat([Buffer.from('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: { team: "caf'), Buffer.from([0xe9]), Buffer.from('" }\n')]);
    expect(loadFromTexts([['latin1.yaml', bytes]]).issues.map(formatConfigIssue)).toEqual([
      'latin1.yaml:5:23: invalid UTF-8: byte 0xe9 at offset 76 starts no valid character; save the file as UTF-8 (as Kubernetes requires)',
    ]);
    // A truncated multi-byte character at the very end, and an overlong encoding of '/'.
    expect(loadFromTexts([['cut.yaml', Buffer.from([0x61, 0x3a, 0x20, 0xe2, 0x82])]]).issues[0]?.location).toEqual({ file: 'cut.yaml', line: 1, column: 4 });
    expect(loadFromTexts([['overlong.yaml', Buffer.from([0x0a, 0x0a, 0x61, 0xc0, 0xaf])]]).issues[0]?.location).toEqual({ file: 'overlong.yaml', line: 3, column: 2 });
    // Valid UTF-8 (and a byte-order mark) is read as before.
    const ok = loadFromTexts([['bom.yaml', Buffer.from('\ufeffapiVersion: v1\nkind: Namespace\nmetadata: { name: caf\u00e9-ns-\u{1F600} }\n', 'utf8')]]);
    expect(ok.issues.map(formatConfigIssue)).toEqual(['bom.yaml:3:13: Namespace default/café-ns-😀: metadata.name: must be a DNS subdomain name (lowercase letters, digits, \'-\' and \'.\'), got string "café-ns-😀"']);
  });

  it('a document that is only a comment (or empty, or null) is skipped, as kubectl does', async () => {
    const config = await directory({
      'svc.yaml': `${ordersService}---\n# the policy moved to tp.yaml\n---\n`,
      'tp.yaml': `---\n# leading comment document\n---\n${ordersPolicy()}---\nnull\n---\n~\n`,
    });
    const result = evaluateLoad(await loadDirectory(config.dir));
    expect(result.ok ? [] : lines(result.issues, config.dir)).toEqual([]);
    expect(result.ok && result.snapshot.counts).toEqual({ Service: 1, Pod: 2, EndpointSlice: 1, TrafficPolicy: 1 });
  });

  it('documents per file are budgeted, and junk reports at most 20 syntax errors', () => {
    const limits = { ...defaultYamlParseLimits, maxDocuments: 100 };
    expect(loadFromTexts([['docs.yaml', 'a: 1\n---\n'.repeat(150)]], [], limits).issues.map(formatConfigIssue)).toEqual([
      'docs.yaml:200:1: more than 100 documents in one file (the parse budget per file); split the file',
    ]);
    const junk = loadFromTexts([['commas.yaml', `x: [${','.repeat(5_000)}]\n`]]);
    expect(junk.issues).toHaveLength(21);
    expect(junk.issues[0]).toMatchObject({ code: 'yaml-syntax', location: { file: 'commas.yaml', line: 1 } });
    expect(junk.issues[20]?.message).toMatch(/^and 49[0-9]{2} more YAML errors in this file$/);
  });

  it('duplicate keys are found in a 100,000-key map in seconds (the quadratic check took over a minute: 35 s at 60,000 keys)', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `  k${i}: v`);
    keys.push('  k17: again');
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: big, namespace: shop }\ndata:\n${keys.join('\n')}\n`;
    expect(loadFromTexts([['big.yaml', text]]).issues.map(formatConfigIssue)).toEqual(['big.yaml:100005:3: Map keys must be unique']);
  }, 45_000);

  it('an ordinary file near the size limit is still accepted (the budgets agree with the size limit)', async () => {
    const config = await directory({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() });
    // About 1 MiB of ConfigMaps: ignored kinds, parsed and counted.
    const maps = Array.from({ length: 4_000 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm-${i}, namespace: shop, labels: { app: orders } }\ndata: { a: "1", b: two, c: "three four five six seven eight nine ten" }\n`).join('---\n');
    await writeFile(path.join(config.dir, 'configmaps.yaml'), maps);
    const load = await loadDirectory(config.dir);
    expect(load.issues).toEqual([]);
    expect(load.ignored).toEqual({ ConfigMap: 4_000 });
  }, 60_000);
});
