declare module 'parse-cube-lut' {
  /** A .cube file's title, type, size, domain and entries (each entry its line's numbers). */
  export default function parse(text: string): { title: string | null; type: '1D' | '3D' | null; size: number; domain: [number[], number[]]; data: number[][] };
}
