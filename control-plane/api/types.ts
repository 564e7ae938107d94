/**
 * Names for the parts of the generated policy API types, so the rest of the
 * code can say `RouteSpec` instead of indexing into `TrafficPolicySpec`.
 * The shapes themselves come only from the API definition.
 */
import type { CanarySpec, CanaryStatus, TelemetryConfigSpec, TrafficPolicySpec, TrafficPolicyStatus, WorkloadEntrySpec } from './policy-api.generated.js';

export type { CanarySpec, CanaryStatus, TelemetryConfigSpec, TrafficPolicySpec, TrafficPolicyStatus, WorkloadEntrySpec };
export { apiVersion as sluiceApiVersion, apiGroup as sluiceApiGroup, policyKinds } from './policy-api.generated.js';
export type { PolicyKind } from './policy-api.generated.js';

export type RouteSpec = NonNullable<TrafficPolicySpec['routes']>[number];
export type RouteMatchSpec = NonNullable<RouteSpec['match']>;
export type UserIdMatchSpec = NonNullable<RouteMatchSpec['userId']>;
export type HeaderMatchSpec = NonNullable<RouteMatchSpec['headers']>[number];
export type PathMatchSpec = NonNullable<RouteMatchSpec['path']>;
export type WeightedVersionSpec = RouteSpec['to'][number];
export type RetryPolicySpec = NonNullable<TrafficPolicySpec['retries']>;
export type CircuitBreakerSpec = NonNullable<TrafficPolicySpec['circuitBreaker']>;
export type OutlierDetectionSpec = NonNullable<TrafficPolicySpec['outlierDetection']>;
export type CanaryMetricSpec = CanarySpec['metrics'][number];
export type CanaryPhase = NonNullable<CanaryStatus['phase']>;
