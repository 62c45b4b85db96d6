import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which addresses a webhook may be dialled at (DESIGN.md "Webhook requests"): only public unicast.
 * An allow-list of ipaddr.js's `unicast` range rather than a list of blocked ranges, so a special
 * range we forgot (or one added to the registry later) is refused, not allowed. Pure: the dial-time
 * hook (adapters/webhook-agent.ts) calls it on the very address the socket connects to.
 *
 * Refused, with the range's name: loopback, private (RFC 1918), link-local (169.254.0.0/16 with the
 * instance metadata address, fe80::/10), CGNAT (100.64.0.0/10), multicast, broadcast, unspecified,
 * reserved and documentation ranges, IPv6 unique-local (fc00::/7), site-local, and every IPv6 form that
 * carries an IPv4 address (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4,
 * Teredo): a mapped address is judged as the IPv4 address it maps, the translated forms are refused
 * outright since what they reach is decided by a gateway we cannot see.
 */
export type AddressVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly range: string; readonly reason: string };

export interface AddressPolicy {
  /** The local runtime alone: 127.0.0.0/8 and ::1 (and their mapped forms) are allowed. */
  readonly allowLoopback?: boolean;
}

export function checkAddress(address: string, policy: AddressPolicy = {}): AddressVerdict {
  // Only canonical IP literals (what a resolver answers): ipaddr.js would also take "0x7f.1" and friends.
  const family = isIP(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (family === 0) return refused(address, 'invalid', 'is not an IP address');
  let ip = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  }
  const range = ip.range();
  if (range === 'unicast') return { allowed: true };
  if (range === 'loopback' && policy.allowLoopback) return { allowed: true };
  return refused(address, range, `is in a ${range} range`);
}

function refused(address: string, range: string, why: string): AddressVerdict {
  return {
    allowed: false,
    range,
    reason: `address ${address} ${why}; webhooks are delivered to public addresses only`,
  };
}
