/**
 * Regular expressions in policies are evaluated by Envoy (and gRPC clients)
 * with Google RE2. Compiling them here with re2js — a faithful port of RE2 —
 * rejects what Envoy would reject (look-arounds, back-references) at load
 * time instead of as a NACK from every proxy.
 */
import { RE2JS } from 're2js';

/** Undefined when valid, else RE2's reason. */
export function re2SyntaxError(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
  }
}

/** Full-match test with RE2 semantics (Envoy's safe_regex matches the whole value). */
export function re2FullMatch(pattern: string, value: string): boolean {
  return RE2JS.compile(pattern).matches(value);
}
