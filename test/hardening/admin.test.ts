/**
 * Hostile input against the admin port: request targets that used to kill the
 * process, failing handlers, oversized bodies, cross-site browser requests and
 * unauthenticated commands — and, in Kubernetes mode, commands authorised by
 * TokenReview + SubjectAccessReview against RBAC objects in the fake API server.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { adminChangesDisabled, AdminTokenFile } from '../../control-plane/admin/auth.js';
import { KubernetesAdminAuthenticator } from '../../control-plane/admin/kubernetes-auth.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { startControlPlane } from '../support/control-plane.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { certificateAuthority } from '../support/spiffe-certificates.js';
import { ordersService } from '../support/temp-config.js';

const policy = `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } }
`;
// A long interval: the canary stays where the test puts it.
const canary = `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  stable: v1
  canary: v2
  steps: [10, 50]
  interval: 1h
  metrics: [{ name: success-rate, min: 99, source: lrs }]
`;
const mesh = { 'svc.yaml': ordersService, 'tp.yaml': policy, 'canary.yaml': canary };

/** One raw HTTP/1.1 request, exactly as written (fetch would normalise the target). */
function rawRequest(port: number, text: string): Promise<{ status: number; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      raw += d;
    });
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0), raw }));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}

const command = (port: number, pathname: string, init: { headers?: Record<string, string>; body?: string } = {}) =>
  fetch(`http://127.0.0.1:${port}${pathname}`, { method: 'POST', headers: init.headers, body: init.body ?? '{}' });

describe('admin port under hostile input (YAML mode, token file)', () => {
  let running: Awaited<ReturnType<typeof startControlPlane>>;
  let port: number;
  const json = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

  beforeAll(async () => {
    running = await startControlPlane(mesh);
    port = running.controlPlane.admin.port;
    running.controlPlane.admin.route('GET', '/test/throws', () => {
      throw new Error('handler bug');
    });
  });
  afterAll(async () => running?.stop());

  it.each(['//', '//a:99999/', '//[', '//@', '//a:99999/healthz?x=1'])('answers GET %s with 400 and stays up', async (target) => {
    const reply = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(reply.status).toBe(400);
    expect(reply.raw).toContain('malformed request target');
    expect((await running.admin('/healthz')).status).toBe(200);
  });

  it('answers other odd request targets without failing, and xDS and health survive every one', async () => {
    for (const [target, status] of [['*', 400], ['a', 400], ['http://admin.example/healthz', 200], ['http://[/', 400], ['/%zz', 404]] as const) {
      const reply = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(reply.status, target).toBe(status);
    }
    expect((await running.admin('/healthz')).status).toBe(200);
    // The xDS port still accepts connections: the process is whole.
    const [host, xdsPort] = running.xdsAddress.split(':') as [string, string];
    await new Promise<void>((resolve, reject) => net.connect(Number(xdsPort), host, function (this: net.Socket) { this.end(); resolve(); }).on('error', reject));
  });

  it('turns a failing handler into a 500 JSON answer and keeps serving', async () => {
    const reply = await running.admin('/test/throws');
    expect(reply.status).toBe(500);
    expect(reply.json()).toEqual({ error: 'internal error: handler bug' });
    expect((await running.admin('/healthz')).status).toBe(200);
  });

  it('refuses a body over 64 KiB with 413, whether announced or streamed', async () => {
    const big = JSON.stringify({ padding: 'x'.repeat(100 * 1024) });
    const announced = await command(port, '/api/v1/canaries/shop/orders/pause', { headers: json(running.adminToken), body: big });
    expect(announced.status).toBe(413);
    expect(((await announced.json()) as { error: string }).error).toMatch(/exceeds 65536 bytes/);
    const chunked = await rawRequest(port, `POST /api/v1/canaries/shop/orders/pause HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${running.adminToken}\r\nTransfer-Encoding: chunked\r\n\r\n${(70 * 1024).toString(16)}\r\n${'x'.repeat(70 * 1024)}\r\n0\r\n\r\n`);
    expect(chunked.status).toBe(413);
    expect((await running.admin('/api/v1/canaries/shop/orders')).json()).toMatchObject({ phase: expect.not.stringMatching(/Paused/) });
  });

  it('refuses cross-site browser requests before anything else, even a form with a valid token', async () => {
    const form = await command(port, '/api/v1/canaries/shop/orders/promote', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', authorization: `Bearer ${running.adminToken}` },
      body: 'x=1',
    });
    expect(form.status).toBe(403);
    expect(((await form.json()) as { error: string }).error).toMatch(/cross-origin request refused/);
    const fetchMetadata = await command(port, '/api/v1/canaries/shop/orders/promote', { headers: { ...json(running.adminToken), 'sec-fetch-site': 'cross-site' } });
    expect(fetchMetadata.status).toBe(403);
    // Another port of the same host is another origin.
    const otherPort = await command(port, '/api/v1/canaries/shop/orders/promote', { headers: { ...json(running.adminToken), origin: 'http://127.0.0.1:1' } });
    expect(otherPort.status).toBe(403);
    // A text/plain "simple request" (no preflight) without Origin is still not JSON.
    const textPlain = await command(port, '/api/v1/canaries/shop/orders/promote', { headers: { 'content-type': 'text/plain', authorization: `Bearer ${running.adminToken}` } });
    expect(textPlain.status).toBe(415);
    expect(((await running.admin('/api/v1/canaries/shop/orders')).json() as { phase: string }).phase).not.toBe('Promoting');
  });

  it('refuses unauthenticated and wrongly authenticated commands with 401', async () => {
    const none = await command(port, '/api/v1/canaries/shop/orders/abort', { headers: { 'content-type': 'application/json' } });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await command(port, '/api/v1/canaries/shop/orders/abort', { headers: json(`${running.adminToken}x`) });
    expect(wrong.status).toBe(401);
    const malformed = await command(port, '/api/v1/canaries/shop/orders/abort', { headers: { 'content-type': 'application/json', authorization: 'Basic YTpi' } });
    expect(malformed.status).toBe(401);
    const badJson = await command(port, '/api/v1/canaries/shop/orders/abort', { headers: json(running.adminToken), body: '{"a":' });
    expect(badJson.status).toBe(400);
    expect(((await running.admin('/api/v1/canaries/shop/orders')).json() as { phase: string }).phase).not.toMatch(/RollingBack|Failed/);
  });

  it('runs a same-origin, JSON, authenticated command (the CLI\'s request)', async () => {
    const paused = await command(port, '/api/v1/canaries/shop/orders/pause', { headers: { ...json(running.adminToken), origin: `http://127.0.0.1:${port}` } });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { phase: string }).phase).toBe('Paused');
    const unknown = await command(port, '/api/v1/canaries/shop/orders/explode', { headers: json(running.adminToken) });
    expect(unknown.status).toBe(404);
  });
});

describe('admin port defaults', () => {
  it('listens on 127.0.0.1 only and refuses commands when no authentication is configured', async () => {
    const running = await startControlPlane(mesh, { adminAuth: adminChangesDisabled });
    try {
      const address = running.controlPlane.admin.port;
      const reply = await command(address, '/api/v1/canaries/shop/orders/promote', { headers: { 'content-type': 'application/json', authorization: 'Bearer anything-at-all-long' } });
      expect(reply.status).toBe(403);
      expect(((await reply.json()) as { error: string }).error).toMatch(/--admin-token-file/);
      // Bound to loopback: not reachable on another local address of this host.
      const other = Object.values((await import('node:os')).networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
      if (other) {
        const reached = await new Promise<boolean>((resolve) => net.connect(address, other.address, function (this: net.Socket) { this.destroy(); resolve(true); }).on('error', () => resolve(false)));
        expect(reached).toBe(false);
      }
    } finally {
      await running.stop();
    }
  });

  it('reads a token file and rejects a short or missing one with how to make one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-token-'));
    try {
      await writeFile(path.join(dir, 'short'), 'abc\n');
      await expect(AdminTokenFile.load(path.join(dir, 'short'))).rejects.toThrow(/at least 16 characters.*openssl rand/);
      await expect(AdminTokenFile.load(path.join(dir, 'missing'))).rejects.toThrow(/cannot read --admin-token-file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes mode: TokenReview and SubjectAccessReview against RBAC', () => {
  let fake: FakeKubeApiServer;
  let running: Awaited<ReturnType<typeof startControlPlane>>;
  let port: number;
  const headers = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

  beforeAll(async () => {
    fake = await FakeKubeApiServer.start();
    // The shipped ClusterRole, bound in namespace shop to a group (as 10-rbac.yaml suggests).
    const rbac = parseAllDocuments(await readFile(path.join(import.meta.dirname, '../../examples/deploy/10-rbac.yaml'), 'utf8')).map((d) => d.toJS());
    fake.apply(rbac.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'sluice-canary-operator'));
    fake.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'shop-releases', namespace: 'shop' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sluice-canary-operator' },
      subjects: [{ kind: 'Group', name: 'shop-release-managers', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    // On-call may pause and nothing else.
    fake.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pause-only', namespace: 'shop' }, rules: [{ apiGroups: ['sluice.dev'], resources: ['canaries'], verbs: ['pause'] }] });
    fake.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'on-call', namespace: 'shop' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pause-only' },
      subjects: [{ kind: 'ServiceAccount', name: 'pager', namespace: 'ops' }],
    });
    const logger = createLogger('silent');
    running = await startControlPlane(mesh, { adminAuth: new KubernetesAdminAuthenticator(fake.kubeConfig('system:serviceaccount:sluice-system:sluice'), logger) });
    port = running.controlPlane.admin.port;
  });
  afterAll(async () => {
    await running?.stop();
    await fake?.close();
  });

  it('refuses a missing or unknown token with 401 and a user RBAC does not allow with 403', async () => {
    expect((await command(port, '/api/v1/canaries/shop/orders/promote', { headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await command(port, '/api/v1/canaries/shop/orders/promote', { headers: headers('not-a-token') })).status).toBe(401);
    const stranger = await command(port, '/api/v1/canaries/shop/orders/promote', { headers: headers(fake.issueToken('mallory', ['developers'])) });
    expect(stranger.status).toBe(403);
    expect(((await stranger.json()) as { error: string }).error).toMatch(/mallory may not promote canaries.sluice.dev shop\/orders/);
    // Pause only: promote is refused, pause is not.
    const pager = fake.issueToken('system:serviceaccount:ops:pager');
    expect((await command(port, '/api/v1/canaries/shop/orders/promote', { headers: headers(pager) })).status).toBe(403);
    expect((await command(port, '/api/v1/canaries/shop/orders/pause', { headers: headers(pager) })).status).toBe(200);
    expect((await command(port, '/api/v1/canaries/shop/orders/resume', { headers: headers(pager) })).status).toBe(403);
    // Each review went to the API server as the control plane's service account; a
    // token is reviewed once per 10 s (a repeated bad token is no TokenReview flood),
    // every command is authorised afresh.
    for (let i = 0; i < 5; i++) expect((await command(port, '/api/v1/canaries/shop/orders/promote', { headers: headers('not-a-token') })).status).toBe(401);
    const reviews = fake.requests.filter((r) => r.path.endsWith('tokenreviews') || r.path.endsWith('subjectaccessreviews'));
    expect(reviews.filter((r) => r.path.endsWith('tokenreviews'))).toHaveLength(3);
    expect(reviews.filter((r) => r.path.endsWith('subjectaccessreviews'))).toHaveLength(4);
    expect(new Set(reviews.map((r) => r.user))).toEqual(new Set(['system:serviceaccount:sluice-system:sluice']));
  });

  it('runs a command for a token whose SubjectAccessReview allows it', async () => {
    const manager = fake.issueToken('alice@example.com', ['shop-release-managers']);
    const resumed = await command(port, '/api/v1/canaries/shop/orders/resume', { headers: headers(manager) });
    expect(resumed.status).toBe(200);
    const promoted = await command(port, '/api/v1/canaries/shop/orders/promote', { headers: headers(manager) });
    expect(promoted.status).toBe(200);
    expect(((await promoted.json()) as { phase: string }).phase).toBe('Promoting');
    // The binding is in shop: the same user may not act in another namespace.
    expect((await command(port, '/api/v1/canaries/payments/orders/promote', { headers: headers(manager) })).status).toBe(403);
  });

  it('answers 503, never allows, when the API server cannot be asked', async () => {
    const fake2 = await FakeKubeApiServer.start();
    const kubeConfig = fake2.kubeConfig('sluice');
    await fake2.close();
    const cp = await startControlPlane(mesh, { adminAuth: new KubernetesAdminAuthenticator(kubeConfig, createLogger('silent')) });
    try {
      const reply = await command(cp.controlPlane.admin.port, '/api/v1/canaries/shop/orders/promote', { headers: headers('whatever-token') });
      expect(reply.status).toBe(503);
      expect(((await reply.json()) as { error: string }).error).toMatch(/TokenReview failed/);
    } finally {
      await cp.stop();
    }
  });
});

describe('/debug/config_dump with client-certificate xDS', () => {
  it('needs the admin token, since each namespace\'s config is its own', async () => {
    const authority = await certificateAuthority();
    const server = await authority.issue('sluice-xds', [{ type: 'ip', value: '127.0.0.1' }]);
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-tls-'));
    await writeFile(path.join(dir, 'tls.crt'), server.cert);
    await writeFile(path.join(dir, 'tls.key'), server.key);
    await writeFile(path.join(dir, 'ca.crt'), authority.ca.cert);
    const running = await startControlPlane(mesh, { tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), clientCaFile: path.join(dir, 'ca.crt') } });
    try {
      const target = `http://127.0.0.1:${running.controlPlane.admin.port}/debug/config_dump?proxy=orders-1.shop`;
      expect((await fetch(target)).status).toBe(401);
      const withToken = () => fetch(target, { headers: { authorization: `Bearer ${running.adminToken}` } });
      await expect.poll(async () => (await withToken()).status, { timeout: 3000 }).toBe(200); // once the first snapshot is served
      const allowed = await withToken();
      expect(((await allowed.json()) as { scope: string }).scope).toMatch(/^sidecar\/shop\//);
      expect((await fetch(`http://127.0.0.1:${running.controlPlane.admin.port}/debug/config_dump?proxy=orders-1.`)).status).toBe(400);
    } finally {
      await running.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sluice serve --kubeconfig: commands authorised by the cluster', () => {
  it('the real serve and CLI: no token 401, a token RBAC allows promotes (and the Canary status says so), --admin-token-file refused', async () => {
    const { spawn, execFile } = await import('node:child_process');
    const { startFakeCluster, seedOrders } = await import('../kubernetes/helpers.js');
    const fake = await startFakeCluster();
    const children: Array<{ kill: () => boolean }> = [];
    try {
      seedOrders(fake);
      fake.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'orders', namespace: 'shop' }, spec: { service: 'orders', stable: 'v1', canary: 'v2', steps: [50], interval: '1h', metrics: [{ name: 'success-rate', min: 99 }] } });
      fake.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'releases', namespace: 'shop' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sluice-canary-operator' },
        subjects: [{ kind: 'ServiceAccount', name: 'release-bot', namespace: 'shop' }],
      });
      const rbac = parseAllDocuments(await readFile(path.join(import.meta.dirname, '../../examples/deploy/10-rbac.yaml'), 'utf8')).map((d) => d.toJS());
      fake.apply(rbac.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'sluice-canary-operator'));
      const kubeconfig = await fake.writeKubeconfig('system:serviceaccount:sluice-system:sluice');
      const env = { ...process.env, SLUICE_LOG_LEVEL: 'silent', POD_NAMESPACE: 'sluice-system', POD_NAME: 'sluice-0' };

      const refused = await new Promise<string>((resolve) => execFile(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'serve', '--kubeconfig', kubeconfig, '--admin-token-file', '/nonexistent'], { env }, (_e, _o, stderr) => resolve(stderr)));
      expect(refused).toMatch(/--admin-token-file is for YAML mode/);

      const serve = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'serve', '--kubeconfig', kubeconfig, '--namespaces', 'shop', '--xds-port', '0', '--admin-port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(serve);
      const admin = await new Promise<string>((resolve, reject) => {
        let text = '';
        serve.stderr!.on('data', (d: Buffer) => {
          text += d.toString();
          const url = /admin on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
          if (url) resolve(url);
        });
        serve.once('exit', () => reject(new Error(`serve exited: ${text}`)));
      });
      await expect.poll(async () => (await fetch(`${admin}/api/v1/canaries/shop/orders`)).status, { timeout: 15_000 }).toBe(200);
      const port = Number(new URL(admin).port);
      expect((await command(port, '/api/v1/canaries/shop/orders/promote', { headers: { 'content-type': 'application/json' } })).status).toBe(401);
      expect((await command(port, '/api/v1/canaries/shop/orders/promote', { headers: { 'content-type': 'application/json', authorization: `Bearer ${fake.issueToken('system:serviceaccount:shop:intern')}` } })).status).toBe(403);

      const cli = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'canary', 'promote', '--json', '--admin', admin, 'shop/orders'], { env: { ...env, SLUICE_ADMIN_TOKEN: fake.issueToken('system:serviceaccount:shop:release-bot') } }, (error, stdout, stderr) => resolve({ code: (error as { code?: number } | null)?.code ?? 0, stdout, stderr })));
      expect(cli.stderr).toBe('');
      expect(JSON.parse(cli.stdout).phase).toBe('Promoting');
      // The leader wrote it to the Canary's status: the command went all the way.
      await expect.poll(() => (fake.get('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders') as { status?: { phase?: string } } | undefined)?.status?.phase, { timeout: 10_000 }).toMatch(/Promoting|Succeeded/);
    } finally {
      for (const child of children) child.kill();
      await fake.close();
    }
  }, 60_000);
});
