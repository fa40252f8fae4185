/**
 * The address allocator: a pure function of the pool, the addresses already taken, where the previous allocation
 * ended, and an optional static request.
 *
 * Strategy: the next free address after the last one handed out, wrapping at the end of the slice (the same
 * round-robin host-local uses). Rationale: an address released a moment ago is handed out again only once every
 * other free address has been used, so peers' ARP and conntrack entries for a container that just left do not
 * capture the traffic of the next one. Given the same inputs the answer is always the same.
 */
import { type Ipv4, broadcast, contains, formatCidr, formatIpv4, u32 } from '../address/ipv4.js';
import { FanError } from '../errors.js';
import { type IpamPool, describeFreeRanges, poolSize, rangeText, reservedRangeOf } from './pool.js';

export type IpamErrorKind =
  /** No free address (or none at all: the DHCP range covers the whole container range). */
  | 'exhausted'
  /** A static request outside this host's slice. */
  | 'outside'
  /** A static request for an address somebody holds. */
  | 'taken'
  /** A static request inside a reserved range (network/broadcast, host reserve, DHCP range). */
  | 'reserved';

/** Why the IPAM could not answer. Protocol layers map `kind` to their codes (CNI: exhausted → 11). */
export class IpamError extends FanError {
  override name = 'IpamError';
  constructor(
    readonly kind: IpamErrorKind,
    message: string,
    hint: string,
    /** Addresses the pool can hand out at all (0: nothing to wait for, the configuration must change). */
    readonly poolSize: number,
  ) {
    super(message, hint);
  }
}

export interface AllocationInput {
  readonly pool: IpamPool;
  /** Addresses already held, with a description of the holder for messages. */
  readonly taken: ReadonlyMap<Ipv4, string>;
  /** The address handed out last; the search starts right after it. */
  readonly last?: Ipv4;
  /** A static address the caller wants. */
  readonly request?: Ipv4;
}

/** Checks a static request against the pool and the taken set; throws IpamError naming the problem. */
export function checkRequest(pool: IpamPool, taken: ReadonlyMap<Ipv4, string>, request: Ipv4): void {
  const slice = formatCidr(pool.slice);
  if (!contains(pool.slice, request)) {
    throw new IpamError(
      'outside',
      `requested address ${formatIpv4(request)} is outside this host's slice ${slice} of ${pool.label}`,
      `request an address in ${describeFreeRanges(pool)}, or none to get the next free one; ` +
        `an address outside ${slice} would route to another host`,
      poolSize(pool),
    );
  }
  const reserved = reservedRangeOf(pool, request);
  if (reserved) {
    throw new IpamError(
      'reserved',
      `requested address ${formatIpv4(request)} is in ${reserved.reason}, ` +
        `${rangeText(reserved.start, reserved.end)} of slice ${slice}`,
      pool.dhcp && reserved.reason.includes('DHCP')
        ? `request an address outside the DHCP range (free for static use: ` +
          `${describeFreeRanges(pool)}), or give DHCP a smaller share (--dhcp-range)`
        : `request an address in ${describeFreeRanges(pool)}`,
      poolSize(pool),
    );
  }
  const holder = taken.get(request);
  if (holder !== undefined) {
    throw new IpamError(
      'taken',
      `requested address ${formatIpv4(request)} of slice ${slice} is already held by ${holder}`,
      'request another address, or none to get the next free one; release the holder first if it is gone',
      poolSize(pool),
    );
  }
}

/** The address to hand out. Throws IpamError (`exhausted`, or a problem with the request). */
export function allocateAddress(input: AllocationInput): Ipv4 {
  const { pool, taken } = input;
  if (input.request !== undefined) {
    checkRequest(pool, taken, input.request);
    return u32(input.request);
  }
  const size = poolSize(pool);
  const first = pool.slice.address;
  const end = broadcast(pool.slice);
  const span = end - first + 1;
  const start = input.last !== undefined && contains(pool.slice, input.last) ? input.last + 1 : first;
  // Walk the slice once, starting after `last`, skipping reserved ranges in one step.
  let offset = 0;
  while (offset < span) {
    const candidate = u32(first + ((start - first + offset) % span));
    const reserved = reservedRangeOf(pool, candidate);
    if (reserved) {
      // Jump to the end of the range (or wrap); ranges never wrap themselves.
      offset += reserved.end - candidate + 1;
      continue;
    }
    if (!taken.has(candidate)) return candidate;
    offset++;
  }
  if (size === 0) {
    throw new IpamError(
      'exhausted',
      pool.dhcp
        ? `${pool.label} has no addresses to allocate: ` +
          `its DHCP range covers every container address of slice ${formatCidr(pool.slice)}`
        : `${pool.label} has no addresses to allocate in slice ${formatCidr(pool.slice)}`,
      pool.dhcp
        ? 'give DHCP only a share of the slice (fanctl up … --dhcp without --dhcp-range takes the upper half; ' +
          '--dhcp-range N the last N addresses), or bring the fan up without dhcp'
        : 'lower the host reserve or use a wider slice',
      0,
    );
  }
  throw new IpamError(
    'exhausted',
    `${pool.label} is full: all ${size} container addresses of slice ${formatCidr(pool.slice)} are allocated`,
    'remove containers that are gone (CNI GC, or DEL), or use a wider slice ' +
      '(a shorter overlay prefix or a longer underlay prefix)',
    size,
  );
}
