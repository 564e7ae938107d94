/**
 * docs/kubernetes.md's promise, checked on the real command: `sluice serve
 * --kubeconfig` against a cluster without the CRDs exits 1 after
 * --sync-timeout, naming each resource it could not list; it does not linger.
 */
import { spawn } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { watchedKinds } from '../../control-plane/sources/kubernetes-informers.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';

let fake: FakeKubeApiServer | undefined;
afterAll(async () => fake?.close());

it('exits 1 after --sync-timeout naming the resources it cannot list (CRDs not applied)', async () => {
  fake = await FakeKubeApiServer.start({ crds: [] });
  const kubeconfig = await fake.writeKubeconfig();
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'serve', '--kubeconfig', kubeconfig, '--sync-timeout', '1s', '--host', '127.0.0.1', '--xds-port', '0', '--admin-port', '0'], {
    env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(kill);
  expect(code, stderr).toBe(1);
  expect(Date.now() - started).toBeLessThan(15_000);
  // One per CRD of ours (examples/crds): every kind Sluice defines and watches.
  expect(stderr).toMatch(new RegExp(`^sluice: cannot start: could not list ${watchedKinds.filter((kind) => kind.ours).length} resource\\(s\\) within 1000 ms`, 'm'));
  for (const resource of ['trafficpolicies.sluice.dev', 'canaries.sluice.dev', 'workloadentries.sluice.dev']) expect(stderr).toContain(`${resource}: HTTP 404`);
}, 30_000);
