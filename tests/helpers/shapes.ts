/** m, k, n of products that are not multiples of any block or workgroup size. */
export const awkwardShapes: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [1000, 3, 1000],
  [33, 65, 17],
  [130, 257, 67],
];
