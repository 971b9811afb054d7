// The compute module of the `wasm` backend, in AssemblyScript (a TypeScript dialect that
// compiles to WebAssembly). Compiled by `npm run build:wasm` (tools/wasm/build.ts) into
// lib/ops/wasm/module.ts; test/ops/wasm_build.test.ts checks that the committed bytes are
// this source's.
//
// Everything works on raw float32 arrays in one linear memory that the caller owns (JS lays
// the operands out and passes byte addresses): no allocation, no runtime, no imports but the
// memory, so the same module runs on the main thread and in every worker, in Node and in
// browsers, all sharing one `WebAssembly.Memory({shared: true})`.
//
// The matrix product follows the BLIS design (Van Zee & van de Geijn, "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality", ACM TOMS 2015; Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 2008):
//
//   for jc in N step NC                      (a block of columns of B and C)
//     for pc in K step KC                    (a block of the sum)
//       pack B[pc:pc+KC, jc:jc+NC] into panels of NR columns  (stays in L2/L3)
//       for ic in M step MC
//         pack A[ic:ic+MC, pc:pc+KC] into panels of MR rows   (stays in L2)
//         for jr, ir: C[MR x NR tile] += Apanel (MR x KC) * Bpanel (KC x NR)   (registers)
//
// The microkernel keeps a 6 x 8 tile of C in twelve f32x4 registers; each step of the sum
// loads 8 values of B (two f32x4) and broadcasts 6 values of A. WebAssembly SIMD has no fused
// multiply-add outside the relaxed-SIMD proposal (WebAssembly relaxed SIMD, phase 4, 2023:
// `f32x4.relaxed_madd`, one `vfmadd` on x86 with FMA3 and `fmla` on ARM), so this source is
// compiled twice: without relaxed SIMD the step is a multiply then an add, with it (the
// `relaxed` variant, `ASC_FEATURE_RELAXED_SIMD`) one fused multiply-add, chosen at load time by
// feature detection (lib/ops/wasm/runtime.ts). Fused, a step rounds once instead of twice.
//
// Precision: each block of KC steps of the sum is accumulated from zero in registers and then
// added into C, so an element of C is a two-level sum: chains of at most KC products, and a
// chain of K / KC block sums. The rounding error of a float32 sum grows with its chain length
// (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., section 4.2), so KC is
// kept short (64: for the 3x3 convolutions of the heads, K = 576 becomes chains of 64 and 9
// instead of 256 and 3), which costs almost nothing: packing moves the same bytes whatever KC,
// and a C tile is re-read once per 64 steps instead of once per 256. (Without it, the mask
// head's weight gradients missed the model fixture's 1e-4 tolerance against PyTorch.)
//
// Determinism: every element of C is the sum over k in the same order (blocks of KC in
// increasing order, k increasing inside a block) whatever part of C a call computes, so
// splitting C between threads never changes a bit of the result.

/**
 * a b + c on four lanes: `f32x4.relaxed_madd` (fused where the machine has FMA) in the relaxed
 * variant, a multiply then an add in the plain one.
 */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

const MR: i32 = 6;
const NR: i32 = 8;
const KC: i32 = 64;
const MC: i32 = 120;
const NC: i32 = 2048;

/** Bytes of scratch one thread needs for {@link gemm}: packed A, packed B, an edge tile. */
export function gemmScratchBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) * 4 + 64;
}

/**
 * Packs rows [i0, i0 + mc) and sums [p0, p0 + kc) of A into panels of MR rows: panel r holds,
 * for each p, the MR values A[i0 + r MR + 0..MR-1][p0 + p] (zeros past row m).
 * A(i, p) is at a + 4 (i sar + p sac).
 */
function packA(a: usize, sar: i32, sac: i32, m: i32, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, m - (i0 + ir));
    if (sar == 1 && rows == MR) {
      // A read transposed (its columns contiguous): the MR values of a step are adjacent.
      let s = a + (<usize>(i0 + ir + p0 * sac) << 2);
      let d = dst + (<usize>(ir * kc) << 2);
      const step = <usize>sac << 2;
      for (let p = 0; p < kc; p++) {
        v128.store(d, v128.load(s));
        store<f32>(d + 16, load<f32>(s + 16));
        store<f32>(d + 20, load<f32>(s + 20));
        d += <usize>(MR << 2);
        s += step;
      }
      continue;
    }
    for (let r = 0; r < MR; r++) {
      let d = dst + (<usize>(ir * kc + r) << 2);
      if (r < rows) {
        let s = a + (<usize>((i0 + ir + r) * sar + p0 * sac) << 2);
        const step = <usize>sac << 2;
        for (let p = 0; p < kc; p++) {
          store<f32>(d, load<f32>(s));
          d += <usize>(MR << 2);
          s += step;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          store<f32>(d, 0);
          d += <usize>(MR << 2);
        }
      }
    }
  }
}

/**
 * Packs sums [p0, p0 + kc) and columns [j0, j0 + nc) of B into panels of NR columns: panel c
 * holds, for each p, the NR values B[p0 + p][j0 + c NR + 0..NR-1] (zeros past column n).
 * B(p, j) is at b + 4 (p sbr + j sbc).
 */
function packB(b: usize, sbr: i32, sbc: i32, n: i32, j0: i32, nc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, n - (j0 + jr));
    const panel = dst + (<usize>(jr * kc) << 2);
    if (cols == NR && sbc == 1) {
      // The common case (row-major B): two f32x4 copies per row of the panel.
      let s = b + (<usize>(p0 * sbr + j0 + jr) << 2);
      let d = panel;
      const step = <usize>sbr << 2;
      for (let p = 0; p < kc; p++) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        d += 32;
        s += step;
      }
      continue;
    }
    if (cols == NR && sbr == 1) {
      // B read transposed (its columns contiguous): each column of the panel is one contiguous read.
      for (let c = 0; c < NR; c++) {
        let s = b + (<usize>(p0 + (j0 + jr + c) * sbc) << 2);
        let d = panel + (<usize>c << 2);
        for (let p = 0; p < kc; p++) {
          store<f32>(d, load<f32>(s));
          d += <usize>(NR << 2);
          s += 4;
        }
      }
      continue;
    }
    for (let p = 0; p < kc; p++) {
      const d = panel + (<usize>(p * NR) << 2);
      const s = b + (<usize>((p0 + p) * sbr + (j0 + jr) * sbc) << 2);
      for (let c = 0; c < NR; c++) {
        store<f32>(d + (<usize>c << 2), c < cols ? load<f32>(s + (<usize>(c * sbc) << 2)) : 0);
      }
    }
  }
}

/**
 * The 6 x 8 microkernel: tile = sum_p Apanel[p][0..5] (x) Bpanel[p][0..7], then
 * C[6 x 8] = tile (accumulate = 0) or C + tile (accumulate = 1), C rows ldc floats apart.
 * Only the first `rows` x `cols` of the tile are written (edge tiles go through `edge`).
 */
function micro(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, accumulate: i32, rows: i32, cols: i32, edge: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40);
    c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20);
    c50 = madd(a, b0, c50);
    c51 = madd(a, b1, c51);
    ap += 24;
    bp += 32;
  }
  const full = rows == MR && cols == NR;
  const ldcb = <usize>ldc << 2;
  // Full tiles are written in place; edge tiles are stored to `edge` (8 floats a row) first.
  let dst = full ? c : edge;
  const step: usize = full ? ldcb : 32;
  if (full && accumulate != 0) {
    v128.store(dst, f32x4.add(v128.load(dst), c00)); v128.store(dst, f32x4.add(v128.load(dst, 16), c01), 16); dst += step;
    v128.store(dst, f32x4.add(v128.load(dst), c10)); v128.store(dst, f32x4.add(v128.load(dst, 16), c11), 16); dst += step;
    v128.store(dst, f32x4.add(v128.load(dst), c20)); v128.store(dst, f32x4.add(v128.load(dst, 16), c21), 16); dst += step;
    v128.store(dst, f32x4.add(v128.load(dst), c30)); v128.store(dst, f32x4.add(v128.load(dst, 16), c31), 16); dst += step;
    v128.store(dst, f32x4.add(v128.load(dst), c40)); v128.store(dst, f32x4.add(v128.load(dst, 16), c41), 16); dst += step;
    v128.store(dst, f32x4.add(v128.load(dst), c50)); v128.store(dst, f32x4.add(v128.load(dst, 16), c51), 16);
    return;
  }
  v128.store(dst, c00); v128.store(dst, c01, 16); dst += step;
  v128.store(dst, c10); v128.store(dst, c11, 16); dst += step;
  v128.store(dst, c20); v128.store(dst, c21, 16); dst += step;
  v128.store(dst, c30); v128.store(dst, c31, 16); dst += step;
  v128.store(dst, c40); v128.store(dst, c41, 16); dst += step;
  v128.store(dst, c50); v128.store(dst, c51, 16);
  if (full) return;
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) {
      const o = c + (<usize>(r * ldc + q) << 2);
      const v = load<f32>(edge + (<usize>(r * NR + q) << 2));
      store<f32>(o, accumulate != 0 ? load<f32>(o) + v : v);
    }
  }
}

/**
 * C[m0:m1, n0:n1] = A B (beta = 0) or C + A B (beta = 1) for A (m x k), B (k x n), C (m x n)
 * row-major with `ldc` floats per row; A(i, p) at a + 4 (i sar + p sac), B(p, j) at
 * b + 4 (p sbr + j sbc) (strides let A or B be read transposed). `scratch` holds
 * {@link gemmScratchBytes} bytes private to the calling thread.
 */
export function gemm(
  m: i32, n: i32, k: i32,
  a: usize, sar: i32, sac: i32,
  b: usize, sbr: i32, sbc: i32,
  c: usize, ldc: i32, beta: i32,
  m0: i32, m1: i32, n0: i32, n1: i32,
  scratch: usize,
): void {
  const packedA = (scratch + 15) & ~(<usize>15);
  const packedB = packedA + (<usize>(MC * KC) << 2);
  const edge = packedB + (<usize>(KC * NC) << 2);
  if (k == 0) {
    if (beta == 0) for (let i = m0; i < m1; i++) zeroBytes(c + (<usize>(i * ldc + n0) << 2), <usize>(n1 - n0) << 2);
    return;
  }
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const accumulate = pc > 0 || beta != 0 ? 1 : 0;
      packB(b, sbr, sbc, n1, jc, nc, pc, kc, packedB);
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = min(MC, m1 - ic);
        packA(a, sar, sac, m1, ic, mc, pc, kc, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bp = packedB + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const ap = packedA + (<usize>(ir * kc) << 2);
            const ct = c + (<usize>((ic + ir) * ldc + jc + jr) << 2);
            micro(kc, ap, bp, ct, ldc, accumulate, rows, cols, edge);
          }
        }
      }
    }
  }
}

/**
 * Below this many bytes, {@link copyBytes} and {@link zeroBytes} move data with inline vector
 * loads and stores: on a shared memory V8 runs `memory.copy` / `memory.fill` as a call into the
 * runtime, which costs more than the copy itself for the 14- and 28-float rows of the heads'
 * RoI batches (im2col of a 14x14 map issues three such calls per row).
 */
const INLINE_BYTES: usize = 256;

/** dst[0..bytes) = src[0..bytes) (non-overlapping; bytes a multiple of 4). */
@inline
function copyBytes(dst: usize, src: usize, bytes: usize): void {
  if (bytes >= INLINE_BYTES) {
    memory.copy(dst, src, bytes);
    return;
  }
  let i: usize = 0;
  for (; i + 16 <= bytes; i += 16) v128.store(dst + i, v128.load(src + i));
  for (; i < bytes; i += 4) store<f32>(dst + i, load<f32>(src + i));
}

/** dst[0..bytes) = 0 (bytes a multiple of 4). */
@inline
function zeroBytes(dst: usize, bytes: usize): void {
  if (bytes >= INLINE_BYTES) {
    memory.fill(dst, 0, bytes);
    return;
  }
  let i: usize = 0;
  const z = i32x4.splat(0);
  for (; i + 16 <= bytes; i += 16) v128.store(dst + i, z);
  for (; i < bytes; i += 4) store<f32>(dst + i, 0);
}

/**
 * im2col for output rows [h0, h1) of one image: col[(c kH + kh) kW + kw][(h_out - h0) W_out + w_out]
 * = x[c][h_out sh - ph + kh dh][w_out sw - pw + kw dw] (0 in the padding), for c < channels.
 * `x` is one image's first channel of the group; the (h1 - h0) W_out columns of each row of col
 * start `ldcol` floats apart (wider than the image when several images share one col: each
 * image then writes its own block of columns).
 */
export function im2col(
  x: usize, channels: i32, height: i32, width: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilH: i32, dilW: i32,
  outW: i32, h0: i32, h1: i32, col: usize, ldcol: i32,
): void {
  const cols = ldcol;
  const rowBytes = <usize>outW << 2;
  let row = col;
  for (let ch = 0; ch < channels; ch++) {
    const plane = x + (<usize>(ch * height * width) << 2);
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        // Output columns [lo, hi) read inside the row (wo strideW + off in [0, width)); the
        // others are padding, zero. Computed once per tap, so the inner loops do not branch.
        const off = kw * dilW - padW;
        const lo = min(outW, off >= 0 ? 0 : (strideW - 1 - off) / strideW);
        const hi = max(lo, off >= width ? 0 : min(outW, (width - 1 - off) / strideW + 1));
        const loBytes = <usize>lo << 2;
        const tailBytes = <usize>(outW - hi) << 2;
        let d = row;
        for (let ho = h0; ho < h1; ho++) {
          const hi_ = ho * strideH - padH + kh * dilH;
          if (hi_ < 0 || hi_ >= height) {
            zeroBytes(d, rowBytes);
            d += rowBytes;
            continue;
          }
          const src = plane + (<usize>(hi_ * width + off) << 2);
          if (lo > 0) zeroBytes(d, loBytes);
          if (strideW == 1) {
            copyBytes(d + loBytes, src + loBytes, <usize>(hi - lo) << 2);
          } else {
            for (let wo = lo; wo < hi; wo++) store<f32>(d + (<usize>wo << 2), load<f32>(src + (<usize>(wo * strideW) << 2)));
          }
          if (hi < outW) zeroBytes(d + (<usize>hi << 2), tailBytes);
          d += rowBytes;
        }
        row += <usize>cols << 2;
      }
    }
  }
}

/**
 * col2im, the adjoint of {@link im2col}: x[c][h_in][w_in] += col[...][...] for every tap that
 * reads (h_in, w_in) from output rows [h0, h1) (taps in the padding are dropped); rows of col
 * start `ldcol` floats apart. The caller zeroes `x` first; taps are added in a fixed order
 * (c, kh, kw, h_out, w_out): each element of x receives its taps in that order whatever the
 * vector width, so the result is the same bits as the one-element-at-a-time loop.
 */
export function col2im(
  col: usize, channels: i32, height: i32, width: i32,
  kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilH: i32, dilW: i32,
  outW: i32, h0: i32, h1: i32, x: usize, ldcol: i32,
): void {
  const cols = ldcol;
  const rowBytes = <usize>outW << 2;
  let row = col;
  for (let ch = 0; ch < channels; ch++) {
    const plane = x + (<usize>(ch * height * width) << 2);
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        const off = kw * dilW - padW;
        const lo = min(outW, off >= 0 ? 0 : (strideW - 1 - off) / strideW);
        const hi = max(lo, off >= width ? 0 : min(outW, (width - 1 - off) / strideW + 1));
        let s = row;
        for (let ho = h0; ho < h1; ho++) {
          const hi_ = ho * strideH - padH + kh * dilH;
          if (hi_ < 0 || hi_ >= height) {
            s += rowBytes;
            continue;
          }
          const dst = plane + (<usize>(hi_ * width + off) << 2);
          if (strideW == 1) {
            let wo = lo;
            for (; wo + 4 <= hi; wo += 4) {
              const o = dst + (<usize>wo << 2);
              v128.store(o, f32x4.add(v128.load(o), v128.load(s + (<usize>wo << 2))));
            }
            for (; wo < hi; wo++) {
              const o = dst + (<usize>wo << 2);
              store<f32>(o, load<f32>(o) + load<f32>(s + (<usize>wo << 2)));
            }
          } else {
            for (let wo = lo; wo < hi; wo++) {
              const o = dst + (<usize>(wo * strideW) << 2);
              store<f32>(o, load<f32>(o) + load<f32>(s + (<usize>wo << 2)));
            }
          }
          s += rowBytes;
        }
        row += <usize>cols << 2;
      }
    }
  }
}

/**
 * dst[b][r][0..len) = src[b][r][0..len) for b < blocks, r < rows, with each array's own block
 * and row strides (floats): gathers the `[C, P]` planes of several images into one `[C, images P]`
 * matrix (so that one product covers them all), or scatters such a product back.
 */
export function copyBlocks(
  src: usize, srcBlock: i32, srcRow: i32,
  dst: usize, dstBlock: i32, dstRow: i32,
  blocks: i32, rows: i32, len: i32,
): void {
  const bytes = <usize>len << 2;
  for (let b = 0; b < blocks; b++) {
    for (let r = 0; r < rows; r++) {
      copyBytes(dst + (<usize>(b * dstBlock + r * dstRow) << 2), src + (<usize>(b * srcBlock + r * srcRow) << 2), bytes);
    }
  }
}

/** out[c][i] = v[c] for i < plane: fills each of `channels` planes with its bias (or 0). */
export function fillRows(out: usize, v: usize, channels: i32, plane: i32, hasValue: i32): void {
  for (let ch = 0; ch < channels; ch++) {
    const x = hasValue != 0 ? load<f32>(v + (<usize>ch << 2)) : <f32>0;
    const row = out + (<usize>(ch * plane) << 2);
    const s = f32x4.splat(x);
    let i = 0;
    for (; i + 4 <= plane; i += 4) v128.store(row + (<usize>i << 2), s);
    for (; i < plane; i++) store<f32>(row + (<usize>i << 2), x);
  }
}

/**
 * dst[j rows + i] = src[i srcStride + j] for i < rows, j < cols: a transpose, in 8 x 8 blocks so
 * that reads and writes both stay in cache lines.
 */
export function transpose(src: usize, rows: i32, cols: i32, srcStride: i32, dst: usize): void {
  for (let i0 = 0; i0 < rows; i0 += 8) {
    const i1 = min(rows, i0 + 8);
    for (let j0 = 0; j0 < cols; j0 += 8) {
      const j1 = min(cols, j0 + 8);
      for (let i = i0; i < i1; i++) {
        const s = src + (<usize>(i * srcStride) << 2);
        for (let j = j0; j < j1; j++) store<f32>(dst + (<usize>(j * rows + i) << 2), load<f32>(s + (<usize>j << 2)));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RoIAlign (average), one RoI per call, on channels-last features
// ---------------------------------------------------------------------------------------------
//
// The caller lays the features out channels-last (`x[(n H + y) W + x][c]`, so one tap reads C
// consecutive values) and passes RoI k's sample table (torchvision's `pre_calc`): for each
// sample, in the order bin, grid row, grid column, four element offsets into `x` (already
// `(image cell) C`) and four float64 bilinear weights. The arithmetic is the reference
// kernel's, in float64 and in its order (two channels per f64x2), so results are the same bits.

/**
 * out[c bins + bin] = (sum over the bin's samples of w0 f1 + w1 f2 + w2 f3 + w3 f4) / count for
 * c < channels: RoI k's `[C, PH PW]` output block.
 */
export function roiAlignForward(x: usize, channels: i32, offsets: usize, weights: usize, bins: i32, taps: i32, count: f64, out: usize): void {
  const cnt = f64x2.splat(count);
  for (let bin = 0; bin < bins; bin++) {
    const t0 = bin * taps;
    let c = 0;
    for (; c + 2 <= channels; c += 2) {
      let sum = f64x2.splat(0);
      for (let i = t0; i < t0 + taps; i += 4) {
        const o = offsets + (<usize>i << 2);
        const w = weights + (<usize>i << 3);
        const f1 = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>(load<i32>(o) + c) << 2)));
        const f2 = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>(load<i32>(o, 4) + c) << 2)));
        const f3 = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>(load<i32>(o, 8) + c) << 2)));
        const f4 = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>(load<i32>(o, 12) + c) << 2)));
        let s = f64x2.mul(v128.load64_splat(w), f1);
        s = f64x2.add(s, f64x2.mul(v128.load64_splat(w, 8), f2));
        s = f64x2.add(s, f64x2.mul(v128.load64_splat(w, 16), f3));
        s = f64x2.add(s, f64x2.mul(v128.load64_splat(w, 24), f4));
        sum = f64x2.add(sum, s);
      }
      const r = f64x2.div(sum, cnt);
      store<f32>(out + (<usize>(c * bins + bin) << 2), <f32>f64x2.extract_lane(r, 0));
      store<f32>(out + (<usize>((c + 1) * bins + bin) << 2), <f32>f64x2.extract_lane(r, 1));
    }
    for (; c < channels; c++) {
      let sum: f64 = 0;
      for (let i = t0; i < t0 + taps; i += 4) {
        const o = offsets + (<usize>i << 2);
        const w = weights + (<usize>i << 3);
        sum += load<f64>(w) * <f64>load<f32>(x + (<usize>(load<i32>(o) + c) << 2)) +
          load<f64>(w, 8) * <f64>load<f32>(x + (<usize>(load<i32>(o, 4) + c) << 2)) +
          load<f64>(w, 16) * <f64>load<f32>(x + (<usize>(load<i32>(o, 8) + c) << 2)) +
          load<f64>(w, 24) * <f64>load<f32>(x + (<usize>(load<i32>(o, 12) + c) << 2));
      }
      store<f32>(out + (<usize>(c * bins + bin) << 2), <f32>(sum / count));
    }
  }
}

/**
 * The adjoint of {@link roiAlignForward} for one RoI: for each bin, share[c] =
 * gradOut[c bins + bin] / count, then grad[offset + c] += share[c] w for each tap of each of
 * the bin's samples, in order (float64 products and sums, rounded to float32 at each store, as
 * the reference does). `share` is scratch for `channels` float64s.
 */
export function roiAlignBackward(gradOut: usize, channels: i32, offsets: usize, weights: usize, bins: i32, taps: i32, count: f64, grad: usize, share: usize): void {
  for (let bin = 0; bin < bins; bin++) {
    for (let c = 0; c < channels; c++) {
      store<f64>(share + (<usize>c << 3), <f64>load<f32>(gradOut + (<usize>(c * bins + bin) << 2)) / count);
    }
    const t0 = bin * taps;
    for (let i = t0; i < t0 + taps; i++) {
      const base = grad + (<usize>load<i32>(offsets + (<usize>i << 2)) << 2);
      const wv = load<f64>(weights + (<usize>i << 3));
      const w = f64x2.splat(wv);
      let c = 0;
      for (; c + 4 <= channels; c += 4) {
        const p = base + (<usize>c << 2);
        const g = v128.load(p);
        const lo = f64x2.add(f64x2.promote_low_f32x4(g), f64x2.mul(v128.load(share + (<usize>c << 3)), w));
        const hi = f64x2.add(f64x2.promote_low_f32x4(v128.shuffle<u32>(g, g, 2, 3, 0, 1)), f64x2.mul(v128.load(share + (<usize>c << 3), 16), w));
        v128.store(p, v128.shuffle<u32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
      }
      for (; c < channels; c++) {
        const p = base + (<usize>c << 2);
        store<f32>(p, <f32>(<f64>load<f32>(p) + load<f64>(share + (<usize>c << 3)) * wv));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float64 accumulation of float32 partial results (the weight gradient's long sums)
// ---------------------------------------------------------------------------------------------

/** dst[i] += src[i] for i < n: float64 `dst`, float32 `src` (a partial product added into a float64 sum). */
export function accumulateF64(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(src + (<usize>i << 2));
    const d = dst + (<usize>i << 3);
    v128.store(d, f64x2.add(v128.load(d), f64x2.promote_low_f32x4(v)));
    v128.store(d, f64x2.add(v128.load(d, 16), promoteHigh(v)), 16);
  }
  for (; i < n; i++) {
    const d = dst + (<usize>i << 3);
    store<f64>(d, load<f64>(d) + <f64>load<f32>(src + (<usize>i << 2)));
  }
}

/** dst[i] = float32(src[i]) for i < n (rounded to nearest). */
export function roundF64(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), <f32>load<f64>(src + (<usize>i << 3)));
}

// ---------------------------------------------------------------------------------------------
// Per-channel statistics and affine maps (batch normalization)
// ---------------------------------------------------------------------------------------------
//
// An NCHW tensor is `images x channels` planes of `plane` floats; channel c is the planes
// c, C + c, 2C + c, ... The sums are float64 (two f64x2 accumulators per pass, so their order is
// not the reference's sequential one: results agree to float64 rounding, not to the bit).

/** The two high lanes of a f32x4 as a f64x2 (`f64x2.promote_low_f32x4` gives the two low ones). */
// @ts-ignore: decorator
@inline function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 0, 1));
}

/**
 * Four values of the gradient `g` at byte offset `o`; with a fused ReLU (`y` not 0) times
 * (y > 0), as ReLU's backward computes it: g times 1 or 0 (a NaN g stays NaN).
 */
// @ts-ignore: decorator
@inline function gradient4(g: usize, y: usize, o: usize): v128 {
  const gv = v128.load(g + o);
  if (y == 0) return gv;
  return f32x4.mul(gv, v128.and(f32x4.gt(v128.load(y + o), f32x4.splat(0)), f32x4.splat(1)));
}

/** One value of {@link gradient4}. */
// @ts-ignore: decorator
@inline function gradient1(g: usize, y: usize, o: usize): f64 {
  const gs = <f64>load<f32>(g + o);
  return y == 0 ? gs : gs * (load<f32>(y + o) > 0 ? 1 : 0);
}

/** sum over the channel's planes of x (float64), from four floats at a time. */
// @ts-ignore: decorator
@inline function planeSum(p: usize, plane: i32, acc: v128): v128 {
  let i = 0;
  for (; i + 4 <= plane; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    acc = f64x2.add(acc, f64x2.add(f64x2.promote_low_f32x4(v), promoteHigh(v)));
  }
  let tail: f64 = 0;
  for (; i < plane; i++) tail += <f64>load<f32>(p + (<usize>i << 2));
  return f64x2.add(acc, f64x2(tail, 0));
}

/**
 * Batch normalization's statistics (Ioffe & Szegedy 2015, Algorithm 1: the mini-batch mean and
 * biased variance per channel, over N, H and W), in two passes: `mean[c]` and `variance[c]`
 * (float64 arrays) for an NCHW float32 `x`.
 */
export function channelStatistics(x: usize, images: i32, channels: i32, plane: i32, mean: usize, variance: usize): void {
  const count = <f64>images * <f64>plane;
  for (let ch = 0; ch < channels; ch++) {
    let acc = f64x2.splat(0);
    for (let n = 0; n < images; n++) acc = planeSum(x + (<usize>((n * channels + ch) * plane) << 2), plane, acc);
    const mu = (f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1)) / count;
    const m = f64x2.splat(mu);
    let sq = f64x2.splat(0);
    let tail: f64 = 0;
    for (let n = 0; n < images; n++) {
      const p = x + (<usize>((n * channels + ch) * plane) << 2);
      let i = 0;
      for (; i + 4 <= plane; i += 4) {
        const v = v128.load(p + (<usize>i << 2));
        const lo = f64x2.sub(f64x2.promote_low_f32x4(v), m);
        const hi = f64x2.sub(promoteHigh(v), m);
        sq = f64x2.add(sq, f64x2.add(f64x2.mul(lo, lo), f64x2.mul(hi, hi)));
      }
      for (; i < plane; i++) {
        const e = <f64>load<f32>(p + (<usize>i << 2)) - mu;
        tail += e * e;
      }
    }
    store<f64>(mean + (<usize>ch << 3), mu);
    store<f64>(variance + (<usize>ch << 3), (f64x2.extract_lane(sq, 0) + f64x2.extract_lane(sq, 1) + tail) / count);
  }
}

/**
 * out = x scale[c] + shift[c] per channel (float64 arithmetic, one rounding to float32), and with
 * `relu` set max(that, 0) (a NaN stays NaN): the normalization of batch norm with its statistics
 * folded into scale and shift, FrozenBatchNorm2d, or a bias (scale 1). `out` may be `x`.
 */
export function channelAffine(x: usize, out: usize, images: i32, channels: i32, plane: i32, scale: usize, shift: usize, relu: i32): void {
  const zero = f64x2.splat(0);
  for (let n = 0; n < images; n++) {
    for (let ch = 0; ch < channels; ch++) {
      const a: f64 = load<f64>(scale + (<usize>ch << 3));
      const b: f64 = load<f64>(shift + (<usize>ch << 3));
      const va = f64x2.splat(a);
      const vb = f64x2.splat(b);
      const offset = <usize>((n * channels + ch) * plane) << 2;
      const p = x + offset;
      const q = out + offset;
      let i = 0;
      for (; i + 4 <= plane; i += 4) {
        const v = v128.load(p + (<usize>i << 2));
        let lo = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v), va), vb);
        let hi = f64x2.add(f64x2.mul(promoteHigh(v), va), vb);
        if (relu != 0) {
          // t > 0 or NaN keeps t, the rest is +0 (as the reference's `t > 0 || t !== t ? t : 0`).
          lo = v128.bitselect(zero, lo, f64x2.le(lo, zero));
          hi = v128.bitselect(zero, hi, f64x2.le(hi, zero));
        }
        const l = f32x4.demote_f64x2_zero(lo);
        const h = f32x4.demote_f64x2_zero(hi);
        v128.store(q + (<usize>i << 2), v128.shuffle<u32>(l, h, 0, 1, 4, 5));
      }
      for (; i < plane; i++) {
        const t = <f64>load<f32>(p + (<usize>i << 2)) * a + b;
        store<f32>(q + (<usize>i << 2), <f32>(relu != 0 && t <= 0 ? 0 : t));
      }
    }
  }
}

/**
 * Batch normalization's backward pass (Ioffe & Szegedy 2015, section 3, the chain rule through
 * Algorithm 1) for channel statistics `mean`, `invstd` = 1 / sqrt(var + eps) and per-channel
 * `k` = gamma invstd / m (float64 arrays), with m = images plane values per channel:
 * `sumG[c]` = sum g = dL/dbeta, `sumGxhat[c]` = sum g xhat = dL/dgamma, and when `gx` is not 0
 * `gx = k (m g - sumG - xhat sumGxhat)`. With `y` not 0 (a fused ReLU), g is read as g times (y > 0).
 */
export function batchNormBackward(
  x: usize, g: usize, y: usize, images: i32, channels: i32, plane: i32,
  mean: usize, invstd: usize, k: usize, sumG: usize, sumGxhat: usize, gx: usize,
): void {
  const m = <f64>images * <f64>plane;
  for (let ch = 0; ch < channels; ch++) {
    const mu: f64 = load<f64>(mean + (<usize>ch << 3));
    const is: f64 = load<f64>(invstd + (<usize>ch << 3));
    const vmu = f64x2.splat(mu);
    const vis = f64x2.splat(is);
    let sg = f64x2.splat(0);
    let sgx = f64x2.splat(0);
    let tg: f64 = 0;
    let tgx: f64 = 0;
    for (let n = 0; n < images; n++) {
      const offset = <usize>((n * channels + ch) * plane) << 2;
      let i = 0;
      for (; i + 4 <= plane; i += 4) {
        const gv = gradient4(g, y, offset + (<usize>i << 2));
        const xv = v128.load(x + offset + (<usize>i << 2));
        const glo = f64x2.promote_low_f32x4(gv);
        const ghi = promoteHigh(gv);
        const xlo = f64x2.sub(f64x2.promote_low_f32x4(xv), vmu);
        const xhi = f64x2.sub(promoteHigh(xv), vmu);
        sg = f64x2.add(sg, f64x2.add(glo, ghi));
        sgx = f64x2.add(sgx, f64x2.add(f64x2.mul(f64x2.mul(glo, xlo), vis), f64x2.mul(f64x2.mul(ghi, xhi), vis)));
      }
      for (; i < plane; i++) {
        const gs = gradient1(g, y, offset + (<usize>i << 2));
        tg += gs;
        tgx += gs * (<f64>load<f32>(x + offset + (<usize>i << 2)) - mu) * is;
      }
    }
    const sumg = f64x2.extract_lane(sg, 0) + f64x2.extract_lane(sg, 1) + tg;
    const sumgx = f64x2.extract_lane(sgx, 0) + f64x2.extract_lane(sgx, 1) + tgx;
    store<f64>(sumG + (<usize>ch << 3), sumg);
    store<f64>(sumGxhat + (<usize>ch << 3), sumgx);
    if (gx == 0) continue;
    const kc: f64 = load<f64>(k + (<usize>ch << 3));
    const vk = f64x2.splat(kc);
    const vm = f64x2.splat(m);
    const vsg = f64x2.splat(sumg);
    const vsgx = f64x2.splat(sumgx);
    for (let n = 0; n < images; n++) {
      const offset = <usize>((n * channels + ch) * plane) << 2;
      let i = 0;
      for (; i + 4 <= plane; i += 4) {
        const gv = gradient4(g, y, offset + (<usize>i << 2));
        const xv = v128.load(x + offset + (<usize>i << 2));
        const xlo = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(xv), vmu), vis);
        const xhi = f64x2.mul(f64x2.sub(promoteHigh(xv), vmu), vis);
        const glo = f64x2.promote_low_f32x4(gv);
        const ghi = promoteHigh(gv);
        const lo = f64x2.mul(vk, f64x2.sub(f64x2.sub(f64x2.mul(vm, glo), vsg), f64x2.mul(xlo, vsgx)));
        const hi = f64x2.mul(vk, f64x2.sub(f64x2.sub(f64x2.mul(vm, ghi), vsg), f64x2.mul(xhi, vsgx)));
        v128.store(gx + offset + (<usize>i << 2), v128.shuffle<u32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
      }
      for (; i < plane; i++) {
        const gs = gradient1(g, y, offset + (<usize>i << 2));
        const xhat = (<f64>load<f32>(x + offset + (<usize>i << 2)) - mu) * is;
        store<f32>(gx + offset + (<usize>i << 2), <f32>(kc * (m * gs - sumg - xhat * sumgx)));
      }
    }
  }
}
