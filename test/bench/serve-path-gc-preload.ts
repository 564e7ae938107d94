/**
 * Preloaded into the benchmarked `sluice serve` process (node --expose-gc
 * --import): SIGUSR2 runs a full garbage collection, so the benchmark reads
 * live heap, not whatever garbage the last push left. With
 * SLUICE_SERVE_PATH_CPU_PROF=<dir>, SIGWINCH starts a V8 CPU profile and the
 * next SIGWINCH writes it to <dir>: the benchmark brackets its changes with
 * them, so the profile holds the changes, not the start-up and the sync.
 * Nothing else changes.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc) process.on('SIGUSR2', () => gc());

const profileDir = process.env.SLUICE_SERVE_PATH_CPU_PROF;
if (profileDir) {
  const session = new Session();
  session.connect();
  let profiling = false;
  let count = 0;
  process.on('SIGWINCH', () => {
    if (!profiling) {
      profiling = true;
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      return;
    }
    profiling = false;
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(path.join(profileDir, `changes-${process.pid}-${++count}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
