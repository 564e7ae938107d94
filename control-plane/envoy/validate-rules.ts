/**
 * A checker for the protoc-gen-validate (PGV) annotations in Envoy's protos,
 * so a resource the translator emits is rejected here, with its name and the
 * offending field, rather than NACKed by Envoy.
 *
 * Rules are read from the generated descriptors (`(validate.rules)` on fields,
 * `(validate.required)` on oneofs) and compiled once per message type into
 * closures that walk @bufbuild/protobuf messages.
 *
 * Only the rules that occur in the loaded protos are implemented (the list is
 * SUPPORTED_RULES; test/envoy/validate-rules.test.ts keeps it equal to what the
 * protos use). Every annotated field is compiled the first time the checker
 * is used, and a rule outside the list throws UnknownValidateRuleError then:
 * an unimplemented rule must never pass silently.
 *
 * Semantics follow PGV on proto3: an unset scalar is its default (so
 * `min_len: 1` fails on an unset string), an unset message fails only
 * `required`, members of a oneof and proto3 `optional` fields are checked
 * only when set, and wrapper and Duration rules apply only when the message
 * is present.
 */
import { fromBinary, getOption, toBinary, toJson, type DescEnum, type DescField, type DescMessage, type JsonObject, type JsonValue, type Message } from '@bufbuild/protobuf';
import { isWrapperDesc, type Any } from '@bufbuild/protobuf/wkt';
import { RE2JS } from 're2js';
import { SluiceError } from '../core/errors.js';
import { EnvoyJsonError, envoyRegistry, envoySchema, messageFromJson } from './codec.js';
import { typeNameOfUrl } from './proto-registry.js';
import { FieldRulesSchema, disabled as disabledOption, required as requiredOneofOption, rules as rulesOption, type FieldRules } from './generated/validate/validate_pb.js';

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

/** A PGV rule in the protos that this checker does not implement. */
export class UnknownValidateRuleError extends SluiceError {
  readonly rule: string;
  readonly field: string;

  constructor(field: string, rule: string) {
    super('envoy-validate-rule-unknown', `${field}: the PGV rule ${rule} is not implemented by the checker; implement it in validate-rules.ts before loading protos that use it`, { field, rule });
    this.rule = rule;
    this.field = field;
  }
}

/** Every rule the checker implements: exactly those the loaded protos use. */
export const SUPPORTED_RULES: ReadonlySet<string> = new Set([
  'any.required',
  'bool.const',
  'bytes.min_len', 'bytes.max_len',
  'double.gt', 'double.gte', 'double.lte',
  'duration.required', 'duration.gt', 'duration.gte', 'duration.lt', 'duration.lte',
  'enum.defined_only', 'enum.not_in',
  'map.min_pairs', 'map.keys',
  'message.required',
  'oneof.required',
  'repeated.min_items', 'repeated.max_items', 'repeated.unique', 'repeated.items',
  'string.min_len', 'string.max_bytes', 'string.in', 'string.pattern', 'string.well_known_regex', 'string.strict', 'string.ignore_empty',
  'uint32.gt', 'uint32.gte', 'uint32.lt', 'uint32.lte',
  'uint64.gt', 'uint64.gte', 'uint64.lt', 'uint64.lte',
]);

// ---------------------------------------------------------------------------
// Reading the annotations

/** One rule family's settings as proto3 JSON (proto names; 64-bit numbers and durations as strings). */
type RuleSet = JsonObject;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);

/** `(validate.rules)` of a field as JSON, e.g. `{ string: { min_len: "1" } }`. */
export function fieldRulesOf(field: DescField): RuleSet | undefined {
  const rules = getOption(field, rulesOption) as FieldRules | undefined;
  if (!rules || (rules.type.case === undefined && rules.message === undefined)) return undefined;
  return toJson(FieldRulesSchema, rules, { useProtoFieldName: true }) as RuleSet;
}

/**
 * Hands out a family's settings and remembers which were read, so that
 * whatever is left over after compiling is an unimplemented rule.
 */
class RuleReader {
  readonly #seen = new Set<string>();
  constructor(
    readonly family: string,
    private readonly rules: RuleSet,
    readonly where: string,
  ) {}

  get(key: string): JsonValue | undefined {
    if (!SUPPORTED_RULES.has(`${this.family}.${key}`)) return undefined;
    this.#seen.add(key);
    return this.rules[key];
  }

  /** Throws for the first setting nothing read. */
  done(): void {
    for (const key of Object.keys(this.rules)) {
      if (!this.#seen.has(key)) throw new UnknownValidateRuleError(this.where, `${this.family}.${key}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Values

type Violations = RuleViolation[];
/** Checks one (present or default-filled) value found at `path`. */
type ValueCheck = (value: unknown, path: string, out: Violations) => void;

interface Ordered<T> {
  readonly read: (value: unknown) => T;
  readonly constant: (rule: JsonValue) => T;
  readonly show: (value: T) => string;
}

const numberOrder: Ordered<number> = {
  read: (v) => (v === undefined ? 0 : Number(v)),
  constant: (r) => Number(r),
  show: String,
};
const bigintOrder: Ordered<bigint> = {
  read: (v) => (v === undefined ? 0n : BigInt(v as bigint | string | number)),
  constant: (r) => BigInt(r as string | number),
  show: String,
};

/** "1.5s" (proto3 JSON Duration) → nanoseconds. */
function parseDuration(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const nanos = BigInt(match[2]!) * 1_000_000_000n + BigInt((match[3] ?? '').padEnd(9, '0'));
  return match[1] ? -nanos : nanos;
}

function formatDuration(nanos: bigint): string {
  const negative = nanos < 0n;
  const abs = negative ? -nanos : nanos;
  const fraction = abs % 1_000_000_000n;
  const text = fraction === 0n ? `${abs / 1_000_000_000n}` : `${abs / 1_000_000_000n}.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${negative ? '-' : ''}${text}s`;
}

const durationOrder: Ordered<bigint> = {
  read: (v) => (isObject(v) ? BigInt(v['seconds'] as bigint) * 1_000_000_000n + BigInt(v['nanos'] as number) : 0n),
  constant: (r) => parseDuration(String(r)),
  show: formatDuration,
};

/**
 * lt / lte / gt / gte. With both bounds, PGV reads lower < upper as "inside
 * the range" and lower >= upper as "outside it".
 */
function orderedCheck<T extends number | bigint>(order: Ordered<T>, reader: RuleReader, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}${reader.family}`;
  const bound = (key: string): T | undefined => {
    const raw = reader.get(key);
    return raw === undefined ? undefined : order.constant(raw);
  };
  const lt = bound('lt');
  const lte = bound('lte');
  const gt = bound('gt');
  const gte = bound('gte');
  const upper = lt ?? lte;
  const upperKey = lt !== undefined ? 'lt' : 'lte';
  const lower = gt ?? gte;
  const lowerKey = gt !== undefined ? 'gt' : 'gte';
  if (upper === undefined && lower === undefined) return undefined;
  const belowUpper = (v: T): boolean => upper === undefined || (upperKey === 'lt' ? v < upper : v <= upper);
  const aboveLower = (v: T): boolean => lower === undefined || (lowerKey === 'gt' ? v > lower : v >= lower);
  const upperText = upper === undefined ? '' : upperKey === 'lt' ? `less than ${order.show(upper)}` : `at most ${order.show(upper)}`;
  const lowerText = lower === undefined ? '' : lowerKey === 'gt' ? `greater than ${order.show(lower)}` : `at least ${order.show(lower)}`;
  const outside = upper !== undefined && lower !== undefined && lower >= upper;
  return (raw, path, out) => {
    const v = order.read(raw);
    if (outside) {
      if (!belowUpper(v) && !aboveLower(v)) out.push({ field: path, rule: `${p}.${upperKey}`, message: `must be ${upperText} or ${lowerText}, got ${order.show(v)}` });
      return;
    }
    if (!belowUpper(v)) out.push({ field: path, rule: `${p}.${upperKey}`, message: `must be ${upperText}, got ${order.show(v)}` });
    if (!aboveLower(v)) out.push({ field: path, rule: `${p}.${lowerKey}`, message: `must be ${lowerText}, got ${order.show(v)}` });
  };
}

// PGV's own expressions (including the `+-.` range in the header-name class).
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;

const codePointLength = (text: string): number => {
  let count = 0;
  for (const _ of text) count++;
  return count;
};

function stringCheck(reader: RuleReader, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}string`;
  const checks: ((s: string, path: string, out: Violations) => void)[] = [];
  const push = (rule: string, failed: (s: string) => boolean, message: (s: string) => string): void => {
    checks.push((s, path, out) => {
      if (failed(s)) out.push({ field: path, rule: `${p}.${rule}`, message: message(s) });
    });
  };
  const minLen = reader.get('min_len');
  if (minLen !== undefined) {
    const n = Number(minLen);
    push('min_len', (s) => codePointLength(s) < n, (s) =>
      s === '' ? `must not be empty (at least ${n} character${n === 1 ? '' : 's'})` : `must be at least ${n} characters, got ${codePointLength(s)}`,
    );
  }
  const maxBytes = reader.get('max_bytes');
  if (maxBytes !== undefined) {
    const n = Number(maxBytes);
    push('max_bytes', (s) => Buffer.byteLength(s, 'utf8') > n, (s) => `must be at most ${n} bytes, got ${Buffer.byteLength(s, 'utf8')}`);
  }
  const pattern = reader.get('pattern');
  if (typeof pattern === 'string') {
    const re = RE2JS.compile(pattern);
    push('pattern', (s) => !re.test(s), () => `must match /${pattern}/`);
  }
  const allowed = reader.get('in');
  if (Array.isArray(allowed)) {
    const values = allowed.map(String);
    push('in', (s) => !values.includes(s), (s) => `must be one of ${JSON.stringify(values)}, got ${JSON.stringify(s)}`);
  }
  const wellKnown = reader.get('well_known_regex');
  const strictSetting = reader.get('strict');
  if (wellKnown !== undefined) {
    if (wellKnown !== 'HTTP_HEADER_NAME' && wellKnown !== 'HTTP_HEADER_VALUE') throw new UnknownValidateRuleError(reader.where, `${p}.well_known_regex ${String(wellKnown)}`);
    const strict = strictSetting !== false; // PGV: `optional bool strict = 25 [default = true]`
    const expression = !strict ? HEADER_LOOSE : wellKnown === 'HTTP_HEADER_NAME' ? HEADER_NAME_STRICT : HEADER_VALUE_STRICT;
    const what = wellKnown === 'HTTP_HEADER_NAME' ? 'an HTTP header name' : 'an HTTP header value';
    push('well_known_regex', (s) => !expression.test(s), (s) => `${JSON.stringify(s)} is not ${what}${strict ? '' : ' (no NUL, CR or LF)'}`);
  }
  const ignoreEmpty = reader.get('ignore_empty') === true;
  if (checks.length === 0) return undefined;
  return (raw, path, out) => {
    const text = typeof raw === 'string' ? raw : '';
    if (ignoreEmpty && text === '') return;
    for (const check of checks) check(text, path, out);
  };
}

function bytesCheck(reader: RuleReader, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}bytes`;
  const min = reader.get('min_len');
  const max = reader.get('max_len');
  if (min === undefined && max === undefined) return undefined;
  return (raw, path, out) => {
    const length = raw instanceof Uint8Array ? raw.length : 0;
    if (min !== undefined && length < Number(min)) out.push({ field: path, rule: `${p}.min_len`, message: `must be at least ${String(min)} bytes, got ${length}` });
    if (max !== undefined && length > Number(max)) out.push({ field: path, rule: `${p}.max_len`, message: `must be at most ${String(max)} bytes, got ${length}` });
  };
}

function boolCheck(reader: RuleReader, rulePrefix: string): ValueCheck | undefined {
  const expected = reader.get('const');
  if (typeof expected !== 'boolean') return undefined;
  return (raw, path, out) => {
    if ((raw === true) !== expected) out.push({ field: path, rule: `${rulePrefix}bool.const`, message: `must be ${expected}` });
  };
}

function enumCheck(enumDesc: DescEnum, reader: RuleReader, rulePrefix: string): ValueCheck | undefined {
  const p = `${rulePrefix}enum`;
  const show = (n: number): string => enumDesc.value[n]?.name ?? String(n);
  const definedOnly = reader.get('defined_only') === true;
  const notIn = reader.get('not_in');
  const denied = Array.isArray(notIn) ? notIn.map(Number) : [];
  if (!definedOnly && denied.length === 0) return undefined;
  return (raw, path, out) => {
    const v = raw === undefined ? 0 : Number(raw);
    if (definedOnly && enumDesc.value[v] === undefined) out.push({ field: path, rule: `${p}.defined_only`, message: `${v} is not a value of ${enumDesc.name}` });
    if (denied.includes(v)) out.push({ field: path, rule: `${p}.not_in`, message: `must not be ${show(v)}` });
  };
}

// ---------------------------------------------------------------------------
// Compiling message types

/** Types whose contents carry no rules: nothing to recurse into. */
const OPAQUE_TYPES = new Set([
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.Empty',
  'google.protobuf.FieldMask',
]);

/** The rule family a wrapper's value uses: `google.protobuf.UInt32Value` → `uint32`. */
const wrapperFamily = (desc: DescMessage): string => desc.name.replace(/Value$/, '').toLowerCase();

type MessageCheck = (message: Message, path: string, out: Violations) => void;

const messageChecks = new Map<DescMessage, MessageCheck>();

const join = (path: string, name: string): string => (path ? `${path}.${name}` : name);

/** The check for a message type, compiled on first use (recursive types resolve through the map). */
function messageCheckFor(desc: DescMessage): MessageCheck {
  const existing = messageChecks.get(desc);
  if (existing) return existing;
  let compiled: MessageCheck | undefined;
  const lazy: MessageCheck = (message, path, out) => (compiled ??= compileMessage(desc))(message, path, out);
  messageChecks.set(desc, lazy);
  return lazy;
}

/** What kind of value a field element holds, for choosing its rule family. */
type Element = { kind: 'scalar'; family: string } | { kind: 'enum'; desc: DescEnum } | { kind: 'message'; desc: DescMessage };

const SCALAR_FAMILY: Readonly<Record<number, string>> = {
  1: 'double', 2: 'float', 3: 'int64', 4: 'uint64', 5: 'int32', 6: 'fixed64', 7: 'fixed32', 8: 'bool',
  9: 'string', 12: 'bytes', 13: 'uint32', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64',
};

function scalarFamilyCheck(family: string, reader: RuleReader, rulePrefix: string): ValueCheck | undefined {
  if (family === 'string') return stringCheck(reader, rulePrefix);
  if (family === 'bytes') return bytesCheck(reader, rulePrefix);
  if (family === 'bool') return boolCheck(reader, rulePrefix);
  if (family === 'uint64' || family === 'int64' || family.endsWith('fixed64') || family === 'sint64') return orderedCheck(bigintOrder, reader, rulePrefix);
  return orderedCheck(numberOrder, reader, rulePrefix);
}

/**
 * The check for one element of a field (the value itself for singular
 * fields, each item/key/value for repeated and map fields): the rules of the
 * element's family, then recursion into messages. Rules of a family the
 * element does not read (and the caller does not handle) are unknown.
 */
function elementCheck(element: Element, rules: RuleSet | undefined, rulePrefix: string, where: string, handledByCaller: readonly string[] = []): ValueCheck | undefined {
  const readers: RuleReader[] = [];
  const reader = (family: string): RuleReader => {
    const r = new RuleReader(family, isObject(rules?.[family]) ? (rules![family] as RuleSet) : {}, where);
    readers.push(r);
    return r;
  };
  let check: ValueCheck | undefined;
  if (element.kind === 'enum') check = enumCheck(element.desc, reader('enum'), rulePrefix);
  else if (element.kind === 'scalar') check = scalarFamilyCheck(element.family, reader(element.family), rulePrefix);
  else if (isWrapperDesc(element.desc)) {
    // Singular wrapper fields arrive unboxed; list items and map values stay messages.
    const inner = scalarFamilyCheck(wrapperFamily(element.desc), reader(wrapperFamily(element.desc)), rulePrefix);
    check = inner && ((value, path, out) => inner(isObject(value) && '$typeName' in value ? value['value'] : value, path, out));
  }
  else if (element.desc.typeName === 'google.protobuf.Duration') {
    const durationRules = reader('duration');
    if (handledByCaller.includes('duration')) durationRules.get('required');
    check = orderedCheck(durationOrder, durationRules, rulePrefix);
  }
  else if (element.desc.typeName === 'google.protobuf.Any') check = (value, path, out) => checkAnyPayload(value as Any, path, out);
  else if (!OPAQUE_TYPES.has(element.desc.typeName)) {
    const nested = messageCheckFor(element.desc);
    check = (value, path, out) => nested(value as Message, path, out);
  }
  for (const family of Object.keys(rules ?? {})) {
    if (!readers.some((r) => r.family === family) && !handledByCaller.includes(family)) {
      throw new UnknownValidateRuleError(where, `${rulePrefix}${family}`);
    }
  }
  for (const r of readers) r.done();
  return check;
}

/** Recurse into an Any's payload when its type is in the registry (the codec already rejected unknown types). */
function checkAnyPayload(any: Any, path: string, out: Violations): void {
  if (!any.typeUrl) return;
  const desc = envoyRegistry.getMessage(typeNameOfUrl(any.typeUrl));
  if (!desc || OPAQUE_TYPES.has(desc.typeName) || isWrapperDesc(desc)) return;
  messageCheckFor(desc)(fromBinary(desc, any.value), path, out);
}

type FieldCheck = (message: Message, path: string, out: Violations) => void;

function elementOf(field: DescField): Element {
  switch (field.fieldKind) {
    case 'scalar':
      return { kind: 'scalar', family: SCALAR_FAMILY[field.scalar]! };
    case 'enum':
      return { kind: 'enum', desc: field.enum };
    case 'message':
      return { kind: 'message', desc: field.message };
    case 'list':
      return field.listKind === 'scalar' ? { kind: 'scalar', family: SCALAR_FAMILY[field.scalar]! } : field.listKind === 'enum' ? { kind: 'enum', desc: field.enum } : { kind: 'message', desc: field.message };
    case 'map':
      return field.mapKind === 'scalar' ? { kind: 'scalar', family: SCALAR_FAMILY[field.scalar]! } : field.mapKind === 'enum' ? { kind: 'enum', desc: field.enum } : { kind: 'message', desc: field.message };
  }
}

/** Reads a field's value off a bufbuild message: oneof members live under the oneof's name. */
function fieldGetter(field: DescField): (message: Message) => unknown {
  const local = field.localName;
  if (field.oneof) {
    const oneofName = field.oneof.localName;
    return (message) => {
      const selected = (message as unknown as Record<string, { case?: string; value?: unknown }>)[oneofName];
      return selected?.case === local ? selected.value : undefined;
    };
  }
  return (message) => (message as unknown as Record<string, unknown>)[local];
}

function compileField(field: DescField, rules: RuleSet | undefined = fieldRulesOf(field)): FieldCheck | undefined {
  const where = `${field.parent.typeName}.${field.name}`;
  const name = field.name;
  const get = fieldGetter(field);
  const element = elementOf(field);

  if (field.fieldKind === 'map') {
    const reader = new RuleReader('map', isObject(rules?.['map']) ? (rules!['map'] as RuleSet) : {}, where);
    const keyRules = reader.get('keys');
    const checkKey = elementCheck({ kind: 'scalar', family: SCALAR_FAMILY[field.mapKey]! }, isObject(keyRules) ? (keyRules as RuleSet) : undefined, 'map.keys.', where);
    const checkValue = elementCheck(element, undefined, 'map.values.', where);
    const minPairs = reader.get('min_pairs');
    reader.done();
    if (!checkKey && !checkValue && minPairs === undefined) return undefined;
    return (message, parentPath, out) => {
      const entries = (get(message) ?? {}) as Record<string, unknown>;
      const keys = Object.keys(entries);
      const path = join(parentPath, name);
      if (minPairs !== undefined && keys.length < Number(minPairs)) out.push({ field: path, rule: 'map.min_pairs', message: `must have at least ${String(minPairs)} entries, got ${keys.length}` });
      for (const key of keys) {
        const entryPath = `${path}[${JSON.stringify(key)}]`;
        checkKey?.(key, entryPath, out);
        checkValue?.(entries[key], entryPath, out);
      }
    };
  }

  if (field.fieldKind === 'list') {
    const reader = new RuleReader('repeated', isObject(rules?.['repeated']) ? (rules!['repeated'] as RuleSet) : {}, where);
    const itemRules = reader.get('items');
    const checkItem = elementCheck(element, isObject(itemRules) ? (itemRules as RuleSet) : undefined, 'repeated.items.', where);
    const minItems = reader.get('min_items');
    const maxItems = reader.get('max_items');
    const unique = reader.get('unique') === true;
    reader.done();
    const itemKey = element.kind === 'message' ? (item: unknown) => Buffer.from(toBinary(element.desc, item as Message)).toString('latin1') : (item: unknown) => String(item);
    if (!checkItem && minItems === undefined && maxItems === undefined && !unique) return undefined;
    return (message, parentPath, out) => {
      const items = (get(message) ?? []) as unknown[];
      const path = join(parentPath, name);
      if (minItems !== undefined && items.length < Number(minItems)) {
        out.push({ field: path, rule: 'repeated.min_items', message: `must have at least ${String(minItems)} item${Number(minItems) === 1 ? '' : 's'}, got ${items.length}` });
      }
      if (maxItems !== undefined && items.length > Number(maxItems)) {
        out.push({ field: path, rule: 'repeated.max_items', message: `must have at most ${String(maxItems)} items, got ${items.length}` });
      }
      if (unique) {
        const seen = new Map<string, number>();
        items.forEach((item, i) => {
          const key = itemKey(item);
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else out.push({ field: `${path}[${i}]`, rule: 'repeated.unique', message: `duplicates item [${first}]` });
        });
      }
      if (checkItem) for (let i = 0; i < items.length; i++) checkItem(items[i], `${path}[${i}]`, out);
    };
  }

  // `required` lives in the message, duration or any family, whichever the field's type reads.
  let requiredRule: string | undefined;
  for (const family of ['message', 'duration', 'any']) {
    if (!isObject(rules?.[family])) continue;
    const reader = new RuleReader(family, rules![family] as RuleSet, where);
    if (reader.get('required') === true) requiredRule = `${family}.required`;
    if (family !== 'duration') reader.done(); // duration's bounds are read (and checked for leftovers) by elementCheck
  }
  const checkValue = elementCheck(element, rules, '', where, ['message', 'duration', 'any']);
  // Oneof members and proto3 `optional` fields are validated only when set,
  // even `required` ones (PGV checks only the member the oneof holds).
  const checkedOnlyWhenSet = field.oneof !== undefined || element.kind === 'message' || field.proto.proto3Optional === true;
  if (!checkValue && !requiredRule) return undefined;
  return (message, parentPath, out) => {
    const value = get(message);
    if (value === undefined) {
      if (requiredRule && field.oneof === undefined) out.push({ field: join(parentPath, name), rule: requiredRule, message: 'is required' });
      if (checkedOnlyWhenSet) return;
    }
    checkValue?.(value, join(parentPath, name), out);
  };
}

function compileMessage(desc: DescMessage): MessageCheck {
  if (getOption(desc, disabledOption)) throw new UnknownValidateRuleError(desc.typeName, 'message.disabled');
  const fieldChecks = desc.fields.map((field) => compileField(field)).filter((c): c is FieldCheck => c !== undefined);
  const requiredOneofs = desc.oneofs
    .filter((oneof) => getOption(oneof, requiredOneofOption))
    .map((oneof) => ({ name: oneof.name, local: oneof.localName, members: oneof.fields.map((f) => f.name) }));
  return (message, path, out) => {
    for (const oneof of requiredOneofs) {
      if ((message as unknown as Record<string, { case?: string }>)[oneof.local]?.case === undefined) {
        out.push({ field: join(path, oneof.name), rule: 'oneof.required', message: `exactly one of ${oneof.members.join(', ')} is required` });
      }
    }
    for (const check of fieldChecks) check(message, path, out);
  };
}

let allCompiled = false;

/**
 * Compiles every message type of the registry once, so a rule the checker
 * does not implement fails at load, whichever resource would first reach it.
 */
function ensureAllCompiled(): void {
  if (allCompiled) return;
  for (const type of envoyRegistry) if (type.kind === 'message') compileMessage(type);
  allCompiled = true;
}

// ---------------------------------------------------------------------------
// Public API

export interface ValidateRulesCoverage {
  readonly messageTypes: number;
  readonly fieldsWithRules: number;
  readonly requiredOneofs: number;
  /** Every rule the loaded protos use, e.g. `string.min_len`, `repeated.items` (sorted). */
  readonly rulesInUse: readonly string[];
}

/** What the loaded protos annotate, read straight from the descriptors. */
export function validateRulesCoverage(): ValidateRulesCoverage {
  let messageTypes = 0;
  let fieldsWithRules = 0;
  let requiredOneofs = 0;
  const inUse = new Set<string>();
  const collect = (rules: JsonObject): void => {
    for (const [family, settings] of Object.entries(rules)) {
      if (!isObject(settings)) continue;
      for (const [key, value] of Object.entries(settings)) {
        inUse.add(`${family}.${key}`);
        if ((family === 'repeated' && key === 'items') || (family === 'map' && (key === 'keys' || key === 'values'))) collect(value as JsonObject);
      }
    }
  };
  for (const type of envoyRegistry) {
    if (type.kind !== 'message') continue;
    messageTypes++;
    for (const field of type.fields) {
      const rules = fieldRulesOf(field);
      if (!rules) continue;
      fieldsWithRules++;
      collect(rules);
    }
    for (const oneof of type.oneofs) {
      if (getOption(oneof, requiredOneofOption)) {
        requiredOneofs++;
        inUse.add('oneof.required');
      }
    }
    if (getOption(type, disabledOption)) inUse.add('message.disabled');
  }
  return { messageTypes, fieldsWithRules, requiredOneofs, rulesInUse: [...inUse].sort() };
}

/**
 * Compiles one field's rules as if its descriptor carried them: throws
 * UnknownValidateRuleError for any rule the checker does not implement.
 */
export function compileFieldRules(field: DescField, rules: FieldRules): void {
  compileField(field, toJson(FieldRulesSchema, rules, { useProtoFieldName: true }) as RuleSet);
}

/** Check a message already converted by the codec. */
export function checkEnvoyMessage(typeName: string, message: Message): RuleViolation[] {
  ensureAllCompiled();
  const out: Violations = [];
  messageCheckFor(envoySchema(typeName))(message, '', out);
  return out;
}

function jsonViolation(err: EnvoyJsonError): RuleViolation {
  return { field: err.path, rule: `proto3_json.${err.reason}`, message: err.detail };
}

/**
 * Every PGV violation in a proto3-JSON resource. JSON that does not fit the
 * proto at all (unknown field, wrong type) is reported as a single
 * `proto3_json.*` violation, since no rule can be evaluated past it.
 */
export function checkValidateRules(typeName: string, json: unknown): RuleViolation[] {
  let message: Message;
  try {
    message = messageFromJson(typeName, json);
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
  let message: Message;
  try {
    message = messageFromJson(typeName, json);
  } catch (err) {
    if (err instanceof EnvoyJsonError) throw new EnvoyResourceError(typeName, resourceName, [jsonViolation(err)], { cause: err });
    throw err;
  }
  const violations = checkEnvoyMessage(typeName, message);
  if (violations.length > 0) throw new EnvoyResourceError(typeName, resourceName, violations);
  return toBinary(envoySchema(typeName), message);
}
