/**
 * `sluice canary` against a running control plane: status, commands, and
 * `status --wait` exit codes (what a Jenkins stage gates on).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { ordersService } from '../support/temp-config.js';

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'canary', ...args], { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const policy = `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } }
`;
const canary = (interval: string, threshold = 2) => `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  stable: v1
  canary: v2
  steps: [10, 20, 30]
  interval: ${interval}
  threshold: ${threshold}
  metrics: [{ name: success-rate, min: 99, source: lrs }]
`;

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

describe('sluice canary', () => {
  it('status --wait exits 1 when the canary fails (here: no traffic is no data)', async () => {
    const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': policy, 'canary.yaml': canary('1s') });
    stops.push(() => running.stop());
    const admin = `http://127.0.0.1:${running.controlPlane.admin.port}`;
    const status = await cli(['status', '--admin', admin, 'shop/orders']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Canary shop\/orders: orders v1 → v2/);
    // Commands need the admin token; without one the CLI says how to give it.
    const unauthenticated = await cli(['promote', '--admin', admin, 'shop/orders']);
    expect(unauthenticated.code).toBe(1);
    expect(unauthenticated.stderr).toMatch(/Authorization: Bearer.*give --token-file/);
    const waited = await cli(['status', '--wait', '--poll', '100ms', '--admin', admin, 'shop/orders']);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toMatch(/phase: +Failed/);
    expect(waited.stderr).toMatch(/no data/);
  }, 60_000);

  it('status --wait exits 0 once an operator promotes; commands report refusals', async () => {
    const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': policy, 'canary.yaml': canary('1500ms', 1000) }); // no rollback, however slow CLI start-ups are on a busy machine
    stops.push(() => running.stop());
    const admin = `http://127.0.0.1:${running.controlPlane.admin.port}`;
    const token = ['--token-file', running.adminTokenFile];
    const refused = await cli(['resume', ...token, '--admin', admin, 'shop/orders']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot resume a canary that is (Initializing|Progressing)/);
    const promoted = await cli(['promote', '--json', ...token, '--admin', admin, 'shop/orders']);
    expect(JSON.parse(promoted.stdout).phase).toBe('Promoting');
    const timedOut = await cli(['status', '--wait', '--timeout', '100ms', '--poll', '50ms', '--admin', admin, 'shop/orders']);
    expect([0, 3]).toContain(timedOut.code);
    const waited = await cli(['status', '--wait', '--poll', '100ms', '--admin', admin, 'shop/orders']);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(/phase: +Succeeded/);
    expect((await cli(['abort', '--admin', admin, 'shop/orders'], { SLUICE_ADMIN_TOKEN: running.adminToken })).stderr).toMatch(/cannot abort a canary that is Succeeded/);
    expect((await cli(['status', '--admin', admin, 'shop/missing'])).stderr).toMatch(/no Canary shop\/missing/);
    expect((await cli(['status', '--admin', admin, 'not-a-ref'])).code).toBe(1);
  }, 90_000); // seven CLI processes: seconds each when the machine is busy
});
