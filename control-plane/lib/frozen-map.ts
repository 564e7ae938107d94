/**
 * A Map that refuses changes once built. Object.freeze does not stop
 * Map#set, and snapshots are shared by every stage and every proxy, so an
 * accidental write must fail loudly rather than corrupt someone else's view.
 */
export class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;

  constructor(entries?: Iterable<readonly [K, V]>) {
    super();
    for (const [key, value] of entries ?? []) super.set(key, value);
    this.#sealed = true;
  }

  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError('snapshot maps are immutable');
    return super.set(key, value);
  }

  override delete(): boolean {
    throw new TypeError('snapshot maps are immutable');
  }

  override clear(): void {
    throw new TypeError('snapshot maps are immutable');
  }
}
