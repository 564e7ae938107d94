import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

const run = promisify(execFile);

/** Runs the real CLI entry point, as `npx sluice` would. */
export async function sluice(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', ...args], { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => cleanup?.());

describe('sluice validate', () => {
  it('prints a one-line summary by kind for valid input and exits 0', async () => {
    const result = await sluice('validate', 'examples');
    expect(result.code).toBe(0);
    // examples/ also holds CRDs, the webhook configuration and deployment manifests: counted as ignored.
    expect(result.stdout).toMatch(/^examples: valid — \d+ files: 1 Gateway, 1 GatewayClass, 2 HTTPRoute, 3 Namespace, 5 Service, 4 EndpointSlice, 12 Pod, 2 WorkloadEntry, 4 TrafficPolicy, 1 Canary, 2 TelemetryConfig; \d+ ignored \([A-Za-z, ]*CustomResourceDefinition[A-Za-z, ]*\); snapshot [0-9a-f]{16}\n$/);
  });

  it('warns, with file:line, about what would silently not apply: routes after a catch-all, a policy on a port that is not HTTP', async () => {
    const policy = `${ordersPolicy([90, 10])}    - name: too-late
      match: { userId: { header: x-user-id, values: [u-1] } }
      to: [{ version: v2, weight: 100 }]
`;
    const config = await tempConfig({ 'svc.yaml': ordersService.replace('ports: [{ name: http, port: 8080, targetPort: 8080 }]', 'ports: [{ name: http, port: 8080, targetPort: 8080 }, { name: admin, port: 9000 }]'), 'tp.yaml': policy });
    cleanup = config.cleanup;
    const result = await sluice('validate', config.dir);
    expect(result.code).toBe(0);
    const warnings = result.stderr.replaceAll(`${config.dir}/`, '').trim().split('\n');
    expect(warnings).toContain('warning: tp.yaml:14:7: TrafficPolicy shop/orders: spec.routes[1]: route "too-late" is never used: route "split" above it matches every request');
    expect(warnings.find((w) => w.includes('port 9000'))).toMatch(/^warning: tp\.yaml:\d+:\d+: TrafficPolicy shop\/orders: spec\.service: Service shop\/orders port 9000 \("admin"\) is not recognised as HTTP or gRPC.*appProtocol/);
  });

  it('prints every problem and exits 1', async () => {
    const config = await tempConfig({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([50, 60]), 'bad.yaml': 'kind: Service\n' });
    cleanup = config.cleanup;
    const result = await sluice('validate', config.dir);
    expect(result.code).toBe(1);
    const lines = result.stdout.replaceAll(`${config.dir}/`, '').trim().split('\n');
    expect(lines).toEqual([
      'bad.yaml:1:1: apiVersion: is required',
      'bad.yaml:1:1: metadata: is required and must be a map with a name',
      'tp.yaml:11:7: TrafficPolicy shop/orders: spec.routes[0].to: weights must sum to 100, got 110',
      `${config.dir}: invalid — 3 problems in 3 files`,
    ]);
  });

  it('lists the subcommands, each with its own --help', async () => {
    const help = await sluice('--help');
    for (const command of ['validate', 'serve', 'translate', 'inject', 'webhook', 'status', 'canary']) expect(help.stdout).toContain(command);
    const validateHelp = await sluice('validate', '--help');
    expect(validateHelp.stdout).toContain('Exit status: 0 when valid');
  });
});
