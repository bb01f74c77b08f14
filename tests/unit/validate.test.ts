import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeIssues } from '../../server/validate.ts';

const said = (schema: z.ZodType, value: unknown) => {
  const r = schema.safeParse(value);
  if (r.success) throw new Error('parsed');
  return describeIssues(r.error);
};

describe('a 400 says what is wrong in words (#21, point 9)', () => {
  it("keeps a schema's own message, without a second full stop", () => {
    expect(said(z.object({ password: z.string().min(10, 'Use a password of at least 10 characters.') }), { password: 'short' })).toBe('password: Use a password of at least 10 characters');
  });

  it('names array items as people write them, and says limits plainly', () => {
    const schema = z.object({ origins: z.array(z.url()).max(2), throttle: z.number().min(0.05).max(1), name: z.string().min(1) });
    expect(said(schema, { origins: ['not a url'], throttle: 2, name: '' })).toBe('origins[0]: is not a URL; throttle: must be at most 1; name: must not be empty');
    expect(said(z.object({ m: z.number().int() }).strict(), { m: 'four', n: 1 })).toBe('m: must be a number, not a string; has no field "n"');
    expect(said(z.object({ kind: z.string() }), {})).toBe('kind: is required');
    expect(said(z.object({ kind: z.enum(['check', 'replicate']) }), { kind: 'both' })).toBe('kind: must be one of "check", "replicate"');
  });

  it("says a union's problem from the branch the value went furthest into", () => {
    const scene = z.union([z.string(), z.object({ camera: z.object({ fov: z.number().gt(1) }) })]);
    expect(said(z.object({ scene }), { scene: { camera: { fov: 0 } } })).toBe('scene.camera.fov: must be more than 1');
  });
});

describe('file errors in words (#21, point 9)', () => {
  it('says a file is not a .npy without raw bytes in the message', async () => {
    const { parseNpy } = await import('../../shaders/npy.ts');
    expect(() => parseNpy(new TextEncoder().encode('garbage, not numpy'))).toThrow('not a .npy file (it does not begin with the NumPy signature); save arrays with numpy.save');
  });
});

describe('the contribute page promises only work the network runs (#21, point 9)', () => {
  it('names no kind of work that has no workload', async () => {
    const { readFileSync } = await import('node:fs');
    const { workloads } = await import('../../workloads/coordinator.ts');
    const tagline = /<p>Lend your browser's GPU to ([^<]*)<\/p>/.exec(readFileSync(new URL('../../web/index.html', import.meta.url), 'utf8'))![1]!;
    const promised: Record<string, RegExp> = { matmul: /matrix/, render: /render/, frames: /video/, wgsl: /kernels/, train: /training/ };
    for (const [kind, words] of Object.entries(promised)) expect([kind, words.test(tagline)]).toEqual([kind, kind in workloads]);
  });
});
