import { parseNpy } from '../../shaders/npy.ts';
import type { CliWorkload } from '../types.ts';

/** `supernet submit matmul --a A.npy --b B.npy`: the two matrices, checked here so a bad file costs no upload. */
export const matmulCli: CliWorkload = {
  kind: 'matmul',
  options: {
    a: { type: 'string', help: 'A as a 2-D float32 .npy file' },
    b: { type: 'string', help: 'B as a 2-D float32 .npy file' },
  },
  async spec(values, given, host) {
    const [a, b] = [values.a, values.b] as (string | undefined)[];
    if (!a && !b) return given;
    if (!a || !b) throw host.usage('matmul needs both --a and --b.');
    const file = (path: string, what: string) => {
      const bytes = host.readFile(path, what);
      try {
        const m = parseNpy(bytes);
        if (m.rows < 1 || m.cols < 1) throw new Error('it is empty');
      } catch (err) {
        throw host.usage(`${what} ${path} is not a 2-D float32 .npy file: ${(err as Error).message}`);
      }
      return bytes;
    };
    const [ba, bb] = [file(a, '--a'), file(b, '--b')];
    return { ...given, a: (await host.putBlob(ba)).sha256, b: (await host.putBlob(bb)).sha256 };
  },
};
