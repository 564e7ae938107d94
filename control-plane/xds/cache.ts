/**
 * The xDS cache: for the current snapshot and each scope that has proxies
 * connected, the scope's resources encoded once, with per-resource versions
 * that are content hashes. Streams read from it; they never translate or
 * encode themselves.
 *
 * - A resource object the translator reused (its service did not change) keeps
 *   its encoded bytes and version, so an unchanged resource costs nothing and
 *   is never resent in delta.
 * - State-of-the-world responses are cached per (scope, type, subscription):
 *   every proxy of a scope with the same subscription gets the same buffer.
 * - Only the latest snapshot is kept: a slow proxy skips intermediate versions.
 */
import { LayeredMap } from '../lib/layered-map.js';
import { createHash } from 'node:crypto';
import { typeUrlOfKind } from '../envoy/resource-types.js';
import { encodeResource } from '../envoy/codec.js';
import type { Logger } from '../log/logger.js';
import type { Snapshot } from '../model/snapshot.js';
import { scopeKey, type ProxyScope } from '../translate/proxy-scope.js';
import { envoyTypeOfKind, resourceKinds, type EnvoyJson, type EnvoyResource, type ResourceKind, type TranslationIssue } from '../translate/resources.js';
import { Translator } from '../translate/translate.js';
import { encodeAny, encodeComposite, encodeDeltaResource, encodeDiscoveryResponse } from './wire.js';

export interface CachedResource {
  readonly name: string;
  /** Content hash of the encoded resource. */
  readonly version: string;
  readonly any: Buffer;
  readonly deltaResource: Buffer;
  /** The JSON it was encoded from (config_dump). */
  readonly body: EnvoyJson;
}

export interface ScopeView {
  readonly key: string;
  readonly scope: ProxyScope;
  readonly snapshotVersion: string;
  readonly resources: Readonly<Record<ResourceKind, ReadonlyMap<string, CachedResource>>>;
  readonly issues: readonly TranslationIssue[];
  /**
   * Resources that failed Envoy's rules or encoding in this snapshot. Each is
   * never silently withdrawn: the scope keeps serving its last good version
   * when it had one (`servedVersion`), and /readyz names it.
   */
  readonly withheld: readonly WithheldResource[];
  /** Shared state-of-the-world responses, by `<kind>|<subscription key>`. */
  readonly responses: Map<string, SotwResponse>;
}

export interface WithheldResource {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly problem: string;
  /** The version still served (the last good one), or undefined when there never was one. */
  readonly servedVersion?: string;
}

/** The order in which changes are pushed: clusters before their endpoints, listeners before their routes. */
export const pushOrder: readonly ResourceKind[] = ['clusters', 'endpoints', 'listeners', 'routes'];

/** Distinct SotW subscriptions whose response is kept per view; beyond it responses are built per request. */
const maxSharedResponses = 1_024;

export type ScopeListener = (view: ScopeView) => void;

function hash(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

export interface XdsCacheOptions {
  readonly logger: Logger;
  /** Check every resource against Envoy's validate rules before serving it (on by default). */
  readonly validate?: boolean;
  /** The mesh's SPIFFE trust domain for the translated TLS and RBAC settings (default cluster.local). */
  readonly trustDomain?: string;
}

export interface SotwResponse {
  readonly version: string;
  readonly bytes: Buffer;
  /** How many resources the full state holds (an incremental response sends fewer). */
  readonly resources: number;
}

/** Responses larger than this are held weakly (rebuilt if collected): a scope's full LDS is ~1 KB per service. */
const weaklyHeldResponseBytes = 64 * 1024;

/**
 * A SotW response: its version now, its bytes encoded on first use. Small
 * ones are then kept; large ones (every scope's own LDS and CDS, which differ
 * by the inbound side) only as long as something holds them — the streams
 * sending them — so memory does not grow with scopes × mesh size.
 */
class LazySotwResponse implements SotwResponse {
  #bytes?: Buffer;
  #weakBytes?: WeakRef<Buffer>;
  #encode?: () => Buffer;
  constructor(
    readonly version: string,
    readonly resources: number,
    encode: () => Buffer,
  ) {
    this.#encode = encode;
  }

  get bytes(): Buffer {
    const held = this.#bytes ?? this.#weakBytes?.deref();
    if (held) return held;
    const bytes = this.#encode!();
    if (bytes.length > weaklyHeldResponseBytes) this.#weakBytes = new WeakRef(bytes);
    else {
      this.#bytes = bytes;
      this.#encode = undefined; // drop what the encoder closed over
    }
    return bytes;
  }
}

export class XdsCache {
  readonly #translator = new Translator();
  readonly #encoded = new WeakMap<EnvoyJson, CachedResource>();
  readonly #encodedParts = new WeakMap<EnvoyJson, Uint8Array>();
  readonly #views = new Map<string, ScopeView>();
  readonly #listeners = new Map<string, Set<ScopeListener>>();
  readonly #scopes = new Map<string, ProxyScope>();
  /**
   * SotW responses of the current snapshot by kind and content digest: scopes
   * whose resources are the same (most scopes of a namespace) share one buffer.
   */
  #sharedResponses = new Map<string, SotwResponse>();
  /**
   * The previous snapshot's: a response's key is the digest of what it holds,
   * so one that did not change (every LDS and CDS response after an endpoint
   * change) is reused rather than re-encoded for each scope.
   */
  #previousSharedResponses = new Map<string, SotwResponse>();
  /** Full EDS/RDS responses' contents by response version (this snapshot and the previous): the base of incremental responses. */
  #contents = new Map<string, ReadonlyMap<string, CachedResource>>();
  #previousContents = new Map<string, ReadonlyMap<string, CachedResource>>();
  /** Encoded maps by the translated list they came from: scopes given the same list share one map. */
  readonly #maps = new WeakMap<readonly EnvoyResource[], ReadonlyMap<string, CachedResource>>();
  /** Subscriptions' selections by the map they select from (see #selection). */
  readonly #selections = new WeakMap<ReadonlyMap<string, CachedResource>, Map<string, { version: string; chosen: CachedResource[] }>>();
  /** Layered maps by (base, top), so scopes with the same layers share one (and its digest). */
  readonly #layeredMaps = new WeakMap<ReadonlyMap<string, CachedResource>, WeakMap<ReadonlyMap<string, CachedResource>, LayeredMap<string, CachedResource>>>();
  /** Digest of a whole map (the wildcard response's version), computed once per map. */
  readonly #wildcardDigests = new WeakMap<ReadonlyMap<string, CachedResource>, string>();
  #snapshot?: Snapshot;
  #updatedAt = 0;

  constructor(private readonly options: XdsCacheOptions) {}

  get snapshot(): Snapshot | undefined {
    return this.#snapshot;
  }

  /** When the current snapshot reached the cache (ms since epoch); push latency is measured from here. */
  get updatedAt(): number {
    return this.#updatedAt;
  }

  /** The scope's resources for the current snapshot, translating and encoding on first use. */
  view(scope: ProxyScope): ScopeView | undefined {
    const snapshot = this.#snapshot;
    if (!snapshot) return undefined;
    const key = scopeKey(scope);
    const existing = this.#views.get(key);
    if (existing?.snapshotVersion === snapshot.version) return existing;
    const view = this.#build(snapshot, scope, key);
    this.#views.set(key, view);
    return view;
  }

  /** Hear about new views of a scope; the scope stays cached while it has listeners. */
  subscribe(scope: ProxyScope, listener: ScopeListener): () => void {
    const key = scopeKey(scope);
    const set = this.#listeners.get(key) ?? new Set();
    set.add(listener);
    this.#listeners.set(key, set);
    this.#scopes.set(key, scope);
    return () => {
      set.delete(listener);
      if (set.size === 0) {
        this.#listeners.delete(key);
        this.#scopes.delete(key);
        this.#views.delete(key);
      }
    };
  }

  /** Install a new snapshot: rebuild every scope with listeners, then notify them. */
  update(snapshot: Snapshot): void {
    if (snapshot.version === this.#snapshot?.version) return;
    const started = performance.now();
    this.#snapshot = snapshot;
    this.#updatedAt = Date.now();
    this.#previousSharedResponses = this.#sharedResponses;
    this.#sharedResponses = new Map();
    // Proxies ACK responses of the previous snapshot while this one is pushed: keep those to diff against.
    this.#previousContents = this.#contents;
    this.#contents = new Map();
    const changed: ScopeView[] = [];
    for (const [key, scope] of this.#scopes) {
      const view = this.#build(snapshot, scope, key);
      this.#views.set(key, view);
      changed.push(view);
    }
    for (const key of [...this.#views.keys()]) if (!this.#listeners.has(key)) this.#views.delete(key);
    this.options.logger.debug({ version: snapshot.version, scopes: changed.length, ms: Math.round(performance.now() - started) }, 'xDS cache updated');
    for (const view of changed) for (const listener of this.#listeners.get(view.key) ?? []) listener(view);
  }

  /**
   * The shared SotW response for a subscription (`*` for wildcard), built once
   * per view. With `since` (the response version the proxy last ACKed), an EDS
   * or RDS response holds only the resources that changed since: the protocol
   * lets a server omit unchanged ones for every type but LDS and CDS (an
   * omitted endpoint or route table is kept, not deleted, by Envoy and gRPC),
   * so an endpoint change costs each proxy one ClusterLoadAssignment, not all.
   * Its version_info is still the full state's version.
   */
  sotwResponse(view: ScopeView, kind: ResourceKind, names: ReadonlySet<string> | 'wildcard', subscriptionKey: string, since?: string): SotwResponse {
    const full = this.#fullResponse(view, kind, names, subscriptionKey);
    if (since === undefined || since === full.version || names === 'wildcard' || (kind !== 'endpoints' && kind !== 'routes')) return full;
    const key = `${kind}|${full.version}|since|${since}`;
    const shared = this.#sharedResponse(key);
    if (shared) return shared;
    const before = this.#contentsOf(since);
    const now = this.#contentsOf(full.version);
    if (!before || !now) return full;
    const response = new LazySotwResponse(full.version, full.resources, () => {
      const changed = [...now.values()].filter((resource) => before.get(resource.name)?.version !== resource.version);
      return encodeDiscoveryResponse(full.version, typeUrlOfKind[kind], changed.map((r) => r.any));
    });
    if (this.#sharedResponses.size < maxSharedResponses * 4) this.#sharedResponses.set(key, response);
    return response;
  }

  /** A response of this snapshot, or an identical one of the previous (carried over). */
  #sharedResponse(key: string): SotwResponse | undefined {
    const current = this.#sharedResponses.get(key);
    if (current) return current;
    const previous = this.#previousSharedResponses.get(key);
    if (previous && this.#sharedResponses.size < maxSharedResponses * 4) this.#sharedResponses.set(key, previous);
    return previous;
  }

  /** What a full response held, for the current or the previous snapshot. */
  #contentsOf(version: string): ReadonlyMap<string, CachedResource> | undefined {
    return this.#contents.get(version) ?? this.#previousContents.get(version);
  }

  #fullResponse(view: ScopeView, kind: ResourceKind, names: ReadonlySet<string> | 'wildcard', subscriptionKey: string): SotwResponse {
    const cacheKey = `${kind}|${subscriptionKey}`;
    const cached = view.responses.get(cacheKey);
    if (cached) return cached;
    const all = view.resources[kind];
    const selection = names === 'wildcard' ? undefined : this.#selection(all, names, subscriptionKey);
    const version = selection ? selection.version : this.#wildcardDigest(all);
    const sharedKey = `${kind}|${version}`;
    let response = this.#sharedResponse(sharedKey);
    if (!response) {
      // Encoded when a stream sends it, not here: most scopes' responses are unchanged after a change.
      response = new LazySotwResponse(version, selection ? selection.chosen.length : all.size, () => encodeDiscoveryResponse(version, typeUrlOfKind[kind], (selection?.chosen ?? [...all.values()]).map((r) => r.any)));
      if (this.#sharedResponses.size < maxSharedResponses * 4) this.#sharedResponses.set(sharedKey, response);
    }
    const chosen = selection?.chosen ?? [];
    if ((kind === 'endpoints' || kind === 'routes') && names !== 'wildcard' && !this.#contents.has(version) && this.#contents.size < maxSharedResponses * 4) {
      this.#contents.set(version, this.#previousContents.get(version) ?? new Map(chosen.map((r) => [r.name, r])));
    }
    // Proxies of a scope share a handful of subscriptions; a stream cycling through made-up ones must not grow the view.
    if (view.responses.size < maxSharedResponses) view.responses.set(cacheKey, response);
    return response;
  }

  /**
   * The resources a subscription names, in name order, and their digest (the
   * response's version). Computed once per (map, subscription): the scopes of
   * a namespace share their EDS and RDS maps and name the same resources.
   */
  #selection(all: ReadonlyMap<string, CachedResource>, names: ReadonlySet<string>, subscriptionKey: string): { version: string; chosen: CachedResource[] } {
    let bySubscription = this.#selections.get(all);
    if (!bySubscription) this.#selections.set(all, (bySubscription = new Map()));
    let selection = bySubscription.get(subscriptionKey);
    if (!selection) {
      const chosen: CachedResource[] = [];
      for (const name of [...names].sort()) {
        const resource = all.get(name);
        if (resource) chosen.push(resource);
      }
      const digest = createHash('sha256');
      for (const resource of chosen) digest.update(resource.name).update('\0').update(resource.version).update('\0');
      selection = { version: digest.digest('hex').slice(0, 16), chosen };
      // Bounded like the responses: a stream cycling through made-up subscriptions must not grow it.
      if (bySubscription.size < maxSharedResponses) bySubscription.set(subscriptionKey, selection);
    }
    return selection;
  }

  /** Every resource withheld in the current views (for /readyz), one entry per (kind, name). */
  withheld(): Array<WithheldResource & { readonly scopes: number }> {
    const byName = new Map<string, WithheldResource & { scopes: number }>();
    for (const view of this.#views.values()) {
      for (const item of view.withheld) {
        const key = `${item.kind}|${item.name}`;
        const entry = byName.get(key);
        if (entry) entry.scopes += 1;
        else byName.set(key, { ...item, scopes: 1 });
      }
    }
    return [...byName.values()];
  }

  #build(snapshot: Snapshot, scope: ProxyScope, key: string): ScopeView {
    const translated = this.#translator.translate(snapshot, scope, { validate: this.options.validate ?? true, ...(this.options.trustDomain ? { trustDomain: this.options.trustDomain } : {}) });
    const previous = this.#views.get(key);
    const withheld: WithheldResource[] = [];
    // A resource that fails is a bug of ours, but withdrawing it would make Envoy delete a
    // service's clusters or routes (CDS/LDS are state of the world): keep the last good one.
    const withhold = (kind: ResourceKind, name: string, problem: string, map: Map<string, CachedResource>): void => {
      const lastGood = previous?.resources[kind].get(name);
      if (lastGood) map.set(name, lastGood);
      withheld.push({ kind, name, problem, servedVersion: lastGood?.version });
      this.options.logger.error({ scope: key, kind, resource: name, keeping: lastGood?.version ?? null }, `${problem}${lastGood ? '; still serving its last good version' : '; it has no good version to serve'}`);
    };
    const resources = {} as Record<ResourceKind, ReadonlyMap<string, CachedResource>>;
    for (const kind of resourceKinds) {
      const failed = translated.issues.some((i) => i.severity === 'error' && i.kind === kind);
      const layers = failed ? undefined : translated.layers;
      if (layers) {
        const base = this.#cleanMap(kind, layers.shared[kind]);
        const top = base && this.#cleanMap(kind, layers.own[kind]);
        if (base && top) {
          resources[kind] = top.size === 0 ? base : this.#layered(base, top);
          continue;
        }
      }
      const shared = failed ? undefined : this.#maps.get(translated[kind]);
      if (shared) {
        resources[kind] = shared;
        continue;
      }
      const map = new Map<string, CachedResource>();
      for (const resource of translated[kind]) {
        try {
          map.set(resource.name, this.#encode(kind, resource));
        } catch (error) {
          withhold(kind, resource.name, `${kind} "${resource.name}" cannot be encoded: ${(error as Error).message}`, map);
        }
      }
      for (const issue of translated.issues) {
        if (issue.severity === 'error' && issue.kind === kind && issue.resource && !map.has(issue.resource)) withhold(kind, issue.resource, issue.message, map);
      }
      // Only a clean list is shared: a withheld resource depends on this scope's previous view.
      if (!failed && map.size === translated[kind].length) this.#maps.set(translated[kind], map);
      resources[kind] = map;
    }
    return { key, scope, snapshotVersion: snapshot.version, resources, issues: translated.issues, withheld, responses: new Map() };
  }

  /** The encoded map of a list with nothing to withhold (one per list, shared by every scope given it), or undefined if one fails to encode. */
  #cleanMap(kind: ResourceKind, list: readonly EnvoyResource[]): ReadonlyMap<string, CachedResource> | undefined {
    const known = this.#maps.get(list);
    if (known) return known;
    const map = new Map<string, CachedResource>();
    try {
      for (const resource of list) map.set(resource.name, this.#encode(kind, resource));
    } catch {
      return undefined; // the caller's general path reports and withholds it
    }
    this.#maps.set(list, map);
    return map;
  }

  #layered(base: ReadonlyMap<string, CachedResource>, top: ReadonlyMap<string, CachedResource>): LayeredMap<string, CachedResource> {
    let byTop = this.#layeredMaps.get(base);
    if (!byTop) this.#layeredMaps.set(base, (byTop = new WeakMap()));
    let layered = byTop.get(top);
    if (!layered) byTop.set(top, (layered = new LayeredMap(base, top)));
    return layered;
  }

  /** The version of a wildcard response: a digest of every (name, version), a layered map's from its layers' (so a scope pays for its own layer only). */
  #wildcardDigest(map: ReadonlyMap<string, CachedResource>): string {
    let digest = this.#wildcardDigests.get(map);
    if (digest !== undefined) return digest;
    const hasher = createHash('sha256');
    if (map instanceof LayeredMap) hasher.update(this.#wildcardDigest(map.base)).update('+').update(this.#wildcardDigest(map.top));
    else for (const resource of map.values()) hasher.update(resource.name).update('\0').update(resource.version).update('\0');
    digest = hasher.digest('hex').slice(0, 16);
    this.#wildcardDigests.set(map, digest);
    return digest;
  }

  /** A shared part (a virtual host) is encoded once, whatever number of tables hold it. */
  #encodePart(typeName: string, part: EnvoyJson, resourceName: string): Uint8Array {
    let bytes = this.#encodedParts.get(part);
    if (!bytes) {
      bytes = encodeResource(typeName, part, resourceName);
      this.#encodedParts.set(part, bytes);
    }
    return bytes;
  }

  #encode(kind: ResourceKind, resource: EnvoyResource): CachedResource {
    const known = this.#encoded.get(resource.body);
    if (known) return known;
    const typeName = envoyTypeOfKind[kind];
    const composite = resource.composite;
    const bytes = composite
      ? encodeComposite(encodeResource(typeName, composite.shell, resource.name), composite.fieldNumber, composite.parts.map((part) => this.#encodePart(composite.partType, part, resource.name)))
      : encodeResource(typeName, resource.body, resource.name);
    const version = hash(bytes);
    const any = encodeAny(typeUrlOfKind[kind], bytes);
    const cached: CachedResource = { name: resource.name, version, any, deltaResource: encodeDeltaResource(resource.name, version, any), body: resource.body };
    this.#encoded.set(resource.body, cached);
    return cached;
  }
}
