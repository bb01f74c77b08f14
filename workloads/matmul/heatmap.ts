import type { Matrix } from '../../shaders/npy.ts';

/**
 * Draws a matrix as a heatmap on a canvas of at most 256×256 cells: each cell is the mean of
 * its block of the matrix; blue for the lowest, white for the middle, red for the highest.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, m: Matrix) {
  const rows = Math.min(256, m.rows), cols = Math.min(256, m.cols);
  canvas.width = cols;
  canvas.height = rows;
  const cells = new Float64Array(rows * cols);
  const counts = new Uint32Array(rows * cols);
  for (let r = 0; r < m.rows; r++) {
    const cr = Math.floor((r * rows) / m.rows);
    for (let c = 0; c < m.cols; c++) {
      const i = cr * cols + Math.floor((c * cols) / m.cols);
      cells[i]! += m.data[r * m.cols + c]!;
      counts[i]!++;
    }
  }
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < cells.length; i++) {
    cells[i]! /= Math.max(1, counts[i]!);
    lo = Math.min(lo, cells[i]!);
    hi = Math.max(hi, cells[i]!);
  }
  const image = canvas.getContext('2d')!.createImageData(cols, rows);
  for (let i = 0; i < cells.length; i++) {
    const t = hi > lo ? ((cells[i]! - lo) / (hi - lo)) * 2 - 1 : 0; // −1 … 1
    const [r, g, b] = t < 0 ? [255 * (1 + t), 255 * (1 + t), 255] : [255, 255 * (1 - t), 255 * (1 - t)];
    image.data.set([r, g, b, 255], i * 4);
  }
  canvas.getContext('2d')!.putImageData(image, 0, 0);
}
