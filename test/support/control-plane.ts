import { ControlPlane, type ControlPlaneOptions } from '../../control-plane/pipeline/control-plane.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { YamlDirectorySource } from '../../control-plane/sources/yaml-directory.js';
import { tempConfig } from './temp-config.js';

/** A control plane on a temp config directory, on free loopback ports. */
export async function startControlPlane(files: Record<string, string>, options: Partial<ControlPlaneOptions> = {}) {
  const config = await tempConfig(files);
  const logger = createLogger((process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent') as 'silent');
  const controlPlane = new ControlPlane({
    source: new YamlDirectorySource({ directory: config.dir, logger, settleMs: 20 }),
    logger,
    host: '127.0.0.1',
    xdsPort: 0,
    adminPort: 0,
    debounceMs: 20,
    ...options,
  });
  const ports = await controlPlane.start();
  const admin = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${ports.adminPort}${path}`);
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text) as unknown };
  };
  return {
    controlPlane,
    config,
    xdsAddress: `127.0.0.1:${ports.xdsPort}`,
    admin,
    async stop() {
      await controlPlane.stop();
      await config.cleanup();
    },
  };
}
