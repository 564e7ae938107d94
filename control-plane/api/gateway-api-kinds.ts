/**
 * The Kubernetes Gateway API kinds Sluice reads (`gateway.networking.k8s.io/v1`
 * GatewayClass, Gateway, HTTPRoute, GRPCRoute), checked against the official schemas: the
 * validators `@kubernetes-models/gateway-api` compiles from the upstream CRDs'
 * OpenAPI, so a manifest Sluice accepts is one the API server accepts (CEL
 * rules aside; the model checks the ones that matter for translation).
 */
import { validate as validateGatewayClass } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1GatewayClass';
import { validate as validateGateway } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1Gateway';
import { validate as validateHttpRoute } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1HTTPRoute';
import { validate as validateGrpcRoute } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1GRPCRoute';
import type { ErrorObject } from 'ajv';

export const gatewayApiGroup = 'gateway.networking.k8s.io';
export const gatewayApiVersion = `${gatewayApiGroup}/v1`;

/** The name Sluice answers to in `GatewayClass.spec.controllerName`. */
export const gatewayControllerName = 'sluice.dev/gateway-controller';

type CompiledValidate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

const validators: Readonly<Record<string, CompiledValidate>> = {
  GatewayClass: validateGatewayClass as CompiledValidate,
  Gateway: validateGateway as CompiledValidate,
  HTTPRoute: validateHttpRoute as CompiledValidate,
  GRPCRoute: validateGrpcRoute as CompiledValidate,
};

export const gatewayApiKinds: readonly string[] = Object.keys(validators);

export function isGatewayApiKind(kind: string): boolean {
  return Object.hasOwn(validators, kind);
}

function valueAt(body: unknown, pointer: string): unknown {
  let node = body;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/**
 * Check a whole manifest of a Gateway API kind. The compiled validators do
 * not keep the offending value (ajv's `verbose`), so it is looked up here for
 * messages that show what was written.
 */
export function gatewayApiSchemaErrors(kind: string, body: unknown): ErrorObject[] {
  const validate = validators[kind]!;
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) => ({ ...error, data: valueAt(body, error.instancePath) }));
}
