/**
 * A checker for the protoc-gen-validate (PGV) annotations in Envoy's protos,
 * so a resource the translator emits is rejected here, with its name and the
 * offending field, rather than NACKed by Envoy.
 *
 * Rules are read from protobufjs' `parsedOptions` (the `(validate.rules)`
 * aggregate as an object, repeated keys like `in` as arrays), `(validate.required)`
 * on oneofs, and message-level `(validate.disabled)` / `(validate.ignored)`;
 * they are compiled once per message type into closures.
 *
 * Semantics follow PGV on proto3: an unset scalar is its default (so
 * `min_len: 1` fails on an unset string), an unset message fails only
 * `required`, members of a oneof and proto3 `optional` fields are checked
 * only when set, and wrapper/Duration/Timestamp/Any rules apply only when the
 * message is present.
 *
 * Not evaluated (none of them occurs in the loaded Envoy protos):
 *  - map.no_sparse (cannot be violated by proto3 JSON input),
 *  - string.well_known_regex UNKNOWN (no constraint by definition),
 *  - string email / uri / uri_ref are approximations of PGV's Go parsers
 *    (shape checks only), see the comments at their checks.
 */
import net from 'node:net';
import protobuf from 'protobufjs';
import { RE2JS } from 're2js';
import { SluiceError } from '../core/errors.js';
import {
  ANY_PAYLOAD,
  EnvoyJsonError,
  messageFromEnvoyJson,
  type AnyPayload,
  type EnvoyMessage,
} from './proto-json.js';
import { envoyProtoRoot, findEnvoyType, lookupEnvoyType, typeNameOfUrl } from './proto-registry.js';

export interface RuleViolation {
  /** Full path from the resource root, e.g. `filter_chains[0].filters[0].typed_config.stat_prefix`. */
  readonly field: string;
  /** The PGV rule, e.g. `string.min_len`, `repeated.items.string.well_known_regex`, `oneof.required`. */
  readonly rule: string;
  readonly message: string;
}

/** A resource Sluice generated does not satisfy Envoy's schema: a translation bug. */
export class EnvoyResourceError extends SluiceError {
  readonly typeName: string;
  readonly resourceName: string;
  readonly violations: readonly RuleViolation[];

  constructor(typeName: string, resourceName: string, violations: readonly RuleViolation[], options?: { cause?: unknown }) {
    const first = violations[0];
    const shortType = typeName.slice(typeName.lastIndexOf('.') + 1);
    const summary = first
      ? `${shortType} "${resourceName}": ${first.field ? `${first.field}: ` : ''}${first.rule}: ${first.message}`
      : `${shortType} "${resourceName}" is invalid`;
    super(
      'envoy-resource-invalid',
      violations.length > 1 ? `${summary} (and ${violations.length - 1} more)` : summary,
      { typeName, resourceName, violations },
      options,
    );
    this.typeName = typeName;
    this.resourceName = resourceName;
    this.violations = Object.freeze([...violations]);
  }
}

// ---------------------------------------------------------------------------
// Reading the annotations

/** The subset of validate.FieldRules we read; values as protobufjs parses the option aggregate. */
type RuleSet = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** `in`/`not_in` written once parse as a scalar, several times as an array. */
function listOf(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function mergeRules(into: RuleSet, from: RuleSet): RuleSet {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    if (isObject(existing) && isObject(value)) into[key] = mergeRules({ ...existing }, value);
    else if ((key === 'in' || key === 'not_in') && existing !== undefined) into[key] = [...listOf(existing), ...listOf(value)];
    else into[key] = value;
  }
  return into;
}

/** A field's `(validate.rules)`, merged when split over several option entries. */
export function fieldRulesOf(field: protobuf.Field): RuleSet | undefined {
  let rules: RuleSet | undefined;
  // protobufjs 7 types parsedOptions as a map, but it is an array of single-option objects.
  const parsed = (field.parsedOptions ?? []) as unknown as Record<string, unknown>[];
  for (const option of parsed) {
    const value = option['(validate.rules)'];
    if (isObject(value)) rules = mergeRules(rules ?? {}, value);
  }
  return rules;
}

function oneofRequired(oneof: protobuf.OneOf): boolean {
  return oneof.options?.['(validate.required)'] === true;
}

function messageValidationOff(type: protobuf.Type): boolean {
  return type.options?.['(validate.disabled)'] === true || type.options?.['(validate.ignored)'] === true;
}

export interface ValidateRulesCoverage {
  /** Message types in the loaded Root. */
  readonly messageTypes: number;
  /** Fields carrying a `(validate.rules)` annotation. */
  readonly fieldsWithRules: number;
  /** Oneofs with `(validate.required) = true`. */
  readonly requiredOneofs: number;
  /** How many annotated fields use each rule family (`string`, `message`, `repeated`, …). */
  readonly byFamily: Readonly<Record<string, number>>;
}

/** Counts of the annotations the checker reads from the loaded Root. */
export function validateRulesCoverage(root: protobuf.Root = envoyProtoRoot()): ValidateRulesCoverage {
  let messageTypes = 0;
  let fieldsWithRules = 0;
  let requiredOneofs = 0;
  const byFamily: Record<string, number> = {};
  const visit = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Type) {
        messageTypes++;
        for (const field of nested.fieldsArray) {
          const rules = fieldRulesOf(field);
          if (!rules) continue;
          fieldsWithRules++;
          for (const family of Object.keys(rules)) byFamily[family] = (byFamily[family] ?? 0) + 1;
        }
        for (const oneof of nested.oneofsArray) if (oneofRequired(oneof)) requiredOneofs++;
      }
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) visit(nested);
    }
  };
  visit(root);
  return { messageTypes, fieldsWithRules, requiredOneofs, byFamily };
}

// ---------------------------------------------------------------------------
// Values

type Violations = RuleViolation[];
/** Checks one (present or default-filled) value found at `path`. */
type ValueCheck = (value: unknown, path: string, out: Violations) => void;

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

function isSet(message: EnvoyMessage, name: string): boolean {
  return hasOwn(message, name) && message[name] !== undefined && message[name] !== null;
}

/** protobufjs Long, `{low, high}`, number or decimal string → bigint. */
function toBigInt(value: unknown, unsigned: boolean): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string') return BigInt(value);
  if (isObject(value) && typeof value.low === 'number' && typeof value.high === 'number') {
    const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
    return unsigned ? bits : BigInt.asIntN(64, bits);
  }
  return 0n;
}

function durationNanos(value: unknown): bigint {
  if (!isObject(value)) return 0n;
  return toBigInt(value['seconds'] ?? 0, false) * 1_000_000_000n + BigInt(Number(value['nanos'] ?? 0));
}

function formatDuration(nanos: bigint): string {
  const negative = nanos < 0n;
  const abs = negative ? -nanos : nanos;
  const seconds = abs / 1_000_000_000n;
  const fraction = abs % 1_000_000_000n;
  const text = fraction === 0n ? `${seconds}` : `${seconds}.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${negative ? '-' : ''}${text}s`;
}

function formatTimestamp(nanos: bigint): string {
  return new Date(Number(nanos / 1_000_000n)).toISOString();
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

// ---------------------------------------------------------------------------
// Ordered values: numbers, 64-bit integers, durations, timestamps

interface Ordered<T> {
  readonly family: string;
  readonly read: (raw: unknown) => T;
  readonly constant: (raw: unknown) => T;
  readonly compare: (a: T, b: T) => number;
  readonly show: (value: T) => string;
}

const numberOrder = (family: string): Ordered<number> => ({
  family,
  read: (raw) => (raw === undefined || raw === null ? 0 : Number(raw)),
  constant: (raw) => Number(raw),
  compare: (a, b) => (a < b ? -1 : a > b ? 1 : a === b ? 0 : NaN),
  show: (v) => String(v),
});

const bigintOrder = (family: string, unsigned: boolean): Ordered<bigint> => ({
  family,
  read: (raw) => (raw === undefined || raw === null ? 0n : toBigInt(raw, unsigned)),
  constant: (raw) => (typeof raw === 'number' ? BigInt(Math.trunc(raw)) : BigInt(String(raw))),
  compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  show: (v) => v.toString(),
});

const durationOrder: Ordered<bigint> = {
  family: 'duration',
  read: durationNanos,
  constant: durationNanos,
  compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  show: formatDuration,
};

const timestampOrder: Ordered<bigint> = { ...durationOrder, family: 'timestamp', show: formatTimestamp };

/**
 * const / lt / lte / gt / gte / in / not_in. With both bounds, PGV reads
 * lower < upper as "inside the range" and lower >= upper as "outside it".
 */
function orderedCheck<T>(order: Ordered<T>, rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}${order.family}`;
  const checks: ((value: T, path: string, out: Violations) => void)[] = [];
  const has = (key: string): boolean => rules[key] !== undefined;

  if (has('const')) {
    const expected = order.constant(rules['const']);
    checks.push((v, path, out) => {
      if (order.compare(v, expected) !== 0) out.push({ field: path, rule: `${p}.const`, message: `must equal ${order.show(expected)}, got ${order.show(v)}` });
    });
  }

  const upperKey = has('lt') ? 'lt' : has('lte') ? 'lte' : undefined;
  const lowerKey = has('gt') ? 'gt' : has('gte') ? 'gte' : undefined;
  const upper = upperKey ? order.constant(rules[upperKey]) : undefined;
  const lower = lowerKey ? order.constant(rules[lowerKey]) : undefined;
  const belowUpper = (v: T): boolean => (upperKey === 'lt' ? order.compare(v, upper!) < 0 : order.compare(v, upper!) <= 0);
  const aboveLower = (v: T): boolean => (lowerKey === 'gt' ? order.compare(v, lower!) > 0 : order.compare(v, lower!) >= 0);
  const upperText = upperKey === undefined ? '' : upperKey === 'lt' ? `less than ${order.show(upper!)}` : `at most ${order.show(upper!)}`;
  const lowerText = lowerKey === undefined ? '' : lowerKey === 'gt' ? `greater than ${order.show(lower!)}` : `at least ${order.show(lower!)}`;

  if (upperKey && lowerKey && order.compare(lower!, upper!) >= 0) {
    checks.push((v, path, out) => {
      if (!belowUpper(v) && !aboveLower(v)) {
        out.push({ field: path, rule: `${p}.${upperKey}`, message: `must be ${upperText} or ${lowerText}, got ${order.show(v)}` });
      }
    });
  } else {
    if (upperKey) {
      checks.push((v, path, out) => {
        if (!belowUpper(v)) out.push({ field: path, rule: `${p}.${upperKey}`, message: `must be ${upperText}, got ${order.show(v)}` });
      });
    }
    if (lowerKey) {
      checks.push((v, path, out) => {
        if (!aboveLower(v)) out.push({ field: path, rule: `${p}.${lowerKey}`, message: `must be ${lowerText}, got ${order.show(v)}` });
      });
    }
  }

  if (has('in')) {
    const allowed = listOf(rules['in']).map(order.constant);
    checks.push((v, path, out) => {
      if (!allowed.some((a) => order.compare(v, a) === 0)) {
        out.push({ field: path, rule: `${p}.in`, message: `must be one of [${allowed.map(order.show).join(', ')}], got ${order.show(v)}` });
      }
    });
  }
  if (has('not_in')) {
    const denied = listOf(rules['not_in']).map(order.constant);
    checks.push((v, path, out) => {
      if (denied.some((d) => order.compare(v, d) === 0)) out.push({ field: path, rule: `${p}.not_in`, message: `must not be ${order.show(v)}` });
    });
  }

  if (checks.length === 0) return undefined;
  const ignoreEmpty = rules['ignore_empty'] === true;
  const zero = order.read(undefined);
  return (raw, path, out) => {
    const value = order.read(raw);
    if (ignoreEmpty && order.compare(value, zero) === 0) return;
    for (const check of checks) check(value, path, out);
  };
}

const NUMERIC_FAMILIES: Record<string, () => Ordered<number> | Ordered<bigint>> = {
  double: () => numberOrder('double'),
  float: () => numberOrder('float'),
  int32: () => numberOrder('int32'),
  uint32: () => numberOrder('uint32'),
  sint32: () => numberOrder('sint32'),
  fixed32: () => numberOrder('fixed32'),
  sfixed32: () => numberOrder('sfixed32'),
  int64: () => bigintOrder('int64', false),
  sint64: () => bigintOrder('sint64', false),
  sfixed64: () => bigintOrder('sfixed64', false),
  uint64: () => bigintOrder('uint64', true),
  fixed64: () => bigintOrder('fixed64', true),
};

function numericCheck(family: string, rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const order = NUMERIC_FAMILIES[family]?.();
  if (!order) return undefined;
  return orderedCheck(order as Ordered<unknown>, rules, rulePrefix);
}

// ---------------------------------------------------------------------------
// Strings and bytes

// PGV's own expressions (including the `+-.` range in the header-name class).
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function isHostname(host: string): boolean {
  if (host.length > 253) return false;
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  return labels.every(
    (label) => label.length > 0 && label.length <= 63 && !label.startsWith('-') && !label.endsWith('-') && /^[a-z0-9-]+$/.test(label),
  );
}

// Approximation of Go's net/mail.ParseAddress for a bare address.
function isEmail(text: string): boolean {
  const at = text.lastIndexOf('@');
  if (text.length > 254 || at <= 0 || at > 64) return false;
  return !/[\s<>()\[\]\\,;:"]/.test(text.slice(0, at)) && isHostname(text.slice(at + 1));
}

// Approximation of Go's url.Parse + IsAbs: a scheme and no whitespace.
function isAbsoluteUri(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/.test(text);
}

function isUriReference(text: string): boolean {
  return !/[\s\u0000-\u001F\u007F]/.test(text);
}

const compiledPatterns = new Map<string, RE2JS>();

function re2(pattern: string): RE2JS {
  let compiled = compiledPatterns.get(pattern);
  if (!compiled) {
    compiled = RE2JS.compile(pattern);
    compiledPatterns.set(pattern, compiled);
  }
  return compiled;
}

type TextCheck = (text: string, path: string, out: Violations) => void;

function stringCheck(rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}string`;
  const checks: TextCheck[] = [];
  const push = (rule: string, failed: (s: string) => boolean, message: (s: string) => string): void => {
    checks.push((s, path, out) => {
      if (failed(s)) out.push({ field: path, rule: `${p}.${rule}`, message: message(s) });
    });
  };
  const num = (key: string): number | undefined => (rules[key] === undefined ? undefined : Number(rules[key]));
  const str = (key: string): string | undefined => (typeof rules[key] === 'string' ? (rules[key] as string) : undefined);

  const constant = str('const');
  if (constant !== undefined) push('const', (s) => s !== constant, () => `must equal ${JSON.stringify(constant)}`);
  const len = num('len');
  if (len !== undefined) push('len', (s) => codePointLength(s) !== len, (s) => `must be ${len} characters long, got ${codePointLength(s)}`);
  const minLen = num('min_len');
  if (minLen !== undefined) {
    push('min_len', (s) => codePointLength(s) < minLen, (s) =>
      s === '' ? `must not be empty (at least ${minLen} character${minLen === 1 ? '' : 's'})` : `must be at least ${minLen} characters, got ${codePointLength(s)}`,
    );
  }
  const maxLen = num('max_len');
  if (maxLen !== undefined) push('max_len', (s) => codePointLength(s) > maxLen, (s) => `must be at most ${maxLen} characters, got ${codePointLength(s)}`);
  const lenBytes = num('len_bytes');
  if (lenBytes !== undefined) push('len_bytes', (s) => utf8Length(s) !== lenBytes, (s) => `must be ${lenBytes} bytes, got ${utf8Length(s)}`);
  const minBytes = num('min_bytes');
  if (minBytes !== undefined) {
    push('min_bytes', (s) => utf8Length(s) < minBytes, (s) =>
      s === '' ? `must not be empty (at least ${minBytes} byte${minBytes === 1 ? '' : 's'})` : `must be at least ${minBytes} bytes, got ${utf8Length(s)}`,
    );
  }
  const maxBytes = num('max_bytes');
  if (maxBytes !== undefined) push('max_bytes', (s) => utf8Length(s) > maxBytes, (s) => `must be at most ${maxBytes} bytes, got ${utf8Length(s)}`);
  const pattern = str('pattern');
  if (pattern !== undefined) push('pattern', (s) => !re2(pattern).test(s), () => `must match /${pattern}/`);
  const prefix = str('prefix');
  if (prefix !== undefined) push('prefix', (s) => !s.startsWith(prefix), () => `must start with ${JSON.stringify(prefix)}`);
  const suffix = str('suffix');
  if (suffix !== undefined) push('suffix', (s) => !s.endsWith(suffix), () => `must end with ${JSON.stringify(suffix)}`);
  const contains = str('contains');
  if (contains !== undefined) push('contains', (s) => !s.includes(contains), () => `must contain ${JSON.stringify(contains)}`);
  const notContains = str('not_contains');
  if (notContains !== undefined) push('not_contains', (s) => s.includes(notContains), () => `must not contain ${JSON.stringify(notContains)}`);
  if (rules['in'] !== undefined) {
    const allowed = listOf(rules['in']).map(String);
    push('in', (s) => !allowed.includes(s), (s) => `must be one of ${JSON.stringify(allowed)}, got ${JSON.stringify(s)}`);
  }
  if (rules['not_in'] !== undefined) {
    const denied = listOf(rules['not_in']).map(String);
    push('not_in', (s) => denied.includes(s), (s) => `must not be ${JSON.stringify(s)}`);
  }

  if (rules['email'] === true) push('email', (s) => !isEmail(s), () => 'must be an email address');
  if (rules['hostname'] === true) push('hostname', (s) => !isHostname(s), () => 'must be a valid hostname');
  if (rules['ip'] === true) push('ip', (s) => net.isIP(s) === 0, () => 'must be an IP address');
  if (rules['ipv4'] === true) push('ipv4', (s) => !net.isIPv4(s), () => 'must be an IPv4 address');
  if (rules['ipv6'] === true) push('ipv6', (s) => !net.isIPv6(s), () => 'must be an IPv6 address');
  if (rules['uri'] === true) push('uri', (s) => !isAbsoluteUri(s), () => 'must be an absolute URI');
  if (rules['uri_ref'] === true) push('uri_ref', (s) => !isUriReference(s), () => 'must be a URI reference');
  if (rules['address'] === true) push('address', (s) => net.isIP(s) === 0 && !isHostname(s), () => 'must be an IP address or hostname');
  if (rules['uuid'] === true) push('uuid', (s) => !UUID.test(s), () => 'must be a UUID');

  const wellKnown = rules['well_known_regex'];
  if (wellKnown === 'HTTP_HEADER_NAME' || wellKnown === 'HTTP_HEADER_VALUE') {
    const strict = rules['strict'] !== false; // PGV: `optional bool strict = 25 [default = true]`
    const expression = !strict ? HEADER_LOOSE : wellKnown === 'HTTP_HEADER_NAME' ? HEADER_NAME_STRICT : HEADER_VALUE_STRICT;
    const what = wellKnown === 'HTTP_HEADER_NAME' ? 'an HTTP header name' : 'an HTTP header value';
    push('well_known_regex', (s) => !expression.test(s), (s) => `${JSON.stringify(s)} is not ${what}${strict ? '' : ' (no NUL, CR or LF)'}`);
  }

  if (checks.length === 0) return undefined;
  const ignoreEmpty = rules['ignore_empty'] === true;
  return (raw, path, out) => {
    const text = typeof raw === 'string' ? raw : '';
    if (ignoreEmpty && text === '') return;
    for (const check of checks) check(text, path, out);
  };
}

type ByteCheck = (bytes: Uint8Array, path: string, out: Violations) => void;

function bytesFromRule(value: unknown): Uint8Array {
  // Option aggregates give bytes literals as (unescaped) strings.
  return typeof value === 'string' ? new Uint8Array(Buffer.from(value, 'latin1')) : new Uint8Array(0);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function bytesCheck(rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}bytes`;
  const checks: ByteCheck[] = [];
  const push = (rule: string, failed: (b: Uint8Array) => boolean, message: (b: Uint8Array) => string): void => {
    checks.push((b, path, out) => {
      if (failed(b)) out.push({ field: path, rule: `${p}.${rule}`, message: message(b) });
    });
  };
  const num = (key: string): number | undefined => (rules[key] === undefined ? undefined : Number(rules[key]));
  const has = (key: string): boolean => rules[key] !== undefined;

  if (has('const')) {
    const expected = bytesFromRule(rules['const']);
    push('const', (b) => !sameBytes(b, expected), () => 'must equal the constant bytes');
  }
  const len = num('len');
  if (len !== undefined) push('len', (b) => b.length !== len, (b) => `must be ${len} bytes, got ${b.length}`);
  const minLen = num('min_len');
  if (minLen !== undefined) push('min_len', (b) => b.length < minLen, (b) => `must be at least ${minLen} bytes, got ${b.length}`);
  const maxLen = num('max_len');
  if (maxLen !== undefined) push('max_len', (b) => b.length > maxLen, (b) => `must be at most ${maxLen} bytes, got ${b.length}`);
  if (typeof rules['pattern'] === 'string') {
    const pattern = rules['pattern'];
    push('pattern', (b) => !re2(pattern).test(b), () => `must match /${pattern}/`);
  }
  if (has('prefix')) {
    const prefix = bytesFromRule(rules['prefix']);
    push('prefix', (b) => !sameBytes(b.subarray(0, prefix.length), prefix), () => 'must start with the given prefix');
  }
  if (has('suffix')) {
    const suffix = bytesFromRule(rules['suffix']);
    push('suffix', (b) => b.length < suffix.length || !sameBytes(b.subarray(b.length - suffix.length), suffix), () => 'must end with the given suffix');
  }
  if (has('contains')) {
    const needle = bytesFromRule(rules['contains']);
    push('contains', (b) => Buffer.from(b).indexOf(Buffer.from(needle)) < 0, () => 'must contain the given bytes');
  }
  if (has('in')) {
    const allowed = listOf(rules['in']).map(bytesFromRule);
    push('in', (b) => !allowed.some((a) => sameBytes(a, b)), () => 'must be one of the allowed values');
  }
  if (has('not_in')) {
    const denied = listOf(rules['not_in']).map(bytesFromRule);
    push('not_in', (b) => denied.some((d) => sameBytes(d, b)), () => 'must not be a denied value');
  }
  if (rules['ip'] === true) push('ip', (b) => b.length !== 4 && b.length !== 16, (b) => `must be 4 or 16 bytes (an IP address), got ${b.length}`);
  if (rules['ipv4'] === true) push('ipv4', (b) => b.length !== 4, (b) => `must be 4 bytes (an IPv4 address), got ${b.length}`);
  if (rules['ipv6'] === true) push('ipv6', (b) => b.length !== 16, (b) => `must be 16 bytes (an IPv6 address), got ${b.length}`);

  if (checks.length === 0) return undefined;
  const ignoreEmpty = rules['ignore_empty'] === true;
  return (raw, path, out) => {
    const bytes = raw instanceof Uint8Array ? raw : typeof raw === 'string' ? new Uint8Array(Buffer.from(raw, 'base64')) : new Uint8Array(0);
    if (ignoreEmpty && bytes.length === 0) return;
    for (const check of checks) check(bytes, path, out);
  };
}

function boolCheck(rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  if (typeof rules['const'] !== 'boolean') return undefined;
  const expected = rules['const'];
  return (raw, path, out) => {
    const value = raw === true;
    if (value !== expected) out.push({ field: path, rule: `${rulePrefix}bool.const`, message: `must be ${expected}` });
  };
}

function enumCheck(enumType: protobuf.Enum, rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}enum`;
  const checks: ValueCheck[] = [];
  const show = (n: number): string => enumType.valuesById[n] ?? String(n);
  const numberOf = (raw: unknown): number => (typeof raw === 'string' ? (enumType.values[raw] ?? NaN) : Number(raw));
  if (rules['const'] !== undefined) {
    const expected = numberOf(rules['const']);
    checks.push((v, path, out) => {
      if (v !== expected) out.push({ field: path, rule: `${p}.const`, message: `must be ${show(expected)}` });
    });
  }
  if (rules['defined_only'] === true) {
    checks.push((v, path, out) => {
      if (enumType.valuesById[v as number] === undefined) {
        out.push({ field: path, rule: `${p}.defined_only`, message: `${String(v)} is not a value of ${enumType.name}` });
      }
    });
  }
  if (rules['in'] !== undefined) {
    const allowed = listOf(rules['in']).map(numberOf);
    checks.push((v, path, out) => {
      if (!allowed.includes(v as number)) out.push({ field: path, rule: `${p}.in`, message: `must be one of [${allowed.map(show).join(', ')}], got ${show(v as number)}` });
    });
  }
  if (rules['not_in'] !== undefined) {
    const denied = listOf(rules['not_in']).map(numberOf);
    checks.push((v, path, out) => {
      if (denied.includes(v as number)) out.push({ field: path, rule: `${p}.not_in`, message: `must not be ${show(v as number)}` });
    });
  }
  if (checks.length === 0) return undefined;
  return (raw, path, out) => {
    const value = raw === undefined || raw === null ? 0 : Number(raw);
    for (const check of checks) check(value, path, out);
  };
}

function anyRulesCheck(rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const checks: ValueCheck[] = [];
  if (rules['in'] !== undefined) {
    const allowed = listOf(rules['in']).map(String);
    checks.push((url, path, out) => {
      if (!allowed.includes(url as string)) out.push({ field: path, rule: `${rulePrefix}any.in`, message: `type ${String(url)} is not one of ${allowed.join(', ')}` });
    });
  }
  if (rules['not_in'] !== undefined) {
    const denied = listOf(rules['not_in']).map(String);
    checks.push((url, path, out) => {
      if (denied.includes(url as string)) out.push({ field: path, rule: `${rulePrefix}any.not_in`, message: `type ${String(url)} is not allowed` });
    });
  }
  if (checks.length === 0) return undefined;
  return (any, path, out) => {
    const url = isObject(any) && typeof any['type_url'] === 'string' ? any['type_url'] : '';
    for (const check of checks) check(url, path, out);
  };
}

function timestampCheck(rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const ordered = orderedCheck(timestampOrder, rules, rulePrefix);
  const clock: ValueCheck[] = [];
  const p = `${rulePrefix}timestamp`;
  const nowNanos = (): bigint => BigInt(Date.now()) * 1_000_000n;
  if (rules['lt_now'] === true) {
    clock.push((v, path, out) => {
      if (durationNanos(v) >= nowNanos()) out.push({ field: path, rule: `${p}.lt_now`, message: 'must be in the past' });
    });
  }
  if (rules['gt_now'] === true) {
    clock.push((v, path, out) => {
      if (durationNanos(v) <= nowNanos()) out.push({ field: path, rule: `${p}.gt_now`, message: 'must be in the future' });
    });
  }
  if (isObject(rules['within'])) {
    const window = durationNanos(rules['within']);
    clock.push((v, path, out) => {
      const delta = durationNanos(v) - nowNanos();
      if ((delta < 0n ? -delta : delta) > window) out.push({ field: path, rule: `${p}.within`, message: `must be within ${formatDuration(window)} of now` });
    });
  }
  const all = [ordered, ...clock].filter((c): c is ValueCheck => c !== undefined);
  if (all.length === 0) return undefined;
  return (value, path, out) => {
    for (const check of all) check(value, path, out);
  };
}

// ---------------------------------------------------------------------------
// Compiling message types

const WRAPPER_FAMILY: Record<string, string> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};

/** Types whose contents carry no rules: nothing to recurse into. */
const OPAQUE_TYPES = new Set([
  '.google.protobuf.Duration',
  '.google.protobuf.Timestamp',
  '.google.protobuf.Struct',
  '.google.protobuf.Value',
  '.google.protobuf.ListValue',
  '.google.protobuf.Empty',
  '.google.protobuf.FieldMask',
  ...Object.keys(WRAPPER_FAMILY),
]);

type MessageCheck = (message: EnvoyMessage, path: string, out: Violations) => void;

const messageChecks = new Map<protobuf.Type, MessageCheck>();

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** The check for a message type, compiled on first use (recursive types resolve through the map). */
function messageCheckFor(type: protobuf.Type): MessageCheck {
  const existing = messageChecks.get(type);
  if (existing) return existing;
  let compiled: MessageCheck | undefined;
  const lazy: MessageCheck = (message, path, out) => (compiled ??= compileMessage(type))(message, path, out);
  messageChecks.set(type, lazy);
  return lazy;
}

function scalarFamilyCheck(family: string, rules: RuleSet, rulePrefix: string): ValueCheck | undefined {
  const familyRules = rules[family];
  if (!isObject(familyRules)) return undefined;
  if (family === 'string') return stringCheck(familyRules, rulePrefix);
  if (family === 'bytes') return bytesCheck(familyRules, rulePrefix);
  if (family === 'bool') return boolCheck(familyRules, rulePrefix);
  return numericCheck(family, familyRules, rulePrefix);
}

/**
 * The check for one element of a field (the value itself for singular
 * fields, each item/key/value for repeated and map fields). For messages the
 * caller has already established presence.
 */
function elementCheck(
  protoType: string,
  resolved: protobuf.Type | protobuf.Enum | null,
  rules: RuleSet | undefined,
  rulePrefix: string,
): ValueCheck | undefined {
  const r = rules ?? {};
  if (resolved instanceof protobuf.Enum) {
    return isObject(r['enum']) ? enumCheck(resolved, r['enum'], rulePrefix) : undefined;
  }
  if (!(resolved instanceof protobuf.Type)) return scalarFamilyCheck(protoType, r, rulePrefix);

  const fullName = resolved.fullName;
  const wrapperFamily = WRAPPER_FAMILY[fullName];
  if (wrapperFamily) {
    const inner = scalarFamilyCheck(wrapperFamily, r, rulePrefix);
    return inner && ((value, path, out) => inner(isObject(value) ? value['value'] : undefined, path, out));
  }
  if (fullName === '.google.protobuf.Duration') {
    return isObject(r['duration']) ? orderedCheck(durationOrder, r['duration'], rulePrefix) : undefined;
  }
  if (fullName === '.google.protobuf.Timestamp') {
    return isObject(r['timestamp']) ? timestampCheck(r['timestamp'], rulePrefix) : undefined;
  }
  if (OPAQUE_TYPES.has(fullName)) return undefined;
  const skip = isObject(r['message']) && r['message']['skip'] === true;
  if (fullName === '.google.protobuf.Any') {
    const typeRules = isObject(r['any']) ? anyRulesCheck(r['any'], rulePrefix) : undefined;
    return (value, path, out) => {
      typeRules?.(value, path, out);
      if (!skip) checkAnyPayload(value, path, out);
    };
  }
  if (skip) return undefined;
  const nested = messageCheckFor(resolved);
  return (value, path, out) => nested(isObject(value) ? value : {}, path, out);
}

/** Recurse into an Any's payload when its type is in the Root; unknown types were already rejected by the JSON mapping. */
function checkAnyPayload(any: unknown, path: string, out: Violations): void {
  if (!isObject(any)) return;
  const attached = (any as { [ANY_PAYLOAD]?: AnyPayload })[ANY_PAYLOAD];
  if (attached) {
    if (!OPAQUE_TYPES.has(attached.type.fullName)) messageCheckFor(attached.type)(attached.message, path, out);
    return;
  }
  const typeUrl = typeof any['type_url'] === 'string' ? any['type_url'] : '';
  if (!typeUrl || !(any['value'] instanceof Uint8Array)) return;
  const type = findEnvoyType(typeNameOfUrl(typeUrl));
  if (!type || OPAQUE_TYPES.has(type.fullName)) return;
  messageCheckFor(type)(type.decode(any['value']) as unknown as EnvoyMessage, path, out);
}

type FieldCheck = (message: EnvoyMessage, path: string, out: Violations) => void;

function compileField(field: protobuf.Field): FieldCheck | undefined {
  field.resolve();
  const rules = fieldRulesOf(field);
  const name = field.name;
  const resolved = field.resolvedType as protobuf.Type | protobuf.Enum | null;

  if (field.map) {
    const mapRules = rules && isObject(rules['map']) ? rules['map'] : {};
    const keyRules = isObject(mapRules['keys']) ? mapRules['keys'] : undefined;
    const valueRules = isObject(mapRules['values']) ? mapRules['values'] : undefined;
    const keyType = (field as unknown as protobuf.MapField).keyType;
    const checkKey = elementCheck(keyType, null, keyRules, 'map.keys.');
    const checkValue = elementCheck(field.type, resolved, valueRules, 'map.values.');
    const minPairs = mapRules['min_pairs'] === undefined ? undefined : Number(mapRules['min_pairs']);
    const maxPairs = mapRules['max_pairs'] === undefined ? undefined : Number(mapRules['max_pairs']);
    const ignoreEmpty = mapRules['ignore_empty'] === true;
    if (!checkKey && !checkValue && minPairs === undefined && maxPairs === undefined) return undefined;
    return (message, parentPath, out) => {
      const entries = isSet(message, name) ? (message[name] as Record<string, unknown>) : {};
      const keys = Object.keys(entries);
      const path = join(parentPath, name);
      if (ignoreEmpty && keys.length === 0) return;
      if (minPairs !== undefined && keys.length < minPairs) out.push({ field: path, rule: 'map.min_pairs', message: `must have at least ${minPairs} entries, got ${keys.length}` });
      if (maxPairs !== undefined && keys.length > maxPairs) out.push({ field: path, rule: 'map.max_pairs', message: `must have at most ${maxPairs} entries, got ${keys.length}` });
      for (const key of keys) {
        const entryPath = `${path}[${JSON.stringify(key)}]`;
        checkKey?.(key, entryPath, out);
        checkValue?.(entries[key], entryPath, out);
      }
    };
  }

  if (field.repeated) {
    const repeatedRules = rules && isObject(rules['repeated']) ? rules['repeated'] : {};
    const itemRules = isObject(repeatedRules['items']) ? repeatedRules['items'] : undefined;
    const checkItem = elementCheck(field.type, resolved, itemRules, 'repeated.items.');
    const minItems = repeatedRules['min_items'] === undefined ? undefined : Number(repeatedRules['min_items']);
    const maxItems = repeatedRules['max_items'] === undefined ? undefined : Number(repeatedRules['max_items']);
    const unique = repeatedRules['unique'] === true;
    const ignoreEmpty = repeatedRules['ignore_empty'] === true;
    if (!checkItem && minItems === undefined && maxItems === undefined && !unique) return undefined;
    return (message, parentPath, out) => {
      const items = isSet(message, name) ? (message[name] as unknown[]) : [];
      const path = join(parentPath, name);
      if (ignoreEmpty && items.length === 0) return;
      if (minItems !== undefined && items.length < minItems) {
        out.push({ field: path, rule: 'repeated.min_items', message: `must have at least ${minItems} item${minItems === 1 ? '' : 's'}, got ${items.length}` });
      }
      if (maxItems !== undefined && items.length > maxItems) {
        out.push({ field: path, rule: 'repeated.max_items', message: `must have at most ${maxItems} items, got ${items.length}` });
      }
      if (unique) {
        const seen = new Map<string, number>();
        items.forEach((item, i) => {
          const key = uniquenessKey(item);
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else out.push({ field: `${path}[${i}]`, rule: 'repeated.unique', message: `duplicates item [${first}]` });
        });
      }
      if (checkItem) for (let i = 0; i < items.length; i++) checkItem(items[i], `${path}[${i}]`, out);
    };
  }

  const isMessage = resolved instanceof protobuf.Type;
  const r = rules ?? {};
  const required =
    (isObject(r['message']) && r['message']['required'] === true) ||
    (isObject(r['duration']) && r['duration']['required'] === true) ||
    (isObject(r['timestamp']) && r['timestamp']['required'] === true) ||
    (isObject(r['any']) && r['any']['required'] === true);
  const requiredRule = isObject(r['duration']) && r['duration']['required'] === true
    ? 'duration.required'
    : isObject(r['timestamp']) && r['timestamp']['required'] === true
      ? 'timestamp.required'
      : isObject(r['any']) && r['any']['required'] === true
        ? 'any.required'
        : 'message.required';
  const checkValue = elementCheck(field.type, resolved, rules, '');
  // Oneof members and proto3 `optional` fields are validated only when set,
  // even `required` ones (PGV checks only the member the oneof holds).
  const inOneof = field.partOf != null;
  if (!checkValue && !required) return undefined;
  return (message, parentPath, out) => {
    const present = isSet(message, name);
    if (!present) {
      if (inOneof) return;
      if (required) out.push({ field: join(parentPath, name), rule: requiredRule, message: 'is required' });
      if (isMessage) return;
    }
    checkValue?.(present ? message[name] : undefined, join(parentPath, name), out);
  };
}

function uniquenessKey(item: unknown): string {
  if (item instanceof Uint8Array) return `b:${Buffer.from(item).toString('base64')}`;
  if (isObject(item) && typeof item.low === 'number' && typeof item.high === 'number') return `n:${toBigInt(item, false)}`;
  if (typeof item === 'object' && item !== null) return `o:${JSON.stringify(item)}`;
  return `${typeof item}:${String(item)}`;
}

function compileMessage(type: protobuf.Type): MessageCheck {
  if (messageValidationOff(type)) return () => {};
  const fieldChecks = type.fieldsArray.map(compileField).filter((c): c is FieldCheck => c !== undefined);
  const requiredOneofs = type.oneofsArray.filter(oneofRequired).map((oneof) => ({
    name: oneof.name,
    members: oneof.fieldsArray.map((f) => f.name),
  }));
  return (message, path, out) => {
    for (const oneof of requiredOneofs) {
      if (!oneof.members.some((member) => isSet(message, member))) {
        out.push({ field: join(path, oneof.name), rule: 'oneof.required', message: `exactly one of ${oneof.members.join(', ')} is required` });
      }
    }
    for (const check of fieldChecks) check(message, path, out);
  };
}

// ---------------------------------------------------------------------------
// Public API

/** Check an already converted message (from messageFromEnvoyJson or a protobufjs decode). */
export function checkEnvoyMessage(typeName: string, message: EnvoyMessage): RuleViolation[] {
  const out: Violations = [];
  messageCheckFor(lookupEnvoyType(typeName))(message, '', out);
  return out;
}

function jsonViolation(err: EnvoyJsonError): RuleViolation {
  return { field: err.field, rule: `proto3_json.${err.reason}`, message: err.detail };
}

/**
 * Every PGV violation in a proto3-JSON resource. JSON that does not fit the
 * proto at all (unknown field, wrong type) is reported as a single
 * `proto3_json.*` violation, since no rule can be evaluated past it.
 */
export function checkValidateRules(typeName: string, json: unknown): RuleViolation[] {
  let message: EnvoyMessage;
  try {
    message = messageFromEnvoyJson(typeName, json);
  } catch (err) {
    if (err instanceof EnvoyJsonError) return [jsonViolation(err)];
    throw err;
  }
  return checkEnvoyMessage(typeName, message);
}

/**
 * Encode a resource Sluice generated and check it against Envoy's rules;
 * returns the wire bytes. Throws EnvoyResourceError naming the resource, the
 * field path and the rule: a failure is a bug in translation.
 */
export function assertEnvoyResource(typeName: string, resourceName: string, json: unknown): Uint8Array {
  let message: EnvoyMessage;
  try {
    message = messageFromEnvoyJson(typeName, json);
  } catch (err) {
    if (err instanceof EnvoyJsonError) throw new EnvoyResourceError(typeName, resourceName, [jsonViolation(err)], { cause: err });
    throw err;
  }
  const violations = checkEnvoyMessage(typeName, message);
  if (violations.length > 0) throw new EnvoyResourceError(typeName, resourceName, violations);
  return lookupEnvoyType(typeName).encode(message).finish();
}
