/**
 * Checks shared by the install tests (plain manifests, kustomize, the Helm
 * chart): apply in order against the test API server, then find every
 * reference between the installed objects that does not resolve.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_INJECTION_CONFIG, loadInjectionConfig } from '../../webhook/config.js';
import { ROUTES } from '../../webhook/server.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';

export type Manifest = Record<string, any>;

/** Unpack v1 Lists as `kubectl apply -f` does. */
export const unpack = (docs: Manifest[]): Manifest[] => docs.flatMap((d) => (d.apiVersion === 'v1' && d.kind === 'List' ? (d.items as Manifest[]) : [d]));

export const id = (m: Manifest) => `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;

/** Apply in order; the API server says no to anything whose prerequisites are missing. */
export async function applyInOrder(manifests: Manifest[]): Promise<FakeKubeApiServer> {
  const fake = await FakeKubeApiServer.start({ namespaceLifecycle: true });
  // What every cluster has from its first start (the API server's bootstrap RBAC policy).
  fake.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:auth-delegator' }, rules: [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ] });
  for (const manifest of manifests) {
    try {
      fake.apply(manifest);
    } catch (error) {
      await fake.close();
      throw new Error(`applying ${id(manifest)} failed: ${(error as Error).message}`);
    }
  }
  return fake;
}

/** Every reference between the installed objects; returns the ones that do not resolve. */
export async function unresolved(fake: FakeKubeApiServer, namespace = 'sluice-system'): Promise<string[]> {
  const problems: string[] = [];
  const deployments = fake.list('apps/v1', 'Deployment');
  const services = fake.list('v1', 'Service');
  const exists = (apiVersion: string, kind: string, ns: string | undefined, name: string) => fake.get(apiVersion, kind, ns, name) !== undefined;
  const podsOf = (ns: string, selector: Record<string, string>) => deployments.filter((d) => d.metadata.namespace === ns && Object.entries(selector).every(([k, v]) => (d as Manifest).spec.template.metadata.labels?.[k] === v));

  // Secrets a shipped container creates itself (`sluice webhook --tls-secret=… --xds-tls-secret=…`), by namespace.
  const created = new Set((deployments as Manifest[]).flatMap((d) => (d.spec.template.spec.containers as Manifest[]).flatMap((c) =>
    ((c.args ?? []) as string[]).map((a) => /^--(?:xds-)?tls-secret=(.+)$/.exec(a)?.[1]).filter(Boolean).map((name) => `${d.metadata.namespace}/${name}`))));
  for (const d of deployments as Manifest[]) {
    const ns = d.metadata.namespace;
    const pod = d.spec.template.spec;
    if (!exists('v1', 'ServiceAccount', ns, pod.serviceAccountName ?? 'default')) problems.push(`${id(d)}: ServiceAccount ${pod.serviceAccountName} missing`);
    for (const volume of pod.volumes ?? []) {
      if (volume.configMap && !exists('v1', 'ConfigMap', ns, volume.configMap.name)) problems.push(`${id(d)}: ConfigMap ${volume.configMap.name} missing`);
      if (volume.secret && !volume.secret.optional && !exists('v1', 'Secret', ns, volume.secret.secretName) && !created.has(`${ns}/${volume.secret.secretName}`)) problems.push(`${id(d)}: Secret ${volume.secret.secretName} missing, and no shipped container creates it`);
    }
    // Every file a container's arguments name under a mounted volume is a file of that volume.
    for (const c of pod.containers as Manifest[]) {
      for (const arg of (c.args ?? []) as string[]) {
        const file = /^(?:--[\w-]+=)?(\/.+)$/.exec(arg)?.[1];
        const mount = file ? ((c.volumeMounts ?? []) as Manifest[]).find((m) => file.startsWith(`${m.mountPath}/`)) : undefined;
        if (!file || !mount) continue;
        const volume = ((pod.volumes ?? []) as Manifest[]).find((v) => v.name === mount.name);
        const items = (volume?.secret ?? volume?.configMap)?.items as Manifest[] | undefined;
        const relative = file.slice(mount.mountPath.length + 1);
        if (!volume) problems.push(`${id(d)} ${c.name}: volume ${mount.name} missing`);
        else if (items && !items.some((i) => i.path === relative)) problems.push(`${id(d)} ${c.name}: ${file} is not a file of volume ${mount.name}`);
      }
    }
    if (!Object.entries(d.spec.selector.matchLabels).every(([k, v]) => d.spec.template.metadata.labels[k] === v)) problems.push(`${id(d)}: selector does not match its template`);
  }
  for (const svc of services as Manifest[]) {
    const targets = podsOf(svc.metadata.namespace, svc.spec.selector ?? {});
    if (targets.length === 0) problems.push(`${id(svc)}: selects no Deployment`);
    const ports = targets.flatMap((t) => (t as Manifest).spec.template.spec.containers.flatMap((c: Manifest) => c.ports ?? []));
    for (const port of svc.spec.ports) {
      if (!ports.some((p: Manifest) => p.name === port.targetPort || p.containerPort === port.targetPort)) problems.push(`${id(svc)}: targetPort ${port.targetPort} is no container port`);
    }
  }
  for (const pdb of fake.list('policy/v1', 'PodDisruptionBudget') as Manifest[]) {
    if (podsOf(pdb.metadata.namespace, pdb.spec.selector.matchLabels).length === 0) problems.push(`${id(pdb)}: selects no Deployment`);
  }
  for (const [bindingKind, roleNamespaced] of [['RoleBinding', true], ['ClusterRoleBinding', false]] as const) {
    for (const binding of fake.list('rbac.authorization.k8s.io/v1', bindingKind) as Manifest[]) {
      const roleNs = roleNamespaced && binding.roleRef.kind === 'Role' ? binding.metadata.namespace : undefined;
      if (!exists('rbac.authorization.k8s.io/v1', binding.roleRef.kind, roleNs, binding.roleRef.name)) problems.push(`${id(binding)}: ${binding.roleRef.kind} ${binding.roleRef.name} missing`);
      for (const s of binding.subjects) if (s.kind === 'ServiceAccount' && !exists('v1', 'ServiceAccount', s.namespace, s.name)) problems.push(`${id(binding)}: ServiceAccount ${s.namespace}/${s.name} missing`);
    }
  }
  for (const mwc of fake.list('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration') as Manifest[]) {
    for (const webhook of mwc.webhooks) {
      const ref = webhook.clientConfig.service;
      const svc = fake.get('v1', 'Service', ref.namespace, ref.name) as Manifest | undefined;
      if (!svc?.spec.ports.some((p: Manifest) => p.port === (ref.port ?? 443))) problems.push(`${id(mwc)} ${webhook.name}: Service ${ref.namespace}/${ref.name}:${ref.port} missing`);
      if (!(ref.path in ROUTES)) problems.push(`${id(mwc)} ${webhook.name}: path ${ref.path} is not served`);
    }
  }
  // The xDS address of every bootstrap (built-in default and shipped ConfigMap) is a Service port in front of `serve`'s --xds-port.
  const configMap = fake.get('v1', 'ConfigMap', namespace, 'sluice-injection-config') as Manifest | undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-install-'));
  try {
    const shipped = configMap ? await writeFile(path.join(dir, 'cm.yaml'), JSON.stringify(configMap)).then(() => loadInjectionConfig(path.join(dir, 'cm.yaml'))) : undefined;
    if (!shipped) problems.push(`ConfigMap ${namespace}/sluice-injection-config missing`);
    // The built-in default names sluice-system; installed elsewhere (Helm -n), the shipped ConfigMap's address is the one used.
    // A gateway Deployment (examples/deploy/50-gateway.yaml) carries its bootstrap in SLUICE_BOOTSTRAP: it names the control plane too.
    const servesTls = deployments.some((d) => (d as Manifest).spec.template.spec.containers.some((c: Manifest) => c.args?.[0] === 'serve' && c.args.includes('--xds-tls-cert')));
    const gatewayBootstraps = (deployments as Manifest[]).flatMap((d) => (d.spec.template.spec.containers as Manifest[]).flatMap((c) => (c.env ?? []).filter((e: Manifest) => e.name === 'SLUICE_BOOTSTRAP').map((e: Manifest) => {
      const bootstrap = JSON.parse(e.value) as { static_resources: { clusters: Array<Manifest> } };
      const cluster = bootstrap.static_resources.clusters.find((candidate) => candidate.name === 'sluice-xds');
      const xds = cluster?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
      // A control plane serving xDS over TLS is reached over TLS, trusting a CA file the pod mounts.
      const caFile: string | undefined = cluster?.transport_socket?.typed_config?.common_tls_context?.validation_context?.trusted_ca?.filename;
      if (servesTls && !cluster?.transport_socket) problems.push(`${id(d)} bootstrap: serve speaks TLS on xDS, but the sluice-xds cluster has no transport_socket`);
      if (caFile) {
        const mount = (c.volumeMounts ?? []).find((m: Manifest) => caFile.startsWith(`${m.mountPath}/`));
        const volume = mount && (d.spec.template.spec.volumes ?? []).find((v: Manifest) => v.name === mount.name);
        const key = caFile.slice(mount ? mount.mountPath.length + 1 : 0);
        if (!volume?.secret || !(volume.secret.items ?? []).some((item: Manifest) => item.path === key)) problems.push(`${id(d)} bootstrap: CA file ${caFile} is not mounted from a Secret`);
      }
      return [`${id(d)} bootstrap`, xds ? `${xds.address}:${xds.port_value}` : '(no sluice-xds cluster)'];
    })));
    const addresses = [...(namespace === 'sluice-system' ? [['default', DEFAULT_INJECTION_CONFIG.controlPlaneAddress]] : []), ['ConfigMap', shipped?.controlPlaneAddress ?? ''], ...gatewayBootstraps];
    for (const [what, address] of addresses) {
      const [, name, ns, port] = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)$/.exec(address!) ?? [];
      const svc = name ? (fake.get('v1', 'Service', ns, name!) as Manifest | undefined) : undefined;
      const servicePort = svc?.spec.ports.find((p: Manifest) => p.port === Number(port));
      const serve = deployments.find((d) => (d as Manifest).spec.template.spec.containers.some((c: Manifest) => c.args?.[0] === 'serve')) as Manifest | undefined;
      const container = serve?.spec.template.spec.containers.find((c: Manifest) => c.args?.[0] === 'serve');
      const containerPort = container?.ports.find((p: Manifest) => p.name === servicePort?.targetPort);
      const xdsPort = container?.args[container.args.indexOf('--xds-port') + 1];
      if (!svc || !servicePort || !containerPort || String(containerPort.containerPort) !== xdsPort || !podsOf(ns!, svc.spec.selector).includes(serve as never)) {
        problems.push(`${what} controlPlaneAddress ${address} does not reach serve's xDS port`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return problems;
}

/** Does `rules` (Roles in their namespace, ClusterRoles anywhere) allow `request`? As RBAC decides. */
export function allowedBy(fake: FakeKubeApiServer, account: { namespace: string; name: string }) {
  const bound = (kind: string, ns?: string) => (fake.list('rbac.authorization.k8s.io/v1', kind, ns) as Manifest[]).filter((b) => b.subjects.some((s: Manifest) => s.kind === 'ServiceAccount' && s.name === account.name && s.namespace === account.namespace));
  const rules: Array<Manifest & { namespace?: string }> = [
    // A binding to a role that is not there grants nothing (as RBAC decides).
    ...bound('ClusterRoleBinding').flatMap((b) => (((fake.get('rbac.authorization.k8s.io/v1', 'ClusterRole', undefined, b.roleRef.name) as Manifest | undefined)?.rules ?? []) as Manifest[]).map((r) => ({ ...r, namespace: undefined }))),
    ...bound('RoleBinding').flatMap((b) => (((fake.get('rbac.authorization.k8s.io/v1', 'Role', b.metadata.namespace, b.roleRef.name) as Manifest | undefined)?.rules ?? []) as Manifest[]).map((r) => ({ ...r, namespace: b.metadata.namespace as string }))),
  ];
  return (r: { verb: string; group: string; resource: string; namespace?: string; name?: string }) => rules.some((rule) =>
    (rule.namespace === undefined || rule.namespace === r.namespace) && rule.apiGroups.includes(r.group) && rule.resources.includes(r.resource) && rule.verbs.includes(r.verb) &&
    (!rule.resourceNames || (r.name !== undefined && rule.resourceNames.includes(r.name))));
}

export function requestOf(method: string, url: string, query: Record<string, string>) {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(url);
  if (!m) return { verb: method, group: '?', resource: url, namespace: undefined, name: undefined };
  const [, group = '', namespace, plural, name, sub] = m;
  const verb = method === 'GET' ? (query.watch ? 'watch' : name ? 'get' : 'list') : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method]!;
  return { verb, group, resource: sub ? `${plural}/${sub}` : plural!, namespace, name };
}
