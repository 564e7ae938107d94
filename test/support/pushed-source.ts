/**
 * A ConfigSource a test or benchmark drives by hand: the initial load on
 * start, then whatever `push` hands it (no files, no debounce).
 */
import type { ConfigSource, LoadResult } from '../../control-plane/core/config-source.js';

export class PushedSource implements ConfigSource {
  #onLoad?: (load: LoadResult) => void;
  constructor(
    private readonly initial: LoadResult,
    readonly description = 'test',
  ) {}
  async start(onLoad: (load: LoadResult) => void): Promise<void> {
    this.#onLoad = onLoad;
    onLoad(this.initial);
  }
  async stop(): Promise<void> {}
  push(load: LoadResult): void {
    this.#onLoad!(load);
  }
}
