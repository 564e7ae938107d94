import { describe, expect, it } from 'vitest';
import { decideInjection, type PolicyContext } from '../../webhook/injection-policy.js';
import { DEFAULT_INJECTION_CONFIG } from '../../webhook/config.js';
import { reviewAdmission } from '../../webhook/admission.js';
import { admissionReview, applyPatch, decodePatch, deploymentPod, namedPod, silentLog } from './helpers.js';

const labelled: PolicyContext = { namespace: 'shop', policy: 'enabled', excludeNamespaces: DEFAULT_INJECTION_CONFIG.excludeNamespaces };
const unlabelled: PolicyContext = { ...labelled, namespace: 'billing', policy: 'opt-in' };

describe('injection rules', () => {
  it('injects every pod of a namespace labelled sluice.dev/inject=enabled', () => {
    const d = decideInjection(deploymentPod(), labelled);
    expect(d.inject).toBe(true);
    expect(d.reason).toContain('namespace shop');
  });

  it('skips a pod that opts out with the annotation or the label, in a labelled namespace', () => {
    expect(decideInjection(deploymentPod({ annotations: { 'sluice.dev/inject': 'false' } }), labelled)).toMatchObject({ inject: false });
    const byLabel = decideInjection(deploymentPod({ labels: { 'sluice.dev/inject': 'false' } }), labelled);
    expect(byLabel.inject).toBe(false);
    expect(byLabel.reason).toContain('opts out');
  });

  it('lets a pod opt in on its own in an unlabelled namespace, and only then', () => {
    expect(decideInjection(deploymentPod({ labels: { 'sluice.dev/inject': 'true' } }), unlabelled).inject).toBe(true);
    expect(decideInjection(deploymentPod({ annotations: { 'sluice.dev/inject': 'true' } }), unlabelled).inject).toBe(true);
    const plain = decideInjection(deploymentPod(), unlabelled);
    expect(plain.inject).toBe(false);
    expect(plain.reason).toContain('not labelled');
  });

  it('lets the label win over a contradicting annotation (the label is what objectSelector sees)', () => {
    const pod = deploymentPod({ labels: { 'sluice.dev/inject': 'false' }, annotations: { 'sluice.dev/inject': 'true' } });
    expect(decideInjection(pod, labelled).inject).toBe(false);
  });

  it('never injects host-network pods, even when they opt in', () => {
    const pod = namedPod('node-exporter', { hostNetwork: true, labels: { 'sluice.dev/inject': 'true' } });
    const d = decideInjection(pod, labelled);
    expect(d.inject).toBe(false);
    expect(d.reason).toContain('host-network');
  });

  it('never injects into the excluded system namespaces, whatever the pod says', () => {
    const pod = namedPod('coredns', { labels: { 'sluice.dev/inject': 'true' } });
    expect(decideInjection(pod, { ...labelled, namespace: 'kube-system' }).inject).toBe(false);
  });

  it('warns about, and ignores, a value that is neither true nor false', () => {
    const d = decideInjection(deploymentPod({ annotations: { 'sluice.dev/inject': 'yes' } }), labelled);
    expect(d.inject).toBe(true);
    expect(d.warnings[0]).toContain('"yes"');
  });

  it('is idempotent: an injected pod sent again comes back without a patch', () => {
    const pod = deploymentPod();
    const first = reviewAdmission(admissionReview(pod).request, { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled', log: silentLog });
    const injected = applyPatch(pod, decodePatch(first.response.response.patch!));
    const second = reviewAdmission(admissionReview(injected).request, { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled', log: silentLog });
    expect(second.response.response.allowed).toBe(true);
    expect(second.response.response.patch).toBeUndefined();
    expect(second.response.response.status?.message).toContain('already has the sluice sidecar');
  });

  it('treats a pod that already has a container named sluice-proxy as injected', () => {
    const pod = namedPod('manual');
    pod.spec!.containers.push({ name: 'sluice-proxy', image: 'envoyproxy/envoy:v1.31-latest' });
    expect(decideInjection(pod, labelled).inject).toBe(false);
  });

  it('answers dryRun requests exactly like real ones (the webhook has no side effects)', () => {
    const pod = deploymentPod();
    const options = { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled' as const, log: silentLog };
    const dry = reviewAdmission(admissionReview(pod, { dryRun: true, uid: 'u-dry' }).request, options);
    const real = reviewAdmission(admissionReview(pod, { dryRun: false, uid: 'u-real' }).request, options);
    expect(dry.response.response.allowed).toBe(true);
    expect(dry.response.response.uid).toBe('u-dry');
    expect(dry.response.response.patch).toBeDefined();
    expect(dry.patch).toEqual(real.patch);
  });
});
