/**
 * Checks one manifest against the schema of its kind — our policy API (from
 * the single definition) or the fields we use of a Kubernetes kind — and turns
 * every problem into a ConfigIssue a user can act on: field path, position,
 * and a plain message. Cross-object checks live in the model, not here.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { ConfigIssue, ObjectReference } from '../core/errors.js';
import { policySchemas, apiGroup, apiVersion as sluiceApiVersion, type PolicyKind } from './policy-api.generated.js';
import { kubernetesKinds, type KubernetesKindKey } from './kubernetes-kinds.js';
import { gatewayApiGroup, gatewayApiSchemaErrors, gatewayApiVersionsOf, isGatewayApiKind } from './gateway-api-kinds.js';
import { parseDuration, durationHint } from '../lib/duration.js';
import { re2SyntaxError } from '../lib/regex.js';
import { isJsonPointer } from '../lib/json-pointer.js';
import { deepFreeze, formatFieldPath, type FieldPath, type ObjectOrigin, type SourceObject } from '../core/source-object.js';

const dnsLabel = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Plain-language meaning of the patterns the API uses. */
const patternHints: Record<string, string> = {
  [dnsLabel]: "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
  "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$": 'must be a valid HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)',
  '^/': "must start with '/'",
  // The Gateway API's Duration (GEP-2257).
  '^([0-9]{1,5}(h|m|s|ms)){1,4}$': 'must be a Gateway API duration: 1 to 4 parts of up to 5 digits and a unit h, m, s or ms, such as 500ms, 10s or 1h30m',
};

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, verbose: true });
ajv.addFormat('duration', { type: 'string', validate: (text: string) => parseDuration(text) !== undefined });
ajv.addFormat('re2', { type: 'string', validate: (text: string) => re2SyntaxError(text) === undefined });
ajv.addFormat('json-pointer', { type: 'string', validate: isJsonPointer });
ajv.addFormat('date-time', { type: 'string', validate: (text: string) => !Number.isNaN(Date.parse(text)) });
/**
 * Bounds of a duration string (see policy-api.yaml). A string that is no
 * duration at all passes here: `format: duration` reports it.
 */
function durationBound(keyword: string, holds: (milliseconds: number, bound: number) => boolean): void {
  ajv.addKeyword({
    keyword,
    type: 'string',
    schemaType: 'string',
    validate: (bound: string, text: string) => {
      const milliseconds = parseDuration(text);
      const limit = parseDuration(bound);
      if (limit === undefined) throw new Error(`${keyword}: ${JSON.stringify(bound)} in the policy API is not a duration`);
      return milliseconds === undefined || holds(milliseconds, limit);
    },
  });
}
durationBound('x-sluice-max-duration', (milliseconds, bound) => milliseconds <= bound);
durationBound('x-sluice-min-duration', (milliseconds, bound) => milliseconds >= bound);

const policyValidators = new Map<string, { schema: object; validate: ValidateFunction }>(
  Object.entries(policySchemas).map(([kind, { spec }]) => [kind, { schema: spec, validate: ajv.compile(spec) }]),
);
const kubernetesValidators = new Map<string, ValidateFunction>(
  Object.entries(kubernetesKinds).map(([key, schema]) => [key, ajv.compile(schema)]),
);

export type CheckResult =
  | { readonly outcome: 'accepted'; readonly object: SourceObject }
  | { readonly outcome: 'ignored'; readonly apiVersion: string; readonly kind: string }
  | { readonly outcome: 'rejected'; readonly issues: readonly ConfigIssue[] };

export function isPolicyKind(kind: string): kind is PolicyKind {
  return policyValidators.has(kind);
}

export function isWatchedKubernetesKind(apiVersion: string, kind: string): boolean {
  return kubernetesValidators.has(`${apiVersion}/${kind}`);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Check one parsed document. Objects of kinds Sluice does not read (Deployments,
 * ConfigMaps…) are `ignored`, so a directory of real manifests can be loaded as is.
 */
export function checkManifest(manifest: unknown, origin: ObjectOrigin): CheckResult {
  const issues: ConfigIssue[] = [];
  const at = (path: FieldPath) => origin.locate(path);
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
    return {
      outcome: 'rejected',
      issues: [{ code: 'not-an-object', message: `expected a Kubernetes object (a map with apiVersion, kind and metadata), got ${typeName(manifest)}`, location: at([]) }],
    };
  }
  const body = manifest as Record<string, unknown>;
  const apiVersion = body.apiVersion;
  const kind = body.kind;
  const metadata = body.metadata as Record<string, unknown> | undefined;
  if (typeof apiVersion !== 'string' || apiVersion === '') issues.push({ code: 'missing-identity', field: 'apiVersion', message: 'is required', location: at(['apiVersion']) });
  if (typeof kind !== 'string' || kind === '') issues.push({ code: 'missing-identity', field: 'kind', message: 'is required', location: at(['kind']) });
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    issues.push({ code: 'missing-identity', field: 'metadata', message: 'is required and must be a map with a name', location: at(['metadata']) });
  }
  if (issues.length > 0) return { outcome: 'rejected', issues };

  const name = metadata!.name;
  const namespace = metadata!.namespace ?? 'default';
  const object: ObjectReference = { kind: kind as string, name: typeof name === 'string' ? name : '?', namespace: typeof namespace === 'string' ? namespace : '?' };
  const group = (apiVersion as string).includes('/') ? (apiVersion as string).split('/')[0] : '';
  const ours = group === apiGroup;
  // Of the Gateway API, Sluice reads GatewayClass, Gateway and HTTPRoute; other kinds (ReferenceGrant…) are ignored.
  const gatewayApi = group === gatewayApiGroup && isGatewayApiKind(kind as string);
  const watched = ours || gatewayApi || isWatchedKubernetesKind(apiVersion as string, kind as string);
  if (!watched) return { outcome: 'ignored', apiVersion: apiVersion as string, kind: kind as string };

  if (typeof name !== 'string' || !dnsSubdomain.test(name) || name.length > 253) {
    issues.push({ code: 'missing-identity', object, field: 'metadata.name', message: `must be a DNS subdomain name (lowercase letters, digits, '-' and '.'), got ${typeName(name)}`, location: at(['metadata', 'name']) });
  }
  if (kind !== 'Namespace' && (typeof namespace !== 'string' || !new RegExp(dnsLabel).test(namespace))) {
    issues.push({ code: 'missing-identity', object, field: 'metadata.namespace', message: `must be a DNS label, got ${typeName(namespace)}`, location: at(['metadata', 'namespace']) });
  }
  for (const key of ['labels', 'annotations'] as const) {
    const map = metadata![key];
    if (map === undefined) continue;
    const bad = map === null || typeof map !== 'object' || Array.isArray(map) ? [key] : Object.entries(map).filter(([, v]) => typeof v !== 'string').map(([k]) => k);
    for (const entry of bad) {
      const path = entry === key ? ['metadata', key] : ['metadata', key, entry];
      issues.push({ code: 'schema', object, field: formatFieldPath(path), message: entry === key ? 'must be a map of strings' : 'must be a string (quote numbers and booleans)', location: at(path) });
    }
  }

  if (ours) {
    if (apiVersion !== sluiceApiVersion || !isPolicyKind(kind as string)) {
      issues.push({
        code: 'unknown-api-version',
        object,
        field: apiVersion !== sluiceApiVersion ? 'apiVersion' : 'kind',
        message: apiVersion !== sluiceApiVersion
          ? `${JSON.stringify(apiVersion)} is not served; use ${sluiceApiVersion}`
          : `unknown kind ${JSON.stringify(kind)} in ${sluiceApiVersion}; known kinds: ${[...policyValidators.keys()].join(', ')}`,
        location: at(apiVersion !== sluiceApiVersion ? ['apiVersion'] : ['kind']),
      });
      return { outcome: 'rejected', issues };
    }
    const spec = body.spec;
    const { schema, validate } = policyValidators.get(kind as string)!;
    if (spec === undefined) {
      issues.push({ code: 'schema', object, field: 'spec', message: 'is required', location: at([]) });
    } else if (!validate(spec)) {
      issues.push(...schemaIssues(validate.errors ?? [], ['spec'], object, origin));
    } else {
      issues.push(...extensionIssues(schema, spec, ['spec'], object, origin));
    }
  } else if (gatewayApi) {
    const versions = gatewayApiVersionsOf(kind as string);
    if (!versions.includes(apiVersion as string)) {
      issues.push({ code: 'unknown-api-version', object, field: 'apiVersion', message: `${JSON.stringify(apiVersion)} is not read for ${kind}; use ${versions.join(' or ')}`, location: at(['apiVersion']) });
      return { outcome: 'rejected', issues };
    }
    issues.push(...schemaIssues(gatewayApiSchemaErrors(kind as string, apiVersion as string, body), [], object, origin));
  } else {
    const validate = kubernetesValidators.get(`${apiVersion}/${kind}` as KubernetesKindKey)!;
    if (!validate(body)) issues.push(...schemaIssues(validate.errors ?? [], [], object, origin));
  }
  if (issues.length > 0) return { outcome: 'rejected', issues };

  const labels = (metadata!.labels ?? {}) as Record<string, string>;
  return {
    outcome: 'accepted',
    object: deepFreeze({
      apiVersion: apiVersion as string,
      kind: kind as string,
      name: name as string,
      namespace: namespace as string,
      labels,
      manifest: body,
      origin,
    }),
  };
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}

function closest(word: string, candidates: string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
        previous = current;
      }
    }
    return row[b.length]!;
  };
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = distance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function schemaMessage(error: ErrorObject): { message: string; pathSuffix: (string | number)[]; locateParent: boolean } {
  const data = error.data;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { message: 'is required', pathSuffix: [params.missingProperty as string], locateParent: true };
    case 'additionalProperties': {
      const field = params.additionalProperty as string;
      const known = Object.keys(((error.parentSchema as Record<string, unknown>)?.properties ?? {}) as object);
      const suggestion = closest(field, known);
      return {
        message: `unknown field${suggestion ? ` (did you mean "${suggestion}"?)` : known.length ? `; known fields: ${known.join(', ')}` : ''}`,
        pathSuffix: [field],
        locateParent: false,
      };
    }
    case 'type':
      return { message: `must be ${params.type === 'integer' ? 'an integer' : params.type === 'object' ? 'a map' : params.type === 'array' ? 'a list' : `a ${params.type}`}, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
    case 'enum':
      return { message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}; got ${typeName(data)}`, pathSuffix: [], locateParent: false };
    case 'minimum':
    case 'maximum':
      return { message: `must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${params.limit as number}, got ${String(data)}`, pathSuffix: [], locateParent: false };
    case 'minItems':
      return { message: `must have at least ${params.limit as number} item${params.limit === 1 ? '' : 's'}`, pathSuffix: [], locateParent: false };
    case 'maxItems':
      return { message: `must have at most ${params.limit as number} items`, pathSuffix: [], locateParent: false };
    case 'minProperties':
      return { message: `must have at least ${params.limit as number} entr${params.limit === 1 ? 'y' : 'ies'}`, pathSuffix: [], locateParent: false };
    case 'minLength':
      return { message: params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit as number} characters`, pathSuffix: [], locateParent: false };
    case 'maxLength':
      return { message: `must be at most ${params.limit as number} characters`, pathSuffix: [], locateParent: false };
    case 'pattern':
      return { message: `${patternHints[params.pattern as string] ?? `must match ${params.pattern as string}`}, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
    case 'format':
      switch (params.format) {
        case 'duration':
          return { message: `must be ${durationHint}, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
        case 're2':
          return { message: `is not a valid RE2 regular expression (the dialect Envoy uses): ${re2SyntaxError(String(data))}`, pathSuffix: [], locateParent: false };
        case 'json-pointer':
          return { message: `must be a JSON Pointer such as /user/id, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
        default:
          return { message: `must be a ${params.format as string}, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
      }
    case 'x-sluice-max-duration':
      return { message: `must be at most ${String(error.schema)}, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
    case 'x-sluice-min-duration':
      return { message: `must be at least ${String(error.schema)}, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
    case 'anyOf':
      return { message: `must be a port number (1-65535) or a port name, got ${typeName(data)}`, pathSuffix: [], locateParent: false };
    default:
      return { message: error.message ?? `is invalid (schema rule ${error.keyword}${Object.keys(params).length ? ` ${JSON.stringify(params)}` : ''})`, pathSuffix: [], locateParent: false };
  }
}

const formatCodes: Record<string, ConfigIssue['code']> = { duration: 'bad-duration', re2: 'bad-regex', 'json-pointer': 'bad-json-pointer' };
const durationKeywords = new Set(['x-sluice-max-duration', 'x-sluice-min-duration']);

function schemaIssues(errors: ErrorObject[], base: FieldPath, object: ObjectReference, origin: ObjectOrigin): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    // Branch failures of an anyOf are summarised by the anyOf error itself.
    if (error.schemaPath.includes('/anyOf/')) continue;
    const { message, pathSuffix, locateParent } = schemaMessage(error);
    const parent = [...base, ...pointerToPath(error.instancePath)];
    const path = [...parent, ...pathSuffix];
    const field = formatFieldPath(path);
    const key = `${field}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const code = error.keyword === 'format'
      ? formatCodes[(error.params as { format: string }).format] ?? 'schema'
      : durationKeywords.has(error.keyword) ? 'bad-duration' : 'schema';
    issues.push({ code, object, field, message, location: origin.locate(locateParent ? parent : path) });
  }
  return issues;
}

/** The checks of our schema extensions (see proto/sluice/v1alpha1/policy-api.yaml). */
function extensionIssues(schema: unknown, data: unknown, path: FieldPath, object: ObjectReference, origin: ObjectOrigin): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (node: Record<string, unknown>, value: unknown, at: FieldPath): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      const items = node.items as Record<string, unknown> | undefined;
      if (items) value.forEach((item, index) => visit(items, item, [...at, index]));
      return;
    }
    const record = value as Record<string, unknown>;
    for (const group of (node['x-sluice-exactly-one-of'] as string[][] | undefined) ?? []) {
      const present = group.filter((field) => record[field] !== undefined);
      if (present.length !== 1) {
        issues.push({
          code: 'schema',
          object,
          field: formatFieldPath(at),
          message: present.length === 0 ? `one of ${group.join(', ')} is required` : `only one of ${group.join(', ')} may be set, got ${present.join(' and ')}`,
          location: origin.locate(present.length > 1 ? [...at, present[1]!] : at),
        });
      }
    }
    const keyPattern = node['x-sluice-map-key-pattern'] as string | undefined;
    const properties = node.properties as Record<string, Record<string, unknown>> | undefined;
    const additional = node.additionalProperties;
    for (const [key, child] of Object.entries(record)) {
      if (keyPattern && !new RegExp(keyPattern).test(key)) {
        issues.push({ code: 'schema', object, field: formatFieldPath([...at, key]), message: `key ${patternHints[keyPattern] ?? `must match ${keyPattern}`}`, location: origin.locate([...at, key]) });
      }
      const childSchema = properties?.[key] ?? (typeof additional === 'object' ? (additional as Record<string, unknown>) : undefined);
      if (childSchema) visit(childSchema, child, [...at, key]);
    }
  };
  visit(schema as Record<string, unknown>, data, path);
  return issues;
}
