/** RFC 6901 JSON Pointers, as used by `userId.jsonBody` (e.g. `/user/id`). */

export function isJsonPointer(text: string): boolean {
  return /^(\/([^~/]|~[01])+)+$/.test(text);
}

/** `/user/id` → `['user', 'id']` (unescaping ~1 and ~0). */
export function jsonPointerSegments(pointer: string): string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}
