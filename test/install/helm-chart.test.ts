/**
 * The Helm chart (examples/helm/sluice), rendered without a `helm` binary
 * (test/support/helm-template.ts): with its default values and release
 * namespace sluice-system it gives exactly the objects of the plain manifests
 * (examples/deploy, examples/webhook), its crds/ are examples/crds; rendered
 * into another namespace with other values, it installs on a fresh (test)
 * cluster with every reference resolved and no trace of sluice-system.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseInjectionConfig } from '../../webhook/config.js';
import { HelmTemplateError, renderHelmTemplate, type HelmContext } from '../support/helm-template.js';
import { readYamlDocuments, repoRoot, yamlFilesUnder } from '../kubernetes/helpers.js';
import { applyInOrder, id, unpack, unresolved, type Manifest } from './install-checks.js';

const chart = path.join(repoRoot, 'examples/helm/sluice');

async function render(release: { namespace: string; values?: (defaults: Record<string, any>) => void }): Promise<Manifest[]> {
  const values = parse(await readFile(path.join(chart, 'values.yaml'), 'utf8')) as Record<string, any>;
  release.values?.(values);
  const context: HelmContext = { Values: values, Release: { Namespace: release.namespace, Name: 'sluice' } };
  const out: Manifest[] = [];
  for (const file of (await readdir(path.join(chart, 'templates'))).sort()) {
    const text = renderHelmTemplate(await readFile(path.join(chart, 'templates', file), 'utf8'), context, `templates/${file}`);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`templates/${file}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as Manifest | null;
      if (value) out.push(value);
    }
  }
  return out;
}

const byId = (docs: Manifest[]) => Object.fromEntries(docs.map((d) => [id(d), d]));

/** Helm's install order: CRDs (crds/), then by kind as Helm sorts them. */
const HELM_KIND_ORDER = ['Namespace', 'ServiceAccount', 'ConfigMap', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'Deployment', 'PodDisruptionBudget', 'MutatingWebhookConfiguration'];
const helmOrder = (docs: Manifest[]) => [...docs].sort((a, b) => HELM_KIND_ORDER.indexOf(a.kind) - HELM_KIND_ORDER.indexOf(b.kind));

describe('Helm chart examples/helm/sluice', () => {
  it('renders, with its defaults in sluice-system, exactly the objects of examples/deploy and examples/webhook', async () => {
    const rendered = await render({ namespace: 'sluice-system' });
    const plain: Manifest[] = [];
    for (const dir of ['deploy', 'webhook']) {
      for (const file of await yamlFilesUnder(path.join(repoRoot, 'examples', dir))) plain.push(...unpack(await readYamlDocuments(file)));
    }
    // `helm install -n sluice-system --create-namespace` creates the namespace itself.
    const expected = plain.filter((m) => m.kind !== 'Namespace');
    expect(Object.keys(byId(rendered)).sort()).toEqual(Object.keys(byId(expected)).sort());
    expect(byId(rendered)).toEqual(byId(expected));
  });

  it('ships examples/crds in crds/, unchanged', async () => {
    const crds = (await readdir(path.join(repoRoot, 'examples/crds'))).sort();
    expect((await readdir(path.join(chart, 'crds'))).sort()).toEqual(crds);
    for (const file of crds) {
      expect(await readFile(path.join(chart, 'crds', file), 'utf8'), file).toBe(await readFile(path.join(repoRoot, 'examples/crds', file), 'utf8'));
    }
  });

  it('installs into another namespace with other values, every reference resolved', async () => {
    const rendered = await render({
      namespace: 'mesh-system',
      values: (v) => {
        v.image.tag = '0.2.0';
        v.controlPlane.replicas = 3;
        v.injection.proxyImage = 'registry.carrier.example/envoy:v1.31.2';
      },
    });
    const text = JSON.stringify(rendered);
    expect(text).not.toContain('sluice-system');
    expect(text).not.toContain('sluice:0.1.0');
    const crds = (await Promise.all((await yamlFilesUnder(path.join(chart, 'crds'))).map(readYamlDocuments))).flat();
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mesh-system' } };
    const fake = await applyInOrder([...crds, namespace, ...helmOrder(rendered)]);
    try {
      expect(await unresolved(fake, 'mesh-system')).toEqual([]);
      const controlPlane = fake.get('apps/v1', 'Deployment', 'mesh-system', 'sluice-control-plane') as Manifest;
      expect(controlPlane.spec.replicas).toBe(3);
      expect(controlPlane.spec.template.spec.containers[0].image).toBe('ghcr.io/sluice-mesh/sluice:0.2.0');
      const configMap = fake.get('v1', 'ConfigMap', 'mesh-system', 'sluice-injection-config') as Manifest;
      const config = parseInjectionConfig(configMap.data['injection-config.yaml']);
      expect(config.controlPlaneAddress).toBe('sluice-xds.mesh-system.svc:15010');
      expect(config.proxy.image).toBe('registry.carrier.example/envoy:v1.31.2');
      expect(config.excludeNamespaces).toContain('mesh-system');
    } finally {
      await fake.close();
    }
  });

  it('the renderer refuses what it does not implement and values that are not set (so the check is real)', () => {
    const context: HelmContext = { Values: { image: { tag: '1' } }, Release: { Namespace: 'x', Name: 'y' } };
    expect(renderHelmTemplate('tag: {{ .Values.image.tag }}\nns:   {{- .Release.Namespace }}', context)).toBe('tag: 1\nns:x');
    expect(() => renderHelmTemplate('a: {{ .Values.image.tag | quote }}', context, 't.yaml')).toThrow(HelmTemplateError);
    expect(() => renderHelmTemplate('\nb: {{ .Values.image.repository }}', context, 't.yaml')).toThrow('t.yaml:2: .Values.image.repository is not set');
  });
});
