/**
 * `sluice canary status|promote|abort|pause|resume <namespace>/<name>`: the
 * running control plane's admin API, for people and pipelines.
 * `status --wait` blocks until the canary ends: exit 0 on Succeeded, 1 on
 * Failed, 3 on timeout, so a Jenkins stage can gate on it.
 *
 * Commands (promote, abort, pause, resume) are authenticated: the bearer token
 * comes from --token-file, else $SLUICE_ADMIN_TOKEN, else the file named by
 * $SLUICE_ADMIN_TOKEN_FILE (never a flag holding the token itself, which `ps` would show).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';

interface CanaryView {
  namespace: string;
  name: string;
  service: string;
  stable: string;
  canary: string;
  steps: number[];
  phase: string;
  canaryWeight: number;
  stepIndex: number;
  failedChecks: number;
  threshold: number;
  message: string;
  lastTransitionTime: string;
}

interface CommonOptions {
  admin: string;
  tokenFile?: string;
  json?: boolean;
}

/** The admin token to send, if any: YAML mode's --admin-token-file, or a Kubernetes token (e.g. `kubectl create token`). */
async function adminToken(options: CommonOptions): Promise<string | undefined> {
  const file = options.tokenFile ?? process.env.SLUICE_ADMIN_TOKEN_FILE;
  if (options.tokenFile === undefined && process.env.SLUICE_ADMIN_TOKEN) return process.env.SLUICE_ADMIN_TOKEN.trim();
  if (file === undefined || file === '') return undefined;
  const text = await readFile(file, 'utf8').catch((error: Error) => {
    throw new Error(`cannot read the admin token file ${file}: ${error.message}`);
  });
  return text.trim();
}

function parseRef(ref: string): { namespace: string; name: string } {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(ref);
  if (!match) throw new Error(`"${ref}" is not <namespace>/<name>`);
  return { namespace: match[1]!, name: match[3]! };
}

async function call(admin: string, method: 'GET' | 'POST', path: string, token?: string): Promise<CanaryView> {
  const url = new URL(path, admin);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  // Commands are JSON requests: the admin API refuses any other body type (no HTML form can send one).
  const init = method === 'POST' ? { method, headers: { ...headers, 'content-type': 'application/json' }, body: '{}' } : { method, headers };
  const response = await fetch(url, init).catch((error: Error) => {
    throw new Error(`cannot reach the control plane at ${admin}: ${error.message}`);
  });
  const body = (await response.json().catch(() => ({}))) as CanaryView & { error?: string };
  if (response.status === 401 && token === undefined) {
    throw new Error(`${body.error ?? 'authentication required'} (give --token-file <file> or set SLUICE_ADMIN_TOKEN)`);
  }
  if (!response.ok) throw new Error(body.error ?? `${url.pathname} answered ${response.status}`);
  return body;
}

export function renderCanary(view: CanaryView): string {
  const step = view.phase === 'Progressing' ? ` (step ${view.stepIndex + 1}/${view.steps.length})` : '';
  return [
    `Canary ${view.namespace}/${view.name}: ${view.service} ${view.stable} → ${view.canary}`,
    `  phase:         ${view.phase}${step}`,
    `  canary weight: ${view.canaryWeight}%`,
    `  failed checks: ${view.failedChecks}/${view.threshold}`,
    `  since:         ${view.lastTransitionTime}`,
    `  message:       ${view.message}`,
    '',
  ].join('\n');
}

export function registerCanary(program: Command): void {
  const canary = program
    .command('canary')
    .description('Inspect and control canary releases on a running control plane (its admin API).')
    .addHelpText('after', `
Examples:
  sluice canary status shop/orders
  sluice canary status --wait --timeout 30m shop/orders   # exit 0 on Succeeded, 1 on Failed
  sluice canary pause --token-file ~/.sluice/admin-token shop/orders
  SLUICE_ADMIN_TOKEN=$(kubectl create token release-bot -n shop) sluice canary promote shop/orders`);
  const common = (command: Command) =>
    command
      .option('--admin <url>', 'admin address of the control plane (in Kubernetes any replica: followers forward commands to the leader)', 'http://127.0.0.1:15014')
      .option('--token-file <file>', 'bearer token for commands: the control plane\'s --admin-token-file, or a Kubernetes token (default: $SLUICE_ADMIN_TOKEN, then the file $SLUICE_ADMIN_TOKEN_FILE)')
      .option('--json', 'print JSON');

  common(canary.command('status <namespace/name>').description('Show a canary\'s phase, weight and checks.'))
    .option('--wait', 'block until the canary succeeds (exit 0) or fails (exit 1)')
    .option('--timeout <duration>', 'with --wait: give up after this long (exit 3)', '1h')
    .option('--poll <duration>', 'with --wait: how often to ask', '2s')
    .action(async (ref: string, options: CommonOptions & { wait?: boolean; timeout: string; poll: string }) => {
      const { namespace, name } = parseRef(ref);
      const path = `/api/v1/canaries/${namespace}/${name}`;
      const print = (view: CanaryView) => process.stdout.write(options.json ? `${JSON.stringify(view)}\n` : renderCanary(view));
      if (!options.wait) {
        print(await call(options.admin, 'GET', path));
        return;
      }
      const timeoutMs = parseDuration(options.timeout);
      const pollMs = parseDuration(options.poll);
      if (timeoutMs === undefined || pollMs === undefined) throw new Error('--timeout and --poll take durations such as 30m and 2s');
      const deadline = Date.now() + timeoutMs;
      let lastLine = '';
      for (;;) {
        let view: CanaryView | undefined;
        try {
          view = await call(options.admin, 'GET', path);
        } catch (error) {
          // A control plane restarting (or a leader change) is not the canary's verdict: keep waiting.
          process.stderr.write(`sluice canary: ${(error as Error).message}; retrying\n`);
        }
        if (view) {
          const line = `${view.phase} ${view.canaryWeight}% failed checks ${view.failedChecks}/${view.threshold}: ${view.message}`;
          if (line !== lastLine) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
          lastLine = line;
          if (view.phase === 'Succeeded' || view.phase === 'Failed') {
            print(view);
            process.exitCode = view.phase === 'Succeeded' ? 0 : 1;
            return;
          }
        }
        if (Date.now() >= deadline) {
          process.stderr.write(`sluice canary: still ${view?.phase ?? 'unknown'} after ${options.timeout}\n`);
          process.exitCode = 3;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    });

  for (const [action, summary] of [
    ['promote', 'Skip the remaining steps and promote the canary version now.'],
    ['abort', 'Roll back now: all traffic to the stable version.'],
    ['pause', 'Freeze the canary at its current weight (no checks, no steps).'],
    ['resume', 'Continue a paused canary where it stopped.'],
  ] as const) {
    common(canary.command(`${action} <namespace/name>`).description(summary)).action(async (ref: string, options: CommonOptions) => {
      const { namespace, name } = parseRef(ref);
      const view = await call(options.admin, 'POST', `/api/v1/canaries/${namespace}/${name}/${action}`, await adminToken(options));
      process.stdout.write(options.json ? `${JSON.stringify(view)}\n` : renderCanary(view));
    });
  }
}
