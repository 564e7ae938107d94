/**
 * What every ADS stream does whatever its protocol: register the connection,
 * authenticate the proxy from its first request, follow its scope through
 * snapshot changes, respect write back-pressure, and clean up on close.
 * SotwStream and DeltaStream add the protocol.
 */
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import { ProxyIdentityError, type ProxyIdentity, type ProxyScope } from '../translate/proxy-scope.js';
import type { ProxyConnection } from './connections.js';
import { ProxyAuthenticationError } from './proxy-authentication.js';
import { currentScope, identify, nodeOf, type StreamContext } from './stream-context.js';
import { checkNode, clipForLog, endWithStatus, XdsStreamRefusal } from './stream-limits.js';
import { SecretDiscovery } from './secret-discovery.js';

export abstract class ProxyStream<Request extends { node?: unknown }> {
  protected readonly connection: ProxyConnection;
  protected identity?: ProxyIdentity;
  protected scope?: ProxyScope;
  protected blocked = false;
  protected closed = false;
  #scopeKey?: string;
  #unsubscribe?: () => void;
  #identifyTimer?: NodeJS.Timeout;
  #nodeMetadata: Record<string, unknown> = {};
  #secrets?: SecretDiscovery;

  constructor(
    protected readonly call: ServerDuplexStream<Request, Buffer>,
    protected readonly context: StreamContext,
    private readonly protocol: 'sotw' | 'delta',
  ) {
    this.connection = context.connections.open(protocol, call.getPeer());
    context.openStreams.add(this);
    context.metrics.openStreams.inc();
    this.#identifyTimer = setTimeout(() => {
      const seconds = context.limits.identifyWithinMs / 1000;
      this.refuse(new XdsStreamRefusal(status.DEADLINE_EXCEEDED, 'invalid-node', `no request carrying the node arrived within ${seconds} s of opening the stream`));
    }, context.limits.identifyWithinMs);
    this.#identifyTimer.unref();
    call.on('data', (request: Request) => this.#onRequest(request));
    call.on('end', () => this.#finish('client closed the stream'));
    call.on('cancelled', () => this.#finish('stream cancelled'));
    call.on('error', (error) => this.#finish(`stream error: ${error.message}`));
    call.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  /** A request from the authenticated proxy. */
  protected abstract handle(request: Request, identity: ProxyIdentity): void;
  /** The scope's view changed (new snapshot, or the proxy moved scope). */
  protected abstract onView(): void;
  /** The transport can take more: send what was held back. */
  protected abstract flush(): void;

  /** Graceful shutdown: end the stream so the proxy reconnects elsewhere. */
  close(): void {
    if (this.closed) return;
    this.call.end();
    this.#finish('control plane shutting down');
  }

  /** Write a response; false means wait for `drain` before writing more. */
  protected write(bytes: Buffer): void {
    if (!this.call.write(bytes)) this.blocked = true;
  }

  #finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#identifyTimer);
    this.#unsubscribe?.();
    this.#secrets?.close();
    this.context.openStreams.delete(this);
    this.context.metrics.openStreams.dec();
    this.context.connections.close(this.connection);
    if (this.identity) {
      this.context.metrics.connectedProxies.dec({ mode: this.identity.mode, protocol: this.protocol });
      this.context.logger.info({ nodeId: clipForLog(this.identity.nodeId), peer: this.connection.peer, reason }, 'proxy disconnected');
    }
  }

  #onRequest(request: Request): void {
    if (this.closed) return;
    try {
      if (!this.identity && !this.#authenticate(request)) return;
      // Secrets are per identity, never the scope's shared resources: their own path (secret-discovery.ts).
      if (SecretDiscovery.isSecretRequest(request as { type_url?: string })) return this.#secretRequest(request);
      this.handle(request, this.identity!);
    } catch (error) {
      if (error instanceof XdsStreamRefusal) return this.refuse(error);
      // A bug met by one stream's request ends that stream, not the process serving every proxy.
      this.context.logger.error({ err: error, nodeId: clipForLog(this.identity?.nodeId), peer: this.connection.peer }, 'xDS request failed');
      this.refuse(new XdsStreamRefusal(status.INTERNAL, 'internal-error', 'the control plane failed to handle this request; it is logged'));
    }
  }

  #secretRequest(request: Request): void {
    if (!this.context.secrets) {
      this.context.logger.debug({ nodeId: clipForLog(this.identity!.nodeId) }, 'secret request, but no CA is configured (--ca); ignored');
      return;
    }
    this.#secrets ??= new SecretDiscovery(this.protocol, this.context.secrets, this.context, this.call as ServerDuplexStream<unknown, Buffer>, this.identity!, this.connection, this.#nodeMetadata, (bytes) => this.write(bytes));
    this.#secrets.handle(request as Parameters<SecretDiscovery['handle']>[0]);
  }

  /**
   * End the stream with the refusal's gRPC status (the proxy logs it) and
   * forget everything it held. Counted by reason, logged with clipped input.
   */
  protected refuse(refusal: XdsStreamRefusal, nodeId = this.identity?.nodeId): void {
    if (this.closed) return;
    this.context.metrics.refusedStreams.inc({ reason: refusal.reason });
    this.context.logger.warn({ nodeId: clipForLog(nodeId), peer: this.connection.peer, protocol: this.protocol, reason: refusal.reason, ...refusal.context }, `xDS stream refused: ${clipForLog(refusal.message)}`);
    endWithStatus(this.call as ServerDuplexStream<unknown, unknown>, refusal.grpcCode, refusal.message);
    this.#finish(refusal.message);
  }

  #authenticate(request: Request): boolean {
    const node = nodeOf(request);
    checkNode(node);
    try {
      this.identity = identify(this.context, this.call as ServerDuplexStream<unknown, unknown>, node!);
    } catch (error) {
      if (!(error instanceof ProxyAuthenticationError || error instanceof ProxyIdentityError)) throw error;
      this.refuse(new XdsStreamRefusal(status.UNAUTHENTICATED, 'unauthenticated', error.message), node!.id);
      return false;
    }
    clearTimeout(this.#identifyTimer);
    this.#nodeMetadata = node!.metadata ?? {};
    this.connection.identity = this.identity;
    this.connection.client = node!.client;
    this.context.metrics.connectedProxies.inc({ mode: this.identity.mode, protocol: this.protocol });
    this.context.logger.info({ nodeId: clipForLog(this.identity.nodeId), namespace: clipForLog(this.identity.namespace), mode: this.identity.mode, peer: this.connection.peer, protocol: this.protocol }, 'proxy connected');
    this.resubscribe();
    if (Object.keys(node!.metadata ?? {}).length === 0) {
      // Without metadata a gRPC client is taken for a sidecar and gets config it cannot use: say so, by name.
      this.context.logger.warn(
        { nodeId: clipForLog(this.identity.nodeId), mode: this.identity.mode, namespace: clipForLog(this.identity.namespace), scope: clipForLog(this.connection.scopeKey) },
        `proxy ${clipForLog(this.identity.nodeId)} sent no node metadata: serving it scope ${clipForLog(this.connection.scopeKey)}; set metadata.namespace and, for gRPC clients, metadata.mode=proxyless`,
      );
    }
    return true;
  }

  /** Follow the proxy's scope (which services a sidecar fronts can change); true when it moved. */
  protected resubscribe(): boolean {
    const { scope, key } = currentScope(this.context.cache, this.identity!);
    if (key === this.#scopeKey) return false;
    this.#unsubscribe?.();
    this.scope = scope;
    this.#scopeKey = key;
    this.connection.scopeKey = key;
    this.#unsubscribe = this.context.cache.subscribe(scope, () => this.onView());
    return true;
  }
}
