/**
 * Golden files for sidecar injection: `test/golden/inject/<case>/in.yaml` →
 * `out.json`. An in.yaml holding an AdmissionReview is answered by the
 * webhook's handler (a first-line `# policy: opt-in` selects the /inject/opt-in
 * entry); any other manifest goes through `sluice inject`. An optional
 * `config.yaml` next to it is the injection config. out.json shows the
 * decoded patch and, readable, the bootstrap Envoy gets once the kubelet has
 * expanded the downward-API references.
 *
 * `npm run golden:update` rewrites them; review the diff before committing.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { pino } from 'pino';
import { reviewAdmission, type AdmissionRequest } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG, parseInjectionConfig } from '../../webhook/config.js';
import type { Pod } from '../../webhook/kube.js';
import { injectManifests } from '../../webhook/workloads.js';
import { startedBootstrap } from '../webhook/helpers.js';

export const INJECT_GOLDEN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'inject');

export async function injectCases(): Promise<string[]> {
  const entries = await readdir(INJECT_GOLDEN_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && existsSync(path.join(INJECT_GOLDEN_DIR, e.name, 'in.yaml'))).map((e) => e.name).sort();
}

export interface GoldenOutput {
  readonly output: unknown;
  /** The started bootstraps in the output, for the proto check. */
  readonly bootstraps: ReadonlyArray<Record<string, unknown>>;
}

/** The pod's name once the API server has filled in its generateName. */
function startedName(pod: Pod): string {
  return pod.metadata?.name ?? `${pod.metadata?.generateName ?? 'pod-'}g0ld3`;
}

export async function renderInjectCase(name: string): Promise<GoldenOutput> {
  const dir = path.join(INJECT_GOLDEN_DIR, name);
  const text = await readFile(path.join(dir, 'in.yaml'), 'utf8');
  const configFile = path.join(dir, 'config.yaml');
  const config = existsSync(configFile) ? parseInjectionConfig(await readFile(configFile, 'utf8'), configFile) : DEFAULT_INJECTION_CONFIG;
  const docs = parseAllDocuments(text);
  const first = Array.isArray(docs) ? docs[0]?.toJS() : undefined;

  if (first?.kind === 'AdmissionReview') {
    const policy = /^#\s*policy:\s*opt-in/m.test(text.split('\n')[0] ?? '') ? 'opt-in' : 'enabled';
    const request = first.request as AdmissionRequest;
    const { response, patch } = reviewAdmission(request, { config, policy, log: pino({ level: 'silent' }) });
    const { patch: _encoded, ...rest } = response.response;
    let bootstrap: Record<string, unknown> | undefined;
    if (patch) {
      const pod = jsonpatch.applyPatch(structuredClone(request.object as Pod), patch, true, false).newDocument;
      bootstrap = startedBootstrap(pod, { name: startedName(pod), namespace: request.namespace ?? '' });
    }
    return { output: { policy, response: rest, patch: patch ?? null, ...(bootstrap ? { bootstrap } : {}) }, bootstraps: bootstrap ? [bootstrap] : [] };
  }

  const result = injectManifests(text, config, 'in.yaml');
  const documents = parseAllDocuments(result.output).map((d) => d.toJS());
  const bootstraps: Record<string, unknown>[] = [];
  for (const doc of documents) {
    const template: Pod | undefined = doc?.kind === 'Pod' ? doc : doc?.kind === 'CronJob' ? doc.spec?.jobTemplate?.spec?.template : doc?.spec?.template;
    if (template?.spec?.containers?.some((c) => c.name === 'sluice-proxy') || template?.spec?.initContainers?.some((c) => c.name === 'sluice-proxy')) {
      bootstraps.push(startedBootstrap(template, { name: `${doc.metadata?.name ?? 'pod'}-g0ld3`, namespace: doc.metadata?.namespace ?? 'default' }));
    }
  }
  return {
    output: { objects: result.objects.map(({ patch: _p, ...o }) => o), documents, bootstraps },
    bootstraps,
  };
}

export function serialise(output: unknown): string {
  return `${JSON.stringify(output, null, 2)}\n`;
}

export default async function updateInjectGoldens(): Promise<number> {
  let written = 0;
  for (const name of await injectCases()) {
    const { output } = await renderInjectCase(name);
    await writeFile(path.join(INJECT_GOLDEN_DIR, name, 'out.json'), serialise(output));
    written++;
  }
  return written;
}
