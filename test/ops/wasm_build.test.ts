/**
 * The committed compute modules (lib/ops/wasm/module.ts: the plain and relaxed SIMD variants)
 * must be what `assembly/kernels.ts` compiles to. The recorded hash of the source and compiler flags is checked always (it catches
 * an edited source that was not rebuilt). Recompiling and comparing the bytes takes 10-30 s, so
 * it runs when `MASKRCNN_CHECK_WASM_BUILD=1` is set and the AssemblyScript compiler (a
 * devDependency) is installed; `npm run build:wasm -- --check` does the same from the command line.
 */
import test from 'tape';
import { compile, sourceHash } from '../../tools/wasm/build.js';
import { KERNELS_RELAXED_WASM_BASE64, KERNELS_SOURCE_SHA256, KERNELS_WASM_BASE64 } from '../../lib/ops/wasm/module.js';

test('wasm build: module.ts was built from the current assembly/kernels.ts', (t) => {
  t.equal(KERNELS_SOURCE_SHA256, sourceHash(), 'source hash matches (else run `npm run build:wasm`)');
  t.end();
});

test('wasm build: recompiling gives the committed bytes', async (t) => {
  if (process.env['MASKRCNN_CHECK_WASM_BUILD'] !== '1') {
    t.pass('byte comparison skipped (set MASKRCNN_CHECK_WASM_BUILD=1; or run `npm run build:wasm -- --check`)');
    return;
  }
  let plain: Uint8Array;
  let relaxed: Uint8Array;
  try {
    plain = await compile('plain');
    relaxed = await compile('relaxed');
  } catch (error) {
    const message = (error as Error).message;
    if (/Cannot find (package|module)/.test(message)) {
      t.pass(`assemblyscript not installed: byte comparison skipped (${message.slice(0, 80)})`);
      return;
    }
    throw error;
  }
  t.equal(Buffer.from(plain).toString('base64'), KERNELS_WASM_BASE64, 'plain variant: compiled bytes equal the committed ones');
  t.equal(Buffer.from(relaxed).toString('base64'), KERNELS_RELAXED_WASM_BASE64, 'relaxed variant: compiled bytes equal the committed ones');
});
