import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network an address belongs to, for "never two replicas of a unit from one network":
 * an IPv4 /24 or an IPv6 /48 (what one household, office or cloud tenant usually holds).
 * Unknown (null) for the loopback addresses 127.0.0.1 and ::1 — one machine running several
 * nodes for a test or a single-host setup — and for anything unparsable.
 */
export function networkPrefix(address: string | undefined): string | null {
  if (!address) return null;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(v4)) return v4 === '127.0.0.1' ? null : v4.split('.').slice(0, 3).join('.') + '.0/24';
  if (isIPv6(address)) {
    if (address === '::1') return null;
    const [head = '', tail = ''] = address.split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const full = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
    return full.slice(0, 3).map((h) => h.toLowerCase().padStart(4, '0')).join(':') + '::/48';
  }
  return null;
}

/**
 * The client's address behind trusted proxies (SUPERNET_TRUSTED_PROXIES): when the socket comes
 * from one of them, the right-most address of X-Forwarded-For that is not itself a trusted proxy
 * (each proxy appends the address it saw; what a client wrote itself sits further left and is
 * never believed). Without the setting the socket's address is the client's. Behind a load
 * balancer without it every node looks like the balancer: one network to the replica rule, so
 * replicate jobs could never find their second replica.
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trusted: string[]): string | undefined {
  const strip = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);
  if (!socketAddress || !trusted.includes(strip(socketAddress)) || !forwardedFor) return socketAddress;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => h.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.includes(strip(hops[i]!))) return hops[i];
  return socketAddress;
}
