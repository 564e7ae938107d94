/**
 * The admin HTTP port: health, readiness, Prometheus metrics and debug views.
 * Other components add their routes (canary control, telemetry) with `route()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';

export type AdminHandler = (request: IncomingMessage, url: URL, body: string) => Promise<AdminResponse> | AdminResponse;

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
  /** Defaults to JSON; text bodies are sent as is. */
  readonly contentType?: string;
}

export class AdminServer {
  readonly #routes = new Map<string, AdminHandler>();
  readonly #server: Server;
  #port = 0;

  constructor(private readonly logger: Logger) {
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  /** Register `GET /path` style routes; a path ending in `/*` matches any suffix. */
  route(method: string, path: string, handler: AdminHandler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  get port(): number {
    return this.#port;
  }

  async start(port: number, host = '0.0.0.0'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
    return this.#port;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #find(method: string, pathname: string): AdminHandler | undefined {
    const exact = this.#routes.get(`${method} ${pathname}`);
    if (exact) return exact;
    for (const [key, handler] of this.#routes) {
      const [routeMethod, routePath] = key.split(' ') as [string, string];
      if (routeMethod === method && routePath.endsWith('/*') && pathname.startsWith(routePath.slice(0, -1))) return handler;
    }
    return undefined;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://admin');
    const handler = this.#find(request.method ?? 'GET', url.pathname);
    let result: AdminResponse;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of request) {
        size += (chunk as Buffer).length;
        if (size > 1024 * 1024) throw Object.assign(new Error('request body too large'), { status: 413 });
        chunks.push(chunk as Buffer);
      }
      result = handler ? await handler(request, url, Buffer.concat(chunks).toString('utf8')) : { status: 404, body: { error: `no such admin endpoint: ${request.method} ${url.pathname}` } };
    } catch (error) {
      const status = (error as { status?: number }).status ?? 500;
      if (status === 500) this.logger.error({ err: error, path: url.pathname }, 'admin request failed');
      result = { status, body: { error: (error as Error).message } };
    }
    const text = typeof result.body === 'string' ? result.body : `${JSON.stringify(result.body, null, 2)}\n`;
    response.writeHead(result.status, { 'content-type': result.contentType ?? (typeof result.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json') });
    response.end(text);
  }
}
