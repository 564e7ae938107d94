/**
 * AdmissionReview in, AdmissionReview out — no HTTP here, so the server, the
 * golden tests and the benchmarks all go through exactly this function.
 *
 * What is answered how:
 * - not JSON, not an `admission.k8s.io/v1` AdmissionReview, no `request.uid`:
 *   AdmissionInputError → the server answers HTTP 400 (without a uid the API
 *   server could not match an AdmissionReview answer anyway);
 * - anything but a Pod CREATE, or a pod that is not to be injected:
 *   `allowed: true` without a patch, with the reason in `status.message`;
 * - a pod to inject: `allowed: true` with a base64 JSONPatch;
 * - a pod whose sluice annotations cannot be used (including a port or CIDR
 *   list over MAX_LIST_ENTRIES): `allowed: false`, code 400, naming each bad
 *   annotation (the same choice as the `Fail` failurePolicy and as Istio's
 *   injector: a pod in a meshed namespace does not silently start without its proxy);
 * - a pod whose fields have the wrong JSON types (numeric label values,
 *   `annotations: "x"`, `containers: {}`…): `allowed: false`, code 400,
 *   naming each field (see pod-shape.ts), never a 500 or a patch that cannot apply.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../control-plane/core/errors.js';
import type { InjectionConfig } from './config.js';
import { decideInjection, type NamespacePolicy } from './injection-policy.js';
import { isObject, type Pod } from './kube.js';
import { buildInjectionPatch, type Operation } from './patch.js';
import { PodAnnotationsError } from './pod-settings.js';
import { normalizePod, podShapeProblems } from './pod-shape.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation?: string;
  dryRun?: boolean;
  object?: unknown;
  [key: string]: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** The request could not be read as an AdmissionReview at all. */
export class AdmissionInputError extends SluiceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('admission-bad-request', message, context);
  }
}

export function parseAdmissionReview(body: string): AdmissionRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new AdmissionInputError(`request body is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new AdmissionInputError('request body is not a JSON object');
  if (parsed.kind !== 'AdmissionReview' || parsed.apiVersion !== ADMISSION_API_VERSION) {
    throw new AdmissionInputError(
      `expected an ${ADMISSION_API_VERSION} AdmissionReview, got ${String(parsed.apiVersion ?? '?')} ${String(parsed.kind ?? '?')}`,
      { apiVersion: parsed.apiVersion, kind: parsed.kind },
    );
  }
  const request = parsed.request;
  if (!isObject(request)) throw new AdmissionInputError('AdmissionReview has no request');
  if (typeof request.uid !== 'string' || request.uid === '') throw new AdmissionInputError('AdmissionReview request has no uid');
  return request as AdmissionRequest;
}

export interface ReviewOptions {
  readonly config: InjectionConfig;
  readonly policy: NamespacePolicy;
  readonly log: Logger;
}

export interface ReviewResult {
  readonly response: AdmissionReviewOut;
  /** The decoded patch, for logs and tests; the response carries it base64-encoded. */
  readonly patch: Operation[] | undefined;
}

export function reviewAdmission(request: AdmissionRequest, options: ReviewOptions): ReviewResult {
  const { uid } = request;
  const namespace = typeof request.namespace === 'string' ? request.namespace : '';
  const pod = request.object as Pod | undefined;
  const podName = (isObject(pod) && isObject(pod.metadata) && (pod.metadata.name ?? pod.metadata.generateName)) || request.name || '';
  const log = options.log.child({ uid, namespace, pod: podName, dryRun: request.dryRun === true });
  const wrap = (response: Omit<AdmissionResponse, 'uid'>, patch?: Operation[]): ReviewResult => ({
    response: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid, ...response } },
    patch,
  });
  const allowUnchanged = (message: string, warnings: readonly string[] = []): ReviewResult => {
    log.debug({ decision: 'skip', reason: message }, 'not injecting');
    return wrap({ allowed: true, status: { code: 200, message }, ...(warnings.length > 0 ? { warnings: [...warnings] } : {}) });
  };

  const kind = request.kind?.kind;
  if (kind !== 'Pod' || (request.kind?.group ?? '') !== '' || request.subResource) {
    const what = `${request.kind?.group ? `${request.kind.group}/` : ''}${kind ?? 'unknown kind'}${request.subResource ? `/${request.subResource}` : ''}`;
    return allowUnchanged(`sluice injects Pods only; ${what} passes unchanged`);
  }
  if (request.operation !== 'CREATE') return allowUnchanged(`sluice injects on CREATE only; ${String(request.operation)} passes unchanged`);
  if (!isObject(pod) || !isObject(pod.spec) || pod.spec.containers === undefined) {
    return allowUnchanged('the request carries no pod with spec.containers; nothing to inject');
  }
  const problems = podShapeProblems(pod);
  if (problems.length > 0) {
    log.info({ decision: 'reject', problems }, 'pod rejected: fields of the wrong JSON type');
    return wrap({ allowed: false, status: { code: 400, reason: 'BadRequest', message: `sluice sidecar injection: the pod is malformed: ${problems.join('; ')}` } });
  }
  const shaped = normalizePod(pod);

  const decision = decideInjection(shaped, { namespace, policy: options.policy, excludeNamespaces: options.config.excludeNamespaces });
  if (!decision.inject) return allowUnchanged(decision.reason, decision.warnings);

  let patch: Operation[];
  try {
    patch = buildInjectionPatch(shaped, options.config);
  } catch (error) {
    if (error instanceof PodAnnotationsError) {
      log.info({ decision: 'reject', err: error }, 'pod rejected: unusable sluice annotations');
      return wrap({ allowed: false, status: { code: 400, reason: 'BadRequest', message: `sluice sidecar injection: ${error.message}` } });
    }
    throw error;
  }
  log.info({ decision: 'inject', reason: decision.reason, operations: patch.length }, 'injecting sidecar');
  return wrap(
    {
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      ...(decision.warnings.length > 0 ? { warnings: [...decision.warnings] } : {}),
    },
    patch,
  );
}
