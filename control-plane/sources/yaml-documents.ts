/**
 * Parses one YAML file (any number of `---` documents) into checked objects,
 * keeping positions so every problem is reported as file:line:column.
 *
 * The `yaml` package is used because it keeps a full concrete syntax tree with
 * source ranges (so a field path maps back to a line and column), supports
 * multi-document streams, rejects duplicate keys, and bounds alias expansion.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import type { ConfigIssue, SourceLocation } from '../core/errors.js';
import { checkManifest, type CheckResult } from '../api/validator.js';
import type { FieldPath, ObjectOrigin } from '../core/source-object.js';

export interface ParsedFile {
  readonly results: readonly CheckResult[];
  /** Problems that belong to no object: YAML syntax errors. */
  readonly issues: readonly ConfigIssue[];
}

/** Largest number of alias expansions per document: a "billion laughs" file fails instead of hanging. */
const maxAliasCount = 1_000;

function rangeStart(node: { range?: [number, number, number] | null } | null | undefined): number | undefined {
  return node?.range?.[0];
}

/** Find the node for a field path; falls back to the nearest ancestor that exists. */
function locateOffset(document: Document, path: FieldPath): number | undefined {
  let node: unknown = document.contents;
  let offset = rangeStart(node as YamlNode);
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return offset;
      // Point at the key: that is where a user looks for "spec.routes[0].to".
      offset = rangeStart(pair.key as YamlNode) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) return offset;
      offset = rangeStart(item as YamlNode) ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

export function parseYamlFile(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  const toLocation = (offset: number | undefined): SourceLocation | undefined => {
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const issues: ConfigIssue[] = [];
  const results: CheckResult[] = [];
  let documents: Document.Parsed[];
  try {
    documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false }) as Document.Parsed[];
  } catch (error) {
    return { results, issues: [{ code: 'yaml-syntax', message: `cannot parse YAML: ${(error as Error).message}`, location: { file, line: 1, column: 1 } }] };
  }
  if (!Array.isArray(documents)) documents = [documents];
  for (const document of documents) {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        issues.push({ code: 'yaml-syntax', message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), location: toLocation(error.pos[0]) ?? { file, line: 1, column: 1 } });
      }
      continue;
    }
    if (document.contents === null) continue; // empty document, e.g. a trailing `---`
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount });
    } catch (error) {
      issues.push({ code: 'yaml-syntax', message: (error as Error).message, location: toLocation(rangeStart(document.contents as YamlNode)) ?? { file, line: 1, column: 1 } });
      continue;
    }
    const origin: ObjectOrigin = { label: file, locate: (path) => toLocation(locateOffset(document, path)) };
    results.push(checkManifest(value, origin));
  }
  return { results, issues };
}
