/**
 * JSON with object keys sorted at every level, so equal content always gives
 * equal bytes: the basis of snapshot versions, content hashes and golden files.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner) || ArrayBuffer.isView(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key];
    return sorted;
  }, indent);
}

/** A short, stable content hash (hex) of a value or of bytes. */
export function contentHash(value: unknown): string {
  const hash = createHash('sha256');
  hash.update(value instanceof Uint8Array ? value : canonicalJson(value));
  return hash.digest('hex').slice(0, 16);
}
