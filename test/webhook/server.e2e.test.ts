/**
 * End to end: the real HTTPS server on a free loopback port, TLS verified
 * against the CA it was generated with, AdmissionReviews as the API server
 * posts them, and the returned JSONPatch applied with fast-json-patch.
 */
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateServingCertificates, serviceDnsNames, type ServingCertificates } from '../../webhook/certificates.js';
import { DEFAULT_INJECTION_CONFIG } from '../../webhook/config.js';
import { startWebhookServer, type RunningWebhook } from '../../webhook/server.js';
import {
  admissionReview, applyPatch, assertValidBootstrap, container, decodePatch, deploymentPod, namedPod, silentLog, startedBootstrap,
} from './helpers.js';

let certs: ServingCertificates;
let webhook: RunningWebhook;
let agent: https.Agent;

beforeAll(async () => {
  certs = await generateServingCertificates({ dnsNames: [...serviceDnsNames('sluice-webhook', 'sluice-system'), 'localhost'], ipAddresses: ['127.0.0.1'] });
  webhook = await startWebhookServer({
    cert: certs.certPem, key: certs.keyPem, config: DEFAULT_INJECTION_CONFIG,
    host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024, log: silentLog,
  });
  agent = new https.Agent({ keepAlive: true, ca: certs.caPem, maxSockets: 4 });
});

afterAll(async () => {
  agent?.destroy();
  await webhook?.close();
});

interface Reply { status: number; headers: Record<string, unknown>; body: any }

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: webhook.port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('webhook over HTTPS', () => {
  it('serves a certificate for the webhook Service names, signed by the printed caBundle', () => {
    const leaf = new X509Certificate(certs.certPem);
    const ca = new X509Certificate(Buffer.from(certs.caBundle, 'base64'));
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(ca.ca).toBe(true);
    expect(leaf.checkHost('sluice-webhook.sluice-system.svc')).toBe('sluice-webhook.sluice-system.svc');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('injects a Deployment pod (generateName, no name) and the patched pod is what we expect', async () => {
    const pod = deploymentPod();
    const review = admissionReview(pod, { namespace: 'shop' });
    const reply = await post('/inject', JSON.stringify(review));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch' } });

    const out = applyPatch(pod, decodePatch(reply.body.response.patch));
    expect(out.spec!.containers.map((c) => c.name)).toEqual(['orders', 'sluice-proxy']);
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['sluice-init']);
    expect(out.metadata!.generateName).toBe('orders-7d9f8c6b5-');
    expect(container(out, 'sluice-proxy').securityContext.runAsUser).toBe(1337);
    // What Envoy gets once the API server has named the pod and the kubelet starts it.
    const bootstrap = startedBootstrap(out, { name: 'orders-7d9f8c6b5-q7w2k', namespace: 'shop' });
    expect(bootstrap.node.id).toBe('orders-7d9f8c6b5-q7w2k.shop');
    expect(bootstrap.node.metadata.workload).toBe('orders');
    assertValidBootstrap(bootstrap, bootstrap.node.id);
  });

  it('answers an opt-in pod on /inject/opt-in and leaves others alone there', async () => {
    const optIn = namedPod('batch', { labels: { app: 'batch', 'sluice.dev/inject': 'true' } });
    const injected = await post('/inject/opt-in', JSON.stringify(admissionReview(optIn, { namespace: 'billing' })));
    expect(injected.body.response.patch).toBeDefined();
    const plain = await post('/inject/opt-in', JSON.stringify(admissionReview(namedPod('batch'), { namespace: 'billing' })));
    expect(plain.body.response).toMatchObject({ allowed: true });
    expect(plain.body.response.patch).toBeUndefined();
  });

  it('answers dryRun requests with the patch', async () => {
    const reply = await post('/inject', JSON.stringify(admissionReview(deploymentPod(), { dryRun: true })));
    expect(reply.body.response.allowed).toBe(true);
    expect(decodePatch(reply.body.response.patch).length).toBeGreaterThan(0);
  });

  it('answers malformed JSON, a non-AdmissionReview and a missing uid with 400 and a message', async () => {
    const malformed = await post('/inject', '{"apiVersion": "admission.k8s.io/v1", "kind": "Admiss');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/not JSON/);
    const notReview = await post('/inject', JSON.stringify(deploymentPod()));
    expect(notReview.status).toBe(400);
    expect(notReview.body.error).toMatch(/expected an admission.k8s.io\/v1 AdmissionReview, got v1 Pod/);
    const review = admissionReview(deploymentPod()) as { request: Record<string, unknown> };
    delete review.request.uid;
    const noUid = await post('/inject', JSON.stringify(review));
    expect(noUid.status).toBe(400);
    expect(noUid.body.error).toMatch(/no uid/);
  });

  it('answers a Deployment (not a Pod) with allowed and the reason', async () => {
    const review = admissionReview(deploymentPod());
    const reply = await post('/inject', JSON.stringify({ ...review, request: { ...review.request, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } } }));
    expect(reply.status).toBe(200);
    expect(reply.body.response).toMatchObject({ uid: review.request.uid, allowed: true });
    expect(reply.body.response.status.message).toMatch(/Pods only/);
  });

  it('refuses an oversized body with 413 and keeps serving', async () => {
    const pod = deploymentPod({ annotations: { padding: 'x'.repeat(100 * 1024) } });
    const reply = await post('/inject', JSON.stringify(admissionReview(pod)));
    expect(reply.status).toBe(413);
    expect(reply.body.error).toMatch(/exceeds 65536 bytes/);
    const after = await post('/inject', JSON.stringify(admissionReview(deploymentPod())));
    expect(after.status).toBe(200);
    expect(after.body.response.allowed).toBe(true);
  });

  it('rejects pods with unusable annotations through the AdmissionReview, not an HTTP error', async () => {
    const reply = await post('/inject', JSON.stringify(admissionReview(deploymentPod({ annotations: { 'sidecar.sluice.dev/logLevel': 'loud' } }))));
    expect(reply.status).toBe(200);
    expect(reply.body.response).toMatchObject({ allowed: false, status: { code: 400 } });
    expect(reply.body.response.status.message).toContain('sidecar.sluice.dev/logLevel: "loud"');
  });

  it('reports health, 404s unknown paths and 405s GET on the admission path', async () => {
    const get = (path: string) => new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: webhook.port, path, agent }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
    });
    expect(await get('/healthz')).toBe(200);
    expect(await get('/inject')).toBe(405);
    expect(await get('/mutate')).toBe(404);
  });

  it('refuses plain HTTP (TLS only)', async () => {
    const net = await import('node:net');
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(webhook.port, '127.0.0.1', () => socket.write('POST /inject HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'));
      let data = '';
      socket.on('data', (d) => { data += d.toString('latin1'); });
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(answer).not.toContain('AdmissionReview');
  });
});
