/**
 * The proto3 JSON ↔ binary codec for Envoy's messages, on @bufbuild/protobuf
 * and the types generated from Envoy's own protos (control-plane/envoy/generated/).
 *
 * Input JSON may use proto (snake_case) or lowerCamel names, enums by name or
 * number, 64-bit integers as numbers or strings; unknown fields are errors.
 * `Any` payloads are resolved through a registry of every generated file.
 * Output JSON uses the proto names, like Envoy's config_dump.
 *
 * bufbuild's errors name the message and field but not where it sits in the
 * resource; when a conversion fails, `locateJsonError` replays it one level at
 * a time to find the path (`virtual_hosts[0].routes[2].match.prefx`). This
 * runs only on failure, so the hot path is bufbuild's compiled reader alone.
 */
import {
  createRegistry,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  type DescMessage,
  type JsonValue,
  type Message,
  type Registry,
} from '@bufbuild/protobuf';
import type protobuf from 'protobufjs';
import { SluiceError } from '../core/errors.js';
import { envoyFiles } from './generated/files.js';
import { EnvoyTypeError, lookupEnvoyType, typeNameOfUrl } from './proto-registry.js';

/** Every generated Envoy message, enum and extension, plus the well-known types. */
export const envoyRegistry: Registry = createRegistry(...envoyFiles);

export type EnvoyJsonReason = 'unknown_field' | 'unknown_type' | 'bad_value';

/** JSON that does not fit the Envoy message it is meant to be; `path` is from the message root. */
export class EnvoyJsonError extends SluiceError {
  readonly typeName: string;
  readonly path: string;
  readonly reason: EnvoyJsonReason;
  readonly detail: string;

  readonly resourceName: string | undefined;

  constructor(typeName: string, path: string, reason: EnvoyJsonReason, detail: string, options?: { cause?: unknown; resourceName?: string }) {
    const resource = options?.resourceName === undefined ? '' : `${typeName.slice(typeName.lastIndexOf('.') + 1)} "${options.resourceName}": `;
    super('envoy-json', `${resource}${path ? `${path}: ` : ''}${detail}`, { typeName, path, reason, resourceName: options?.resourceName }, options);
    this.typeName = typeName;
    this.resourceName = options?.resourceName;
    this.path = path;
    this.reason = reason;
    this.detail = detail;
  }
}

/** The generated schema of a message type (leading dot optional). */
export function envoySchema(typeName: string): DescMessage {
  const schema = envoyRegistry.getMessage(typeName.startsWith('.') ? typeName.slice(1) : typeName);
  if (!schema) throw new EnvoyTypeError(typeName, `unknown message type "${typeName}"`);
  return schema;
}

const readOptions = { registry: envoyRegistry, ignoreUnknownFields: false } as const;
const writeOptions = { registry: envoyRegistry, useProtoFieldName: true } as const;

/**
 * Messages read for the validate-rules check, handed once to the encode that
 * follows: the xDS cache encodes exactly the resources translation has just
 * checked, so each is parsed once. Keyed by the JSON object, which the
 * translator never mutates after emitting it (the cache relies on that too).
 */
const readForEncode = new WeakMap<object, Message>();

/** proto3 JSON → message; an EnvoyJsonError names the path of what does not fit. */
export function messageFromJson(typeName: string, json: unknown): Message {
  const message = read(envoySchema(typeName), json);
  if (typeof json === 'object' && json !== null) readForEncode.set(json, message);
  return message;
}

/**
 * proto3 JSON → wire bytes: what the xDS cache sends. With `resourceName`,
 * an EnvoyJsonError names the resource too (`Cluster "outbound|80||a": …`).
 */
export function encodeResource(typeName: string, json: unknown, resourceName?: string): Uint8Array {
  const schema = envoySchema(typeName);
  if (typeof json === 'object' && json !== null) {
    const checked = readForEncode.get(json);
    if (checked?.$typeName === schema.typeName) {
      readForEncode.delete(json);
      return toBinary(schema, checked);
    }
  }
  return toBinary(schema, read(schema, json, resourceName));
}

function read(schema: DescMessage, json: unknown, resourceName?: string): Message {
  try {
    return fromJson(schema, json as JsonValue, readOptions);
  } catch (err) {
    // Objects built in code may hold `undefined` for "not set", which JSON
    // cannot; bufbuild rejects it, so retry without them (off the hot path).
    if (hasUndefined(json)) {
      try {
        return fromJson(schema, withoutUndefined(json) as JsonValue, readOptions);
      } catch (retryErr) {
        throw locateJsonError(schema, withoutUndefined(json), retryErr, resourceName);
      }
    }
    throw locateJsonError(schema, json, err, resourceName);
  }
}

function hasUndefined(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasUndefined);
  if (!isObject(value)) return false;
  return Object.values(value).some((v) => v === undefined || hasUndefined(v));
}

function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]));
}

export function decodeMessage(typeName: string, bytes: Uint8Array): Message {
  return fromBinary(envoySchema(typeName), bytes, { readUnknownFields: false });
}

/** Wire bytes → proto3 JSON with proto field names (Any payloads expanded). */
export function decodeToJson(typeName: string, bytes: Uint8Array): JsonValue {
  const schema = envoySchema(typeName);
  return toJson(schema, fromBinary(schema, bytes, { readUnknownFields: false }), writeOptions);
}

export function messageToJson(typeName: string, message: Message): JsonValue {
  return toJson(envoySchema(typeName), message, writeOptions);
}

/**
 * A message the gRPC services decoded with protobufjs (proto-registry.ts) as
 * proto3 JSON: re-encoded and read back here, so one JSON mapping serves both.
 */
export function protobufjsMessageToJson(typeName: string, message: protobuf.Message | Record<string, unknown>): JsonValue {
  const type = lookupEnvoyType(typeName);
  return decodeToJson(typeName, type.encode(message as protobuf.Message).finish());
}

// ---------------------------------------------------------------------------
// Finding where a conversion failed

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Types whose JSON form is not an object of their fields: bufbuild's message is as deep as it gets. */
function hasCustomJson(schema: DescMessage): boolean {
  return schema.typeName.startsWith('google.protobuf.') && schema.typeName !== 'google.protobuf.Any';
}

function tryRead(schema: DescMessage, json: unknown): unknown {
  try {
    fromJson(schema, json as JsonValue, readOptions);
    return undefined;
  } catch (err) {
    return err;
  }
}

interface Located {
  path: string;
  reason: EnvoyJsonReason;
  detail: string;
}

/** The deepest message under `json` that fails on its own, or undefined if none does below this level. */
function locate(schema: DescMessage, json: unknown, path: string): Located | undefined {
  if (!isObject(json) || hasCustomJson(schema)) return undefined;
  if (schema.typeName === 'google.protobuf.Any') {
    const url = json['@type'];
    if (typeof url !== 'string') return { path, reason: 'unknown_type', detail: 'missing "@type"' };
    let payload: DescMessage | undefined;
    try {
      payload = envoyRegistry.getMessage(typeNameOfUrl(url));
    } catch {
      payload = undefined;
    }
    if (!payload) return { path: join(path, '@type'), reason: 'unknown_type', detail: `unknown type "${url}"` };
    if (hasCustomJson(payload)) return descend(payload, json.value, join(path, 'value'));
    // The payload's fields sit beside "@type": the path goes on from the Any field.
    const { '@type': _type, ...fields } = json;
    return descend(payload, fields, path);
  }
  for (const [key, value] of Object.entries(json)) {
    const field = schema.fields.find((f) => f.name === key || f.jsonName === key);
    const fieldPath = join(path, key);
    if (!field) return { path: fieldPath, reason: 'unknown_field', detail: 'unknown field' };
    if (field.fieldKind === 'message') {
      const found = descend(field.message, value, fieldPath);
      if (found) return found;
    } else if (field.fieldKind === 'list' && field.listKind === 'message' && Array.isArray(value)) {
      for (const [i, item] of value.entries()) {
        const found = descend(field.message, item, `${fieldPath}[${i}]`);
        if (found) return found;
      }
    } else if (field.fieldKind === 'map' && field.mapKind === 'message' && isObject(value)) {
      for (const [k, item] of Object.entries(value)) {
        const found = descend(field.message, item, `${fieldPath}[${JSON.stringify(k)}]`);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** If `json` fails as `schema`, the deepest place it fails at. */
function descend(schema: DescMessage, json: unknown, path: string): Located | undefined {
  if (json === null || json === undefined) return undefined;
  const err = tryRead(schema, json);
  if (err === undefined) return undefined;
  return locate(schema, json, path) ?? { path, reason: 'bad_value', detail: messageOf(err) };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function locateJsonError(schema: DescMessage, json: unknown, err: unknown, resourceName?: string): EnvoyJsonError {
  const found = locate(schema, json, '') ?? { path: '', reason: 'bad_value', detail: messageOf(err) };
  return new EnvoyJsonError(schema.typeName, found.path, found.reason, found.detail, { cause: err, ...(resourceName === undefined ? {} : { resourceName }) });
}
