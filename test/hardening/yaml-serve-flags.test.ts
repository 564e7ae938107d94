/**
 * The YAML-source flags of the real `sluice serve` process: --max-config-file-mib
 * refuses a larger file (reported in /readyz, last good kept), and
 * --allow-empty-config serves a directory emptied of every object.
 */
import { spawn } from 'node:child_process';
import { unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Starts `sluice serve` on free ports; resolves with its admin URL once it says it is serving. */
function serve(args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'serve', '--host', '127.0.0.1', '--admin-address', '127.0.0.1', '--xds-port', '0', '--admin-port', '0', ...args], {
    env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`sluice serve did not start within 30 s: ${stderr}`)), 30_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const serving = /admin on (http:\/\/[^\s]+)/.exec(stderr);
      if (serving) {
        clearTimeout(timer);
        resolve(serving[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`sluice serve exited with ${code}: ${stderr}`)));
  });
}

interface Readyz { snapshot: string | null; lastConfigError: { issues: string[] } | null }
const readyz = async (admin: string) => (await (await fetch(`${admin}/readyz`)).json()) as Readyz;
const poll = { timeout: 10_000, interval: 50 };

describe('sluice serve YAML-source flags', () => {
  it('--max-config-file-mib and --allow-empty-config', async () => {
    const config = await tempConfig({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() });
    cleanups.push(config.cleanup);
    const admin = await serve(['--config', config.dir, '--max-config-file-mib', '0.01', '--allow-empty-config']);
    await expect.poll(async () => (await readyz(admin)).snapshot, poll).not.toBeNull();
    const served = (await readyz(admin)).snapshot;

    // 0.01 MiB is 10486 bytes: a 20 KB file is refused unread, the served snapshot stays.
    await writeFile(path.join(config.dir, 'big.yaml'), `# ${'x'.repeat(20_000)}\n`);
    await expect.poll(async () => (await readyz(admin)).lastConfigError?.issues[0], poll).toMatch(/big\.yaml:1:1: file is 20003 bytes \(19\.5 KiB\); the limit is 10\.2 KiB per file/);
    expect((await readyz(admin)).snapshot).toBe(served);

    // With --allow-empty-config, removing every object is served as an empty mesh.
    await unlink(path.join(config.dir, 'big.yaml'));
    await unlink(path.join(config.dir, 'svc.yaml'));
    await unlink(path.join(config.dir, 'tp.yaml'));
    await expect.poll(async () => (await readyz(admin)).snapshot, poll).not.toBe(served);
    expect((await readyz(admin)).lastConfigError).toBeNull();
  }, 60_000);
});
