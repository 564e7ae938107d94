/**
 * Fail fast or serve fully: `sluice serve` with a corrupt or unreadable state
 * file, an unreadable or unusable TLS file, or a port already taken exits 1
 * with one line naming the file or port; it never lingers half-started.
 * The real command is spawned (through tsx, as the other CLI tests do).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanaryPersistence } from '../../control-plane/canary/persistence.js';
import { CanaryStateFile } from '../../control-plane/canary/state-file.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { ControlPlane } from '../../control-plane/pipeline/control-plane.js';
import { YamlDirectorySource } from '../../control-plane/sources/yaml-directory.js';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function workspace() {
  const config = await tempConfig({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([90, 10]) });
  const stateDir = await mkdtemp(path.join(tmpdir(), 'sluice-state-'));
  cleanups.push(() => config.cleanup(), () => rm(stateDir, { recursive: true, force: true }));
  return { config: config.dir, stateDir, stateFile: path.join(stateDir, 'canaries.json') };
}

interface Outcome {
  code: number | null;
  stderr: string;
  /** The admin URL printed once serving (absent when start-up failed). */
  adminUrl?: string;
}

/**
 * Run `sluice serve` until it exits, or until it says it is serving (then
 * `whenServing` runs and the process is stopped with SIGTERM). The timeout
 * only catches a process that neither fails nor serves: a half-start.
 */
function serve(args: string[], whenServing?: (adminUrl: string) => Promise<void>): Promise<Outcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'serve', '--host', '127.0.0.1', '--admin-address', '127.0.0.1', ...args], {
    env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  return new Promise<Outcome>((resolve, reject) => {
    let stderr = '';
    let adminUrl: string | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice serve neither exited nor served within 25 s; stderr: ${stderr}`));
    }, 25_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const serving = /admin on (http:\/\/[^\s]+)/.exec(stderr);
      if (serving && !adminUrl) {
        adminUrl = serving[1]!;
        void (whenServing?.(adminUrl) ?? Promise.resolve()).finally(() => child.kill('SIGTERM'));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, adminUrl });
    });
  });
}

/** A TCP port held by someone else for the test's duration. */
async function takenPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

function expectFailure(outcome: Outcome, pattern: RegExp | string): void {
  expect(outcome.code).toBe(1);
  expect(outcome.adminUrl).toBeUndefined();
  const lines = outcome.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^sluice: cannot start: /);
  if (typeof pattern === 'string') expect(lines[0]).toContain(pattern);
  else expect(lines[0]).toMatch(pattern);
}

const ports = ['--xds-port', '0', '--admin-port', '0'];

describe('sluice serve start-up', () => {
  it('serves fully with a good state file: ready, then stops cleanly on SIGTERM', async () => {
    const { config, stateDir, stateFile } = await workspace();
    await writeFile(stateFile, JSON.stringify({ version: 1, canaries: {} }));
    let ready = 0;
    const outcome = await serve(['--config', config, '--state-dir', stateDir, ...ports], async (adminUrl) => {
      // Ready once the first snapshot is through the debounce (a bound that only catches a hang).
      for (let attempt = 0; attempt < 100 && ready !== 200; attempt++) {
        ready = (await fetch(`${adminUrl}/readyz`)).status;
        if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    expect(ready).toBe(200);
    expect(outcome.code).toBe(0);
  });

  it('exits 1 naming the file when the state file is not JSON', async () => {
    const { config, stateDir, stateFile } = await workspace();
    await writeFile(stateFile, '{"version": 1, "canaries": {');
    expectFailure(await serve(['--config', config, '--state-dir', stateDir, ...ports]), `${stateFile} is not valid JSON`);
  });

  it('exits 1 naming the file when the state file cannot be read', async () => {
    const { config, stateDir, stateFile } = await workspace();
    // A directory where the file should be: unreadable even for root, which ignores file modes.
    await mkdir(stateFile);
    expectFailure(await serve(['--config', config, '--state-dir', stateDir, ...ports]), `cannot read ${stateFile}`);
  });

  it('exits 1 naming the flag and file when a TLS file is missing', async () => {
    const { config, stateDir } = await workspace();
    const missing = path.join(stateDir, 'missing.crt');
    expectFailure(await serve(['--config', config, ...ports, '--xds-tls-cert', missing, '--xds-tls-key', missing]), `cannot read --xds-tls-cert ${missing}: ENOENT`);
  });

  it('exits 1 naming the port when the xDS port is taken', async () => {
    const { config } = await workspace();
    const port = await takenPort();
    expectFailure(await serve(['--config', config, '--xds-port', String(port), '--admin-port', '0']), `cannot serve xDS on 127.0.0.1:${port}`);
  });
});

/** A control plane on `config` that is never expected to start. */
function controlPlaneOn(config: string, options: Partial<ConstructorParameters<typeof ControlPlane>[0]> = {}): ControlPlane {
  const logger = createLogger('silent');
  const controlPlane = new ControlPlane({
    source: new YamlDirectorySource({ directory: config, logger, settleMs: 20 }),
    logger,
    host: '127.0.0.1',
    adminHost: '127.0.0.1',
    xdsPort: 0,
    adminPort: 0,
    ...options,
  });
  cleanups.push(() => controlPlane.stop());
  return controlPlane;
}

describe('ControlPlane.start', () => {
  it('reports not ready until start-up has completed, even with a snapshot already in the cache', async () => {
    const { config } = await workspace();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Canary state that takes its time to load: start() is still running while the first snapshot lands.
    const slowPersistence: CanaryPersistence = {
      description: 'slow test store',
      loadAll: async () => {
        await gate;
        return new Map();
      },
      save: async () => undefined,
      remove: async () => undefined,
    };
    const controlPlane = controlPlaneOn(config, { canaryPersistence: slowPersistence, debounceMs: 10 });
    const started = controlPlane.start();
    await expect.poll(() => controlPlane.cache.snapshot !== undefined && controlPlane.admin.port > 0, { timeout: 10_000 }).toBe(true);
    const readyz = async () => (await fetch(`http://127.0.0.1:${controlPlane.admin.port}/readyz`)).status;
    expect(await readyz()).toBe(503);
    release();
    await started;
    expect(await readyz()).toBe(200);
  });

  it('rejects a state file of the wrong shape, or with an unreadable entry, naming it', async () => {
    const { stateDir, stateFile } = await workspace();
    await writeFile(stateFile, '[1, 2, 3]');
    await expect(new CanaryStateFile(stateDir).loadAll()).rejects.toThrow(`${stateFile} is not a Sluice canary state file`);
    await writeFile(stateFile, 'null');
    await expect(new CanaryStateFile(stateDir).loadAll()).rejects.toThrow(`${stateFile} is not a Sluice canary state file`);
    await writeFile(stateFile, JSON.stringify({ version: 1, canaries: { 'shop/orders': { phase: 'dancing' } } }));
    await expect(new CanaryStateFile(stateDir).loadAll()).rejects.toThrow('the state of canary "shop/orders" is unreadable');
  });

  it('rejects a certificate that is not PEM, naming the files, before serving anything', async () => {
    const { config, stateDir } = await workspace();
    const garbage = path.join(stateDir, 'garbage.pem');
    await writeFile(garbage, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    const controlPlane = controlPlaneOn(config, { tls: { certFile: garbage, keyFile: garbage } });
    await expect(controlPlane.start()).rejects.toThrow(`the xDS TLS certificate, key or CA (${garbage}, ${garbage}) cannot be used`);
  });

  it('rejects a taken admin port, naming it', async () => {
    const { config } = await workspace();
    const port = await takenPort();
    await expect(controlPlaneOn(config, { adminPort: port }).start()).rejects.toThrow(`cannot serve the admin API on port ${port}`);
  });

  it('rejects and releases the ports it had bound when the canary state is corrupt: nothing is left serving', async () => {
    const { config, stateDir, stateFile } = await workspace();
    await writeFile(stateFile, 'not json');
    const controlPlane = controlPlaneOn(config, { canaryPersistence: new CanaryStateFile(stateDir) });
    await expect(controlPlane.start()).rejects.toThrow(`${stateFile} is not valid JSON`);
    // Both ports were bound before the state was read; both are closed again.
    for (const port of [controlPlane.admin.port, controlPlane.xds.port]) {
      expect(port).toBeGreaterThan(0);
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      expect(refused).toBe('ECONNREFUSED');
    }
  });
});
