import { describe, expect, it } from 'vitest';
import { networkPrefix } from '../../server/nodes/prefix.ts';

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
});
