/**
 * What every source (YAML directory, Kubernetes) hands to the model: one
 * Kubernetes-style object, checked against its schema, deep-frozen, and able
 * to say where any of its fields came from.
 */
import type { SourceLocation } from './errors.js';

/** A path into an object: `['spec', 'routes', 0, 'to', 1, 'weight']`. */
export type FieldPath = readonly (string | number)[];

/** Where an object came from, and how to find a field of it in the user's file. */
export interface ObjectOrigin {
  /** A file path, or a description such as `kubernetes`. */
  readonly label: string;
  /** Position of the field (or of its nearest existing ancestor); undefined when positions are unknown. */
  locate(path: FieldPath): SourceLocation | undefined;
}

export interface SourceObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The whole manifest, defaults applied, deep-frozen. */
  readonly manifest: Readonly<Record<string, unknown>>;
  readonly origin: ObjectOrigin;
}

/** `['spec','routes',0,'to',1,'weight']` → `spec.routes[0].to[1].weight`. */
export function formatFieldPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) text += text ? `.${segment}` : segment;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    const children = value instanceof Map ? value.values() : Object.values(value as Record<string, unknown>);
    for (const child of children) deepFreeze(child);
  }
  return value;
}

/** An origin with no positions, for objects built in code (tests, the Kubernetes source). */
export function originWithoutPositions(label: string): ObjectOrigin {
  return { label, locate: () => undefined };
}
