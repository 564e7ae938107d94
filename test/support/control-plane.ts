import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AdminTokenFile } from '../../control-plane/admin/auth.js';
import { ControlPlane, type ControlPlaneOptions } from '../../control-plane/pipeline/control-plane.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { YamlDirectorySource } from '../../control-plane/sources/yaml-directory.js';
import { tempConfig } from './temp-config.js';

/**
 * A control plane on a temp config directory, on free loopback ports. Admin
 * commands take the bearer token in `adminTokenFile` (as `serve --admin-token-file`)
 * unless `options.adminAuth` says otherwise; `command()` sends one with it.
 */
export async function startControlPlane(files: Record<string, string>, options: Partial<ControlPlaneOptions> = {}) {
  const config = await tempConfig(files);
  const tokenDir = await mkdtemp(path.join(tmpdir(), 'sluice-admin-'));
  const adminToken = randomBytes(24).toString('hex');
  const adminTokenFile = path.join(tokenDir, 'admin-token');
  await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  const logger = createLogger((process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent') as 'silent');
  const controlPlane = new ControlPlane({
    source: new YamlDirectorySource({ directory: config.dir, logger, settleMs: 20 }),
    logger,
    host: '127.0.0.1',
    xdsPort: 0,
    adminPort: 0,
    debounceMs: 20,
    adminAuth: await AdminTokenFile.load(adminTokenFile),
    ...options,
  });
  const ports = await controlPlane.start();
  const admin = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${ports.adminPort}${path}`);
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text) as unknown };
  };
  /** POST an admin command as the CLI does: JSON, with the bearer token. */
  const command = (path: string) =>
    fetch(`http://127.0.0.1:${ports.adminPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: '{}' });
  return {
    controlPlane,
    config,
    xdsAddress: `127.0.0.1:${ports.xdsPort}`,
    admin,
    command,
    adminToken,
    adminTokenFile,
    async stop() {
      await controlPlane.stop();
      await config.cleanup();
      await rm(tokenDir, { recursive: true, force: true });
    },
  };
}
