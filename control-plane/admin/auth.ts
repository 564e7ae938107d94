/**
 * Who may change things through the admin API. Read-only endpoints are open
 * (the port binds to 127.0.0.1 unless `--admin-address` says otherwise);
 * every state-changing request carries `Authorization: Bearer <token>` and is
 * checked against an AdminAction:
 *
 * - YAML mode: one shared token from `--admin-token-file` (AdminTokenFile);
 * - Kubernetes mode: TokenReview + SubjectAccessReview (kubernetes-auth.ts),
 *   so RBAC decides and the API server's audit log records each check;
 * - neither configured: state changes are refused with how to enable them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SluiceError } from '../core/errors.js';

/**
 * What a request wants to do, in Kubernetes authorization terms (the fields of
 * a SubjectAccessReview's resourceAttributes), e.g. verb `promote` on
 * `canaries.sluice.dev` `shop/orders`.
 */
export interface AdminAction {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

export interface AdminPrincipal {
  readonly user: string;
  readonly groups: readonly string[];
}

/** An admin request that must not proceed: the HTTP status and a message saying what to do. */
export class AdminAccessError extends SluiceError {
  constructor(readonly httpStatus: 401 | 403 | 503, message: string, context: Record<string, unknown> = {}) {
    super('admin-access-denied', message, context);
  }
}

export interface AdminAuthenticator {
  /** For the start-up log line: how state changes are authenticated. */
  readonly description: string;
  /** The principal allowed to do `action`, or an AdminAccessError. `token` is undefined without an Authorization header. */
  check(token: string | undefined, action: AdminAction): Promise<AdminPrincipal>;
}

export function describeAction(action: AdminAction): string {
  const resource = `${action.resource}${action.subresource ? `/${action.subresource}` : ''}${action.group ? `.${action.group}` : ''}`;
  const object = action.name ? ` ${action.namespace ? `${action.namespace}/` : ''}${action.name}` : action.namespace ? ` in namespace ${action.namespace}` : '';
  return `${action.verb} ${resource}${object}`;
}

/** No authentication configured: nothing state-changing is allowed, and the answer says how to turn it on. */
export const adminChangesDisabled: AdminAuthenticator = {
  description: 'disabled (no --admin-token-file; read-only endpoints only)',
  async check(): Promise<AdminPrincipal> {
    throw new AdminAccessError(403, 'state-changing admin endpoints are disabled: start `sluice serve` with --admin-token-file <file> (YAML mode) or --kubeconfig (Kubernetes RBAC through TokenReview and SubjectAccessReview), then send Authorization: Bearer <token>');
  },
};

/** Shortest token accepted from a file: a guessable one would be no protection. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

export class AdminTokenError extends SluiceError {}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** YAML mode: whoever holds the token in `--admin-token-file` may run every state-changing command. */
export class AdminTokenFile implements AdminAuthenticator {
  readonly description: string;
  readonly #digest: Buffer;

  private constructor(file: string, token: string) {
    this.description = `bearer token from ${file}`;
    this.#digest = digest(token);
  }

  static async load(file: string): Promise<AdminTokenFile> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new AdminTokenError('admin-token-file', `cannot read --admin-token-file ${file}: ${(error as Error).message}`, { file });
    }
    const token = text.trim();
    if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new AdminTokenError('admin-token-file', `--admin-token-file ${file} must hold one token of at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces (e.g. \`openssl rand -hex 32 > ${file}\`)`, { file });
    }
    return new AdminTokenFile(file, token);
  }

  async check(token: string | undefined): Promise<AdminPrincipal> {
    if (token === undefined) throw new AdminAccessError(401, 'this admin endpoint needs Authorization: Bearer <token> (the token in the control plane\'s --admin-token-file)');
    // Compare digests in constant time, so the answer time says nothing about the token.
    if (!timingSafeEqual(digest(token), this.#digest)) throw new AdminAccessError(401, 'the bearer token does not match the control plane\'s --admin-token-file');
    return { user: 'admin-token', groups: [] };
  }
}
