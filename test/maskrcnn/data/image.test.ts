import test from 'tape';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isJpeg, readJpeg } from '../../../lib/maskrcnn/data/jpeg.js';
import { readImage, imageFormat } from '../../../lib/maskrcnn/data/image.js';
import { readPng, writePng } from '../../../lib/maskrcnn/data/png.js';
import { Tensor } from '../../../lib/tensor/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'jpeg');

test('image: readImage picks the decoder by magic bytes, not by the file name', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'image-magic-'));
  const jpegAsPng = join(dir, 'photo.png');
  copyFileSync(join(FIXTURES, 'rgb.jpg'), jpegAsPng);
  const a = readImage(jpegAsPng);
  t.deepEqual(a.shape, [3, 24, 32], 'a JPEG named .png is read as JPEG');
  t.deepEqual(Array.from(a.data), Array.from(readJpeg(join(FIXTURES, 'rgb.jpg')).data), 'with the same pixels');
  const pngAsJpg = join(dir, 'drawing.jpg');
  const pixels = new Tensor(Float32Array.from({ length: 3 * 4 * 5 }, (_, i) => (i % 7) / 7), [3, 4, 5], 'float32');
  writePng(pngAsJpg, pixels);
  t.deepEqual(Array.from(readImage(pngAsJpg).data), Array.from(readPng(pngAsJpg).data), 'a PNG named .jpg is read as PNG');
  t.equal(imageFormat(readFileSync(pngAsJpg)), 'png', 'imageFormat: png');
  t.equal(imageFormat(readFileSync(jpegAsPng)), 'jpeg', 'imageFormat: jpeg');
  t.ok(isJpeg(readFileSync(jpegAsPng)) && !isJpeg(readFileSync(pngAsJpg)), 'isJpeg');
  t.end();
});
