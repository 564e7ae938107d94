/**
 * Parses one YAML file (any number of `---` documents) into checked objects,
 * keeping positions so every problem is reported as file:line:column.
 *
 * The `yaml` package is used because it keeps a full concrete syntax tree with
 * source ranges (so a field path maps back to a line and column), supports
 * multi-document streams, and bounds alias expansion.
 *
 * Its cost is the hazard: the syntax tree and documents take 100–600 bytes per
 * token, so 4 MiB of YAML punctuation grew past 3 GB, and nesting recursed
 * until the stack overflowed. So the file is fed through the library's own
 * stages by hand — Lexer → Parser → Composer — with a budget checked on every
 * lexical token *before* the parser sees it: a file over the budget is
 * rejected at the token that crossed it, having cost at most the budget.
 */
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, Parser, type Document, type Node as YamlNode } from 'yaml';
import type { ConfigIssue, SourceLocation } from '../core/errors.js';
import { checkManifest, type CheckResult } from '../api/validator.js';
import type { FieldPath, ObjectOrigin } from '../core/source-object.js';

export interface ParsedFile {
  readonly results: readonly CheckResult[];
  /** Problems that belong to no object: YAML syntax errors, encoding, budget. */
  readonly issues: readonly ConfigIssue[];
}

/** What one file may cost to parse. Every limit is checked before the work it bounds is done. */
export interface YamlParseLimits {
  /** Lexical tokens other than whitespace and comments (each becomes 100–600 bytes of syntax tree and document). */
  readonly maxTokens: number;
  readonly maxDocuments: number;
  /** Nesting of block and flow collections (estimated from indentation and indicators; Kubernetes objects stay well under 50). */
  readonly maxDepth: number;
  /** YAML syntax errors reported one by one; the rest are counted in one more issue. */
  readonly maxErrors: number;
}

/**
 * 1,000,000 tokens is what 4 MiB of ordinary manifests hold (about 4 bytes a
 * token), so the token budget and the default file size agree.
 */
export const defaultYamlParseLimits: YamlParseLimits = { maxTokens: 1_000_000, maxDocuments: 20_000, maxDepth: 200, maxErrors: 20 };

/** Largest number of alias expansions per document: a "billion laughs" file fails instead of hanging. */
const maxAliasCount = 1_000;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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

/** Line and column (1-based, UTF-16 units like the `yaml` package) of a string offset. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let nl = text.indexOf('\n'); nl !== -1 && nl < offset; nl = text.indexOf('\n', nl + 1)) {
    line++;
    lineStart = nl + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** Decodes strict UTF-8; an invalid byte is reported where it is instead of silently becoming U+FFFD. */
export function decodeUtf8(file: string, bytes: Uint8Array): { text: string } | { issue: ConfigIssue } {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    // The valid prefix re-encodes to the same bytes: the first difference is the bad sequence.
    const lossy = Buffer.from(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes), 'utf8');
    let at = 0;
    while (at < bytes.length && at < lossy.length && bytes[at] === lossy[at]) at++;
    while (at > 0 && (bytes[at]! & 0xc0) === 0x80 && (bytes[at - 1]! & 0x80) !== 0) at--; // back to the sequence's lead byte
    const prefix = Buffer.from(bytes.subarray(0, at)).toString('utf8');
    const { line, column } = positionOf(prefix, prefix.length);
    const byte = `0x${(bytes[at] ?? 0).toString(16).padStart(2, '0')}`;
    return { issue: { code: 'yaml-syntax', message: `invalid UTF-8: byte ${byte} at offset ${at} starts no valid character; save the file as UTF-8 (as Kubernetes requires)`, location: { file, line, column } } };
  }
}

/**
 * Watches the lexical token stream and says when a file goes over its budget.
 * Depth is estimated the way the parser indents: a line's content column opens
 * a level when it is deeper than the enclosing lines', each block indicator
 * (`-`, `?`, `:`) on a line opens one more, and each open `[`/`{` one more.
 */
class ParseBudget {
  #offset = 0;
  #line = 1;
  #lineStart = 0;
  #tokens = 0;
  #documents = 1;
  #flowDepth = 0;
  #indents: number[] = [];
  #atLineStart = true;
  #lineIndicators = 0;
  #scalarNext = false;

  constructor(private readonly limits: YamlParseLimits) {}

  /** Account for one lexeme; returns why the file is over budget (at that lexeme), if it is. */
  observe(file: string, lexeme: string): ConfigIssue | undefined {
    const problem = this.#check(lexeme);
    if (problem) return { code: 'yaml-syntax', message: problem, location: { file, line: this.#line, column: this.#offset - this.#lineStart + 1 } };
    // The lexer's markers (document, scalar, flow end) are one-character strings that take no room in the text.
    if (lexeme === '\x02' || lexeme === '\x1f' || lexeme === '\x18') return undefined;
    this.#offset += lexeme.length;
    for (let nl = lexeme.indexOf('\n'); nl !== -1; nl = lexeme.indexOf('\n', nl + 1)) {
      this.#line++;
      this.#lineStart = this.#offset - lexeme.length + nl + 1;
    }
    return undefined;
  }

  #check(lexeme: string): string | undefined {
    if (this.#scalarNext) {
      // The source of a plain or block scalar: content whatever its first character.
      this.#scalarNext = false;
      return this.#content();
    }
    switch (lexeme) {
      case '\x1f': // the next lexeme is a scalar
        this.#scalarNext = true;
        return undefined;
      case '\x02': // document content starts
      case '\ufeff':
        return undefined;
      case '\x18': // a flow collection ended by indentation (an error the parser reports)
        this.#flowDepth = 0;
        return undefined;
      case '':
      case '\n':
      case '\r\n':
        this.#atLineStart = true;
        this.#lineIndicators = 0;
        return undefined;
      case '---':
        this.#indents = [];
        if (++this.#documents > this.limits.maxDocuments) return `more than ${this.limits.maxDocuments} documents in one file (the parse budget per file); split the file`;
        return this.#count();
      case '-':
      case '?':
      case ':':
        if (this.#flowDepth === 0) this.#lineIndicators++;
        return this.#content();
      case '[':
      case '{':
        this.#flowDepth++;
        return this.#content();
      case ']':
      case '}':
        if (this.#flowDepth > 0) this.#flowDepth--;
        return this.#count();
    }
    const first = lexeme[0];
    if (first === ' ' || first === '\t' || first === '#') return undefined;
    return this.#content();
  }

  #content(): string | undefined {
    if (this.#atLineStart && this.#flowDepth === 0) {
      const column = this.#offset - this.#lineStart;
      while (this.#indents.length > 0 && this.#indents[this.#indents.length - 1]! >= column) this.#indents.pop();
      this.#indents.push(column);
    }
    this.#atLineStart = false;
    const depth = this.#indents.length + this.#lineIndicators + this.#flowDepth;
    if (depth > this.limits.maxDepth) return `nesting deeper than ${this.limits.maxDepth} levels (the parse budget per file)`;
    return this.#count();
  }

  #count(): string | undefined {
    if (++this.#tokens > this.limits.maxTokens) return `more than ${this.limits.maxTokens} YAML tokens in one file (the parse budget per file, about 4 MiB of ordinary manifests); split the file`;
    return undefined;
  }
}

/** Lex the whole text against the budget without parsing it. */
function budgetProblem(file: string, text: string, limits: YamlParseLimits): ConfigIssue | undefined {
  const budget = new ParseBudget(limits);
  for (const lexeme of new Lexer().lex(text)) {
    const problem = budget.observe(file, lexeme);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Duplicate keys, found in one pass with a set per map (the `yaml` package's
 * own check compares every key with every other: minutes for a 100,000-key map).
 * Iterative, so deep input cannot overflow the stack.
 */
function duplicateKeyOffsets(document: Document): number[] {
  const found: number[] = [];
  const stack: unknown[] = [document.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          if (seen.has(pair.key.value)) found.push(rangeStart(pair.key) ?? 0);
          seen.add(pair.key.value);
        }
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      stack.push(...node.items);
    } else if (isPair(node)) {
      stack.push(node.key, node.value);
    } else if (isAlias(node)) {
      continue;
    }
  }
  return found.sort((a, b) => a - b);
}

export function parseYamlFile(file: string, input: string | Uint8Array, limits: YamlParseLimits = defaultYamlParseLimits): ParsedFile {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    const decoded = decodeUtf8(file, input);
    if ('issue' in decoded) return { results: [], issues: [decoded.issue] };
    text = decoded.text;
  }
  const lineCounter = new LineCounter();
  lineCounter.addNewLine(0); // Parser.parse() registers the first line; Parser.next() does not
  const toLocation = (offset: number | undefined): SourceLocation | undefined => {
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const issues: ConfigIssue[] = [];
  const results: CheckResult[] = [];
  let syntaxErrors = 0;
  const syntaxError = (message: string, offset: number | undefined) => {
    if (++syntaxErrors <= limits.maxErrors) issues.push({ code: 'yaml-syntax', message, location: toLocation(offset) ?? { file, line: 1, column: 1 } });
  };

  const handle = (document: Document.Parsed) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) syntaxError(error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), error.pos[0]);
      return;
    }
    const duplicates = duplicateKeyOffsets(document);
    if (duplicates.length > 0) {
      for (const offset of duplicates) syntaxError('Map keys must be unique', offset);
      return;
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount });
    } catch (error) {
      syntaxError((error as Error).message, rangeStart(document.contents as YamlNode));
      return;
    }
    // An empty, comment-only or `null` document is skipped, as kubectl does.
    if (value === null || value === undefined) return;
    const origin: ObjectOrigin = { label: file, locate: (path) => toLocation(locateOffset(document, path)) };
    results.push(checkManifest(value, origin));
  };

  // A file with more characters than the token budget may be over it, and
  // would only find out after building that many tokens' worth of syntax
  // tree: lex it once on its own first (about a quarter of the parse time,
  // no memory), so an over-budget file is refused before any tree exists.
  if (text.length > limits.maxTokens) {
    const overBudget = budgetProblem(file, text, limits);
    if (overBudget) return { results: [], issues: [overBudget] };
  }
  const budget = new ParseBudget(limits);
  const parser = new Parser(lineCounter.addNewLine);
  // Keys are checked for uniqueness by duplicateKeyOffsets, in linear time.
  const composer = new Composer({ uniqueKeys: false, prettyErrors: false });
  const ready: Document.Parsed[] = [];
  // The library builds an Error (stack trace included) for every syntax error;
  // junk yields one per token, and capturing their stacks cost 20× the parse.
  // Stacks are off while the library runs and back on while our checks run.
  const stackTraceLimit = Error.stackTraceLimit;
  const drain = () => {
    Error.stackTraceLimit = stackTraceLimit;
    while (ready.length > 0) handle(ready.shift()!);
    Error.stackTraceLimit = 0;
  };
  try {
    Error.stackTraceLimit = 0;
    for (const lexeme of new Lexer().lex(text)) {
      const overBudget = budget.observe(file, lexeme);
      // Nothing of an over-budget file is kept: it is rejected as a whole.
      if (overBudget) return { results: [], issues: [overBudget] };
      for (const token of parser.next(lexeme)) for (const document of composer.next(token)) ready.push(document);
      if (ready.length > 0) drain();
    }
    for (const token of parser.end()) for (const document of composer.next(token)) ready.push(document);
    for (const document of composer.end(false, text.length)) ready.push(document);
    drain();
  } catch (error) {
    // A limit should have caught it; still a problem in this file, never a crash.
    return { results: [], issues: [{ code: 'yaml-syntax', message: `cannot parse YAML: ${(error as Error).message}`, location: { file, line: 1, column: 1 } }] };
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  if (syntaxErrors > limits.maxErrors) {
    issues.push({ code: 'yaml-syntax', message: `and ${syntaxErrors - limits.maxErrors} more YAML errors in this file`, location: { file, line: 1, column: 1 } });
  }
  return { results, issues };
}
