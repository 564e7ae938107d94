/**
 * Proto3-JSON ⇄ protobuf for Envoy's types, driven by protobufjs reflection.
 *
 * We do not use protobufjs' fromObject/toObject: they neither reject unknown
 * fields nor speak the proto3-JSON forms of Any/Duration/wrappers/Struct.
 * Instead each message type gets a compiled "plan" (one reader and writer per
 * field, keyed by both the snake_case proto name and the lowerCamel JSON name)
 * built on first use; JSON is turned into the plain-object shape protobufjs'
 * generated encoder consumes, and decoded messages are walked back to JSON.
 *
 * Output JSON uses the proto (snake_case) field names, as Envoy's config_dump
 * does; input accepts either spelling.
 */
import protobuf from 'protobufjs';
import { SluiceError } from '../core/errors.js';
import { envoyTypeName, findEnvoyType, lookupEnvoyType, typeNameOfUrl, typeUrlOf } from './proto-registry.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/**
 * A message in the shape protobufjs' generated encoder reads: proto field
 * names, enums as numbers, 64-bit integers as numbers or `{low, high}`, bytes
 * as Uint8Array, Any as `{type_url, value}` (with ANY_PAYLOAD attached).
 */
export type EnvoyMessage = Record<string, unknown>;

/** Attached (non-enumerable) to every Any built from JSON, so the rule checker can walk the payload without decoding it. */
export const ANY_PAYLOAD: unique symbol = Symbol('sluice.envoy.anyPayload');

export interface AnyPayload {
  readonly type: protobuf.Type;
  readonly message: EnvoyMessage;
}

export type EnvoyJsonErrorReason =
  | 'unknown_field'
  | 'duplicate_field'
  | 'wrong_type'
  | 'bad_value'
  | 'unknown_type'
  | 'oneof_conflict';

/** The JSON does not fit the proto: `field` is the full path, e.g. `virtual_hosts[0].routes[2].match.prefx`. */
export class EnvoyJsonError extends SluiceError {
  readonly typeName: string;
  readonly field: string;
  readonly reason: EnvoyJsonErrorReason;
  readonly detail: string;

  constructor(typeName: string, field: string, reason: EnvoyJsonErrorReason, detail: string) {
    super('envoy-json', field ? `${field}: ${detail}` : detail, { typeName, field, reason });
    this.typeName = typeName;
    this.field = field;
    this.reason = reason;
    this.detail = detail;
  }
}

/** Thrown deep inside a conversion; each enclosing level prepends its path segment on the way out. */
class JsonProblem extends Error {
  readonly segments: string[] = [];

  constructor(
    readonly reason: EnvoyJsonErrorReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function within<T>(segment: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof JsonProblem) err.segments.unshift(segment);
    throw err;
  }
}

function problemAt(segment: string, problem: JsonProblem): JsonProblem {
  problem.segments.unshift(segment);
  return problem;
}

function joinPath(segments: readonly string[]): string {
  let out = '';
  for (const segment of segments) {
    if (segment.startsWith('[')) out += segment;
    else out += out ? `.${segment}` : segment;
  }
  return out;
}

function toPublicError(typeName: string, err: unknown): unknown {
  if (err instanceof JsonProblem) return new EnvoyJsonError(typeName, joinPath(err.segments), err.reason, err.detail);
  return err;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value;
}

function wrongType(expected: string, value: unknown): JsonProblem {
  return new JsonProblem('wrong_type', `expected ${expected}, got ${describe(value)}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

/** protoc's json_name: drop underscores, upper-case the letter after each. */
export function lowerCamelName(protoName: string): string {
  let out = '';
  let upperNext = false;
  for (const ch of protoName) {
    if (ch === '_') upperNext = true;
    else {
      out += upperNext ? ch.toUpperCase() : ch;
      upperNext = false;
    }
  }
  return out;
}

function snakeName(camel: string): string {
  return camel.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);
}

// ---------------------------------------------------------------------------
// Scalars

type Reader = (json: unknown) => unknown;
type Writer = (value: unknown) => JsonValue;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT_MAX = 3.4028234663852886e38;
const INTEGER_TEXT = /^-?\d+$/;
const BASE64_TEXT = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function integerFrom(json: unknown, kind: string): number {
  if (typeof json === 'number') {
    if (!Number.isInteger(json)) throw new JsonProblem('bad_value', `${kind} must be an integer, got ${json}`);
    return json;
  }
  if (typeof json === 'string' && INTEGER_TEXT.test(json)) return Number(json);
  throw wrongType(kind, json);
}

function int32Reader(min: number, max: number, kind: string): Reader {
  return (json) => {
    const n = integerFrom(json, kind);
    if (n < min || n > max) throw new JsonProblem('bad_value', `${n} is out of range for ${kind}`);
    return n;
  };
}

/** protobufjs' writer takes a number (when exact) or `{low, high}` for 64-bit integers. */
function int64Reader(signed: boolean, kind: string): Reader {
  const min = signed ? INT64_MIN : 0n;
  const max = signed ? INT64_MAX : UINT64_MAX;
  return (json) => {
    let big: bigint;
    if (typeof json === 'number') {
      if (!Number.isInteger(json)) throw new JsonProblem('bad_value', `${kind} must be an integer, got ${json}`);
      if (!Number.isSafeInteger(json)) {
        throw new JsonProblem('bad_value', `${json} is not exact as a JSON number; pass ${kind} as a string`);
      }
      big = BigInt(json);
    } else if (typeof json === 'string' && INTEGER_TEXT.test(json)) {
      big = BigInt(json);
    } else {
      throw wrongType(`${kind} (number or decimal string)`, json);
    }
    if (big < min || big > max) throw new JsonProblem('bad_value', `${big} is out of range for ${kind}`);
    if (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big);
    const bits = BigInt.asUintN(64, big);
    return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0, unsigned: !signed };
  };
}

function floatingReader(single: boolean): Reader {
  const kind = single ? 'float' : 'double';
  return (json) => {
    let n: number;
    if (typeof json === 'number') n = json;
    else if (json === 'NaN') return NaN;
    else if (json === 'Infinity') return Infinity;
    else if (json === '-Infinity') return -Infinity;
    else if (typeof json === 'string' && json.trim() !== '' && Number.isFinite(Number(json))) n = Number(json);
    else throw wrongType(kind, json);
    if (single && Math.abs(n) > FLOAT_MAX) throw new JsonProblem('bad_value', `${n} is out of range for float`);
    return n;
  };
}

const readBool: Reader = (json) => {
  if (typeof json !== 'boolean') throw wrongType('boolean', json);
  return json;
};

const readString: Reader = (json) => {
  if (typeof json !== 'string') throw wrongType('string', json);
  return json;
};

const readBytes: Reader = (json) => {
  if (typeof json !== 'string') throw wrongType('base64 string', json);
  if (!BASE64_TEXT.test(json)) throw new JsonProblem('bad_value', 'not valid base64');
  return new Uint8Array(Buffer.from(json, 'base64'));
};

function scalarReader(protoType: string): Reader | undefined {
  switch (protoType) {
    case 'double': return floatingReader(false);
    case 'float': return floatingReader(true);
    case 'int32': case 'sint32': case 'sfixed32': return int32Reader(INT32_MIN, INT32_MAX, protoType);
    case 'uint32': case 'fixed32': return int32Reader(0, UINT32_MAX, protoType);
    case 'int64': case 'sint64': case 'sfixed64': return int64Reader(true, protoType);
    case 'uint64': case 'fixed64': return int64Reader(false, protoType);
    case 'bool': return readBool;
    case 'string': return readString;
    case 'bytes': return readBytes;
    default: return undefined;
  }
}

/** Whether a value is the proto3 default, i.e. would not be on the wire for an implicit-presence field. */
function isDefaultScalar(value: unknown): boolean {
  if (value === 0 || value === false || value === '') return true;
  if (value instanceof Uint8Array) return value.length === 0;
  if (isLong(value)) return value.low === 0 && value.high === 0;
  return false;
}

/** Shortest decimal that reads back as the same float32, so 0.1f prints as 0.1. */
function shortestFloat(value: number): number {
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

function writeFloating(single: boolean): Writer {
  return (value) => {
    const n = Number(value);
    if (Number.isNaN(n)) return 'NaN';
    if (n === Infinity) return 'Infinity';
    if (n === -Infinity) return '-Infinity';
    return single ? shortestFloat(n) : n;
  };
}

/** 64-bit integers print as decimal strings (proto3 JSON), whatever protobufjs handed us. */
function writeInt64(signed: boolean): Writer {
  return (value) => {
    if (typeof value === 'number' || typeof value === 'string' || typeof value === 'bigint') return String(value);
    if (isLong(value)) {
      const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
      return String(signed ? BigInt.asIntN(64, bits) : bits);
    }
    throw new JsonProblem('wrong_type', `cannot print ${describe(value)} as a 64-bit integer`);
  };
}

const writeIdentity: Writer = (value) => value as JsonValue;
const writeBytes: Writer = (value) => {
  const bytes = value as Uint8Array;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
};

function scalarWriter(protoType: string): Writer {
  switch (protoType) {
    case 'double': return writeFloating(false);
    case 'float': return writeFloating(true);
    case 'int64': case 'sint64': case 'sfixed64': return writeInt64(true);
    case 'uint64': case 'fixed64': return writeInt64(false);
    case 'bytes': return writeBytes;
    default: return writeIdentity;
  }
}

// ---------------------------------------------------------------------------
// Enums

function enumReader(enumType: protobuf.Enum): Reader {
  return (json) => {
    if (typeof json === 'string') {
      const number = enumType.values[json];
      if (number === undefined) {
        throw new JsonProblem('bad_value', `"${json}" is not a value of enum ${enumType.fullName.slice(1)}`);
      }
      return number;
    }
    if (typeof json === 'number' && Number.isInteger(json) && json >= INT32_MIN && json <= INT32_MAX) return json;
    throw wrongType(`enum name of ${enumType.name}`, json);
  };
}

function enumWriter(enumType: protobuf.Enum): Writer {
  return (value) => {
    const name = enumType.valuesById[value as number];
    return name ?? (value as number);
  };
}

// ---------------------------------------------------------------------------
// Message plans

interface FieldPlan {
  readonly field: protobuf.Field;
  readonly name: string;
  readonly jsonName: string;
  readonly repeated: boolean;
  readonly map: boolean;
  /** Explicit presence (messages, oneof members, proto3 `optional`): defaults are kept. */
  readonly presence: boolean;
  /** Whether JSON `null` means something for this field (google.protobuf.Value / NullValue) instead of "unset". */
  readonly nullIsValue: boolean;
  /** The real (non-synthetic) oneof this field belongs to. */
  readonly oneof: protobuf.OneOf | undefined;
  readonly readElement: Reader;
  readonly writeElement: Writer;
  readonly readMapKey: ((key: string) => string) | undefined;
  /** Whether a read value is what proto3 leaves off the wire for this field (always false with presence). */
  readonly isOmittedDefault: (value: unknown) => boolean;
}

interface MessagePlan {
  readonly type: protobuf.Type;
  readonly fields: readonly FieldPlan[];
  /** Null-prototype table from both the proto name and the JSON name to the field. */
  readonly byJsonKey: Readonly<Record<string, FieldPlan | undefined>>;
  /** Set for well-known types with a special JSON form. */
  readonly special: { read: Reader; write: Writer } | undefined;
}

const plans = new Map<protobuf.Type, MessagePlan>();

function planFor(type: protobuf.Type): MessagePlan {
  let plan = plans.get(type);
  if (!plan) {
    // Register before filling fields so recursive types (Struct ↔ Value) terminate.
    const fields: FieldPlan[] = [];
    const byJsonKey: Record<string, FieldPlan | undefined> = Object.create(null);
    plan = { type, fields, byJsonKey, special: undefined };
    plans.set(type, plan);
    const special = wellKnownCodec(type);
    if (special) (plan as { special: MessagePlan['special'] }).special = special;
    for (const field of type.fieldsArray) {
      const fieldPlan = planField(field);
      fields.push(fieldPlan);
      byJsonKey[fieldPlan.name] = fieldPlan;
      byJsonKey[fieldPlan.jsonName] = fieldPlan;
    }
  }
  return plan;
}

function isSyntheticOneof(oneof: protobuf.OneOf): boolean {
  const only = oneof.fieldsArray.length === 1 ? oneof.fieldsArray[0] : undefined;
  return only !== undefined && only.options?.['proto3_optional'] === true;
}

function planField(field: protobuf.Field): FieldPlan {
  field.resolve();
  const resolved = field.resolvedType;
  let readElement: Reader;
  let writeElement: Writer;
  let nullIsValue = false;
  if (resolved instanceof protobuf.Type) {
    // Plans are fetched on first use, not here: the field's type may be the one being planned.
    let nested: MessagePlan | undefined;
    readElement = (json) => readMessage((nested ??= planFor(resolved)), json);
    writeElement = (value) => writeMessage((nested ??= planFor(resolved)), value as EnvoyMessage);
    nullIsValue = resolved.fullName === '.google.protobuf.Value';
  } else if (resolved instanceof protobuf.Enum) {
    const readEnum = enumReader(resolved);
    const writeEnum = enumWriter(resolved);
    if (resolved.fullName === '.google.protobuf.NullValue') {
      nullIsValue = true;
      readElement = (json) => (json === null ? 0 : readEnum(json));
      writeElement = () => null;
    } else {
      readElement = readEnum;
      writeElement = writeEnum;
    }
  } else {
    const reader = scalarReader(field.type);
    if (!reader) throw new Error(`protobufjs field ${field.fullName} has unsupported type ${field.type}`);
    readElement = reader;
    writeElement = scalarWriter(field.type);
  }

  const oneof = field.partOf && !isSyntheticOneof(field.partOf) ? field.partOf : undefined;
  const map = field.map;
  const repeated = field.repeated && !map;
  const presence = !repeated && !map && (resolved instanceof protobuf.Type || field.partOf != null || field.hasPresence);
  const explicitJsonName = field.options?.['json_name'];

  let readMapKey: FieldPlan['readMapKey'];
  if (map) {
    const keyType = (field as unknown as protobuf.MapField).keyType;
    if (keyType === 'string') readMapKey = (key) => key;
    else if (/^(u?int32|s?fixed32|sint32)$/.test(keyType)) {
      const readKey = scalarReader(keyType)!;
      readMapKey = (key) => String(readKey(key));
    } else {
      readMapKey = () => {
        throw new JsonProblem('wrong_type', `map keys of type ${keyType} are not supported`);
      };
    }
  }

  return {
    field,
    name: field.name,
    jsonName: typeof explicitJsonName === 'string' ? explicitJsonName : lowerCamelName(field.name),
    repeated,
    map,
    presence,
    nullIsValue,
    oneof,
    readElement,
    writeElement,
    readMapKey,
    isOmittedDefault: presence ? () => false : omittedDefaultTest(field.type, resolved),
  };
}

function omittedDefaultTest(protoType: string, resolved: protobuf.ReflectionObject | null): (value: unknown) => boolean {
  if (resolved instanceof protobuf.Enum) return (v) => v === 0;
  switch (protoType) {
    case 'string': return (v) => v === '';
    case 'bool': return (v) => v === false;
    case 'bytes': return (v) => (v as Uint8Array).length === 0;
    case 'int64': case 'uint64': case 'sint64': case 'fixed64': case 'sfixed64': return isDefaultScalar;
    default: return (v) => v === 0;
  }
}

// ---------------------------------------------------------------------------
// JSON → message

/**
 * `anyBody`: the object is an Any's JSON, whose "@type" member is not a field
 * of the payload type.
 */
function readMessage(plan: MessagePlan, json: unknown, anyBody = false): EnvoyMessage {
  if (plan.special) return plan.special.read(json) as EnvoyMessage;
  if (!isPlainObject(json)) throw wrongType(`object (${envoyTypeName(plan.type)})`, json);
  const out: EnvoyMessage = {};
  const byJsonKey = plan.byJsonKey;
  let oneofsSet: FieldPlan[] | undefined;
  for (const key in json) {
    const value = json[key];
    // undefined too: objects built in TypeScript often carry optional members set to undefined.
    if (value === undefined) continue;
    const fieldPlan = byJsonKey[key];
    if (fieldPlan === undefined) {
      if (anyBody && key === '@type') continue;
      throw problemAt(key, new JsonProblem('unknown_field', 'unknown field'));
    }
    if (value === null && !fieldPlan.nullIsValue) continue;
    const name = fieldPlan.name;
    if (name !== fieldPlan.jsonName && json[key === name ? fieldPlan.jsonName : name] != null) {
      throw problemAt(name, new JsonProblem('duplicate_field', `set twice (as "${name}" and "${fieldPlan.jsonName}")`));
    }
    if (fieldPlan.oneof !== undefined) {
      const other = oneofsSet?.find((p) => p.oneof === fieldPlan.oneof);
      if (other !== undefined) {
        throw problemAt(name, new JsonProblem('oneof_conflict', `oneof ${fieldPlan.oneof.name} is already set by "${other.name}"`));
      }
      (oneofsSet ??= []).push(fieldPlan);
    }
    try {
      const converted = readField(fieldPlan, value);
      if (converted !== undefined) out[name] = converted;
    } catch (err) {
      if (err instanceof JsonProblem) err.segments.unshift(name);
      throw err;
    }
  }
  return out;
}

/** A field's value as the encoder wants it, or undefined when proto3 would not put it on the wire. */
function readField(plan: FieldPlan, json: unknown): unknown {
  if (plan.repeated) {
    if (!Array.isArray(json)) throw wrongType('array', json);
    const length = json.length;
    if (length === 0) return undefined;
    const items = new Array<unknown>(length);
    let i = 0;
    try {
      for (; i < length; i++) {
        const item: unknown = json[i];
        if (item == null && !plan.nullIsValue) throw wrongType('a value', item);
        items[i] = plan.readElement(item);
      }
    } catch (err) {
      if (err instanceof JsonProblem) err.segments.unshift(`[${i}]`);
      throw err;
    }
    return items;
  }
  if (plan.map) {
    if (!isPlainObject(json)) throw wrongType('object (map)', json);
    const entries: Record<string, unknown> = {};
    let count = 0;
    let key = '';
    try {
      for (key in json) {
        const value = json[key];
        if (value == null && !plan.nullIsValue) throw wrongType('a value', value);
        entries[plan.readMapKey!(key)] = plan.readElement(value);
        count++;
      }
    } catch (err) {
      if (err instanceof JsonProblem) err.segments.unshift(`[${JSON.stringify(key)}]`);
      throw err;
    }
    return count > 0 ? entries : undefined;
  }
  const value = plan.readElement(json);
  return plan.isOmittedDefault(value) ? undefined : value;
}

// ---------------------------------------------------------------------------
// message → JSON

function writeMessage(plan: MessagePlan, message: EnvoyMessage): JsonValue {
  if (plan.special) return plan.special.write(message);
  const out: JsonObject = {};
  for (const fieldPlan of plan.fields) {
    const name = fieldPlan.name;
    if (!hasOwn(message, name)) continue;
    const value = message[name];
    if (value === null || value === undefined) continue;
    const written = within(name, () => writeField(fieldPlan, value));
    if (written !== undefined) out[name] = written;
  }
  return out;
}

function writeField(plan: FieldPlan, value: unknown): JsonValue | undefined {
  if (plan.map) {
    const entries = value as Record<string, unknown>;
    const keys = Object.keys(entries);
    if (keys.length === 0) return undefined;
    const out: JsonObject = {};
    for (const key of keys) out[key] = within(`[${JSON.stringify(key)}]`, () => plan.writeElement(entries[key]));
    return out;
  }
  if (plan.repeated) {
    const items = value as unknown[];
    if (items.length === 0) return undefined;
    return items.map((item, i) => within(`[${i}]`, () => plan.writeElement(item)));
  }
  if (!plan.presence && isDefaultScalar(value)) return undefined;
  return plan.writeElement(value);
}

/** protobufjs Long, or the `{low, high}` we hand its writer. */
function isLong(value: unknown): value is { low: number; high: number } {
  return isPlainObject(value) && typeof value.low === 'number' && typeof value.high === 'number';
}

// ---------------------------------------------------------------------------
// Well-known types with their own JSON form

const MAX_DURATION_SECONDS = 315_576_000_000;
const DURATION_TEXT = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const TIMESTAMP_TEXT = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;
const MIN_TIMESTAMP_SECONDS = -62_135_596_800; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_SECONDS = 253_402_300_799; // 9999-12-31T23:59:59Z

function nanosFromFraction(fraction: string | undefined): number {
  return fraction ? Number(fraction.padEnd(9, '0')) : 0;
}

/** 0, 3, 6 or 9 fractional digits, as the reference printers do. */
function fractionText(nanos: number): string {
  if (nanos === 0) return '';
  const nine = String(nanos).padStart(9, '0');
  if (nine.endsWith('000000')) return `.${nine.slice(0, 3)}`;
  if (nine.endsWith('000')) return `.${nine.slice(0, 6)}`;
  return `.${nine}`;
}

function numberOf(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  if (isLong(value)) return Number(writeInt64(true)(value));
  return Number(value);
}

/** Keep only non-zero members, so the encoder omits zeros like it would for any proto3 scalar. */
function secondsAndNanos(seconds: number, nanos: number): EnvoyMessage {
  const out: EnvoyMessage = {};
  if (seconds !== 0) out['seconds'] = seconds;
  if (nanos !== 0) out['nanos'] = nanos;
  return out;
}

const durationCodec = {
  read(json: unknown): EnvoyMessage {
    if (typeof json !== 'string') throw wrongType('duration string like "1.5s"', json);
    const match = DURATION_TEXT.exec(json);
    if (!match) throw new JsonProblem('bad_value', `"${json}" is not a duration (want e.g. "3s", "0.250s")`);
    const sign = match[1] ? -1 : 1;
    const seconds = Number(match[2]);
    if (seconds > MAX_DURATION_SECONDS) throw new JsonProblem('bad_value', `duration "${json}" is out of range`);
    return secondsAndNanos(sign * seconds, sign * nanosFromFraction(match[3]));
  },
  write(value: unknown): JsonValue {
    const message = value as EnvoyMessage;
    const seconds = numberOf(message['seconds']);
    const nanos = numberOf(message['nanos']);
    const negative = seconds < 0 || nanos < 0;
    return `${negative ? '-' : ''}${Math.abs(seconds)}${fractionText(Math.abs(nanos))}s`;
  },
};

const timestampCodec = {
  read(json: unknown): EnvoyMessage {
    if (typeof json !== 'string') throw wrongType('RFC 3339 timestamp string', json);
    const match = TIMESTAMP_TEXT.exec(json);
    if (!match) throw new JsonProblem('bad_value', `"${json}" is not an RFC 3339 timestamp`);
    const [, year, month, day, hour, minute, second, fraction, zone] = match;
    const utc = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
    // Date.UTC maps years 0–99 to 1900–1999; fix the year explicitly.
    const date = new Date(utc);
    date.setUTCFullYear(Number(year));
    if (date.getUTCMonth() + 1 !== Number(month) || date.getUTCDate() !== Number(day) || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) {
      throw new JsonProblem('bad_value', `"${json}" is not a valid date and time`);
    }
    let seconds = Math.floor(date.getTime() / 1000);
    if (zone && zone !== 'Z' && zone !== 'z') {
      const offsetMinutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6));
      seconds -= (zone.startsWith('-') ? -1 : 1) * offsetMinutes * 60;
    }
    if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) {
      throw new JsonProblem('bad_value', `timestamp "${json}" is out of range`);
    }
    return secondsAndNanos(seconds, nanosFromFraction(fraction));
  },
  write(value: unknown): JsonValue {
    const message = value as EnvoyMessage;
    const seconds = numberOf(message['seconds']);
    const nanos = numberOf(message['nanos']);
    const iso = new Date(seconds * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
    return `${iso.slice(0, 19)}${fractionText(nanos)}Z`;
  },
};

/** Wrappers (UInt32Value, …) are their bare `value` in JSON. */
function wrapperCodec(type: protobuf.Type): { read: Reader; write: Writer } {
  const valueField = type.fields['value']!;
  const read = scalarReader(valueField.type)!;
  const write = scalarWriter(valueField.type);
  return {
    read(json) {
      if (json === null) throw wrongType(valueField.type, json);
      const value = read(json);
      return isDefaultScalar(value) ? {} : { value };
    },
    write(value) {
      const message = value as EnvoyMessage;
      const inner = hasOwn(message, 'value') ? message['value'] : undefined;
      if (inner === undefined || inner === null) return write(defaultOfScalar(valueField.type));
      return write(inner);
    },
  };
}

function defaultOfScalar(protoType: string): unknown {
  switch (protoType) {
    case 'bool': return false;
    case 'string': return '';
    case 'bytes': return new Uint8Array(0);
    default: return 0;
  }
}

/**
 * google.protobuf.Value's member names, looked up by field number: protobufjs'
 * bundled struct.proto spells them in lowerCamel (nullValue, …), unlike every
 * other type in the Root, and no snake_case copy ships in the deps.
 */
interface ValueMembers {
  readonly nullValue: string;
  readonly numberValue: string;
  readonly stringValue: string;
  readonly boolValue: string;
  readonly structValue: string;
  readonly listValue: string;
}

let valueMembersCache: ValueMembers | undefined;

function valueMembers(): ValueMembers {
  if (valueMembersCache) return valueMembersCache;
  const byId = lookupEnvoyType('google.protobuf.Value').fieldsById;
  const nameOf = (id: number): string => {
    const field = byId[id];
    if (!field) throw new Error(`google.protobuf.Value has no field ${id}`);
    return field.name;
  };
  valueMembersCache = {
    nullValue: nameOf(1),
    numberValue: nameOf(2),
    stringValue: nameOf(3),
    boolValue: nameOf(4),
    structValue: nameOf(5),
    listValue: nameOf(6),
  };
  return valueMembersCache;
}

function readJsonValue(json: unknown): EnvoyMessage {
  const members = valueMembers();
  if (json === null) return { [members.nullValue]: 0 };
  if (typeof json === 'number') {
    if (!Number.isFinite(json)) throw new JsonProblem('bad_value', 'google.protobuf.Value cannot hold NaN or Infinity');
    return { [members.numberValue]: json };
  }
  if (typeof json === 'string') return { [members.stringValue]: json };
  if (typeof json === 'boolean') return { [members.boolValue]: json };
  if (Array.isArray(json)) return { [members.listValue]: readListValue(json) };
  if (isPlainObject(json)) return { [members.structValue]: readStruct(json) };
  throw wrongType('JSON value', json);
}

function readStruct(json: unknown): EnvoyMessage {
  if (!isPlainObject(json)) throw wrongType('object (google.protobuf.Struct)', json);
  const fields: Record<string, EnvoyMessage> = {};
  let count = 0;
  for (const key in json) {
    const value = json[key];
    if (value === undefined) continue;
    fields[key] = within(`[${JSON.stringify(key)}]`, () => readJsonValue(value));
    count++;
  }
  return count > 0 ? { fields } : {};
}

function readListValue(json: unknown): EnvoyMessage {
  if (!Array.isArray(json)) throw wrongType('array (google.protobuf.ListValue)', json);
  if (json.length === 0) return {};
  return { values: json.map((item: unknown, i) => within(`[${i}]`, () => readJsonValue(item))) };
}

function writeJsonValue(value: unknown): JsonValue {
  const message = value as EnvoyMessage;
  const members = valueMembers();
  const set = (name: string): boolean => hasOwn(message, name) && message[name] != null;
  if (set(members.nullValue)) return null;
  if (set(members.numberValue)) return message[members.numberValue] as number;
  if (set(members.stringValue)) return message[members.stringValue] as string;
  if (set(members.boolValue)) return message[members.boolValue] as boolean;
  if (set(members.structValue)) return writeStruct(message[members.structValue]);
  if (set(members.listValue)) return writeListValue(message[members.listValue]);
  return null; // a Value with no kind set; proto3 JSON has no better rendering
}

function writeStruct(value: unknown): JsonValue {
  const fields = ((value as EnvoyMessage)['fields'] ?? {}) as Record<string, unknown>;
  const out: JsonObject = {};
  for (const key of Object.keys(fields)) out[key] = writeJsonValue(fields[key]);
  return out;
}

function writeListValue(value: unknown): JsonValue {
  const values = ((value as EnvoyMessage)['values'] ?? []) as unknown[];
  return values.map(writeJsonValue);
}

const fieldMaskCodec = {
  read(json: unknown): EnvoyMessage {
    if (typeof json !== 'string') throw wrongType('comma-separated field paths', json);
    if (json === '') return {};
    return { paths: json.split(',').map((p) => p.split('.').map(snakeName).join('.')) };
  },
  write(value: unknown): JsonValue {
    const paths = ((value as EnvoyMessage)['paths'] ?? []) as string[];
    return paths.map((p) => p.split('.').map(lowerCamelName).join('.')).join(',');
  },
};

const emptyCodec = {
  read(json: unknown): EnvoyMessage {
    if (!isPlainObject(json)) throw wrongType('object (google.protobuf.Empty)', json);
    for (const key in json) throw problemAt(key, new JsonProblem('unknown_field', 'unknown field'));
    return {};
  },
  write(): JsonValue {
    return {};
  },
};

const anyCodec = {
  read(json: unknown): EnvoyMessage {
    if (!isPlainObject(json)) throw wrongType('object with "@type" (google.protobuf.Any)', json);
    const typeUrl = json['@type'];
    if (typeUrl === undefined) throw new JsonProblem('unknown_type', 'missing "@type"');
    if (typeof typeUrl !== 'string') throw problemAt('@type', wrongType('type URL string', typeUrl));
    const payloadType = within('@type', () => anyPayloadType(typeUrl));
    const payloadPlan = planFor(payloadType);
    let message: EnvoyMessage;
    if (payloadPlan.special) {
      for (const key in json) {
        if (key !== '@type' && key !== 'value') throw problemAt(key, new JsonProblem('unknown_field', 'unknown field'));
      }
      // The Any's own path already names the payload; don't add a ".value" segment for errors.
      message = payloadPlan.special.read(json['value']) as EnvoyMessage;
    } else {
      message = readMessage(payloadPlan, json, true);
    }
    const payload: AnyPayload = { type: payloadType, message };
    // A symbol key: invisible to the encoder, JSON.stringify and Object.keys.
    return { type_url: typeUrl, value: payloadType.encode(message).finish(), [ANY_PAYLOAD]: payload };
  },
  write(value: unknown): JsonValue {
    const any = value as EnvoyMessage;
    const typeUrl = typeof any['type_url'] === 'string' ? any['type_url'] : '';
    const payloadType = within('@type', () => anyPayloadType(typeUrl));
    const bytes = any['value'] instanceof Uint8Array ? any['value'] : new Uint8Array(0);
    const payloadPlan = planFor(payloadType);
    const payload = writeMessage(payloadPlan, payloadType.decode(bytes) as unknown as EnvoyMessage);
    if (payloadPlan.special) return { '@type': typeUrl, value: payload };
    return { '@type': typeUrl, ...(payload as JsonObject) };
  },
};

function anyPayloadType(typeUrl: string): protobuf.Type {
  if (typeUrl === '') throw new JsonProblem('unknown_type', 'empty "@type"');
  const type = findEnvoyType(typeNameOfUrl(typeUrl));
  if (!type) throw new JsonProblem('unknown_type', `unknown type "${typeUrl}" (not in the loaded Envoy protos)`);
  return type;
}

function wellKnownCodec(type: protobuf.Type): { read: Reader; write: Writer } | undefined {
  switch (type.fullName) {
    case '.google.protobuf.Any': return anyCodec;
    case '.google.protobuf.Duration': return durationCodec;
    case '.google.protobuf.Timestamp': return timestampCodec;
    case '.google.protobuf.Struct': return { read: readStruct, write: writeStruct };
    case '.google.protobuf.Value': return { read: readJsonValue, write: writeJsonValue };
    case '.google.protobuf.ListValue': return { read: readListValue, write: writeListValue };
    case '.google.protobuf.FieldMask': return fieldMaskCodec;
    case '.google.protobuf.Empty': return emptyCodec;
    case '.google.protobuf.DoubleValue':
    case '.google.protobuf.FloatValue':
    case '.google.protobuf.Int64Value':
    case '.google.protobuf.UInt64Value':
    case '.google.protobuf.Int32Value':
    case '.google.protobuf.UInt32Value':
    case '.google.protobuf.BoolValue':
    case '.google.protobuf.StringValue':
    case '.google.protobuf.BytesValue':
      return wrapperCodec(type);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Public API

/**
 * Proto3 JSON (snake_case or lowerCamel names) → the object protobufjs encodes.
 * Throws EnvoyJsonError naming the full field path on unknown fields or wrong values.
 */
export function messageFromEnvoyJson(typeName: string, json: unknown): EnvoyMessage {
  const type = lookupEnvoyType(typeName);
  try {
    return readMessage(planFor(type), json);
  } catch (err) {
    throw toPublicError(typeName, err);
  }
}

/** A message (decoded by protobufjs, or built by messageFromEnvoyJson) → proto3 JSON with Any expanded. */
export function messageToEnvoyJson(typeName: string, message: EnvoyMessage): JsonValue {
  const type = lookupEnvoyType(typeName);
  try {
    return writeMessage(planFor(type), message);
  } catch (err) {
    throw toPublicError(typeName, err);
  }
}

/** Encode proto3 JSON as `typeName` (e.g. `envoy.config.cluster.v3.Cluster`) to wire bytes. */
export function encodeEnvoy(typeName: string, json: unknown): Uint8Array {
  const type = lookupEnvoyType(typeName);
  let message: EnvoyMessage;
  try {
    message = readMessage(planFor(type), json);
  } catch (err) {
    throw toPublicError(typeName, err);
  }
  return type.encode(message).finish();
}

/** Decode wire bytes of `typeName` back to snake_case proto3 JSON, Any payloads expanded recursively. */
export function decodeEnvoy(typeName: string, bytes: Uint8Array): JsonValue {
  const type = lookupEnvoyType(typeName);
  const message = type.decode(bytes) as unknown as EnvoyMessage;
  try {
    return writeMessage(planFor(type), message);
  } catch (err) {
    throw toPublicError(typeName, err);
  }
}

/** Proto3 JSON → a packed `google.protobuf.Any` (`{type_url, value}`), e.g. for DiscoveryResponse.resources. */
export function packEnvoyAny(typeName: string, json: unknown): { type_url: string; value: Uint8Array } {
  return { type_url: typeUrlOf(typeName), value: encodeEnvoy(typeName, json) };
}
