/**
 * The admin HTTP port: health, readiness, Prometheus metrics and debug views.
 * Other components add their routes (canary control, telemetry) with `route()`.
 *
 * No input takes the process down: a malformed request target is answered
 * 400, a body over the limit 413, a failing handler 500 (JSON, logged).
 *
 * GET routes are read-only and open. Any other method changes state and must
 * name its AdminAction when registered; before its handler runs the server
 * refuses (in this order) a cross-site browser request (403: `Origin` of
 * another site or `Sec-Fetch-Site: cross-site|same-site`), a body that is not
 * `application/json` (415: no HTML form or text/plain "simple request" can
 * reach a command), and a request the AdminAuthenticator does not allow (401/403).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SluiceError } from '../core/errors.js';
import { parseRequestTarget } from '../lib/request-target.js';
import type { Logger } from '../log/logger.js';
import { AdminAccessError, adminChangesDisabled, describeAction, type AdminAction, type AdminAuthenticator, type AdminPrincipal } from './auth.js';

export type AdminHandler = (request: IncomingMessage, url: URL, body: string) => Promise<AdminResponse> | AdminResponse;

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
  /** Defaults to JSON; text bodies are sent as is. */
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Commands and queries carry a few hundred bytes; 64 KiB is generous and bounds what a client can make us hold. */
export const DEFAULT_ADMIN_MAX_BODY_BYTES = 64 * 1024;

export interface AdminServerOptions {
  /** Who may call state-changing routes; default: nobody (adminChangesDisabled). */
  readonly auth?: AdminAuthenticator;
  readonly maxBodyBytes?: number;
}

/** The AdminAction a state-changing request asks for, read from its URL; undefined when the URL names none (404). */
export type AdminActionOf = (url: URL) => AdminAction | undefined;

interface Route {
  readonly handler: AdminHandler;
  readonly action?: AdminActionOf;
}

/** An admin request answered with an HTTP error status (400, 401, 403, 404, 413, 415, 503). */
class AdminHttpError extends SluiceError {
  constructor(readonly status: number, message: string, readonly headers: Readonly<Record<string, string>> = {}) {
    super('admin-http-error', message, { status });
  }
}

const READ_METHODS = new Set(['GET', 'HEAD']);

export class AdminServer {
  readonly #routes = new Map<string, Route>();
  readonly #server: Server;
  readonly #auth: AdminAuthenticator;
  readonly #maxBodyBytes: number;
  #port = 0;

  constructor(private readonly logger: Logger, options: AdminServerOptions = {}) {
    this.#auth = options.auth ?? adminChangesDisabled;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_ADMIN_MAX_BODY_BYTES;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        // #handle answers every failure itself; this is the last line of defence.
        this.logger.error({ err: error }, 'admin request failed unanswered');
        if (!response.headersSent) this.#send(response, { status: 500, body: { error: 'internal error' } }, true);
        else response.destroy();
      });
    });
    // A client trickling its request in holds a socket, not the process.
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 10_000;
  }

  /**
   * Register `GET /path` style routes; a path ending in `/*` matches any suffix.
   * A state-changing route (any method but GET/HEAD) must give `action`: what
   * the request asks to do, checked with the AdminAuthenticator before the handler runs.
   */
  route(method: string, path: string, handler: AdminHandler, action?: AdminActionOf): void {
    if (!READ_METHODS.has(method) && action === undefined) throw new Error(`admin route ${method} ${path} changes state and must name its AdminAction`);
    this.#routes.set(`${method} ${path}`, { handler, action });
  }

  get port(): number {
    return this.#port;
  }

  get authentication(): string {
    return this.#auth.description;
  }

  async start(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#server.on('error', (error) => this.logger.error({ err: error }, 'admin server error'));
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
    return this.#port;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * Authenticate `request` for `action` (for a read-only route that needs it,
   * such as a config dump under mTLS); throws an error the server answers
   * 401/403/503. State-changing routes are checked before their handler runs.
   */
  async authorize(request: IncomingMessage, action: AdminAction): Promise<AdminPrincipal> {
    const header = request.headers.authorization;
    const token = header === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(header)?.[1];
    if (header !== undefined && token === undefined) throw new AdminHttpError(401, 'the Authorization header must be "Bearer <token>"', { 'www-authenticate': 'Bearer realm="sluice-admin"' });
    try {
      return await this.#auth.check(token, action);
    } catch (error) {
      if (error instanceof AdminAccessError) {
        this.logger.info({ action: describeAction(action), status: error.httpStatus, reason: error.message }, 'admin request refused');
        throw new AdminHttpError(error.httpStatus, error.message, error.httpStatus === 401 ? { 'www-authenticate': 'Bearer realm="sluice-admin"' } : {});
      }
      throw error;
    }
  }

  #find(method: string, pathname: string): Route | undefined {
    const exact = this.#routes.get(`${method} ${pathname}`);
    if (exact) return exact;
    for (const [key, route] of this.#routes) {
      const [routeMethod, routePath] = key.split(' ') as [string, string];
      if (routeMethod === method && routePath.endsWith('/*') && pathname.startsWith(routePath.slice(0, -1))) return route;
    }
    return undefined;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const url = parseRequestTarget(request.url);
    if (!url) {
      this.#send(response, { status: 400, body: { error: 'malformed request target: send a path such as /healthz' } }, true);
      return;
    }
    let result: AdminResponse;
    try {
      const route = this.#find(method, url.pathname);
      if (!route) {
        result = { status: 404, body: { error: `no such admin endpoint: ${method} ${url.pathname}` } };
      } else if (route.action) {
        result = await this.#change(request, url, route.handler, route.action);
      } else {
        result = await route.handler(request, url, await this.#readBody(request));
      }
    } catch (error) {
      if (error instanceof AdminHttpError) {
        result = { status: error.status, body: { error: error.message }, headers: error.headers };
      } else {
        this.logger.error({ err: error, method, path: url.pathname }, 'admin request failed');
        result = { status: 500, body: { error: `internal error: ${(error as Error).message ?? String(error)}` } };
      }
    }
    // After a refusal the rest of a large body is not worth reading: close instead.
    this.#send(response, result, result.status === 413 || !request.complete);
  }

  /** A state-changing request: same-site, JSON, authenticated, then the handler. */
  async #change(request: IncomingMessage, url: URL, handler: AdminHandler, actionOf: AdminActionOf): Promise<AdminResponse> {
    refuseCrossSite(request);
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      throw new AdminHttpError(415, `send state-changing admin requests with Content-Type: application/json (got ${mediaType || 'none'})`);
    }
    const action = actionOf(url);
    if (!action) throw new AdminHttpError(404, `no such admin command: ${request.method ?? 'POST'} ${url.pathname}`);
    const principal = await this.authorize(request, action);
    const body = await this.#readBody(request);
    if (body.trim() !== '') {
      try {
        JSON.parse(body);
      } catch {
        throw new AdminHttpError(400, 'the request body is not JSON (send {} or nothing)');
      }
    }
    const result = await handler(request, url, body);
    // The audit trail of who changed what, whatever the outcome.
    this.logger.info({ user: principal.user, action: describeAction(action), status: result.status }, 'admin command');
    return result;
  }

  async #readBody(request: IncomingMessage): Promise<string> {
    const limit = this.#maxBodyBytes;
    const tooLarge = () => new AdminHttpError(413, `request body exceeds ${limit} bytes`);
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  #send(response: ServerResponse, result: AdminResponse, close = false): void {
    const text = typeof result.body === 'string' ? result.body : `${JSON.stringify(result.body, null, 2)}\n`;
    response.writeHead(result.status, {
      'content-type': result.contentType ?? (typeof result.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
      'cache-control': 'no-store',
      ...result.headers,
      ...(close ? { connection: 'close' } : {}),
    });
    response.end(text);
  }
}

/**
 * Browsers say where a request comes from: `Sec-Fetch-Site` (all current
 * browsers) and `Origin` (on every cross-origin request and every POST). A
 * command-line client sends neither. A page on another site — or one served on
 * another port of the same host — gets 403, so opening a web page cannot promote a release.
 */
function refuseCrossSite(request: IncomingMessage): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new AdminHttpError(403, `cross-site request refused (Sec-Fetch-Site: ${site}): state-changing admin requests come from the sluice CLI or another non-browser client`);
  }
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const host = request.headers.host;
  if (host === undefined || (origin !== `http://${host}` && origin !== `https://${host}`)) {
    throw new AdminHttpError(403, `cross-origin request refused (Origin: ${origin}): state-changing admin requests come from the sluice CLI or another non-browser client`);
  }
}
