import { describe, expect, it } from 'vitest';
import { AdmissionInputError, parseAdmissionReview, reviewAdmission } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG } from '../../webhook/config.js';
import { admissionReview, deploymentPod, silentLog } from './helpers.js';

const options = { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled' as const, log: silentLog };

describe('reading AdmissionReviews', () => {
  it.each([
    ['not JSON', '{"kind": "AdmissionReview",', /not JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['another kind', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }), /expected an admission.k8s.io\/v1 AdmissionReview, got v1 Pod/],
    ['the v1beta1 API', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }), /got admission.k8s.io\/v1beta1/],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /has no request/],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' } } }), /no uid/],
  ])('rejects %s with a typed error', (_name, body, message) => {
    let caught: unknown;
    try {
      parseAdmissionReview(body);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AdmissionInputError);
    expect((caught as AdmissionInputError).code).toBe('admission-bad-request');
    expect((caught as Error).message).toMatch(message);
  });
});

describe('answering AdmissionReviews', () => {
  it('passes objects that are not Pods unchanged, saying why', () => {
    const review = admissionReview(deploymentPod());
    const request = { ...review.request, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } };
    const { response } = reviewAdmission(request, options);
    expect(response.response).toMatchObject({ uid: request.uid, allowed: true });
    expect(response.response.patch).toBeUndefined();
    expect(response.response.status?.message).toContain('apps/Deployment passes unchanged');
  });

  it('passes pod UPDATEs and subresources unchanged', () => {
    const update = reviewAdmission(admissionReview(deploymentPod(), { operation: 'UPDATE' }).request, options);
    expect(update.response.response.patch).toBeUndefined();
    expect(update.response.response.status?.message).toContain('CREATE only');
    const eph = reviewAdmission({ ...admissionReview(deploymentPod()).request, subResource: 'ephemeralcontainers' }, options);
    expect(eph.response.response.patch).toBeUndefined();
  });

  it('passes a request whose object is not a pod spec unchanged instead of failing', () => {
    const request = { ...admissionReview(deploymentPod()).request, object: { metadata: {} } };
    const { response } = reviewAdmission(request, options);
    expect(response.response.allowed).toBe(true);
    expect(response.response.status?.message).toContain('no pod with spec.containers');
  });

  it('rejects a pod whose sluice annotations are unusable, naming every bad one', () => {
    const pod = deploymentPod({ annotations: {
      'traffic.sluice.dev/excludeOutboundPorts': '5432,abc',
      'sidecar.sluice.dev/proxyCPU': 'lots',
      'traffic.sluice.dev/excludeOutboundIPRanges': 'fd00::/8',
    } });
    const { response } = reviewAdmission(admissionReview(pod).request, options);
    expect(response.response.allowed).toBe(false);
    expect(response.response.status?.code).toBe(400);
    const message = response.response.status?.message ?? '';
    expect(message).toContain('traffic.sluice.dev/excludeOutboundPorts: "5432,abc"');
    expect(message).toContain('sidecar.sluice.dev/proxyCPU: "lots" is not a Kubernetes quantity');
    expect(message).toContain('only IPv4 CIDRs are supported');
  });

  it('returns a base64 JSONPatch of add operations only', () => {
    const { response, patch } = reviewAdmission(admissionReview(deploymentPod()).request, options);
    expect(response.response.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(response.response.patch!, 'base64').toString())).toEqual(patch);
    expect(new Set(patch!.map((op) => op.op))).toEqual(new Set(['add']));
  });
});
