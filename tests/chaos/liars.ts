import type { Matrix } from '../../shaders/npy.ts';

/**
 * How a chaos agent behaves. Honest agents compute with the CPU reference; liars change
 * what they return in one of the ways volunteers' results go wrong.
 */
export type Behaviour = 'honest' | 'noise' | 'bias' | 'oneWrong' | 'copier' | 'colluder' | 'turncoat' | 'hitAndRun' | 'hoarder' | 'vanisher';

/** The adversaries: liars of every kind, a ring (colluders, three when there is room), a
 * hit-and-run node (honest until trusted, one lie, gone), a hoarder (asks for 8 slots, heartbeats,
 * never returns anything). */
export const liarKinds: Behaviour[] = ['noise', 'bias', 'oneWrong', 'copier', 'colluder', 'turncoat', 'hitAndRun', 'hoarder'];

/** Results other agents produced lately, for copiers. */
export const board: Matrix[] = [];

/** Units a turncoat works honestly before it starts to lie (past the trust floor of 10). */
export const turncoatHonestUnits = 12;

/** The result a liar returns instead of `right`, or null when it tells the truth this time. */
export function lie(kind: Behaviour, right: Matrix, unitsDone: number): Matrix | null {
  const data = Float32Array.from(right.data);
  switch (kind) {
    case 'noise':
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + (Math.random() - 0.5) * 0.2;
      break;
    case 'bias':
      for (let i = 0; i < data.length; i++) data[i] = data[i]! * 1.01;
      break;
    case 'oneWrong':
      data[Math.floor(Math.random() * data.length)]! += 1;
      break;
    case 'copier': {
      const other = board.find((m) => m.rows === right.rows && m.cols === right.cols && m.data[0] !== right.data[0]);
      if (!other) return { ...right, data: new Float32Array(data.length) };
      return other;
    }
    case 'colluder':
      // Every colluder makes the same wrong tile from the same inputs, so two agree.
      data[0] = data[0]! + 1;
      break;
    case 'turncoat':
    case 'hitAndRun':
      if (unitsDone < turncoatHonestUnits) return null;
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + 0.05;
      break;
    default:
      return null;
  }
  return { ...right, data };
}
