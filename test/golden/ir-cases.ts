/**
 * The translate layer's goldens, from IR alone (no manifests):
 * `test/golden/xds-ir/in/<feature>.yaml` holds an IR document (model/ir-document.ts)
 * and the proxies that ask; `xds-ir/out/<feature>.<proxy>.<kind>.json` holds
 * what each proxy gets. A model change does not churn these; a translate
 * change shows here feature by feature.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { canonicalJson } from '../../control-plane/lib/canonical-json.js';
import { snapshotFromIrDocument, type IrDocument } from '../../control-plane/model/ir-document.js';
import { proxyFromNode, resourcesForProxy } from '../../control-plane/pipeline/pipeline.js';
import { resourceKinds } from '../../control-plane/translate/resources.js';
import { goldenRoot } from './translate-cases.js';

export const irRoot = path.join(goldenRoot, 'xds-ir');

interface IrCase extends IrDocument {
  readonly proxies: ReadonlyArray<{ readonly id: string; readonly metadata?: Record<string, unknown> }>;
}

export async function irCases(): Promise<string[]> {
  return (await readdir(path.join(irRoot, 'in'))).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
}

/** Output file name → content for one feature. */
export async function renderIrCase(name: string): Promise<Map<string, string>> {
  const input = parse(await readFile(path.join(irRoot, 'in', `${name}.yaml`), 'utf8')) as IrCase;
  const snapshot = snapshotFromIrDocument(input);
  const files = new Map<string, string>();
  for (const spec of input.proxies) {
    const resources = resourcesForProxy(snapshot, proxyFromNode(spec.id, spec.metadata ?? {}));
    const errors = resources.issues.filter((i) => i.severity === 'error');
    if (errors.length > 0) throw new Error(`IR golden ${name}, proxy ${spec.id}: invalid Envoy resources:\n${errors.map((e) => e.message).join('\n')}`);
    for (const kind of resourceKinds) files.set(`${name}.${spec.id}.${kind}.json`, `${canonicalJson(resources[kind].map((r) => r.body), 2)}\n`);
    const warnings = resources.issues.map((i) => `${i.object ?? i.resource}: ${i.message}`);
    if (warnings.length > 0) files.set(`${name}.${spec.id}.warnings.txt`, `${warnings.join('\n')}\n`);
  }
  return files;
}

export async function existingIrOutputs(): Promise<string[]> {
  return (await readdir(path.join(irRoot, 'out')).catch(() => [] as string[])).sort();
}
