/**
 * YAML mode: canary state in `<state-dir>/canaries.json`, never in the user's
 * manifests. Written atomically (temp file + rename) so a crash mid-write
 * leaves the previous state, and serialised so writes never interleave.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../core/errors.js';
import { canaryKey, parseState, type CanaryPersistence } from './persistence.js';
import type { CanaryState } from './state-machine.js';

export class StateFileError extends SluiceError {}

interface FileShape {
  version: 1;
  canaries: Record<string, CanaryState & { generation?: number }>;
}

export class CanaryStateFile implements CanaryPersistence {
  readonly file: string;
  readonly description: string;
  #states = new Map<string, CanaryState & { generation?: number }>();
  #loaded = false;
  #writing: Promise<void> = Promise.resolve();

  constructor(readonly directory: string) {
    this.file = path.join(directory, 'canaries.json');
    this.description = `state file ${this.file}`;
  }

  async loadAll(): Promise<Map<string, CanaryState>> {
    if (!this.#loaded) {
      this.#loaded = true;
      let text: string | undefined;
      try {
        text = await readFile(this.file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new StateFileError('state-file-read', `cannot read ${this.file}: ${(error as Error).message}`, { file: this.file }, { cause: error });
      }
      if (text !== undefined) {
        let parsed: Partial<FileShape> | null;
        try {
          parsed = JSON.parse(text) as Partial<FileShape> | null;
        } catch (error) {
          throw new StateFileError('state-file-corrupt', `${this.file} is not valid JSON (${(error as Error).message}); move it away to start canaries afresh`, { file: this.file }, { cause: error });
        }
        // Valid JSON of the wrong shape is as corrupt as bad JSON: dropping entries would silently restart canaries.
        const canaries: unknown = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed.canaries ?? {}) : undefined;
        if (!canaries || typeof canaries !== 'object' || Array.isArray(canaries)) {
          throw new StateFileError('state-file-corrupt', `${this.file} is not a Sluice canary state file (expected {"version": 1, "canaries": {…}}); move it away to start canaries afresh`, { file: this.file });
        }
        for (const [key, value] of Object.entries(canaries as Record<string, CanaryState & { generation?: unknown }>)) {
          const state = parseState(value);
          if (!state) throw new StateFileError('state-file-corrupt', `${this.file}: the state of canary ${JSON.stringify(key.slice(0, 256))} is unreadable (phase or canaryVersion missing or unknown); fix or remove that entry`, { file: this.file, canary: key.slice(0, 256) });
          this.#states.set(key, { ...state, ...(typeof value.generation === 'number' ? { generation: value.generation } : {}) });
        }
      }
    }
    return new Map(this.#states);
  }

  async save(namespace: string, name: string, state: CanaryState, generation?: number): Promise<void> {
    this.#states.set(canaryKey(namespace, name), { ...state, ...(generation !== undefined ? { generation } : {}) });
    await this.#flush();
  }

  async remove(namespace: string, name: string): Promise<void> {
    if (this.#states.delete(canaryKey(namespace, name))) await this.#flush();
  }

  #flush(): Promise<void> {
    const body: FileShape = { version: 1, canaries: Object.fromEntries([...this.#states].sort(([a], [b]) => a.localeCompare(b))) };
    const text = `${JSON.stringify(body, null, 2)}\n`;
    const run = this.#writing.catch(() => undefined).then(async () => {
      await mkdir(this.directory, { recursive: true });
      const temp = `${this.file}.${process.pid}.tmp`;
      try {
        await writeFile(temp, text);
        await rename(temp, this.file);
      } catch (error) {
        throw new StateFileError('state-file-write', `cannot write ${this.file}: ${(error as Error).message}`, { file: this.file }, { cause: error });
      }
    });
    this.#writing = run;
    return run;
  }
}
