/**
 * Typed errors. Every error Sluice raises on purpose is a SluiceError with a
 * stable `code` and structured context, so callers (CLI, admin API, status
 * write-back) can render it without parsing messages.
 */

/** Where in the user's input a problem is. Lines and columns are 1-based. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** The Kubernetes-style identity of an object: `TrafficPolicy shop/orders`. */
export interface ObjectReference {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export function formatObjectReference(ref: ObjectReference): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

export class SluiceError extends Error {
  readonly code: string;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = Object.freeze({ ...context });
  }
}

/**
 * One problem in the configuration: which file (line, column), which object,
 * which field, and what is wrong. `code` is one of ConfigErrorCode so tests and
 * tools can match on it.
 */
export interface ConfigIssue {
  readonly code: ConfigErrorCode;
  readonly message: string;
  readonly location?: SourceLocation;
  readonly object?: ObjectReference;
  /** Dotted path with indexes, e.g. `spec.routes[0].to[1].weight`. */
  readonly field?: string;
}

export type ConfigErrorCode =
  | 'yaml-syntax'
  | 'not-an-object'
  | 'missing-identity'
  | 'unknown-api-version'
  | 'schema'
  | 'duplicate-object'
  | 'unknown-service'
  | 'unknown-version'
  | 'weights-sum'
  | 'duplicate-policy'
  | 'duplicate-route'
  | 'bad-duration'
  | 'bad-regex'
  | 'bad-json-pointer'
  | 'canary-without-policy'
  | 'canary-version'
  | 'duplicate-canary'
  | 'duplicate-telemetry-config'
  | 'telemetry-config'
  | 'unreadable-file';

/** Render one issue the way a user reads it: `file:line:col: Kind ns/name: field: message`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const parts: string[] = [];
  if (issue.location) parts.push(`${issue.location.file}:${issue.location.line}:${issue.location.column}`);
  if (issue.object) parts.push(formatObjectReference(issue.object));
  if (issue.field) parts.push(issue.field);
  parts.push(issue.message);
  return parts.join(': ');
}

/** The configuration was rejected; carries every issue found, not just the first. */
export class ConfigError extends SluiceError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const first = issues[0];
    const summary = first ? formatConfigIssue(first) : 'invalid configuration';
    super(
      'config-invalid',
      issues.length > 1 ? `${summary} (and ${issues.length - 1} more)` : summary,
      { count: issues.length },
    );
    this.issues = Object.freeze([...issues]);
  }
}
