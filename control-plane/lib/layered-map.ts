/**
 * A read-only map made of two maps without copying them: `top` first, then
 * `base` (a key in both is read from `top`). Scopes of one namespace share
 * the big base (every service's clusters and listeners) and differ by a
 * small top (their inbound side), so each scope costs its top alone.
 */
export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  constructor(
    readonly base: ReadonlyMap<K, V>,
    readonly top: ReadonlyMap<K, V>,
  ) {}

  get size(): number {
    let size = this.base.size;
    for (const key of this.top.keys()) if (!this.base.has(key)) size += 1;
    return size;
  }

  get(key: K): V | undefined {
    return this.top.has(key) ? this.top.get(key) : this.base.get(key);
  }

  has(key: K): boolean {
    return this.top.has(key) || this.base.has(key);
  }

  *entries(): MapIterator<[K, V]> {
    for (const entry of this.base) if (!this.top.has(entry[0])) yield entry;
    yield* this.top.entries();
  }

  *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}
