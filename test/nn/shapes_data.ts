/**
 * A tiny seeded image-classification task for the learning tests: filled squares, circles and
 * triangles (classes 0, 1, 2) of random size and position on a dark background with noise,
 * drawn as `[N, 1, S, S]` grayscale tensors. Every image is a pure function of the generator.
 */
import { Tensor, Generator } from '../../lib/index.js';

/** A batch of images and their class labels. */
export interface ShapesBatch {
  /** `[N, 1, size, size]` float32 in about [0, 1]. */
  images: Tensor;
  /** `[N]` int32 class indices: 0 square, 1 circle, 2 triangle. */
  labels: Tensor;
}

/** Draws one filled shape of class `label` into `out` (`size x size`, row-major). */
function draw(out: Float32Array, size: number, label: number, g: Generator): void {
  const r = 3 + g.uniform() * (size / 4 - 1.5); // half-extent, 3 .. size/4 + 1.5
  const cx = r + 0.5 + g.uniform() * (size - 2 * r - 1);
  const cy = r + 0.5 + g.uniform() * (size - 2 * r - 1);
  const ink = 0.7 + 0.3 * g.uniform();
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5 - cx;
      const py = y + 0.5 - cy;
      let inside: boolean;
      if (label === 0) inside = Math.abs(px) <= r * 0.85 && Math.abs(py) <= r * 0.85;
      else if (label === 1) inside = px * px + py * py <= r * r;
      else inside = py <= r && py >= -r && Math.abs(px) <= ((py + r) / (2 * r)) * r; // apex up
      out[y * size + x] = (inside ? ink : 0.05) + 0.08 * (g.uniform() - 0.5);
    }
  }
}

/** `n` images of `size x size` with balanced random classes, from generator `g`. */
export function makeShapes(n: number, size: number, g: Generator): ShapesBatch {
  const images = new Float32Array(n * size * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    draw(images.subarray(i * size * size, (i + 1) * size * size), size, labels[i]!, g);
  }
  // Shuffle the order (Fisher-Yates) so batches mix the classes.
  for (let i = n - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [labels[i], labels[j]] = [labels[j]!, labels[i]!];
    const a = images.slice(i * size * size, (i + 1) * size * size);
    images.copyWithin(i * size * size, j * size * size, (j + 1) * size * size);
    images.set(a, j * size * size);
  }
  return { images: new Tensor(images, [n, 1, size, size]), labels: new Tensor(labels, [n], 'int32') };
}
