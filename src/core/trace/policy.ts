/**
 * The policy verdict at each end of a traced path, as a function the caller passes in. There is no policy in fan
 * yet, so the default answers "open"; a policy engine plugs in by supplying its own function.
 */
import type { Ipv4 } from '../address/ipv4.js';
import type { TraceProto } from './proto.js';

export interface PolicyQuery {
  readonly src: Ipv4;
  readonly dst: Ipv4;
  readonly proto: TraceProto;
  /** Where the verdict is taken: leaving the source's host, or entering the destination's. */
  readonly at: 'egress' | 'ingress';
  /** Underlay address of the host taking the verdict (undefined: outside the fan). */
  readonly host?: Ipv4;
}

export interface PolicyDecision {
  readonly verdict: 'open' | 'allow' | 'deny';
  /** The rule that decided, for the report. */
  readonly rule?: string;
}

export type PolicyVerdict = (query: PolicyQuery) => PolicyDecision;

export const openPolicy: PolicyVerdict = () => ({ verdict: 'open' });
