/**
 * Hostile input against the sidecar-injection webhook, over HTTPS as the API
 * server calls it: huge CIDR and port lists, oversized and concurrent bodies,
 * fields of the wrong JSON type, odd request targets. Every patch it returns is
 * applied with fast-json-patch (validating each operation, as the API server does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LIST_ENTRIES, parseCidrList, parsePortList } from '../../webhook/annotations.js';
import type { Pod } from '../../webhook/kube.js';
import { admissionReview, applyPatch, decodePatch, deploymentPod } from '../webhook/helpers.js';
import { startTestWebhook, type Reply, type TestWebhook } from './webhook-client.js';

const cidrs = (n: number) => Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`).join(',');
const ports = (n: number) => Array.from({ length: n }, (_, i) => String(1 + (i % 65535))).join(',');

/** A 200 AdmissionReview for `pod`: denied with a 400 status, or allowed with a patch that applies. */
function expectAnswered(reply: Reply, pod: unknown): { allowed: boolean; message: string; patched?: Pod } {
  expect(reply.status).toBe(200);
  const response = reply.body.response;
  expect(typeof response.uid).toBe('string');
  if (!response.allowed) {
    expect(response.status.code).toBe(400);
    return { allowed: false, message: response.status.message };
  }
  const patched = response.patch ? applyPatch(pod as Pod, decodePatch(response.patch)) : undefined;
  return { allowed: true, message: response.status?.message ?? '', patched };
}

describe('webhook under hostile input', () => {
  let hook: TestWebhook;
  beforeAll(async () => {
    hook = await startTestWebhook();
  });
  afterAll(async () => hook?.close());

  it.each([40_000, 80_000])('rejects %i excluded CIDRs quickly with a clear message, health answering meanwhile', async (n) => {
    const pod = deploymentPod({ annotations: { 'traffic.sluice.dev/excludeOutboundIPRanges': cidrs(n) } });
    const started = performance.now();
    const [reply, health] = await Promise.all([hook.post('/inject', JSON.stringify(admissionReview(pod))), hook.get('/healthz')]);
    // Quadratic parsing took 11.6 s for 40,000; this only catches a hang.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(health.status).toBe(200);
    const answer = expectAnswered(reply, pod);
    expect(answer.allowed).toBe(false);
    expect(answer.message).toMatch(/traffic\.sluice\.dev\/excludeOutboundIPRanges: "10\.0\.0\.0\/32,.*characters\)" has more than 1000 CIDRs/);
    expect(answer.message.length).toBeLessThan(400);
  });

  it(`injects a list of exactly ${MAX_LIST_ENTRIES} entries, de-duplicated, in order`, async () => {
    const list = cidrs(MAX_LIST_ENTRIES - 1);
    const pod = deploymentPod({ annotations: { 'traffic.sluice.dev/excludeOutboundIPRanges': `${list},10.0.0.0` , 'traffic.sluice.dev/excludeOutboundPorts': ports(MAX_LIST_ENTRIES) } });
    const answer = expectAnswered(await hook.post('/inject', JSON.stringify(admissionReview(pod))), pod);
    expect(answer.allowed).toBe(true);
    const init = answer.patched!.spec!.initContainers!.find((c) => c.name === 'sluice-init')!;
    const rules = ((init.env as Array<{ value: string }>)[0]!.value).split('\n');
    expect(rules.filter((r) => r.startsWith('-A SLUICE_OUTPUT -d 10.')).length).toBe(MAX_LIST_ENTRIES - 1);
    expect(rules.filter((r) => r.includes('--dport') && r.startsWith('-A SLUICE_OUTPUT')).length).toBe(MAX_LIST_ENTRIES);
  });

  it('parses lists in linear time: a list 10× longer (within the cap) takes far less than 100× as long', () => {
    const time = (fn: () => void) => {
      const start = performance.now();
      for (let i = 0; i < 20; i++) fn();
      return performance.now() - start;
    };
    const small = cidrs(100);
    const large = cidrs(MAX_LIST_ENTRIES);
    time(() => parseCidrList(large, 'x', false)); // warm up
    const ratio = time(() => parseCidrList(large, 'x', false)) / Math.max(time(() => parseCidrList(small, 'x', false)), 0.01);
    // Linear is about 10; quadratic would be about 100. Generous, so a loaded machine cannot fail it.
    expect(ratio).toBeLessThan(60);
    expect(() => parsePortList(ports(MAX_LIST_ENTRIES + 1), 'p', false)).toThrow(/more than 1000 ports/);
  });

  it('refuses a body over the default 2 MiB limit with 413 and keeps serving', async () => {
    const pod = deploymentPod({ annotations: { padding: 'x'.repeat(3 * 1024 * 1024) } });
    const reply = await hook.post('/inject', JSON.stringify(admissionReview(pod))).catch((error: Error) => ({ status: -1, body: error.message, headers: {} }));
    // The answer may race the rest of the upload; either way nothing was buffered past the limit.
    if (reply.status !== -1) {
      expect(reply.status).toBe(413);
      expect(reply.body.error).toMatch(/exceeds 2097152 bytes/);
    }
    expect((await hook.get('/healthz')).status).toBe(200);
    expect((await hook.post('/inject', JSON.stringify(admissionReview(deploymentPod())))).status).toBe(200);
  });

  it.each([
    ['a numeric label value', (p: any) => { p.metadata.labels.version = 2; }, /metadata\.labels\["version"\] must be a string, not a number/],
    ['labels as a string', (p: any) => { p.metadata.labels = 'app=orders'; }, /metadata\.labels must be a map of strings, not a string/],
    ['labels as a list', (p: any) => { p.metadata.labels = ['app']; }, /metadata\.labels must be a map of strings, not a list/],
    ['an annotation that is an object', (p: any) => { p.metadata.annotations = { 'sidecar.sluice.dev/proxyCPU': { cpu: 1 } }; }, /metadata\.annotations\["sidecar\.sluice\.dev\/proxyCPU"\] must be a string/],
    ['annotations as a number', (p: any) => { p.metadata.annotations = 7; }, /metadata\.annotations must be a map of strings, not a number/],
    ['containers as an object', (p: any) => { p.spec.containers = { name: 'orders' }; }, /spec\.containers must be a list of containers, not an object/],
    ['a null container', (p: any) => { p.spec.containers = [null]; }, /spec\.containers\[0\] must be a container object, not null/],
    ['a container with a numeric name', (p: any) => { p.spec.containers[0].name = 1; }, /spec\.containers\[0\]\.name must be a string, not a number/],
    ['initContainers as a string', (p: any) => { p.spec.initContainers = 'none'; }, /spec\.initContainers must be a list of containers/],
    ['hostNetwork as a string', (p: any) => { p.spec.hostNetwork = 'false'; }, /spec\.hostNetwork must be true or false/],
    ['metadata as a list', (p: any) => { p.metadata = []; }, /metadata must be an object, not a list/],
    ['ownerReferences as a string', (p: any) => { p.metadata.ownerReferences = 'rs'; }, /metadata\.ownerReferences must be a list/],
    ['an owner without a name', (p: any) => { p.metadata.ownerReferences = [{ kind: 'ReplicaSet' }]; }, /ownerReferences\[0\] must be an object with string kind and name/],
    ['generateName as a number', (p: any) => { p.metadata.generateName = 5; }, /metadata\.generateName must be a string/],
    ['spec as a string', (p: any) => { p.spec = 'x'; }, /./],
  ])('answers a pod with %s without a 500 or an unappliable patch', async (_name, mutate, message) => {
    const pod = structuredClone(deploymentPod()) as any;
    mutate(pod);
    const answer = expectAnswered(await hook.post('/inject', JSON.stringify(admissionReview(pod))), pod);
    if (answer.allowed) {
      // Only a pod with nothing to inject into passes: unchanged.
      expect(answer.patched).toBeUndefined();
      expect(answer.message).toMatch(/no pod with spec.containers/);
    } else {
      expect(answer.message).toMatch(/^sluice sidecar injection: the pod is malformed: /);
      expect(answer.message).toMatch(message);
    }
  });

  it.each([
    ['annotations: null', (p: any) => { p.metadata.annotations = null; }],
    ['labels: null', (p: any) => { p.metadata.labels = null; }],
    ['initContainers: null', (p: any) => { p.spec.initContainers = null; }],
    ['metadata: null', (p: any) => { p.metadata = null; }],
    ['ownerReferences: null', (p: any) => { p.metadata.ownerReferences = null; }],
  ])('treats %s as absent and injects with a patch that applies', async (_name, mutate) => {
    const pod = structuredClone(deploymentPod()) as any;
    mutate(pod);
    const answer = expectAnswered(await hook.post('/inject', JSON.stringify(admissionReview(pod))), pod);
    expect(answer.allowed).toBe(true);
    expect(answer.patched!.spec!.containers.map((c) => c.name)).toContain('sluice-proxy');
    expect(answer.patched!.metadata!.annotations!['sidecar.sluice.dev/status']).toBeDefined();
  });

  it.each([
    ['a request that is a string', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: 'x' }],
    ['a numeric uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 5 } }],
    ['null', null],
  ])('answers a review with %s 400', async (_name, review) => {
    const reply = await hook.post('/inject', JSON.stringify(review));
    expect(reply.status).toBe(400);
  });

  it('answers odd request fields (kind as a string, object as a list…) with an answer whose patch, if any, applies', async () => {
    const base = admissionReview(deploymentPod()).request;
    for (const [request, patched] of [[{ ...base, kind: 'Pod' }, false], [{ ...base, object: [1, 2] }, false], [{ ...base, operation: 7 }, false], [{ ...base, namespace: { a: 1 } }, true]] as const) {
      const reply = await hook.post('/inject', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }));
      const answer = expectAnswered(reply, request.object);
      expect(answer.allowed).toBe(true);
      expect(answer.patched !== undefined).toBe(patched);
    }
  });

  it.each(['//', '//a:99999/', '//[', '//@'])('answers the request target %s with 400', async (target) => {
    const raw = await new Promise<string>((resolve, reject) => {
      // TLS is needed to reach HTTP; use the client's agent-free raw TLS socket.
      import('node:tls').then((tls) => {
        const socket = tls.connect({ host: '127.0.0.1', port: hook.webhook.port, rejectUnauthorized: false }, () => socket.write(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`));
        let data = '';
        socket.on('data', (d: Buffer) => { data += d.toString('latin1'); });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      }, reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await hook.get('/healthz')).status).toBe(200);
  });
});

describe('webhook concurrency budget', () => {
  it('answers 429 beyond the concurrent limit while /healthz and the held requests still succeed', async () => {
    const hook = await startTestWebhook({ maxConcurrent: 4 });
    try {
      const body = JSON.stringify(admissionReview(deploymentPod()));
      const held = Array.from({ length: 4 }, () => hook.hold('/inject', body));
      // Wait until the server has all four in flight (their headers are in).
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await hook.post('/inject', body);
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body.error).toMatch(/more than 4 admission requests in flight/);
      expect((await hook.get('/healthz')).status).toBe(200);
      for (const h of held) h.finish();
      const replies = await Promise.all(held.map((h) => h.reply));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      // Slots are given back: the next request is served.
      expect((await hook.post('/inject', body)).status).toBe(200);
    } finally {
      await hook.close();
    }
  });

  it('frees a slot when a client disconnects mid-body', async () => {
    const hook = await startTestWebhook({ maxConcurrent: 1 });
    try {
      const port = hook.webhook.port;
      const tls = await import('node:tls');
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
      socket.write('POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":');
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.destroy();
      const body = JSON.stringify(admissionReview(deploymentPod()));
      await expect.poll(async () => (await hook.post('/inject', body)).status, { timeout: 3000 }).toBe(200);
    } finally {
      await hook.close();
    }
  });
});
