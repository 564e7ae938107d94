/**
 * The Kubernetes Gateway API kinds Sluice reads (`gateway.networking.k8s.io/v1`
 * GatewayClass, Gateway, HTTPRoute, GRPCRoute; ReferenceGrant, `v1beta1` in the
 * standard channel and `v1` in newer releases), checked against the official schemas: the
 * validators `@kubernetes-models/gateway-api` compiles from the upstream CRDs'
 * OpenAPI, so a manifest Sluice accepts is one the API server accepts (CEL
 * rules aside; the model checks the ones that matter for translation).
 */
import { validate as validateGatewayClass } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1GatewayClass';
import { validate as validateGateway } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1Gateway';
import { validate as validateHttpRoute } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1HTTPRoute';
import { validate as validateGrpcRoute } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1GRPCRoute';
import { validate as validateReferenceGrantV1beta1 } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1beta1ReferenceGrant';
import { validate as validateReferenceGrantV1 } from '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1ReferenceGrant';
import type { ErrorObject } from 'ajv';

export const gatewayApiGroup = 'gateway.networking.k8s.io';
export const gatewayApiVersion = `${gatewayApiGroup}/v1`;

/** The name Sluice answers to in `GatewayClass.spec.controllerName`. */
export const gatewayControllerName = 'sluice.dev/gateway-controller';

type CompiledValidate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Kind → the versions read, each with the official schema's validator. */
const validators: Readonly<Record<string, Readonly<Record<string, CompiledValidate>>>> = {
  GatewayClass: { v1: validateGatewayClass as CompiledValidate },
  Gateway: { v1: validateGateway as CompiledValidate },
  HTTPRoute: { v1: validateHttpRoute as CompiledValidate },
  GRPCRoute: { v1: validateGrpcRoute as CompiledValidate },
  ReferenceGrant: { v1beta1: validateReferenceGrantV1beta1 as CompiledValidate, v1: validateReferenceGrantV1 as CompiledValidate },
};

export const gatewayApiKinds: readonly string[] = Object.keys(validators);

export function isGatewayApiKind(kind: string): boolean {
  return Object.hasOwn(validators, kind);
}

/** The apiVersions read for a kind: `gateway.networking.k8s.io/v1`… */
export function gatewayApiVersionsOf(kind: string): string[] {
  return Object.keys(validators[kind] ?? {}).map((version) => `${gatewayApiGroup}/${version}`);
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
export function gatewayApiSchemaErrors(kind: string, apiVersion: string, body: unknown): ErrorObject[] {
  const validate = validators[kind]![apiVersion.split('/')[1]!]!;
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) => ({ ...error, data: valueAt(body, error.instancePath) }));
}
