import { describe, expect, it } from 'vitest';
import { clientAddress, networkPrefix } from '../../server/nodes/prefix.ts';

describe('network prefixes', () => {
  it('groups IPv4 by /24 and IPv6 by /48, and treats loopback as unknown', () => {
    expect(networkPrefix('203.0.113.7')).toBe('203.0.113.0/24');
    expect(networkPrefix('::ffff:203.0.113.99')).toBe('203.0.113.0/24');
    expect(networkPrefix('2001:db8:abcd:12::1')).toBe('2001:0db8:abcd::/48');
    expect(networkPrefix('2001:db8::1')).toBe('2001:0db8:0000::/48');
    expect(networkPrefix('127.0.0.1')).toBeNull();
    expect(networkPrefix('::1')).toBeNull();
    expect(networkPrefix(undefined)).toBeNull();
  });

  it('believes X-Forwarded-For only from trusted proxies, and only its right-most untrusted hop', () => {
    const lb = ['10.0.0.5', '10.0.0.6'];
    // Behind the load balancer: the address it saw.
    expect(clientAddress('10.0.0.5', '203.0.113.7', lb)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:10.0.0.5', '203.0.113.7', lb)).toBe('203.0.113.7');
    // A client's own claim sits to the left of what the proxies appended: never believed.
    expect(clientAddress('10.0.0.5', '198.51.100.1, 203.0.113.7', lb)).toBe('203.0.113.7');
    // Two trusted hops: past both.
    expect(clientAddress('10.0.0.6', '203.0.113.7, 10.0.0.5', lb)).toBe('203.0.113.7');
    // Not from a trusted proxy, or no setting: the header is ignored.
    expect(clientAddress('192.0.2.9', '203.0.113.7', lb)).toBe('192.0.2.9');
    expect(clientAddress('10.0.0.5', '203.0.113.7', [])).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', undefined, lb)).toBe('10.0.0.5');
  });
});
