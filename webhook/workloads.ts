/**
 * `sluice inject`: the webhook's patch applied offline to manifests — bare
 * Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
 * ReplicaSets, ReplicationControllers, Jobs and CronJobs, in multi-document
 * YAML (and `kind: List`). The patch is applied to the YAML document tree, so
 * the user's comments and layout survive; other documents pass through untouched.
 */
import { Document, LineCounter, isMap, isSeq, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { ConfigError, type ConfigIssue } from '../control-plane/core/errors.js';
import type { InjectionConfig } from './config.js';
import { decideInjection } from './injection-policy.js';
import { isObject } from './kube.js';
import { buildInjectionPatch, type Operation } from './patch.js';
import { normalizePod, podShapeProblems } from './pod-shape.js';
import { workloadName } from './workload-name.js';

/** Where the pod template sits in each workload kind. */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'v1/Pod': [],
  'v1/ReplicationController': ['spec', 'template'],
  'apps/v1/Deployment': ['spec', 'template'],
  'apps/v1/StatefulSet': ['spec', 'template'],
  'apps/v1/DaemonSet': ['spec', 'template'],
  'apps/v1/ReplicaSet': ['spec', 'template'],
  'batch/v1/Job': ['spec', 'template'],
  'batch/v1/CronJob': ['spec', 'jobTemplate', 'spec', 'template'],
});

export interface InjectedObject {
  /** `Deployment shop/orders`, for the report on stderr. */
  readonly object: string;
  readonly injected: boolean;
  readonly reason: string;
  readonly warnings: readonly string[];
  readonly patch?: Operation[];
}

export interface InjectManifestResult {
  readonly output: string;
  readonly objects: readonly InjectedObject[];
}

export function injectManifests(text: string, config: InjectionConfig, file = '<stdin>'): InjectManifestResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter });
  const issues: ConfigIssue[] = [];
  const docList = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    issues.push({ code: 'yaml-syntax', message: 'input is not a YAML stream', location: { file, line: 1, column: 1 } });
  }
  for (const doc of docList) {
    for (const error of doc.errors) {
      const pos = lineCounter.linePos(error.pos[0]);
      issues.push({ code: 'yaml-syntax', message: error.message.split('\n')[0] ?? error.message, location: { file, line: pos.line, column: pos.col } });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const objects: InjectedObject[] = [];
  const parts: string[] = [];
  for (const doc of docList) {
    if (doc.contents === null) continue; // empty document between separators
    const value: unknown = doc.toJS();
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items) && isMap(doc.contents)) {
      const items = doc.get('items', true) as YamlNode | undefined;
      if (isSeq(items)) {
        value.items.forEach((item, index) => {
          const r = injectObject(doc, ['items', index], item, config);
          if (r) objects.push(r);
        });
      }
    } else {
      const r = injectObject(doc, [], value, config);
      if (r) objects.push(r);
    }
    doc.directives.docStart = null;
    parts.push(doc.toString({ lineWidth: 0 }));
  }
  return { output: parts.join('---\n'), objects };
}

function injectObject(doc: Document, at: readonly (string | number)[], value: unknown, config: InjectionConfig): InjectedObject | undefined {
  if (!isObject(value)) return undefined;
  const key = `${String(value.apiVersion)}/${String(value.kind)}`;
  const templatePath = TEMPLATE_PATHS[key];
  const meta = isObject(value.metadata) ? value.metadata : {};
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? meta.generateName : '?';
  const object = `${String(value.kind)} ${namespace ? `${namespace}/` : ''}${name}`;
  if (templatePath === undefined) return undefined;

  let template: unknown = value;
  for (const step of templatePath) template = isObject(template) ? template[step] : undefined;
  if (!isObject(template) || !isObject(template.spec) || !Array.isArray(template.spec.containers)) {
    return { object, injected: false, reason: 'no pod template with containers', warnings: [] };
  }
  const problems = podShapeProblems(template);
  if (problems.length > 0) return { object, injected: false, reason: `malformed pod template: ${problems.join('; ')}`, warnings: [] };
  const pod = normalizePod(template);
  const decision = decideInjection(pod, { namespace, policy: 'offline', excludeNamespaces: config.excludeNamespaces });
  if (!decision.inject) return { object, injected: false, reason: decision.reason, warnings: decision.warnings };

  const workload = templatePath.length === 0 ? workloadName(pod.metadata ?? {}) : name;
  const patch = buildInjectionPatch(pod, config, workload);
  const base = [...at, ...templatePath];
  for (const op of patch) applyAdd(doc, base, op);
  return { object, injected: true, reason: decision.reason, warnings: decision.warnings, patch };
}

/** Apply one `add` operation to the YAML tree under `base`. */
function applyAdd(doc: Document, base: readonly (string | number)[], op: Operation): void {
  if (op.op !== 'add') throw new Error(`unexpected patch operation ${op.op}`);
  const segments = op.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = segments.pop();
  const parent = [...base, ...segments];
  const node = doc.createNode(op.value);
  if (last === '-') doc.addIn(parent, node);
  else doc.setIn([...parent, last!], node);
}
