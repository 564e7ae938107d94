/**
 * The install as shipped, on a fresh (fake) cluster: the manifests are
 * applied in the order kustomize gives (`kubectl kustomize examples`) and in
 * the plain `kubectl apply -f` order of docs/install.md, against an API server
 * that refuses objects in a missing namespace and custom resources before
 * their CRD. Then every reference between them must resolve — Services to
 * pods and named ports, ServiceAccounts, ConfigMaps, RBAC bindings, the
 * webhook's Service, and the xDS address in every injected bootstrap — and the
 * shipped `sluice webhook` arguments, run against that cluster with the
 * webhook's own RBAC, produce the Secret and a caBundle the API server would
 * trust.
 */
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { generateServingCertificates } from '../../webhook/certificates.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { readYamlDocuments, repoRoot, yamlFilesUnder } from '../kubernetes/helpers.js';
import { allowedBy, applyInOrder, id, requestOf, unpack, unresolved, type Manifest } from './install-checks.js';
import { credentials } from '@grpc/grpc-js';
import { SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';
import { admissionReview, applyPatch, assertValidBootstrap, decodePatch, deploymentPod, startedBootstrap } from '../webhook/helpers.js';

const run = promisify(execFile);


/** `kubectl apply -f examples/crds -f examples/deploy -f examples/webhook`: directories in that order, files sorted. */
async function plainOrder(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const dir of ['crds', 'deploy', 'webhook']) {
    for (const file of await yamlFilesUnder(path.join(repoRoot, 'examples', dir))) out.push(...unpack(await readYamlDocuments(file)));
  }
  return out;
}

/**
 * Why the kustomize check cannot run here, if it cannot: it needs kubectl
 * with kustomize v4 or later (kubectl ≥ 1.21; Debian bookworm's
 * kubernetes-client is 1.20, with kustomize v2, which orders differently).
 */
async function kustomizeUnavailable(): Promise<string | undefined> {
  const version = await run('kubectl', ['version', '--client']).then(({ stdout }) => stdout, () => undefined);
  if (version === undefined) return 'kubectl is not installed';
  const kustomize = /Kustomize Version: v(\d+)/.exec(version)?.[1];
  return kustomize && Number(kustomize) >= 4 ? undefined : `kubectl embeds kustomize ${kustomize ? `v${kustomize}` : 'older than v4'}`;
}

async function kustomizeOrder(): Promise<Manifest[]> {
  const { stdout } = await run('kubectl', ['kustomize', path.join(repoRoot, 'examples')], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
}


/** Start `sluice <args>` from the repository; resolves with the first stdout/stderr match of `ready`. */
async function runCli(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ match: RegExpExecArray; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', ...args], { cwd: repoRoot, env: { ...process.env, SLUICE_LOG_LEVEL: 'warn', ...env } });
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice ${args[0]} did not start: ${output}`)), 30_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = ready.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`sluice ${args[0]} exited ${code}: ${output}`)));
  });
  return {
    match,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Run the shipped webhook container's arguments (kubelet's $(VAR) expansion done) against `fake`; resolves once it listens. */
async function runShippedWebhook(fake: FakeKubeApiServer, kubeconfig: string): Promise<{ port: number; stop: () => Promise<void>; stderr: () => string }> {
  const deployment = fake.get('apps/v1', 'Deployment', 'sluice-system', 'sluice-webhook') as Manifest;
  const container = deployment.spec.template.spec.containers[0];
  const env: Record<string, string> = { POD_NAMESPACE: deployment.metadata.namespace };
  const args = (container.args as string[])
    .map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => env[v]!))
    // Outside a pod: a kubeconfig instead of the service account, any free port, the ConfigMap's file from the repository.
    .map((a) => (a === '--kubeconfig=in-cluster' ? `--kubeconfig=${kubeconfig}` : a.startsWith('--port=') ? '--port=0' : a.startsWith('--config=') ? '--config=examples/webhook/injection-config.yaml' : a));
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', ...args, '--host', '127.0.0.1'], { cwd: repoRoot, env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`webhook did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`webhook exited ${code}: ${stderr}`)));
  });
  return {
    port,
    stderr: () => stderr,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

function postJson(port: number, ca: string, target: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: target, method: 'POST', ca, servername: 'sluice-webhook.sluice-system.svc', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function healthz(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'sluice-webhook.sluice-system.svc' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('install as shipped', async () => {
  const noKustomize = await kustomizeUnavailable();
  if (noKustomize) console.warn(`skipping the kubectl kustomize check: ${noKustomize}`);

  it('kubectl apply -f examples/crds -f examples/deploy -f examples/webhook applies in order on a fresh cluster, and every reference resolves', async () => {
    const manifests = await plainOrder();
    const fake = await applyInOrder(manifests);
    try {
      expect(await unresolved(fake)).toEqual([]);
    } finally {
      await fake.close();
    }
    // The control: out of order (a namespaced object before its Namespace, a custom resource before its CRD) is refused.
    const deployIndex = manifests.findIndex((m) => m.kind === 'Deployment');
    await expect(applyInOrder([manifests[deployIndex]!])).rejects.toThrow(/namespaces "sluice-system" not found/);
    await expect(applyInOrder([{ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'c', namespace: 'default' } }])).rejects.toThrow(/does not serve/);
  });

  it.skipIf(noKustomize !== undefined)('kubectl kustomize examples (apply -k): the same objects, CRDs and Namespace first, the webhook configuration last', async () => {
    const ordered = await kustomizeOrder();
    expect(ordered.map(id).sort()).toEqual((await plainOrder()).map(id).sort());
    const firstNamespaced = ordered.findIndex((m) => m.metadata.namespace);
    const crdCount = (await plainOrder()).filter((m) => m.kind === 'CustomResourceDefinition').length;
    expect(ordered.slice(0, firstNamespaced).map((m) => m.kind).sort()).toEqual([...Array<string>(crdCount).fill('CustomResourceDefinition'), 'Namespace']);
    expect(ordered.at(-1)!.kind).toBe('MutatingWebhookConfiguration');
    // Every file of the three directories is listed, so a new CRD or manifest cannot be left out of -k.
    const kustomization = (await readYamlDocuments(path.join(repoRoot, 'examples/kustomization.yaml')))[0]!;
    const files = (await Promise.all(['crds', 'deploy', 'webhook'].map((d) => yamlFilesUnder(path.join(repoRoot, 'examples', d))))).flat().map((f) => path.relative(path.join(repoRoot, 'examples'), f));
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    const fake = await applyInOrder(ordered);
    try {
      expect(await unresolved(fake)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('the shipped control-plane arguments, with the control plane\'s RBAC only, sync from the installed cluster, take the Lease and report ready', async () => {
    const fake = await applyInOrder(await plainOrder());
    const account = { namespace: 'sluice-system', name: 'sluice' };
    const user = `system:serviceaccount:${account.namespace}:${account.name}`;
    const kubeconfig = await fake.writeKubeconfig(user);
    const deployment = fake.get('apps/v1', 'Deployment', 'sluice-system', 'sluice-control-plane') as Manifest;
    const container = deployment.spec.template.spec.containers[0];
    // Outside a pod: a kubeconfig for the service account, free loopback ports.
    // The xDS certificate the webhook would have put in the mounted Secret: files in a temp dir instead.
    const tlsDir = await mkdtemp(path.join(tmpdir(), 'sluice-xds-tls-'));
    const served = await generateServingCertificates({ dnsNames: ['sluice-xds.sluice-system.svc'] });
    await writeFile(path.join(tlsDir, 'tls.crt'), served.certPem);
    await writeFile(path.join(tlsDir, 'tls.key'), served.keyPem);
    const mountPath = (container.volumeMounts as Manifest[]).find((m) => m.name === 'xds-tls')!.mountPath as string;
    const args = (container.args as string[]).map((a, i, all) => (all[i - 1] === '--kubeconfig' ? kubeconfig : ['--xds-port', '--admin-port'].includes(all[i - 1]!) ? '0' : all[i - 1] === '--admin-address' ? '127.0.0.1' : a.startsWith(`${mountPath}/`) ? path.join(tlsDir, a.slice(mountPath.length + 1)) : a));
    const env = Object.fromEntries((container.env as Manifest[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? 'sluice-control-plane-0' : e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' ? '127.0.0.1' : deployment.metadata.namespace]));
    const serve = await runCli([...args, '--host', '127.0.0.1'], env, /admin on http:\/\/[^:]+:(\d+)/);
    try {
      const readyz = `http://127.0.0.1:${serve.match[1]}${container.readinessProbe.httpGet.path}`;
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline && status !== 200) {
        status = await fetch(readyz).then((r) => r.status, () => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
      const deadlineLease = Date.now() + 10_000;
      while (Date.now() < deadlineLease && !(fake.get('coordination.k8s.io/v1', 'Lease', 'sluice-system', 'sluice-leader') as Manifest | undefined)?.spec?.holderIdentity) await new Promise((r) => setTimeout(r, 100));
      expect((fake.get('coordination.k8s.io/v1', 'Lease', 'sluice-system', 'sluice-leader') as Manifest).spec.holderIdentity).toMatch(/^sluice-control-plane-0(_|$)/);
    } finally {
      await serve.stop();
      await fake.close();
    }
    const allowed = allowedBy(fake, account);
    const made = fake.requests.filter((r) => r.user === user);
    expect(made.some((r) => r.path.includes('/trafficpolicies'))).toBe(true);
    for (const r of made) {
      const req = requestOf(r.method, r.path, r.query);
      expect({ req, allowed: allowed(req) }).toEqual({ req, allowed: true });
    }
  }, 60_000);

  it('the shipped webhook arguments, with the webhook\'s RBAC only, create the certificate Secret and a caBundle the API server trusts', async () => {
    const fake = await applyInOrder(await plainOrder());
    const account = { namespace: 'sluice-system', name: 'sluice-webhook' };
    const user = `system:serviceaccount:${account.namespace}:${account.name}`;
    const kubeconfig = await fake.writeKubeconfig(user);
    const webhook = await runShippedWebhook(fake, kubeconfig);
    try {
      const mwc = fake.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'sluice-sidecar-injector') as Manifest;
      const bundles = new Set(mwc.webhooks.map((w: Manifest) => w.clientConfig.caBundle));
      expect(bundles.size).toBe(1);
      const ca = Buffer.from([...bundles][0] as string, 'base64').toString('utf8');
      expect(ca).toMatch(/BEGIN CERTIFICATE/);
      expect(fake.get('v1', 'Secret', 'sluice-system', 'sluice-webhook-tls')).toBeDefined();
      expect(await healthz(webhook.port, ca)).toBe(200);
      // The control: a CA it was not issued by is refused.
      const other = await generateServingCertificates({ dnsNames: ['x'] });
      await expect(healthz(webhook.port, other.caPem)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
      expect(await unresolved(fake)).toEqual([]);
    } finally {
      await webhook.stop();
      await fake.close();
    }
    const allowed = allowedBy(fake, account);
    const made = fake.requests.filter((r) => r.user === user);
    expect(made.length).toBeGreaterThanOrEqual(4);
    for (const r of made) {
      const req = requestOf(r.method, r.path, r.query);
      expect({ req, allowed: allowed(req) }).toEqual({ req, allowed: true });
    }
    // And nothing more: the control plane's account may not touch Secrets at all.
    expect(allowedBy(fake, { namespace: 'sluice-system', name: 'sluice' })({ verb: 'get', group: '', resource: 'secrets', namespace: 'sluice-system', name: 'sluice-webhook-tls' })).toBe(false);
  }, 30_000);

  it('xDS over TLS as shipped: the webhook keeps sluice-xds-tls, serve serves it, and injected bootstraps trust exactly its CA', async () => {
    const fake = await applyInOrder(await plainOrder());
    const webhook = await runShippedWebhook(fake, await fake.writeKubeconfig('system:serviceaccount:sluice-system:sluice-webhook'));
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-xds-chain-'));
    let controlPlane: Awaited<ReturnType<typeof startControlPlane>> | undefined;
    try {
      const secret = fake.get('v1', 'Secret', 'sluice-system', 'sluice-xds-tls') as Manifest | undefined;
      expect(secret, 'the webhook creates the Secret 30-control-plane.yaml mounts').toBeDefined();
      const data = (key: string) => Buffer.from(secret!.data[key] as string, 'base64').toString('utf8');
      // The mounted items are what serve reads.
      const deployment = fake.get('apps/v1', 'Deployment', 'sluice-system', 'sluice-control-plane') as Manifest;
      const items = (deployment.spec.template.spec.volumes as Manifest[]).find((v) => v.name === 'xds-tls')!.secret.items as Manifest[];
      expect(items.map((i) => i.key)).toEqual(['tls.crt', 'tls.key']);
      await writeFile(path.join(dir, 'tls.crt'), data('tls.crt'));
      await writeFile(path.join(dir, 'tls.key'), data('tls.key'));

      // A pod admitted by the running webhook: its bootstrap's sluice-xds cluster speaks TLS to the Service name, trusting the Secret's CA.
      const caBundle = Buffer.from((fake.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'sluice-sidecar-injector') as Manifest).webhooks[0].clientConfig.caBundle, 'base64').toString('utf8');
      const pod = deploymentPod();
      const answer = JSON.parse(await postJson(webhook.port, caBundle, '/inject', admissionReview(pod))) as Manifest;
      const bootstrap = startedBootstrap(applyPatch(pod, decodePatch(answer.response.patch)), { name: 'orders-7d9f8c6b5-x2x9q', namespace: 'shop' });
      assertValidBootstrap(bootstrap);
      const xds = (bootstrap.static_resources.clusters as Manifest[]).find((c) => c.name === 'sluice-xds')!;
      const tls = xds.transport_socket.typed_config;
      expect(tls.sni).toBe('sluice-xds.sluice-system.svc');
      expect(tls.common_tls_context.validation_context.trusted_ca.inline_string).toBe(data('ca.crt'));
      expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'DNS', matcher: { exact: 'sluice-xds.sluice-system.svc' } }]);

      // serve with the Secret's files; a client trusting only the bootstrap's CA, checking the SNI name, gets its configuration.
      controlPlane = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() }, { tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), reloadIntervalMs: 30_000 } });
      const trusting = (ca: string) => new SotwClient(controlPlane!.xdsAddress, { nodeId: 'orders-0.shop', metadata: { namespace: 'shop' }, credentials: credentials.createSsl(Buffer.from(ca)), channelOptions: { 'grpc.ssl_target_name_override': tls.sni, 'grpc.default_authority': tls.sni } });
      const client = trusting(tls.common_tls_context.validation_context.trusted_ca.inline_string);
      try {
        client.request(typeUrls.listeners, []);
        expect((await client.nextOf(typeUrls.listeners)).resources.length).toBeGreaterThan(0);
      } finally {
        client.close();
      }
      // The control: another CA does not verify what serve presents.
      const stranger = trusting((await generateServingCertificates({ dnsNames: ['x'] })).caPem);
      stranger.request(typeUrls.listeners, []);
      const outcome = await Promise.race([stranger.nextOf(typeUrls.listeners).then(() => 'served'), new Promise<string>((resolve) => setTimeout(() => resolve('refused'), 1500))]).catch(() => 'refused');
      stranger.close();
      expect(outcome).toBe('refused');
    } finally {
      await controlPlane?.stop();
      await webhook.stop();
      await fake.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
