/**
 * Canary commands by `kubectl`, like Argo Rollouts' promote/abort: an
 * annotation on the Canary object, acted on once by the leader and
 * acknowledged in `status.lastCommand`:
 *
 *   kubectl annotate --overwrite canary/orders -n shop \
 *     sluice.dev/command=promote sluice.dev/command-id=$(date +%s)
 *
 * The annotation is left in place (a GitOps tool applying the Canary does not
 * fight the controller over it). A (command, id) pair is acted on once: giving
 * the same command again needs a new id. RBAC applies as for any edit: whoever
 * may `patch` canaries.sluice.dev in the namespace may command them.
 */
import type { Canary } from '../model/snapshot.js';
import type { AcknowledgedCommand, CanaryCommand } from './state-machine.js';

export const COMMAND_ANNOTATION = 'sluice.dev/command';
export const COMMAND_ID_ANNOTATION = 'sluice.dev/command-id';

const commands: readonly string[] = ['promote', 'abort', 'pause', 'resume'];

/** A command on the Canary not yet acknowledged, if any. `command` is undefined when the value is not one. */
export function pendingCommand(canary: Canary, acknowledged: AcknowledgedCommand | undefined): { given: string; id: string; command?: CanaryCommand } | undefined {
  const given = canary.annotations?.[COMMAND_ANNOTATION]?.trim();
  if (given === undefined || given === '') return undefined;
  const id = canary.annotations?.[COMMAND_ID_ANNOTATION]?.trim() ?? '';
  if (acknowledged && acknowledged.command === given && acknowledged.id === id) return undefined;
  return { given, id, ...(commands.includes(given) ? { command: given as CanaryCommand } : {}) };
}
