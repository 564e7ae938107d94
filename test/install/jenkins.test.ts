/**
 * examples/jenkins: the Jenkinsfile's stages are the carrier's release flow,
 * and its gate (canary-gate.sh, which runs `sluice canary status --wait`)
 * turns Sluice's verdict into the stage result against a local control plane:
 * exit 0 when promoted, 1 when Sluice rolled back, 3 on timeout after
 * aborting (so the canary is rolled back), 2 when the abort itself fails.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { ordersService } from '../support/temp-config.js';
import { readYamlDocuments, repoRoot } from '../kubernetes/helpers.js';

const GATE = path.join(repoRoot, 'examples/jenkins/canary-gate.sh');
/** The CLI from source, as `sluice` (the image's /usr/local/bin/sluice runs the same main). */
const SLUICE = `${process.execPath} --import tsx ${path.join(repoRoot, 'control-plane/cli/main.ts')}`;

const policy = `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } }
`;
const canary = (interval: string) => `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  stable: v1
  canary: v2
  steps: [10, 50]
  interval: ${interval}
  threshold: 2
  metrics: [{ name: success-rate, min: 99, source: lrs }]
`;

interface GateResult { code: number; stdout: string; stderr: string }

function gate(admin: string, env: Record<string, string> = {}): Promise<GateResult> {
  return new Promise((resolve) => {
    execFile('sh', [GATE], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', SLUICE, SLUICE_ADMIN: admin, CANARY: 'shop/orders', CANARY_POLL: '100ms', SLUICE_LOG_LEVEL: 'silent', ...env },
      timeout: 60_000,
    }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout, stderr }));
  });
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function controlPlane(interval: string) {
  const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': policy, 'canary.yaml': canary(interval) });
  stops.push(() => running.stop());
  const admin = `http://127.0.0.1:${running.controlPlane.admin.port}`;
  const phase = async () => ((await (await fetch(`${admin}/api/v1/canaries/shop/orders`)).json()) as { phase: string }).phase;
  return { running, admin, phase };
}

describe('examples/jenkins', () => {
  it('the Jenkinsfile runs build → deploy next to stable → Canary gated by canary-gate.sh → finish (policy to the new version, Canary removed, old Deployment scaled to 0)', async () => {
    const jenkinsfile = await readFile(path.join(repoRoot, 'examples/jenkins/Jenkinsfile'), 'utf8');
    const stages = [...jenkinsfile.matchAll(/stage\('([^']+)'\)/g)].map((m) => m[1]);
    expect(stages).toEqual(['Build', 'Deploy next to the stable version', 'Canary', 'Finish the release']);
    const body = (name: string) => jenkinsfile.slice(jenkinsfile.indexOf(`stage('${name}')`), stages.indexOf(name) + 1 < stages.length ? jenkinsfile.indexOf(`stage('${stages[stages.indexOf(name) + 1]}')`) : jenkinsfile.indexOf('post {'));
    expect(body('Canary')).toContain('examples/jenkins/canary-gate.sh');
    expect(body('Canary')).toMatch(/kubectl apply -n \$\{NAMESPACE\} -f -/);
    expect(body('Finish the release')).toMatch(/patch trafficpolicy[\s\S]*delete canary[\s\S]*scale deployment \$\{SERVICE\}-\$\{STABLE\}[^\n]*--replicas=0/);
    // A failed gate fails the stage, so the finish stage never runs; the failure handler changes nothing.
    const post = jenkinsfile.slice(jenkinsfile.indexOf('post {'));
    expect(post).not.toMatch(/kubectl|sluice canary (promote|abort)/);
  });

  it('examples/jenkins/rbac.yaml grants the agent account every request the pipeline\'s kubectl commands make', async () => {
    const jenkinsfile = await readFile(path.join(repoRoot, 'examples/jenkins/Jenkinsfile'), 'utf8');
    type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
    const docs = await readYamlDocuments(path.join(repoRoot, 'examples/jenkins/rbac.yaml'));
    const account = docs.find((d) => d.kind === 'ServiceAccount')!;
    const rules = docs.filter((d) => d.kind === 'RoleBinding' && d.subjects.some((x: any) => x.name === account.metadata.name && x.namespace === account.metadata.namespace))
      .flatMap((b) => {
        const role = b.roleRef.kind === 'Role' ? docs.find((d) => d.kind === 'Role' && d.metadata.namespace === b.metadata.namespace && d.metadata.name === b.roleRef.name) : undefined;
        return ((role?.rules ?? []) as Rule[]).map((rule) => ({ ...rule, namespace: b.metadata.namespace as string }));
      });
    const allowed = (verb: string, group: string, resource: string, namespace: string, name?: string) => rules.some((r) =>
      r.namespace === namespace && r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))));
    // What each kubectl command of the pipeline asks the API server (kubectl's own requests, by command).
    const requests: Record<string, Array<[verb: string, group: string, resource: string, namespace: string, name?: string]>> = {
      'apply deployment': [['get', 'apps', 'deployments', 'shop'], ['create', 'apps', 'deployments', 'shop'], ['patch', 'apps', 'deployments', 'shop']],
      'rollout status': [['get', 'apps', 'deployments', 'shop'], ['watch', 'apps', 'deployments', 'shop'], ['list', 'apps', 'replicasets', 'shop']],
      'apply canary': [['get', 'sluice.dev', 'canaries', 'shop'], ['create', 'sluice.dev', 'canaries', 'shop'], ['patch', 'sluice.dev', 'canaries', 'shop']],
      'port-forward': [['get', '', 'services', 'sluice-system', 'sluice-metrics'], ['list', '', 'pods', 'sluice-system'], ['get', '', 'pods', 'sluice-system'], ['create', '', 'pods/portforward', 'sluice-system']],
      'patch trafficpolicy': [['get', 'sluice.dev', 'trafficpolicies', 'shop'], ['patch', 'sluice.dev', 'trafficpolicies', 'shop']],
      'delete canary': [['delete', 'sluice.dev', 'canaries', 'shop']],
      'scale deployment': [['get', 'apps', 'deployments/scale', 'shop'], ['patch', 'apps', 'deployments/scale', 'shop']],
    };
    const commands = [...jenkinsfile.matchAll(/kubectl ([a-z-]+(?: [a-z]+)?)/g)].map((m) => m[1]!);
    // `kubectl apply` reads its objects from a pipe: which kind is what the piped file holds.
    const kinds = [...jenkinsfile.matchAll(/deploy\/([^ ]+)\.yaml[^|]*\| kubectl apply/g)].map((m) => (m[1] === 'canary' ? 'apply canary' : 'apply deployment'));
    const used = [...new Set([...commands.filter((c) => !c.startsWith('apply')), ...kinds])];
    expect(used.sort()).toEqual(Object.keys(requests).sort());
    for (const command of used) {
      for (const [verb, group, resource, namespace, name] of requests[command]!) {
        expect({ command, verb, resource, namespace, allowed: allowed(verb, group, resource, namespace, name) }).toEqual({ command, verb, resource, namespace, allowed: true });
      }
    }
    // Abort on timeout: the canary operator role, bound in the release namespace.
    expect(docs.some((d) => d.kind === 'RoleBinding' && d.metadata.namespace === 'shop' && d.roleRef.name === 'sluice-canary-operator')).toBe(true);
    // The Jenkinsfile's agent pod runs as that account.
    expect(jenkinsfile).toContain(`serviceAccountName: ${account.metadata.name}`);
  });

  it('exit 1 when Sluice rolls the canary back (here: no traffic is no data)', async () => {
    const { admin, phase } = await controlPlane('200ms');
    const result = await gate(admin);
    expect(result).toMatchObject({ code: 1 });
    expect(result.stdout).toMatch(/phase: +Failed/);
    expect(result.stderr).toMatch(/Sluice rolled it back/);
    expect(await phase()).toBe('Failed');
  }, 60_000);

  it('exit 0 when the canary succeeds (an operator promotes while the gate waits)', async () => {
    const { running, admin, phase } = await controlPlane('1500ms');
    const waiting = gate(admin);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const promoted = await running.command('/api/v1/canaries/shop/orders/promote');
    expect(promoted.status).toBe(200);
    const result = await waiting;
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/phase: +Succeeded[\s\S]*canary shop\/orders succeeded/);
    expect(await phase()).toBe('Succeeded');
  }, 60_000);

  it('exit 3 on timeout, after aborting so traffic goes back to the stable version', async () => {
    const { running, admin, phase } = await controlPlane('1h');
    const result = await gate(admin, { CANARY_TIMEOUT: '1s', SLUICE_ADMIN_TOKEN: running.adminToken });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/no verdict after 1s; aborting/);
    expect(result.stdout).toMatch(/phase: +(RollingBack|Failed)/);
    expect(['RollingBack', 'Failed']).toContain(await phase());
  }, 60_000);

  it('exit 2 when the timeout abort is refused (no admin token): the canary is left as it was and the log says what to do', async () => {
    const { admin, phase } = await controlPlane('1h');
    const result = await gate(admin, { CANARY_TIMEOUT: '1s' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/could not abort canary shop\/orders/);
    expect(['Initializing', 'Progressing']).toContain(await phase());
  }, 60_000);
});
