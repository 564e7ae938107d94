/**
 * Golden translation cases: `test/golden/<case>/in/*.yaml` (plus an optional
 * `proxies.yaml` naming who asks) → `test/golden/<case>/out/model.ir.yaml`
 * (the model layer: manifests → IR) and `out/<proxy>.<kind>.json` (end to end).
 * The translate layer alone (IR → Envoy) has its own cases in `xds-ir/`.
 * Failure cases live in `test/golden/failures/<case>/in/` → `expected-errors.txt`.
 * `inject/` belongs to the injection goldens.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { formatConfigIssue } from '../../control-plane/core/errors.js';
import { canonicalJson } from '../../control-plane/lib/canonical-json.js';
import { irDocumentOf } from '../../control-plane/model/ir-document.js';
import { modelFromDirectory, proxyFromNode, resourcesForProxy } from '../../control-plane/pipeline/pipeline.js';
import { resourceKinds } from '../../control-plane/translate/resources.js';

export const goldenRoot = path.join(process.cwd(), 'test/golden');
const reserved = new Set(['inject', 'failures', 'xds-ir']);

interface ProxySpec {
  id: string;
  metadata?: Record<string, unknown>;
}

const defaultProxies: ProxySpec[] = [{ id: 'client.default', metadata: { namespace: 'default', labels: { app: 'client' } } }];

async function isDirectory(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isDirectory() ?? false;
}

export async function translationCases(): Promise<string[]> {
  const names = await readdir(goldenRoot);
  const cases: string[] = [];
  for (const name of names.sort()) if (!reserved.has(name) && (await isDirectory(path.join(goldenRoot, name, 'in')))) cases.push(name);
  return cases;
}

export async function failureCases(): Promise<string[]> {
  const dir = path.join(goldenRoot, 'failures');
  if (!(await isDirectory(dir))) return [];
  return (await readdir(dir)).sort();
}

/** YAML with keys in a stable order, so a golden changes only when the content does. */
export function irYaml(document: unknown): string {
  return stringify(JSON.parse(canonicalJson(document)), { lineWidth: 0 });
}

/** Every output file of one case: file name → content. */
export async function renderTranslationCase(name: string): Promise<Map<string, string>> {
  const caseDir = path.join(goldenRoot, name);
  const { result } = await modelFromDirectory(path.join(caseDir, 'in'));
  if (!result.ok) throw new Error(`golden case ${name} has invalid input:\n${result.issues.map(formatConfigIssue).join('\n')}`);
  const proxiesText = await readFile(path.join(caseDir, 'proxies.yaml'), 'utf8').catch(() => undefined);
  const proxies = proxiesText ? (parse(proxiesText) as ProxySpec[]) : defaultProxies;
  const files = new Map<string, string>();
  // The first layer: manifests → the typed IR the translator reads.
  files.set('model.ir.yaml', irYaml(irDocumentOf(result.snapshot)));
  for (const spec of proxies) {
    const resources = resourcesForProxy(result.snapshot, proxyFromNode(spec.id, spec.metadata ?? {}));
    const errors = resources.issues.filter((i) => i.severity === 'error');
    if (errors.length > 0) throw new Error(`golden case ${name}, proxy ${spec.id}: invalid Envoy resources:\n${errors.map((e) => e.message).join('\n')}`);
    for (const kind of resourceKinds) files.set(`${spec.id}.${kind}.json`, `${canonicalJson(resources[kind].map((r) => r.body), 2)}\n`);
    const warnings = resources.issues.map((i) => `${i.object ?? i.resource}: ${i.message}`);
    if (warnings.length > 0) files.set(`${spec.id}.warnings.txt`, `${warnings.join('\n')}\n`);
  }
  return files;
}

export async function renderFailureCase(name: string): Promise<string> {
  const inDir = path.join(goldenRoot, 'failures', name, 'in');
  const { result } = await modelFromDirectory(inDir);
  if (result.ok) return 'no errors\n';
  return `${result.issues.map((i) => formatConfigIssue(i).replaceAll(`${inDir}/`, '').replaceAll(`${path.relative(process.cwd(), inDir)}/`, '')).join('\n')}\n`;
}

export async function existingOutputs(name: string): Promise<string[]> {
  return (await readdir(path.join(goldenRoot, name, 'out')).catch(() => [] as string[])).sort();
}
