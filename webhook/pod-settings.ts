/**
 * Per-pod proxy settings: the injection config's defaults, overridden by the
 * pod's annotations. Every bad annotation is reported at once, by name, so a
 * developer fixes them in one round instead of one per failed rollout.
 */
import { SluiceError } from '../control-plane/core/errors.js';
import {
  ANNOTATIONS, AnnotationError, parseBoolean, parseCidrList, parseImage, parseLogLevel, parsePortList, parsePositiveInt, parseProxyPort, parseProxyUid, parseQuantity,
} from './annotations.js';
import { proxyPortsProblem, type InjectionConfig, type ProxyPorts, type ResourceSettings, type TrafficSettings } from './config.js';

export interface ProxySettings {
  readonly image: string;
  readonly logLevel: string;
  readonly concurrency: number;
  readonly resources: ResourceSettings;
  readonly traffic: TrafficSettings;
  readonly uid: number;
  readonly ports: ProxyPorts;
  readonly rewriteAppProbes: boolean;
  readonly holdApplicationUntilProxyStarts: boolean;
}

export class PodAnnotationsError extends SluiceError {
  readonly errors: readonly AnnotationError[];

  constructor(errors: readonly AnnotationError[]) {
    super('injection-bad-annotations', errors.map((e) => e.message).join('; '), {
      annotations: errors.map((e) => e.context.annotation),
    });
    this.errors = errors;
  }
}

export function resolveProxySettings(annotations: Readonly<Record<string, string>> | undefined, config: InjectionConfig): ProxySettings {
  const a = annotations ?? {};
  const errors: AnnotationError[] = [];
  const read = <T>(name: string, fallback: T, parse: (value: string, where: string) => T): T => {
    const raw = a[name];
    if (raw === undefined) return fallback;
    try {
      return parse(raw, name);
    } catch (error) {
      if (error instanceof AnnotationError) {
        errors.push(error);
        return fallback;
      }
      throw error;
    }
  };
  const d = config.proxy;
  const t = config.traffic;
  const settings: ProxySettings = {
    image: read(ANNOTATIONS.proxyImage, d.image, parseImage),
    logLevel: read(ANNOTATIONS.logLevel, d.logLevel, parseLogLevel),
    concurrency: read(ANNOTATIONS.concurrency, d.concurrency, (v, w) => parsePositiveInt(v, w, 256)),
    resources: {
      requests: {
        cpu: read(ANNOTATIONS.proxyCPU, d.resources.requests.cpu, parseQuantity),
        memory: read(ANNOTATIONS.proxyMemory, d.resources.requests.memory, parseQuantity),
      },
      limits: {
        cpu: read(ANNOTATIONS.proxyCPULimit, d.resources.limits.cpu, parseQuantity),
        memory: read(ANNOTATIONS.proxyMemoryLimit, d.resources.limits.memory, parseQuantity),
      },
    },
    traffic: {
      includeInboundPorts: read(ANNOTATIONS.includeInboundPorts, t.includeInboundPorts, (v, w) => parsePortList(v, w, true)),
      excludeInboundPorts: read(ANNOTATIONS.excludeInboundPorts, t.excludeInboundPorts, (v, w) => parsePortList(v, w, false) as number[]),
      includeOutboundIPRanges: read(ANNOTATIONS.includeOutboundIPRanges, t.includeOutboundIPRanges, (v, w) => parseCidrList(v, w, true)),
      excludeOutboundIPRanges: read(ANNOTATIONS.excludeOutboundIPRanges, t.excludeOutboundIPRanges, (v, w) => parseCidrList(v, w, false) as string[]),
      excludeOutboundPorts: read(ANNOTATIONS.excludeOutboundPorts, t.excludeOutboundPorts, (v, w) => parsePortList(v, w, false) as number[]),
    },
    uid: read(ANNOTATIONS.proxyUID, d.uid, parseProxyUid),
    ports: {
      admin: read(ANNOTATIONS.adminPort, d.ports.admin, parseProxyPort),
      status: read(ANNOTATIONS.statusPort, d.ports.status, parseProxyPort),
      prometheus: read(ANNOTATIONS.prometheusPort, d.ports.prometheus, parseProxyPort),
    },
    rewriteAppProbes: read(ANNOTATIONS.rewriteAppProbes, d.rewriteAppProbes, parseBoolean),
    holdApplicationUntilProxyStarts: read(ANNOTATIONS.holdApplicationUntilProxyStarts, d.holdApplicationUntilProxyStarts, parseBoolean),
  };
  const clash = proxyPortsProblem(settings.ports);
  if (clash) {
    const named = [ANNOTATIONS.adminPort, ANNOTATIONS.statusPort, ANNOTATIONS.prometheusPort].filter((n) => a[n] !== undefined);
    errors.push(new AnnotationError(named.join(', ') || ANNOTATIONS.statusPort, named.map((n) => a[n]).join(', '), `clash: ${clash}`));
  }
  if (errors.length > 0) throw new PodAnnotationsError(errors);
  return settings;
}
