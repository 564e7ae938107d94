/**
 * Derives everything that comes from the policy API definition
 * (proto/sluice/v1alpha1/policy-api.yaml): the generated TypeScript module
 * (types + schema object) and the CRD manifests. Used by `npm run generate`
 * and by the drift test, so both always agree on what "up to date" means.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { compile, type JSONSchema } from 'json-schema-to-typescript';

export interface KindDefinition {
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  printerColumns: Array<{ name: string; type: string; jsonPath: string }>;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

export interface PolicyApiDefinition {
  group: string;
  version: string;
  kinds: Record<string, KindDefinition>;
}

export const definitionPath = 'proto/sluice/v1alpha1/policy-api.yaml';
export const generatedModulePath = 'control-plane/api/policy-api.generated.ts';

export async function readDefinition(repoRoot: string): Promise<PolicyApiDefinition> {
  const text = await readFile(path.join(repoRoot, definitionPath), 'utf8');
  const parsed = parse(text, { merge: true }) as PolicyApiDefinition & { definitions?: unknown };
  // `definitions` only exists to hold YAML anchors; every use is already inlined.
  return { group: parsed.group, version: parsed.version, kinds: parsed.kinds };
}

/** Keys our validator understands but JSON-Schema-to-TS and CRDs must not see. */
const sluiceExtensions = ['x-sluice-exactly-one-of', 'x-sluice-map-key-pattern', 'x-sluice-min-duration', 'x-sluice-max-duration'];

function mapSchema(schema: unknown, visit: (node: Record<string, unknown>) => Record<string, unknown>): unknown {
  if (Array.isArray(schema)) return schema.map((item) => mapSchema(item, visit));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    // `enum` and `required` hold data, not schemas: copy them verbatim.
    out[key] = key === 'enum' || key === 'required' || key === 'x-sluice-exactly-one-of' ? value : mapSchema(value, visit);
  }
  return visit(out);
}

/** The OpenAPI v3 schema Kubernetes gets: structural, pruning unknown fields. */
export function toCrdSchema(schema: unknown): unknown {
  return mapSchema(schema, (node) => {
    const groups = node['x-sluice-exactly-one-of'] as string[][] | undefined;
    const [min, max] = [node['x-sluice-min-duration'], node['x-sluice-max-duration']] as Array<string | undefined>;
    for (const key of sluiceExtensions) delete node[key];
    // Kubernetes cannot compare durations: the bounds are stated for kubectl explain and editors.
    if (min || max) {
      const bounds = min && max ? `From ${min} to ${max}.` : max ? `At most ${max}.` : `At least ${min}.`;
      node.description = node.description ? `${node.description as string} ${bounds}` : bounds;
    }
    if (node.additionalProperties === false) delete node.additionalProperties;
    if (node.format === 're2' || node.format === 'json-pointer') delete node.format;
    if (groups) {
      // Exactly one of each group: `oneOf` of `required` branches is allowed in structural schemas.
      const clauses = groups.map((group) => ({ oneOf: group.map((field) => ({ required: [field] })) }));
      if (clauses.length === 1) Object.assign(node, clauses[0]);
      else node.allOf = clauses;
    }
    return node;
  });
}

export function crdManifest(api: PolicyApiDefinition, kind: string): Record<string, unknown> {
  const def = api.kinds[kind];
  if (!def) throw new Error(`unknown kind ${kind}`);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${api.group}`, labels: { 'app.kubernetes.io/part-of': 'sluice' } },
    spec: {
      group: api.group,
      scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural: def.plural, singular: def.singular, shortNames: def.shortNames, categories: ['sluice'] },
      versions: [
        {
          name: api.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: def.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toCrdSchema(def.spec),
                status: toCrdSchema(def.status),
              },
            },
          },
        },
      ],
    },
  };
}

function forTypes(schema: unknown): JSONSchema {
  return mapSchema(schema, (node) => {
    for (const key of sluiceExtensions) delete node[key];
    delete node.default; // defaults are applied by the validator; the TS type stays optional
    return node;
  }) as JSONSchema;
}

const generatedHeader = `// GENERATED by \`npm run generate\` from ${definitionPath}. Do not edit.\n/* eslint-disable */\n`;

export async function generatedModule(api: PolicyApiDefinition): Promise<string> {
  const parts: string[] = [generatedHeader];
  parts.push(`export const apiGroup = ${JSON.stringify(api.group)};`);
  parts.push(`export const apiVersion = ${JSON.stringify(`${api.group}/${api.version}`)};`);
  parts.push(`export const policyKinds = ${JSON.stringify(Object.keys(api.kinds))} as const;`);
  parts.push(`export type PolicyKind = (typeof policyKinds)[number];\n`);
  parts.push('/** The spec and status schemas of each kind, as defined (validator input). */');
  const schemas = Object.fromEntries(Object.entries(api.kinds).map(([k, d]) => [k, { spec: d.spec, status: d.status }]));
  parts.push(`export const policySchemas: Record<PolicyKind, { spec: object; status: object }> = ${JSON.stringify(schemas, null, 2)};\n`);
  for (const [kind, def] of Object.entries(api.kinds)) {
    for (const [suffix, schema] of [['Spec', def.spec], ['Status', def.status]] as const) {
      const ts = await compile(forTypes(schema), `${kind}${suffix}`, {
        bannerComment: '',
        additionalProperties: false,
        declareExternallyReferenced: true,
        strictIndexSignatures: false,
        format: true,
        ignoreMinAndMaxItems: true,
        unreachableDefinitions: false,
      });
      parts.push(ts.trim() + '\n');
    }
  }
  return parts.join('\n');
}

/** Every derived file: repo-relative path → content. */
export async function allArtifacts(repoRoot: string): Promise<Map<string, string>> {
  const api = await readDefinition(repoRoot);
  const files = new Map<string, string>();
  files.set(generatedModulePath, await generatedModule(api));
  for (const kind of Object.keys(api.kinds)) {
    const def = api.kinds[kind]!;
    const header = `# GENERATED by \`npm run generate\` from ${definitionPath}. Do not edit.\n`;
    files.set(`examples/crds/${def.plural}.${api.group}.yaml`, header + stringify(crdManifest(api, kind), { lineWidth: 0 }));
  }
  return files;
}
