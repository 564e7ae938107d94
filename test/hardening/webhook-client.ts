/**
 * The sidecar-injection webhook on a free loopback port with a generated CA,
 * and an HTTPS client that posts bodies the way the API server does.
 */
import https from 'node:https';
import { generateServingCertificates } from '../../webhook/certificates.js';
import { DEFAULT_INJECTION_CONFIG } from '../../webhook/config.js';
import { startWebhookServer, type RunningWebhook, type WebhookServerOptions } from '../../webhook/server.js';
import { silentLog } from '../webhook/helpers.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface TestWebhook {
  readonly webhook: RunningWebhook;
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<Reply>;
  get(path: string): Promise<Reply>;
  /** Open a request, send its headers and part of its body, and hold it until `finish()`. */
  hold(path: string, body: string): { reply: Promise<Reply>; finish: () => void };
  close(): Promise<void>;
}

export async function startTestWebhook(options: Partial<WebhookServerOptions> = {}): Promise<TestWebhook> {
  const certs = await generateServingCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const webhook = await startWebhookServer({ cert: certs.certPem, key: certs.keyPem, config: DEFAULT_INJECTION_CONFIG, host: '127.0.0.1', port: 0, log: silentLog, ...options });
  const agent = new https.Agent({ keepAlive: true, ca: certs.caPem, maxSockets: 64 });
  const request = (method: string, path: string, headers: Record<string, string | number>) => {
    let resolveReply!: (reply: Reply) => void;
    let rejectReply!: (error: Error) => void;
    const reply = new Promise<Reply>((resolve, reject) => {
      resolveReply = resolve;
      rejectReply = reject;
    });
    const req = https.request({ host: '127.0.0.1', port: webhook.port, path, method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: keep the text
        }
        resolveReply({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    // A server that answers early and closes may reset a request still sending its body.
    req.on('error', (error) => rejectReply(error));
    return { req, reply };
  };
  return {
    webhook,
    post(path, body, headers = {}) {
      const { req, reply } = request('POST', path, { 'content-type': 'application/json', ...headers });
      req.end(body);
      return reply;
    },
    get(path) {
      const { req, reply } = request('GET', path, {});
      req.end();
      return reply;
    },
    hold(path, body) {
      const bytes = Buffer.from(body);
      const { req, reply } = request('POST', path, { 'content-type': 'application/json', 'content-length': bytes.length });
      req.flushHeaders();
      req.write(bytes.subarray(0, 10));
      return { reply, finish: () => req.end(bytes.subarray(10)) };
    },
    async close() {
      agent.destroy();
      await webhook.close();
    },
  };
}
