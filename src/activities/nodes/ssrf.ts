import { setting } from '../../config';
import dns from 'node:dns';
import net, { type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Set to `1` to let the http node reach loopback, private, link-local and metadata addresses. */
export const ALLOW_PRIVATE_ENV = 'TRELLIS_HTTP_ALLOW_PRIVATE';
/** Set to `1` to let the http node reach loopback only (`npm run dev` sets it for its own worker and demo target). */
export const ALLOW_LOOPBACK_ENV = 'TRELLIS_HTTP_ALLOW_LOOPBACK';

/** What each non-global range of ipaddr.js is called in a refusal. */
const RANGE_REASONS: Record<string, string> = {
  unspecified: 'unspecified ("this network")',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT',
  private: 'private',
  reserved: 'reserved or documentation',
  uniqueLocal: 'unique local',
  benchmarking: 'benchmarking',
  discard: 'discard-only',
  orchid2: 'ORCHIDv2',
  amt: 'AMT',
  as112: 'AS112',
  as112v6: 'AS112',
  deprecated: 'deprecated',
  droneRemoteIdProtocolEntityTags: 'reserved',
};

/**
 * Cloud metadata and platform endpoints, refused by name. Most already sit in a refused range
 * (link-local, unique local, carrier-grade NAT, IETF reserved); they are listed so a refusal
 * says what they are. 168.63.129.16 is why the list matters: Azure's WireServer is a public
 * address ipaddr.js calls unicast.
 *  - 169.254.169.254: AWS, GCP (metadata.google.internal), Azure IMDS, Oracle OCI, DigitalOcean,
 *    Hetzner, OpenStack and most others
 *  - fd00:ec2::254: AWS IMDS over IPv6; 169.254.170.2: AWS ECS task metadata and credentials
 *  - 168.63.129.16: Azure WireServer (VM agent, DHCP, DNS, load-balancer probes)
 *  - 100.100.100.200: Alibaba Cloud; 192.0.0.192: Oracle Cloud (Classic, Cloud at Customer)
 */
const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '169.254.170.2', '168.63.129.16', '100.100.100.200', '192.0.0.192']);

/**
 * Why an IP address is refused (e.g. "loopback"), or undefined when it is a global unicast
 * address. Allow-list, not deny-list: anything ipaddr.js does not classify as global unicast is
 * refused, and IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo,
 * IPv4-compatible, SIIT) are judged by the IPv4 address they would reach. Anything that is not
 * an IP address is refused: the guard fails closed.
 */
export function classifyAddress(address: string): string | undefined {
  const ip = address.replace(/%.*$/, ''); // an IPv6 zone id does not change the range
  if (!net.isIP(ip) || !ipaddr.isValid(ip)) return 'not an IP address';
  const parsed = ipaddr.parse(ip);
  const normalized = parsed.toNormalizedString();
  if (METADATA.has(ip) || METADATA.has(normalized) || (parsed.kind() === 'ipv6' && METADATA.has(parsed.toString()))) return 'cloud metadata';
  if (parsed.kind() === 'ipv4') return rangeReason(parsed.range());
  const v6 = parsed as ipaddr.IPv6;
  const parts = v6.parts;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const range = v6.range();
  switch (range) {
    case 'ipv4Mapped':
      return classifyAddress(v6.toIPv4Address().toString());
    case 'rfc6052': {
      // 64:ff9b::/96 is the well-known NAT64 prefix; 64:ff9b:1::/48 is for local use only.
      if (parts[2] !== 0) return 'local-use NAT64';
      return embedding('NAT64', v4(parts[6]!, parts[7]!));
    }
    case 'rfc6145':
      return embedding('SIIT', v4(parts[6]!, parts[7]!));
    case '6to4':
      return embedding('6to4', v4(parts[1]!, parts[2]!));
    case 'teredo':
      // The Teredo server's address, and the client's (stored inverted) in the last 32 bits.
      return embedding('Teredo', v4(parts[2]!, parts[3]!)) ?? embedding('Teredo', v4(parts[6]! ^ 0xffff, parts[7]! ^ 0xffff));
    default:
      break;
  }
  if (range === 'unicast' && parts.slice(0, 6).every((p) => p === 0)) return `IPv4-compatible (deprecated) form of ${v4(parts[6]!, parts[7]!)}`;
  return rangeReason(range);
}

function rangeReason(range: string): string | undefined {
  if (range === 'loopback' && setting('TRELLIS_HTTP_ALLOW_LOOPBACK')) return undefined;
  return range === 'unicast' ? undefined : (RANGE_REASONS[range] ?? range);
}

/** A transition address is as good as the IPv4 address it leads to. */
function embedding(form: string, ipv4: string): string | undefined {
  const reason = classifyAddress(ipv4);
  return reason === undefined ? undefined : `${form} of ${reason} ${ipv4}`;
}

/** Read at call time so operators (and tests) can flip it without a restart. */
export function privateAddressesAllowed(): boolean {
  return setting('TRELLIS_HTTP_ALLOW_PRIVATE');
}

export class ForbiddenAddressError extends Error {
  readonly code = 'ERR_TRELLIS_FORBIDDEN_ADDRESS';
  constructor(
    readonly address: string,
    readonly reason: string,
    readonly host: string,
  ) {
    const via = host === address ? '' : ` (resolved from "${host}")`;
    super(
      `refusing to connect to ${reason} address ${address}${via}; ` +
        `set ${ALLOW_PRIVATE_ENV}=1 to allow loopback, private, link-local and metadata addresses`,
    );
    this.name = 'ForbiddenAddressError';
  }
}

/** Throws ForbiddenAddressError unless the address is public or private addresses are allowed. */
export function assertAddressAllowed(address: string, host = address): void {
  if (privateAddressesAllowed()) return;
  const reason = classifyAddress(address);
  if (reason !== undefined) throw new ForbiddenAddressError(address, reason, host);
}

/**
 * A drop-in for dns.lookup used as the socket's `lookup`: the check happens on the addresses the
 * socket will actually connect to, so a DNS answer that changes after validation (rebinding)
 * cannot slip through. Refused addresses are dropped; if none remain, the connect fails.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    let allowed = addresses;
    if (!privateAddressesAllowed()) {
      allowed = addresses.filter((a) => classifyAddress(a.address) === undefined);
    }
    const first = allowed[0];
    if (first === undefined) {
      const refused = addresses[0];
      const error = refused
        ? new ForbiddenAddressError(refused.address, classifyAddress(refused.address) ?? 'refused', hostname)
        : Object.assign(new Error(`no addresses found for "${hostname}"`), { code: 'ENOTFOUND' });
      callback(error, '', 0);
      return;
    }
    if (options.all) callback(null, allowed);
    else callback(null, first.address, first.family);
  });
};
