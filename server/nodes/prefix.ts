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
