/**
 * The JSON types of the pod fields the injector reads and patches, checked
 * before any of them is used. Mutating webhooks run before the API server's
 * validation, so a review can carry `labels: {version: 2}`, `annotations: "x"`
 * or `containers: {}`; reading those would throw (a 500) or yield a patch the
 * API server cannot apply. Such a pod is denied with every problem named: the
 * API server would refuse it anyway, this just says why sooner.
 *
 * `null` is accepted wherever Kubernetes accepts an absent field (a Go nil map
 * or slice) and treated as absent; `normalizePod` makes that explicit so the
 * patch adds the field instead of adding into a null.
 */
import { isObject, type Pod } from './kube.js';

type Problems = string[];

const isAbsent = (value: unknown): value is null | undefined => value === undefined || value === null;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function stringMap(value: unknown, where: string, problems: Problems): void {
  if (isAbsent(value)) return;
  if (!isObject(value)) {
    problems.push(`${where} must be a map of strings, not ${typeName(value)}`);
    return;
  }
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      problems.push(`${where}[${JSON.stringify(key)}] must be a string, not ${typeName(entry)}`);
      if (problems.length >= 10) return; // enough to fix the manifest; keeps the message short
    }
  }
}

function optionalString(value: unknown, where: string, problems: Problems): void {
  if (!isAbsent(value) && typeof value !== 'string') problems.push(`${where} must be a string, not ${typeName(value)}`);
}

function containerList(value: unknown, where: string, required: boolean, problems: Problems): void {
  if (isAbsent(value) && !required) return;
  if (!Array.isArray(value)) {
    problems.push(`${where} must be a list of containers, not ${typeName(value)}`);
    return;
  }
  value.forEach((container, index) => {
    if (!isObject(container)) problems.push(`${where}[${index}] must be a container object, not ${typeName(container)}`);
    else if (typeof container.name !== 'string') problems.push(`${where}[${index}].name must be a string, not ${typeName(container.name)}`);
  });
}

/** Every type problem in the fields injection depends on; empty when the pod can be injected safely. */
export function podShapeProblems(pod: Record<string, unknown>): string[] {
  const problems: Problems = [];
  const meta = pod.metadata;
  if (!isAbsent(meta) && !isObject(meta)) problems.push(`metadata must be an object, not ${typeName(meta)}`);
  if (isObject(meta)) {
    optionalString(meta.name, 'metadata.name', problems);
    optionalString(meta.generateName, 'metadata.generateName', problems);
    stringMap(meta.labels, 'metadata.labels', problems);
    stringMap(meta.annotations, 'metadata.annotations', problems);
    const owners = meta.ownerReferences;
    if (!isAbsent(owners)) {
      if (!Array.isArray(owners)) problems.push(`metadata.ownerReferences must be a list, not ${typeName(owners)}`);
      else owners.forEach((owner, index) => {
        if (!isObject(owner) || typeof owner.kind !== 'string' || typeof owner.name !== 'string') {
          problems.push(`metadata.ownerReferences[${index}] must be an object with string kind and name`);
        }
      });
    }
  }
  const spec = pod.spec;
  if (!isObject(spec)) {
    problems.push(`spec must be an object, not ${typeName(spec)}`);
    return problems;
  }
  containerList(spec.containers, 'spec.containers', true, problems);
  containerList(spec.initContainers, 'spec.initContainers', false, problems);
  if (!isAbsent(spec.hostNetwork) && typeof spec.hostNetwork !== 'boolean') problems.push(`spec.hostNetwork must be true or false, not ${typeName(spec.hostNetwork)}`);
  return problems;
}

/**
 * The pod with `null` maps and lists removed (as the API server's decoding
 * would), so the patch adds them whole. Call only when podShapeProblems is empty.
 */
export function normalizePod(pod: Record<string, unknown>): Pod {
  const out: Record<string, unknown> = { ...pod };
  if (out.metadata === null) delete out.metadata;
  if (isObject(out.metadata)) {
    const meta: Record<string, unknown> = { ...out.metadata };
    for (const key of ['labels', 'annotations', 'ownerReferences', 'name', 'generateName']) if (meta[key] === null) delete meta[key];
    out.metadata = meta;
  }
  if (isObject(out.spec)) {
    const spec: Record<string, unknown> = { ...out.spec };
    for (const key of ['initContainers', 'hostNetwork']) if (spec[key] === null) delete spec[key];
    out.spec = spec;
  }
  return out as Pod;
}
