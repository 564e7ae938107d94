/**
 * Bootstraps that reach the control plane over TLS: from the webhook (the CA
 * it keeps for the xDS certificate) and from `sluice inject --xds-ca-file`.
 * Checked against Envoy's Bootstrap proto (with UpstreamTlsContext) and rules.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_INJECTION_CONFIG, parseInjectionConfig } from '../../webhook/config.js';
import { generateServingCertificates } from '../../webhook/certificates.js';
import { reviewAdmission } from '../../webhook/admission.js';
import { admissionReview, applyPatch, assertValidBootstrap, decodePatch, deploymentPod, silentLog, startContainer } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const xdsCluster = (bootstrap: Record<string, any>) => (bootstrap.static_resources.clusters as Array<Record<string, any>>).find((c) => c.name === 'sluice-xds')!;

describe('xDS over TLS in the injected bootstrap', () => {
  it('trusts exactly the given CA, sends the control-plane host as SNI and requires it in the certificate', async () => {
    const { caPem } = await generateServingCertificates({ dnsNames: ['sluice-xds.mesh-system.svc'] });
    const config = { ...parseInjectionConfig('controlPlaneAddress: sluice-xds.mesh-system.svc:15010\n'), controlPlaneTls: { caPem } };
    const pod = deploymentPod();
    const { response } = reviewAdmission(admissionReview(pod).request, { config, policy: 'enabled', log: silentLog });
    const injected = applyPatch(pod, decodePatch(response.response.patch!));
    const proxy = injected.spec!.containers.find((c) => c.name === 'sluice-proxy')!;
    const { args } = startContainer(proxy, { name: 'orders-0', namespace: 'shop' });
    const bootstrap = JSON.parse(args[args.indexOf('--config-yaml') + 1]!) as Record<string, any>;
    assertValidBootstrap(bootstrap);
    const tls = xdsCluster(bootstrap).transport_socket;
    expect(tls.name).toBe('envoy.transport_sockets.tls');
    expect(tls.typed_config).toMatchObject({
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'sluice-xds.mesh-system.svc',
      common_tls_context: {
        alpn_protocols: ['h2'],
        validation_context: { trusted_ca: { inline_string: caPem }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'sluice-xds.mesh-system.svc' } }] },
      },
    });
  });

  it('stays plaintext without a CA (the default config)', () => {
    const pod = deploymentPod();
    const { response } = reviewAdmission(admissionReview(pod).request, { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled', log: silentLog });
    const injected = applyPatch(pod, decodePatch(response.response.patch!));
    const { args } = startContainer(injected.spec!.containers.find((c) => c.name === 'sluice-proxy')!, { name: 'orders-0', namespace: 'shop' });
    expect(xdsCluster(JSON.parse(args[args.indexOf('--config-yaml') + 1]!)).transport_socket).toBeUndefined();
  });

  it('sluice inject --xds-ca-file puts that CA in every bootstrap, and refuses a file without a certificate', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-inject-ca-'));
    dirs.push(dir);
    const { caPem } = await generateServingCertificates({ dnsNames: ['sluice-xds.sluice-system.svc'] });
    await writeFile(path.join(dir, 'ca.crt'), caPem);
    await writeFile(path.join(dir, 'not-a-ca.crt'), 'hello\n');
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: web, image: nginx}]\n';
    await writeFile(path.join(dir, 'pod.yaml'), pod);
    const run = (ca: string) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', 'inject', '-f', path.join(dir, 'pod.yaml'), '--xds-ca-file', path.join(dir, ca)], { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' } });
    const { stdout } = await run('ca.crt');
    const [injected] = parseAllDocuments(stdout).map((d) => d.toJS());
    const proxy = (injected.spec.containers as Array<Record<string, any>>).find((c) => c.name === 'sluice-proxy')!;
    const { args } = startContainer(proxy as never, { name: 'web', namespace: 'shop' });
    expect(xdsCluster(JSON.parse(args[args.indexOf('--config-yaml') + 1]!)).transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.inline_string).toBe(caPem);
    await expect(run('not-a-ca.crt')).rejects.toThrow(/holds no PEM certificate/);
  }, 30_000);
});
