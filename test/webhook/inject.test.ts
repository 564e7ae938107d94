import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { reviewAdmission } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG } from '../../webhook/config.js';
import type { Pod } from '../../webhook/kube.js';
import { injectManifests } from '../../webhook/workloads.js';
import { admissionReview, applyPatch, assertValidBootstrap, container, decodePatch, silentLog, startedBootstrap } from './helpers.js';

const repo = new URL('../..', import.meta.url).pathname;
/** A multi-document sample: Deployment, StatefulSet (with an annotation), CronJob, Service. */
const SAMPLE = 'test/golden/inject/workloads-multi-doc/in.yaml';

const template = (app: string) => `
    metadata:
      labels: {app: ${app}}
    spec:
      containers:
        - name: ${app}
          image: ghcr.io/carrier/${app}:1.0`;

const MANIFEST = `# shop workloads
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  template:${template('orders')}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ledger, namespace: shop}
spec:
  serviceName: ledger
  selector: {matchLabels: {app: ledger}}
  template:${template('ledger')}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:${template('agent')}
---
apiVersion: batch/v1
kind: Job
metadata: {name: reindex, namespace: shop}
spec:
  template:${template('reindex')}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:${template('nightly').replaceAll('\n    ', '\n        ')}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop, labels: {app: debug}}
spec:
  containers:
    - name: debug  # kept comment
      image: busybox:1.36
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata:
      labels: {app: legacy}
      annotations: {sluice.dev/inject: "false"}
    spec:
      containers: [{name: legacy, image: legacy:1}]
`;

function templateOf(doc: any): Pod {
  if (doc.kind === 'Pod') return doc;
  if (doc.kind === 'CronJob') return doc.spec.jobTemplate.spec.template;
  return doc.spec.template;
}

describe('sluice inject', () => {
  it('injects every workload kind in a multi-document manifest and passes the rest through', () => {
    const result = injectManifests(MANIFEST, DEFAULT_INJECTION_CONFIG, 'shop.yaml');
    const docs = parseAllDocuments(result.output).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'Service', 'Deployment']);
    for (const doc of docs.slice(0, 6)) {
      const pod = templateOf(doc);
      expect(pod.spec!.containers.map((c) => c.name), doc.kind).toEqual([doc.metadata.name, 'sluice-proxy']);
      expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['sluice-init']);
      const bootstrap = startedBootstrap(pod, { name: `${doc.metadata.name}-0`, namespace: 'shop' });
      expect(bootstrap.node.metadata.workload).toBe(doc.metadata.name);
    }
    expect(docs[6]).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } });
    expect(templateOf(docs[7]).spec!.containers).toHaveLength(1);
    expect(result.objects.find((o) => o.object === 'Deployment shop/legacy')).toMatchObject({ injected: false });
    expect(result.output).toContain('# shop workloads');
    expect(result.output).toContain('# kept comment');
  });

  it('produces the same pod as the webhook does for that template (one code path)', () => {
    const result = injectManifests(MANIFEST, DEFAULT_INJECTION_CONFIG);
    const offline = templateOf(parseAllDocuments(result.output)[0]!.toJS());
    const original = templateOf(parseAllDocuments(MANIFEST)[0]!.toJS());
    // The pod the ReplicaSet controller would create from the template.
    const pod: Pod = { ...original, metadata: { ...original.metadata, generateName: 'orders-5c8f7-', ownerReferences: [{ kind: 'ReplicaSet', name: 'orders-5c8f7', controller: true }], labels: { ...original.metadata!.labels, 'pod-template-hash': '5c8f7' } } };
    const { response } = reviewAdmission(admissionReview(pod).request, { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled', log: silentLog });
    const online = applyPatch(pod, decodePatch(response.response.patch!));
    expect(online.spec).toEqual({ ...offline.spec, containers: [offline.spec!.containers[0], expect.anything()] });
    const env = (p: Pod) => container(p, 'sluice-proxy').env;
    expect(JSON.parse(env(online)[2].value).node.metadata.workload).toBe('orders');
    expect(container(online, 'sluice-init')).toEqual(container(offline, 'sluice-init'));
    assertValidBootstrap(startedBootstrap(offline, { name: 'orders-5c8f7-abcde', namespace: 'shop' }));
  });

  it('does not inject twice when fed its own output', () => {
    const once = injectManifests(MANIFEST, DEFAULT_INJECTION_CONFIG).output;
    const twice = injectManifests(once, DEFAULT_INJECTION_CONFIG);
    expect(twice.output).toBe(once);
    expect(twice.objects.filter((o) => o.injected)).toEqual([]);
  });

  it('injects the items of a kind: List', () => {
    const list = 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n    spec: {containers: [{name: a, image: a:1}]}\n';
    const out = parseAllDocuments(injectManifests(list, DEFAULT_INJECTION_CONFIG).output)[0]!.toJS();
    expect(out.items[0].spec.containers.map((c: { name: string }) => c.name)).toEqual(['a', 'sluice-proxy']);
  });

  it('reports YAML errors with file and line', () => {
    expect(() => injectManifests('kind: Pod\nmetadata: [\n', DEFAULT_INJECTION_CONFIG, 'bad.yaml')).toThrow(/bad\.yaml:\d+:\d+/);
  });

  it('runs as `sluice inject -f` and prints multi-document YAML', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'control-plane/cli/main.ts', 'inject', '-f', SAMPLE, '--config', 'examples/webhook/injection-config.yaml'],
      { cwd: repo, env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' } },
    );
    const docs = parseAllDocuments(stdout).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'StatefulSet', 'CronJob', 'Service']);
    const ledger = templateOf(docs[1]);
    const rules = container(ledger, 'sluice-init').env[0].value as string;
    expect(rules).toContain('-A SLUICE_INBOUND -p tcp --dport 7000 -j RETURN');
    // From the example config.
    expect(rules).toContain('-A SLUICE_OUTPUT -d 169.254.169.254/32 -j RETURN');
    expect(stderr).toBe('');
    expect(await readFile(path.join(repo, SAMPLE), 'utf8')).not.toContain('sluice-proxy');
  });
});
