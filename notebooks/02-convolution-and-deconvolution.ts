// %% [markdown]
// # 2. Convolution and deconvolution
//
// The backbone, the FPN, the RPN head and the mask head of Mask R-CNN are convolutions; the mask
// head ends with a 2x2 stride-2 *deconvolution* (a transposed convolution) that turns 14x14 RoI
// features into 28x28 masks (He et al., section 3, figure 4). This chapter computes a convolution
// three ways (sliding dot products, im2col + GEMM, the library's {@link conv2d}), shows the
// deconvolution as the transpose of a convolution, puts the gpu.js kernel beside the reference
// loop and checks they give the same numbers, and ends with the FPN's upsampling.

// %%
import { tensor, arange, randn, Generator, Tensor, conv2d, convTranspose2d, interpolate, withBackend, describeBackend, availableBackends, type ConvGeometry } from '../lib/index.js';
import { conv2dIm2col } from '../lib/ops/reference/conv.js';
import { showPng, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';
import { divergingHeatmap } from '../lib/index.js';
import { functionSource } from '../tools/notebooks/source.js';

// %% [markdown]
// ## A convolution as sliding dot products
//
// `out[h_out][w_out] = sum_{kh, kw} weight[kh][kw] * input[h_out + kh][w_out + kw]`: the kernel
// slides over the image and at each position takes a dot product with the window under it.

// %%
const image = arange(25).to('float32').reshape(1, 1, 5, 5);
const kernel = tensor([[[[1, 0, -1], [2, 0, -2], [1, 0, -1]]]]); // a Sobel filter: horizontal gradient
console.log(`input ${image}`);
const window00 = image.slice(2, 0, 3).slice(3, 0, 3);
console.log(`the window under output (0, 0): ${window00.reshape(3, 3)}`);
console.log(`dot product with the kernel: ${window00.mul(kernel).sum().item()}`);
const sliding: number[][] = [];
for (let hOut = 0; hOut < 3; hOut++) {
  const row: number[] = [];
  for (let wOut = 0; wOut < 3; wOut++) row.push(image.slice(2, hOut, hOut + 3).slice(3, wOut, wOut + 3).mul(kernel).sum().item());
  sliding.push(row);
}
const viaConv = conv2d(image, kernel);
console.log(`sliding dot products: ${tensor(sliding)}`);
console.log(`conv2d:               ${viaConv.reshape(3, 3)}`);
check('sliding = conv2d', viaConv.data, sliding.flat(), 0);

// %% [markdown]
// ## im2col + GEMM
//
// Fast libraries turn the convolution into one matrix product: *im2col* copies each receptive
// field into a column (`C_in kH kW` rows, one column per output position), then
// `out = weight[C_out, C_in kH kW] x cols`. Here on a 2-channel input with padding 1, built by
// hand, then with the study function `conv2dIm2col` of `lib/ops/reference/conv.ts`.

// %%
const gen = new Generator(0);
const x = randn([1, 2, 4, 4], { generator: gen });
const weight = randn([3, 2, 3, 3], { generator: gen });
const [C, H, W, K, P] = [2, 4, 4, 3, 1];
const positions = H * W; // stride 1, padding 1: same size out
const cols: number[][] = [];
for (let c = 0; c < C; c++) {
  for (let kh = 0; kh < K; kh++) {
    for (let kw = 0; kw < K; kw++) {
      const row: number[] = [];
      for (let p = 0; p < positions; p++) {
        const [hIn, wIn] = [Math.floor(p / W) - P + kh, (p % W) - P + kw];
        row.push(hIn >= 0 && hIn < H && wIn >= 0 && wIn < W ? x.data[(c * H + hIn) * W + wIn]! : 0);
      }
      cols.push(row);
    }
  }
}
const colsT = tensor(cols);
console.log(`cols: ${colsT.shape.join(' x ')} (C_in kH kW = ${C * K * K} rows, H_out W_out = ${positions} columns); first 3 rows:`);
console.log(`${colsT.slice(0, 0, 3)}`);
const gemm = weight.reshape(3, C * K * K).matmul(colsT).reshape(1, 3, H, W);
const direct = conv2d(x, weight, null, { padding: 1 });
const geometry: ConvGeometry = {
  batch: 1, inChannels: C, inHeight: H, inWidth: W, outChannels: 3, outHeight: H, outWidth: W,
  kernelHeight: K, kernelWidth: K, strideH: 1, strideW: 1, padH: P, padW: P, dilationH: 1, dilationW: 1, groups: 1,
};
const study = conv2dIm2col(x.data, weight.data, null, geometry);
const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
console.log(`max |GEMM - conv2d| = ${diff(gemm.data, direct.data).toExponential(2)}, max |conv2dIm2col - conv2d| = ${diff(study, direct.data).toExponential(2)}`);
check('im2col + GEMM = conv2d', diff(gemm.data, direct.data) + diff(study, direct.data), 0, 1e-5);

// %% [markdown]
// ## The 2x2 stride-2 deconvolution: a scatter
//
// A transposed convolution runs the arrow of a convolution backwards: each *input* pixel paints a
// copy of the kernel, scaled by its value, onto the output. With a 2x2 kernel and stride 2 the
// painted blocks tile the output exactly, doubling its size: the mask head's 14x14 -> 28x28.

// %%
const small = tensor([[[[1, 2], [3, 4]]]]);
const k2 = tensor([[[[1, 10], [100, 1000]]]]);
const up = convTranspose2d(small, k2, null, { stride: 2 });
for (let i = 0; i < 2; i++) {
  for (let j = 0; j < 2; j++) {
    const v = small.data[i * 2 + j]!;
    console.log(`input (${i}, ${j}) = ${v} paints output rows ${2 * i}..${2 * i + 1}, columns ${2 * j}..${2 * j + 1} with ${v} x kernel = ${k2.mul(v).reshape(2, 2)}`);
  }
}
console.log(`convTranspose2d: ${up.reshape(4, 4)}`);

// %% [markdown]
// ## ... and the transpose of a convolution
//
// The 2x2 stride-2 convolution maps a 4x4 image to 2x2: a linear map, so a 4 x 16 matrix `M`
// (column `j` is the convolution of the `j`-th one-hot image). The deconvolution is `M^T`: it
// maps 2x2 back to 4x4, and it is exactly what conv2d's backward pass computes for its input
// gradient (`lib/ops/conv.ts` runs both on the same kernels).

// %%
const columns: number[][] = [];
for (let j = 0; j < 16; j++) {
  const e = new Float32Array(16);
  e[j] = 1;
  columns.push(Array.from(conv2d(new Tensor(e, [1, 1, 4, 4]), k2, null, { stride: 2 }).data));
}
const M = tensor(columns).transpose(0, 1); // [4, 16]
console.log(`M (conv 4x4 -> 2x2 as a matrix): ${M}`);
const viaMatrix = M.transpose(0, 1).matmul(small.reshape(4, 1)).reshape(4, 4);
console.log(`M^T x input: ${viaMatrix}`);
const probe = randn([1, 1, 4, 4], { generator: gen, requiresGrad: true });
conv2d(probe, k2, null, { stride: 2 }).backward(small);
console.log(`conv2d's input gradient for output gradient = input: ${probe.grad!.reshape(4, 4)}`);
check('deconv = M^T x', up.data, viaMatrix.data, 0);
check('deconv = conv2d backward', up.data, probe.grad!.data, 0);

// %% [markdown]
// ## The gpu.js kernel beside the reference loop
//
// The reference backend walks the formula's loops in the order that reads memory contiguously;
// the gpu backend runs one thread per output pixel, which recovers its coordinates from its
// thread index and sums its receptive field. Both excerpts are read from the source files as
// they are now.

// %%
console.log(functionSource('lib/ops/reference/conv.ts', 'conv2dForwardReference'));

// %%
console.log(functionSource('lib/ops/gpu/conv.ts', 'forwardGather'));

// %% [markdown]
// ## The same numbers from both backends
//
// A 3x3 convolution (8 -> 16 channels, stride 2, padding 1) and the mask head's deconvolution,
// run once on each backend. The gpu kernels compute in float32, the reference accumulates in
// float64 and rounds once: they agree to float32 rounding.

// %%
console.log('backends present:', availableBackends().join(', '));
console.log('gpu backend:', describeBackend('gpu'));
const a = randn([2, 8, 9, 9], { generator: gen });
const wa = randn([16, 8, 3, 3], { generator: gen });
const ba = randn([16], { generator: gen });
const feat = randn([2, 4, 7, 7], { generator: gen });
const wd = randn([4, 3, 2, 2], { generator: gen });
const run = (backend: 'reference' | 'gpu') =>
  withBackend(backend, () => [conv2d(a, wa, ba, { stride: 2, padding: 1 }), convTranspose2d(feat, wd, null, { stride: 2 })]);
const [refConv, refDeconv] = run('reference');
const [gpuConv, gpuDeconv] = run('gpu');
const rows = [
  ['conv2d 3x3 s2 p1', refConv!.shape.join('x'), fixed(refConv!.data[0]!), fixed(gpuConv!.data[0]!), diff(refConv!.data, gpuConv!.data).toExponential(2)],
  ['convTranspose2d 2x2 s2', refDeconv!.shape.join('x'), fixed(refDeconv!.data[0]!), fixed(gpuDeconv!.data[0]!), diff(refDeconv!.data, gpuDeconv!.data).toExponential(2)],
];
showMarkdown(markdownTable(['op', 'output shape', 'reference [0]', 'gpu [0]', 'max abs difference'], rows));
check('gpu = reference', diff(refConv!.data, gpuConv!.data) + diff(refDeconv!.data, gpuDeconv!.data), 0, 1e-4);

// %% [markdown]
// ## The FPN's upsampling
//
// The FPN's top-down pathway (Lin et al., used by Mask R-CNN, section 3) upsamples the coarser
// merged map by 2 with nearest-neighbour {@link interpolate} and adds the 1x1-convolved lateral
// (C4 -> 256 channels in the real network; 1 channel here, to draw it):
// `M4 = conv1x1(C4) + upsample(M5)`. Nearest neighbour repeats each coarse cell as a 2x2 block;
// the 3x3 convolution after the sum (`P4 = conv3x3(M4)`) smooths the blocks.

// %%
const m5 = randn([1, 1, 4, 4], { generator: gen });
const c4 = randn([1, 3, 8, 8], { generator: gen });
const lateral = conv2d(c4, randn([1, 3, 1, 1], { generator: gen }).mul(0.5));
const upsampled = interpolate(m5, { scaleFactor: 2, mode: 'nearest' });
const m4 = lateral.add(upsampled);
const p4 = conv2d(m4, tensor([[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]).div(16), null, { padding: 1 });
const grid = (t: Tensor) => t.reshape(t.shape[2]!, t.shape[3]!).toArray() as number[][];
console.log(`M5 (4x4): ${m5.reshape(4, 4)}`);
console.log(`upsample(M5) (8x8), top-left 4x4: ${upsampled.reshape(8, 8).slice(0, 0, 4).slice(1, 0, 4)}`);
showPng(divergingHeatmap(grid(m5), 48).toPng(), 'M5, 4x4 (red positive, blue negative)');
showPng(divergingHeatmap(grid(upsampled), 24).toPng(), 'upsample(M5), 8x8: every cell repeated as a 2x2 block');
showPng(divergingHeatmap(grid(m4), 24).toPng(), 'M4 = conv1x1(C4) + upsample(M5), 8x8');
showPng(divergingHeatmap(grid(p4), 24).toPng(), 'P4 = conv3x3(M4) (a smoothing kernel here), 8x8');
check('nearest upsampling repeats', [upsampled.data[0]!, upsampled.data[1]!, upsampled.data[8]!, upsampled.data[9]!], [m5.data[0]!, m5.data[0]!, m5.data[0]!, m5.data[0]!], 0);
