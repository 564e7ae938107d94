/**
 * The manifests a platform team applies are checked against Kubernetes' own
 * OpenAPI schemas (kubernetes-models' validators for types, required fields
 * and enums; @kubernetes/client-node's generated models for unknown fields,
 * as `kubectl apply --validate=strict` would), our custom resources in
 * examples/ against the CRDs' openAPIV3Schema, and the RBAC in
 * examples/deploy against what the control plane actually requests.
 */
import path from 'node:path';
import { Ajv } from 'ajv';
import * as clientNode from '@kubernetes/client-node';
import * as models from 'kubernetes-models';
import { describe, expect, it } from 'vitest';
import { LeaderElector } from '../../control-plane/sources/leader-election.js';
import { crdManifests, readYamlDocuments, repoRoot, seedOrders, silent, startFakeCluster, startSource, trafficPolicy, waitFor, yamlFilesUnder, acceptedOf } from './helpers.js';

type Manifest = Record<string, any>;

/** `rbac.authorization.k8s.io` → `rbacAuthorizationK8sIo`, the kubernetes-models namespace of a group. */
const groupKey = (group: string) => group.split(/[.-]/).map((part, i) => (i === 0 ? part : part.charAt(0).toUpperCase() + part.slice(1))).join('');

function kubernetesModel(apiVersion: string, kind: string): ((manifest: Manifest) => { validate(): void }) | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const groupModels = group ? (models as any)[groupKey(group!)] : { [version!]: (models as any).v1 };
  const Model = groupModels?.[version!]?.[kind];
  return Model ? (manifest: Manifest) => new Model(manifest) : undefined;
}

/** Fields the generated client models do not know, with their paths (what strict field validation rejects). */
function unknownFields(value: unknown, type: string, at: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1]!, `${at}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1]!, `${at}.${k}`));
  const model = (clientNode as any)[type];
  if (typeof model?.getAttributeTypeMap !== 'function' || typeof value !== 'object') return [];
  const attributes = model.getAttributeTypeMap() as Array<{ baseName: string; type: string }>;
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value as object)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) problems.push(`${at ? `${at}.` : ''}${key}`);
    else problems.push(...unknownFields(child, attribute.type, `${at ? `${at}.` : ''}${key}`));
  }
  return problems;
}

function clientType(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const prefix = version!.charAt(0).toUpperCase() + version!.slice(1);
  // client-node names a few kinds after their group (CoreV1Event, EventsV1Event); ours are plain.
  return group === '' || group!.endsWith('k8s.io') || ['apps', 'policy', 'batch', 'autoscaling'].includes(group!) ? `${prefix}${kind}` : '';
}

/** Check one manifest the way the API server would; returns problems (empty: valid). */
function kubernetesProblems(manifest: Manifest): string[] {
  const make = kubernetesModel(manifest.apiVersion, manifest.kind);
  if (!make) return [`no Kubernetes schema for ${manifest.apiVersion} ${manifest.kind}`];
  const problems: string[] = [];
  try {
    make(manifest).validate();
  } catch (error) {
    problems.push((error as Error).message);
  }
  const type = clientType(manifest.apiVersion, manifest.kind);
  if (!(clientNode as any)[type]) problems.push(`no client model ${type}`);
  else problems.push(...unknownFields(manifest, type, '').map((field) => `unknown field ${field}`));
  return problems;
}

/** Every object under `dir`; a v1 List is unpacked into its items, as `kubectl apply -f` does. */
async function documents(dir: string): Promise<Array<{ file: string; doc: Manifest }>> {
  const out: Array<{ file: string; doc: Manifest }> = [];
  for (const file of await yamlFilesUnder(dir)) {
    for (const doc of await readYamlDocuments(file)) {
      const relative = path.relative(repoRoot, file);
      if (doc.apiVersion === 'v1' && doc.kind === 'List') {
        expect(Object.keys(doc).sort(), `${relative}: a List has apiVersion, kind, metadata, items`).toEqual(['apiVersion', 'items', 'kind', 'metadata']);
        for (const item of doc.items as Manifest[]) out.push({ file: relative, doc: item });
      } else out.push({ file: relative, doc });
    }
  }
  return out;
}

describe('examples/deploy against Kubernetes OpenAPI schemas', () => {
  it('every manifest is a valid Kubernetes object with no unknown fields', async () => {
    const docs = await documents(path.join(repoRoot, 'examples/deploy'));
    expect(docs.map(({ doc }) => `${doc.kind} ${doc.metadata.name}`).sort()).toEqual([
      'ClusterRole sluice-canary-finish', 'ClusterRole sluice-canary-operator', 'ClusterRole sluice-control-plane', 'ClusterRole sluice-gateway-certificates', 'ClusterRole sluice-webhook-ca-bundle',
      'ClusterRoleBinding sluice-canary-finish', 'ClusterRoleBinding sluice-control-plane', 'ClusterRoleBinding sluice-control-plane-auth-delegator', 'ClusterRoleBinding sluice-webhook-ca-bundle',
      'Deployment sluice-control-plane', 'Deployment sluice-gateway', 'Deployment sluice-webhook', 'HorizontalPodAutoscaler sluice-gateway',
      'Namespace sluice-system', 'PodDisruptionBudget sluice-control-plane', 'PodDisruptionBudget sluice-gateway', 'PodDisruptionBudget sluice-webhook', 'Role sluice-leader-election', 'Role sluice-webhook-certificate',
      'RoleBinding sluice-leader-election', 'RoleBinding sluice-webhook-certificate', 'Service sluice-gateway', 'Service sluice-metrics', 'Service sluice-webhook', 'Service sluice-xds', 'ServiceAccount sluice', 'ServiceAccount sluice-gateway', 'ServiceAccount sluice-webhook',
    ]);
    // Services select the pods they front, by a named port those pods declare.
    const deployments = docs.filter(({ doc }) => doc.kind === 'Deployment').map(({ doc }) => doc);
    for (const { doc: svc } of docs.filter(({ doc }) => doc.kind === 'Service')) {
      const target = deployments.find((d) => Object.entries(svc.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
      expect(target, `Service ${svc.metadata.name} selects no Deployment`).toBeDefined();
      const portNames = target!.spec.template.spec.containers.flatMap((c: Manifest) => c.ports.map((p: Manifest) => p.name));
      for (const port of svc.spec.ports) expect(portNames).toContain(port.targetPort);
    }
    // The webhook configuration calls a Service that exists here.
    const [mwc] = await readYamlDocuments(path.join(repoRoot, 'examples/webhook/mutating-webhook-configuration.yaml'));
    for (const webhook of mwc!.webhooks) {
      expect(docs.some(({ doc }) => doc.kind === 'Service' && doc.metadata.name === webhook.clientConfig.service.name && doc.metadata.namespace === webhook.clientConfig.service.namespace && doc.spec.ports.some((p: Manifest) => p.port === webhook.clientConfig.service.port))).toBe(true);
    }
    for (const { file, doc } of docs) expect({ file, kind: doc.kind, name: doc.metadata.name, problems: kubernetesProblems(doc) }).toEqual({ file, kind: doc.kind, name: doc.metadata.name, problems: [] });
  });

  it('every other built-in object in examples/ (CRDs, webhook, workloads) is valid too', async () => {
    // (kustomization.yaml is kustomize's, not the API server's: test/install checks it with kubectl.)
    // (Gateway API objects are checked against the upstream CRDs' schemas by `sluice validate`: test/gateway.)
    const docs = (await documents(path.join(repoRoot, 'examples'))).filter(({ doc }) => !String(doc.apiVersion).startsWith('sluice.dev/') && !String(doc.apiVersion).startsWith('gateway.networking.k8s.io/') && doc.kind !== 'Kustomization');
    expect(docs.length).toBeGreaterThan(20);
    for (const { file, doc } of docs) expect({ file, name: doc.metadata.name, problems: kubernetesProblems(doc) }).toEqual({ file, name: doc.metadata.name, problems: [] });
  });

  it('the checks do catch mistakes (wrong type, misspelt field, missing required field)', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
    expect(kubernetesProblems(deployment)).toEqual([]);
    expect(kubernetesProblems({ ...deployment, spec: { ...deployment.spec, replicas: 'two' } }).join()).toMatch(/replicas must be integer/);
    expect(kubernetesProblems({ ...deployment, spec: { ...deployment.spec, replica: 2 } })).toEqual(['unknown field spec.replica']);
    expect(kubernetesProblems({ ...deployment, spec: { ...deployment.spec, template: { spec: { containers: [{ name: 'c', image: 'i', port: [] }] } } } })).toEqual(['unknown field spec.template.spec.containers[0].port']);
    expect(kubernetesProblems({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r' }, rules: [{ resources: ['pods'] }] }).join()).toMatch(/verbs/);
  });
});

describe('our custom resources in examples/ against the CRD schemas', () => {
  it('every TrafficPolicy, Canary, WorkloadEntry and TelemetryConfig matches its CRD openAPIV3Schema', async () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    // The formats the API server checks for these CRDs.
    ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
    ajv.addFormat('duration', { type: 'string', validate: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/ });
    const crds = await crdManifests();
    const validators = new Map(crds.map((crd) => [`${crd.spec.group}/${crd.spec.versions[0].name}/${crd.spec.names.kind}`, ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema)]));
    const ours = (await documents(path.join(repoRoot, 'examples'))).filter(({ doc }) => String(doc.apiVersion).startsWith('sluice.dev/'));
    expect(new Set(ours.map(({ doc }) => doc.kind))).toEqual(new Set(['TrafficPolicy', 'Canary', 'WorkloadEntry', 'TelemetryConfig']));
    for (const { file, doc } of ours) {
      const validate = validators.get(`${doc.apiVersion}/${doc.kind}`);
      expect(validate, `${file}: no CRD for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect({ file, name: doc.metadata.name, errors: validate!(doc) ? [] : validate!.errors }).toEqual({ file, name: doc.metadata.name, errors: [] });
    }
    // A control: the same schema refuses a misspelt or mistyped field.
    const policy = ours.find(({ doc }) => doc.kind === 'TrafficPolicy')!.doc;
    const validatePolicy = validators.get('sluice.dev/v1alpha1/TrafficPolicy')!;
    expect(validatePolicy({ ...policy, spec: { ...policy.spec, timeout: 3 } })).toBe(false);
  });
});

describe('RBAC in examples/deploy', () => {
  interface Rule { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }

  function allowed(rules: Array<Rule & { namespace?: string }>, request: { verb: string; group: string; resource: string; namespace?: string; name?: string }): boolean {
    return rules.some((rule) =>
      (rule.namespace === undefined || rule.namespace === request.namespace) &&
      rule.apiGroups?.includes(request.group) &&
      rule.resources?.includes(request.resource) &&
      rule.verbs.includes(request.verb) &&
      (!rule.resourceNames || (request.name !== undefined && rule.resourceNames.includes(request.name))));
  }

  it('grants every request the control plane makes (reads, status, events, lease), and no write to any spec but the opt-in canary finish', async () => {
    // The gateway's install binds no role to the control plane (its TLS Secrets role is left for the operator to bind).
    const rbac = [...(await readYamlDocuments(path.join(repoRoot, 'examples/deploy/10-rbac.yaml'))), ...(await readYamlDocuments(path.join(repoRoot, 'examples/deploy/50-gateway.yaml')))];
    const account = rbac.find((d) => d.kind === 'ServiceAccount')!;
    const bound = (kind: string) => rbac.filter((d) => d.kind === kind && d.subjects.some((s: Manifest) => s.kind === 'ServiceAccount' && s.name === account.metadata.name && s.namespace === account.metadata.namespace)).map((b) => b.roleRef.name);
    const rules: Array<Rule & { namespace?: string }> = [
      // sluice-canary-finish (spec.finish: TrafficPolicy and Deployment updates) is opt-in and checked on its own below.
      ...rbac.filter((d) => d.kind === 'ClusterRole' && d.metadata.name !== 'sluice-canary-finish' && bound('ClusterRoleBinding').includes(d.metadata.name)).flatMap((r) => r.rules as Rule[]),
      ...rbac.filter((d) => d.kind === 'Role' && bound('RoleBinding').includes(d.metadata.name)).flatMap((r) => (r.rules as Rule[]).map((rule) => ({ ...rule, namespace: r.metadata.namespace as string }))),
    ];
    expect(rules.some((r) => r.verbs.includes('*') || r.resources?.includes('*') || r.apiGroups?.includes('*'))).toBe(false);
    expect(rules.some((r) => r.resources?.includes('secrets') || r.resources?.includes('configmaps'))).toBe(false);
    // Writes only to status subresources, events and leases.
    for (const rule of rules) {
      if (rule.verbs.some((v) => ['create', 'update', 'patch', 'delete'].includes(v))) {
        expect(rule.resources!.every((r) => r.endsWith('/status') || r === 'events' || r === 'leases')).toBe(true);
      }
    }

    // The finish role: get and update of exactly what kubernetes-finish.ts writes, nothing else.
    const finish = rbac.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'sluice-canary-finish')!;
    expect(finish.rules).toEqual([
      { apiGroups: ['sluice.dev'], resources: ['trafficpolicies'], verbs: ['get', 'update'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'update'] },
    ]);

    // Run the real thing (source, leader election, a rejection, canary status) and check every request against the rules.
    const fake = await startFakeCluster();
    seedOrders(fake);
    fake.apply(trafficPolicy('shop', 'broken', 'nothing', { v1: 100 }));
    fake.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'c', namespace: 'shop' }, spec: { service: 'orders', stable: 'v1', canary: 'v2', steps: [50], metrics: [{ name: 'success-rate', min: 99 }] } });
    const elector = new LeaderElector({ kubeconfig: fake.kubeConfig(), namespace: 'sluice-system', logger: silent, leaseDurationMs: 1_000, renewDeadlineMs: 600, retryPeriodMs: 100 });
    elector.start();
    await waitFor(() => elector.isLeader(), 3_000, 'leader');
    const run = await startSource(fake, { leader: elector });
    try {
      await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'broken')?.status === 'False', 5_000, 'rejection written');
      await waitFor(() => fake.list('v1', 'Event').length > 0, 5_000, 'event');
      await run.source.statusWriter.writeCanaryStatus('shop', 'c', { phase: 'Progressing', canaryWeight: 50 });
    } finally {
      await run.stop();
      await elector.stop();
      await fake.close();
    }
    const seen = new Set<string>();
    for (const r of fake.requests) {
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(r.path)!;
      const [, group = '', ns, plural, name, sub] = m;
      const verb = r.method === 'GET' ? (r.query.watch ? 'watch' : name ? 'get' : 'list') : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[r.method]!;
      const request = { verb, group, resource: sub ? `${plural}/${sub}` : plural!, namespace: ns, name };
      seen.add(`${verb} ${group}/${request.resource}`);
      expect({ request, allowed: allowed(rules, request) }).toEqual({ request, allowed: true });
    }
    // The run exercised every kind of access the rules are for.
    for (const access of ['list /services', 'watch discovery.k8s.io/endpointslices', 'patch sluice.dev/trafficpolicies/status', 'create /events', 'get coordination.k8s.io/leases', 'update coordination.k8s.io/leases']) {
      expect(seen).toContain(access);
    }
  });
});
