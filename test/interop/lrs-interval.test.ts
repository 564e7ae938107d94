/**
 * `sluice serve --lrs-interval` below one second — faster than gRPC C-core
 * clients report — is raised to 1 s with a warning, and that is what clients
 * are asked for.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { openLrsStream } from '../support/telemetry-clients.js';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(lrsInterval: string): Promise<{ xdsAddress: string; stderr: () => string }> {
  const config = await tempConfig({ 'mesh.yaml': ordersService, 'policy.yaml': ordersPolicy() });
  cleanups.push(() => config.cleanup());
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', '--log-level', 'warn', 'serve', '--config', config.dir, '--xds-port', '0', '--admin-port', '0', '--lrs-interval', lrsInterval], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  }));
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 25_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /serving xDS on [^:]+:(\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { xdsAddress: `127.0.0.1:${port}`, stderr: () => stderr };
}

describe('--lrs-interval', () => {
  it('below 1 s is raised to 1 s with a warning, and clients are asked for 1 s', async () => {
    const running = await serve('200ms');
    const warning = running.stderr().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string; requested?: string; used?: string }).find((line) => line.msg.includes('--lrs-interval'));
    expect(warning).toMatchObject({ requested: '200ms', used: '1000ms', msg: expect.stringContaining('below what gRPC C-core clients honour') });
    const lrs = await openLrsStream(running.xdsAddress, 'lrs-probe');
    cleanups.push(() => lrs.close());
    expect(lrs.responses[0]).toMatchObject({ load_reporting_interval: { seconds: 1 } });
  });

  it('of 1 s or more is used as given, without a warning', async () => {
    const running = await serve('2s');
    const lrs = await openLrsStream(running.xdsAddress, 'lrs-probe');
    cleanups.push(() => lrs.close());
    expect(lrs.responses[0]).toMatchObject({ load_reporting_interval: { seconds: 2 } });
    expect(running.stderr()).not.toContain('--lrs-interval');
  });
});
