/**
 * What the webhook and `sluice inject` produce must be valid Kubernetes
 * objects (the API server would reject them otherwise, after our patch was
 * accepted): checked against the Kubernetes OpenAPI schemas from kubernetes-models.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Pod } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { generateServingCertificates, serviceDnsNames } from '../../webhook/certificates.js';
import { reviewAdmission } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG, loadInjectionConfig, parseInjectionConfig } from '../../webhook/config.js';
import { injectManifests } from '../../webhook/workloads.js';
import { admissionReview, applyPatch, decodePatch, deploymentPod, silentLog } from './helpers.js';

const EXAMPLES = new URL('../../examples/webhook/', import.meta.url);

describe('Kubernetes schema validity', () => {
  it.each([
    ['classic sidecar', DEFAULT_INJECTION_CONFIG],
    ['native sidecar', parseInjectionConfig('proxy: {nativeSidecar: true}\n')],
  ])('the injected pod (%s) is a valid v1 Pod', (_name, config) => {
    const pod = deploymentPod({ annotations: { 'traffic.sluice.dev/excludeOutboundPorts': '5432' } });
    const { response } = reviewAdmission(admissionReview(pod).request, { config, policy: 'enabled', log: silentLog });
    const injected = applyPatch(pod, decodePatch(response.response.patch!));
    expect(() => new Pod(injected as never).validate()).not.toThrow();
  });

  it('the schema check is real: a broken container is refused', () => {
    const pod = deploymentPod();
    (pod.spec!.containers[0] as Record<string, unknown>).ports = [{ containerPort: 'http' }];
    expect(() => new Pod(pod as never).validate()).toThrow(/containerPort/);
  });

  it('sluice inject output is valid: Deployment, StatefulSet and CronJob', async () => {
    const config = await loadInjectionConfig(new URL('injection-config.yaml', EXAMPLES).pathname);
    const sample = new URL('../golden/inject/workloads-multi-doc/in.yaml', import.meta.url);
    const { output } = injectManifests(await readFile(sample, 'utf8'), config);
    const [deployment, statefulSet, cronJob] = parseAllDocuments(output).map((d) => d.toJS());
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new StatefulSet(statefulSet).validate()).not.toThrow();
    expect(() => new CronJob(cronJob).validate()).not.toThrow();
  });

  it('the example MutatingWebhookConfiguration is valid once CA_BUNDLE is replaced by the printed caBundle', async () => {
    const { caBundle } = await generateServingCertificates({ dnsNames: serviceDnsNames('sluice-webhook', 'sluice-system') });
    const text = (await readFile(new URL('mutating-webhook-configuration.yaml', EXAMPLES), 'utf8')).replaceAll('CA_BUNDLE', caBundle);
    const [doc] = parseAllDocuments(text).map((d) => d.toJS());
    expect(() => new MutatingWebhookConfiguration(doc).validate()).not.toThrow();
  });
});
