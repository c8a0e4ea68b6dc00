import dns from 'node:dns';
import net, { BlockList, type LookupFunction } from 'node:net';

/** Set to `1` to let the http node reach loopback, private, link-local and metadata addresses. */
export const ALLOW_PRIVATE_ENV = 'TRELLIS_HTTP_ALLOW_PRIVATE';
/** Set to `1` to let the http node reach loopback only (`npm run dev` sets it for its own worker and demo target). */
export const ALLOW_LOOPBACK_ENV = 'TRELLIS_HTTP_ALLOW_LOOPBACK';

type Family = 'ipv4' | 'ipv6';

/**
 * Ranges the http node refuses, most specific first so the message names the metadata endpoint
 * rather than just "link-local". IPv4 rules also match IPv4-mapped IPv6 (::ffff:a.b.c.d),
 * which BlockList handles itself.
 */
const RULES: ReadonlyArray<readonly [reason: string, family: Family, network: string, prefix: number]> = [
  ['cloud metadata', 'ipv4', '169.254.169.254', 32],
  ['cloud metadata', 'ipv6', 'fd00:ec2::254', 128],
  ['"this network"', 'ipv4', '0.0.0.0', 8],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['carrier-grade NAT', 'ipv4', '100.64.0.0', 10],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['IETF protocol assignment', 'ipv4', '192.0.0.0', 24],
  ['benchmarking', 'ipv4', '198.18.0.0', 15],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['unique local', 'ipv6', 'fc00::', 7],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['site-local', 'ipv6', 'fec0::', 10],
  ['multicast', 'ipv6', 'ff00::', 8],
];

const BLOCKS = RULES.map(([reason, family, network, prefix]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { reason, list };
});

/** NAT64 (RFC 6052) embeds an IPv4 address that a NAT64 gateway would then connect to. */
const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

/**
 * Why an IP address is refused (e.g. "loopback"), or undefined when it is a public address.
 * Anything that is not an IP address is refused: the guard fails closed.
 */
export function classifyAddress(address: string): string | undefined {
  const ip = address.replace(/%.*$/, ''); // an IPv6 zone id does not change the range
  const version = net.isIP(ip);
  if (version === 0) return 'not an IP address';
  const family: Family = version === 4 ? 'ipv4' : 'ipv6';
  for (const { reason, list } of BLOCKS) {
    if (list.check(ip, family)) return reason === 'loopback' && process.env[ALLOW_LOOPBACK_ENV] === '1' ? undefined : reason;
  }
  if (family === 'ipv6' && NAT64.check(ip, 'ipv6')) {
    const inner = embeddedIpv4(ip);
    const reason = classifyAddress(inner);
    return reason === undefined ? undefined : `NAT64 of ${reason} ${inner}`;
  }
  return undefined;
}

/** Read at call time so operators (and tests) can flip it without a restart. */
export function privateAddressesAllowed(): boolean {
  return process.env[ALLOW_PRIVATE_ENV] === '1';
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

/** The IPv4 address in the low 32 bits of an IPv6 address. */
function embeddedIpv4(ipv6: string): string {
  // The URL parser canonicalises to hex groups, so no dotted-quad tail is left to handle.
  const canonical = new URL(`http://[${ipv6}]/`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const high = parseInt(groups[6] ?? '0', 16);
  const low = parseInt(groups[7] ?? '0', 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
