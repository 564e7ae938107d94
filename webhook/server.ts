/**
 * The HTTPS server the API server calls. TLS only (the API server refuses
 * plain HTTP webhooks). Routes:
 *   POST /inject         — webhook entry for namespaces labelled sluice.dev/inject=enabled
 *   POST /inject/opt-in  — webhook entry for pods that opt in elsewhere
 *   GET  /healthz        — liveness/readiness of the webhook itself
 * Every request gets an answer; no input can take the process down.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { rootLogger } from '../control-plane/log/logger.js';
import { SluiceError } from '../control-plane/core/errors.js';
import { parseRequestTarget } from '../control-plane/lib/request-target.js';
import type { InjectionConfig } from './config.js';
import { ADMISSION_API_VERSION, AdmissionInputError, parseAdmissionReview, reviewAdmission, type AdmissionRequest } from './admission.js';
import type { NamespacePolicy } from './injection-policy.js';

/**
 * A pod CREATE review carries one pod, and etcd stores no object over 1.5 MiB,
 * so a larger review is for a pod that could never be stored: 2 MiB leaves room
 * for the review around it.
 */
export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;

/**
 * Admission requests answered at once; more get 429 (the API server counts it
 * as a failed call and the failurePolicy decides). Bodies in memory are then
 * at most this × the body limit (32 MiB by default), whatever the load; with
 * the copies reading and parsing make, the webhook fits its 256 MiB memory limit.
 */
export const DEFAULT_MAX_CONCURRENT = 16;

export const ROUTES: Readonly<Record<string, NamespacePolicy>> = Object.freeze({
  '/inject': 'enabled',
  '/inject/opt-in': 'opt-in',
});

export interface WebhookServerOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** A function when the config changes while serving (the xDS CA after a rotation). */
  readonly config: InjectionConfig | (() => InjectionConfig);
  /** Default 0.0.0.0 (in-cluster); tests use 127.0.0.1. */
  readonly host?: string;
  /** Default 9443; 0 picks a free port. */
  readonly port?: number;
  readonly maxBodyBytes?: number;
  readonly maxConcurrent?: number;
  readonly log?: Logger;
}

export interface RunningWebhook {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly server: https.Server;
  close(): Promise<void>;
}

class PayloadTooLargeError extends SluiceError {
  constructor(limit: number) {
    super('admission-too-large', `request body exceeds ${limit} bytes`, { limit });
  }
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhook> {
  const log = options.log ?? rootLogger().child({ component: 'webhook' });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  let inFlight = 0;
  const server = https.createServer({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      // handle() answers every failure itself; this is the last line of defence.
      log.error({ err: error }, 'unhandled error answering a request');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' }, true);
      else res.destroy();
    });
  });
  // The API server keeps connections open across admissions; close idle ones after a minute.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.on('tlsClientError', (error) => log.debug({ err: error }, 'TLS handshake failed'));
  server.on('clientError', (error, socket) => {
    log.debug({ err: error }, 'malformed HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = parseRequestTarget(req.url);
    if (!target) {
      sendJson(res, 400, { error: 'malformed request target; admission requests go to /inject or /inject/opt-in' }, true);
      return;
    }
    const url = target;
    if (url.pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    const policy = ROUTES[url.pathname];
    if (policy === undefined) {
      sendJson(res, 404, { error: `no such path ${url.pathname}; admission requests go to ${Object.keys(ROUTES).join(' or ')}` });
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendJson(res, 405, { error: `${req.method ?? '?'} not allowed; send POST with an AdmissionReview` });
      return;
    }

    // Health checks are never counted, so a burst of reviews cannot make the webhook look dead.
    if (inFlight >= maxConcurrent) {
      log.warn({ inFlight, limit: maxConcurrent }, 'too many concurrent admission requests');
      res.setHeader('Retry-After', '1');
      sendJson(res, 429, { error: `more than ${maxConcurrent} admission requests in flight; retry` }, true);
      return;
    }
    inFlight++;
    res.once('close', () => inFlight--);

    let body: string;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        log.warn({ limit: maxBodyBytes }, 'rejected oversized admission request');
        // Stop reading the rest: close the connection once the answer is out.
        sendJson(res, 413, { error: error.message, code: error.code }, true);
        return;
      }
      throw error;
    }

    let request: AdmissionRequest;
    try {
      request = parseAdmissionReview(body);
    } catch (error) {
      if (error instanceof AdmissionInputError) {
        log.warn({ reason: error.message }, 'rejected malformed admission request');
        sendJson(res, 400, { error: error.message, code: error.code });
        return;
      }
      throw error;
    }

    try {
      const config = typeof options.config === 'function' ? options.config() : options.config;
      const { response } = reviewAdmission(request, { config, policy, log });
      sendJson(res, 200, response);
    } catch (error) {
      // A bug of ours: say so to whoever created the pod instead of timing out.
      log.error({ err: error, uid: request.uid }, 'injection failed');
      sendJson(res, 200, {
        apiVersion: ADMISSION_API_VERSION,
        kind: 'AdmissionReview',
        response: {
          uid: request.uid,
          allowed: false,
          status: { code: 500, reason: 'InternalError', message: `sluice sidecar injection failed: ${(error as Error).message ?? String(error)}` },
        },
      });
    }
  }

  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9443, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => log.error({ err: error }, 'webhook server error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host, port }, 'webhook listening');
  return {
    host,
    port,
    url: `https://${host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new PayloadTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.pause();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks).toString('utf8'));
      }
    });
    req.on('error', (error) => {
      if (!done) {
        done = true;
        reject(error);
      }
    });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(text);
}
