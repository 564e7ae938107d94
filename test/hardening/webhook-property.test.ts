/**
 * Property: whatever pod an AdmissionReview carries — a real Deployment pod
 * with any of its fields replaced by arbitrary JSON, or sluice annotations
 * with arbitrary values — the webhook answers over HTTPS with an AdmissionReview
 * (never a 500), stays up, and every patch it returns applies to that pod
 * (fast-json-patch, validating each operation, as the API server does).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATIONS, INJECT } from '../../webhook/annotations.js';
import { admissionReview, applyPatch, decodePatch, deploymentPod, namedPod } from '../webhook/helpers.js';
import { startTestWebhook, type TestWebhook } from './webhook-client.js';

/** Paths into a pod where type confusion breaks naive code. */
const PATHS = [
  ['metadata'], ['metadata', 'labels'], ['metadata', 'labels', 'app'], ['metadata', 'labels', INJECT], ['metadata', 'annotations'],
  ['metadata', 'name'], ['metadata', 'generateName'], ['metadata', 'ownerReferences'], ['metadata', 'ownerReferences', 0],
  ['metadata', 'ownerReferences', 0, 'name'], ['spec'], ['spec', 'containers'], ['spec', 'containers', 0], ['spec', 'containers', 0, 'name'],
  ['spec', 'initContainers'], ['spec', 'hostNetwork'], ['kind'],
] as const;

const annotationValue = fc.oneof(
  fc.string(),
  fc.constantFrom('*', '', '10.0.0.0/8', '10.0.0.0/33', 'fd00::/8', '80,443', '0', '65536', '100m', 'lots', 'debug', 'envoy:1.31', ' , ,', '$(POD_NAME)'),
  fc.array(fc.oneof(fc.ipV4(), fc.integer({ min: -1, max: 70000 }).map(String)), { maxLength: 30 }).map((parts) => parts.join(',')),
);

const mutation = fc.oneof(
  { weight: 3, arbitrary: fc.record({ path: fc.constantFrom(...PATHS), value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null)) }) },
  { weight: 3, arbitrary: fc.record({ path: fc.constantFrom(...Object.values(ANNOTATIONS), INJECT).map((name) => ['metadata', 'annotations', name] as const), value: annotationValue }) },
);

function set(target: any, path: readonly (string | number)[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return; // an earlier mutation replaced the parent
    if (node[key] === undefined) node[key] = {};
    node = node[key];
  }
  if (node !== null && typeof node === 'object') node[path[path.length - 1]!] = value;
}

describe('webhook property: any pod gets an answer whose patch applies', () => {
  let hook: TestWebhook;
  beforeAll(async () => {
    hook = await startTestWebhook();
  });
  afterAll(async () => hook?.close());

  it('never answers 500, and every returned patch applies to the pod', async () => {
    let injected = 0;
    let denied = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(mutation, { maxLength: 4 }), fc.constantFrom('/inject', '/inject/opt-in'), async (deployment, mutations, path) => {
        const pod = structuredClone(deployment ? deploymentPod() : namedPod('batch')) as any;
        for (const m of mutations) set(pod, m.path, m.value);
        const review = admissionReview(deployment ? deploymentPod() : namedPod('batch'));
        const reply = await hook.post(path, JSON.stringify({ ...review, request: { ...review.request, object: pod } }));
        expect(reply.status).toBe(200);
        const response = reply.body.response;
        expect(response.uid).toBe(review.request.uid);
        if (!response.allowed) {
          expect(response.status.code).toBe(400);
          expect(response.status.message).toMatch(/^sluice sidecar injection: /);
          denied++;
        } else if (response.patch) {
          const patched = applyPatch(pod, decodePatch(response.patch));
          expect(patched.metadata!.annotations![ANNOTATIONS.status]).toBeDefined();
          injected++;
        }
      }),
      { numRuns: 300 },
    );
    // The generator reaches all three outcomes, so the property is not vacuous.
    expect(injected).toBeGreaterThan(10);
    expect(denied).toBeGreaterThan(10);
    expect((await hook.get('/healthz')).status).toBe(200);
  });
});
