/**
 * The Kubernetes objects Sluice reads for workloads, and the few fields of
 * each it uses. These schemas check only those fields (everything else a
 * manifest holds is allowed and ignored), so `examples/` stays a set of real
 * manifests that `kubectl apply` accepts unchanged.
 */
const labelMap = { type: 'object', additionalProperties: { type: 'string' } };
const portNumber = { type: 'integer', minimum: 1, maximum: 65535 };

export const kubernetesKinds = {
  'v1/Service': {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          selector: labelMap,
          ports: {
            type: 'array',
            items: {
              type: 'object',
              required: ['port'],
              properties: {
                name: { type: 'string' },
                port: portNumber,
                targetPort: { anyOf: [portNumber, { type: 'string', minLength: 1 }] },
                protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
                appProtocol: { type: 'string' },
              },
            },
          },
        },
      },
    },
  },
  'discovery.k8s.io/v1/EndpointSlice': {
    type: 'object',
    required: ['addressType'],
    properties: {
      addressType: { type: 'string', enum: ['IPv4', 'IPv6', 'FQDN'] },
      endpoints: {
        type: 'array',
        items: {
          type: 'object',
          required: ['addresses'],
          properties: {
            addresses: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
            conditions: {
              type: 'object',
              properties: { ready: { type: 'boolean' }, serving: { type: 'boolean' }, terminating: { type: 'boolean' } },
            },
            targetRef: { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' }, namespace: { type: 'string' } } },
            zone: { type: 'string' },
          },
        },
      },
      ports: {
        type: 'array',
        items: { type: 'object', properties: { name: { type: 'string' }, port: portNumber, protocol: { type: 'string' } } },
      },
    },
  },
  'v1/Pod': { type: 'object', properties: { status: { type: 'object', properties: { podIP: { type: 'string' } } } } },
  'v1/Namespace': { type: 'object' },
  // TLS certificates of Gateway listeners (certificateRefs); data values are base64, as the API server stores them.
  'v1/Secret': {
    type: 'object',
    properties: {
      type: { type: 'string' },
      data: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
} as const;

export type KubernetesKindKey = keyof typeof kubernetesKinds;
