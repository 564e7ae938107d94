/**
 * Preloaded into the benchmarked `sluice serve` process (node --expose-gc
 * --import): SIGUSR2 runs a full garbage collection, so the benchmark reads
 * live heap, not whatever garbage the last push left. Nothing else changes.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) process.on('SIGUSR2', () => gc());
