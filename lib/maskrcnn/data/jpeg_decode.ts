/**
 * The JPEG decoder behind `jpeg.ts`: from the file's bytes to 8-bit RGBA, computed the way
 * libjpeg-turbo (Pillow's and torchvision's decoder) computes it by default, so that its output
 * equals theirs (the fixtures under `test/fixtures/jpeg` are equal to Pillow's decode exactly).
 *
 * The stages, each citing what it implements (ITU-T T.81 = ISO/IEC 10918-1, "the standard"):
 *
 * 1. **Markers** (T.81 Annex B): DQT, DHT, SOF0/SOF1 (sequential) and SOF2 (progressive) with
 *    Huffman coding, DRI, SOS, APP0 (JFIF) and APP14 (Adobe) for the colour space; arithmetic
 *    coding, lossless and hierarchical frames are refused.
 * 2. **Entropy decoding** (Annex F.2.2 for sequential scans, Annex G.1.2 for progressive ones:
 *    DC first / refinement, AC first with end-of-band runs / refinement), with restart intervals
 *    (B.2.4.4, F.2.1.3.1). The quantised coefficients of every block are kept (16-bit, as
 *    libjpeg's `JCOEF`) until the last scan.
 * 3. **Inverse DCT**: libjpeg's "islow" integer method (`jidctint.c`, the default `JDCT_ISLOW`),
 *    the Loeffler-Ligtenberg-Moschytz factorisation with 13-bit constants and 2 extra bits of
 *    precision between the column and the row pass; the same arithmetic gives the same samples.
 * 4. **Upsampling** of subsampled components (`jdsample.c`): libjpeg's default "fancy"
 *    (triangular) upsampling for 2:1 horizontal (4:2:2), 2:1 both ways (4:2:0) and 2:1 vertical
 *    (4:4:0), replication for other integer ratios; the image's edge samples are repeated.
 * 5. **Colour conversion** (`jdcolor.c`, JFIF 1.02 section 7 / ITU-R BT.601): YCbCr to RGB with
 *    libjpeg's 16-bit fixed-point tables; Adobe CMYK / YCCK become RGB as Pillow's
 *    `convert("RGB")` makes them (inverted, Adobe's convention, then `255 - k` scaled).
 *
 *    Three components are YCbCr unless an Adobe segment says otherwise (transform 0: RGB) or,
 *    with neither a JFIF nor an Adobe segment, the component ids are 'R', 'G', 'B'; four are
 *    CMYK, or YCCK with Adobe transform 2 (libjpeg's `default_decompress_parms`, jdapimin.c).
 *
 * Where the output can still differ from libjpeg's: a progressive file whose scans stop before
 * the coefficients are complete (libjpeg then smooths the missing low AC coefficients from
 * neighbouring blocks' DC values, jdcoefct.c; here they stay zero: tens of levels on such files,
 * none on complete ones); and corrupt data whose inverse DCT leaves the sample range by more
 * than 256 (clamped here; libjpeg's range-limit table wraps). The code was written from the
 * standard and from what the libjpeg sources document, not copied from any decoder.
 *
 * Errors are plain `Error`s whose message is the reason only (the caller names the file).
 *
 * @module
 */

/** One colour component of the frame (T.81 B.2.2) and, after decoding, its samples. */
interface Component {
  /** Component identifier Ci. */
  id: number;
  /** Horizontal sampling factor Hi (1..4). */
  h: number;
  /** Vertical sampling factor Vi (1..4). */
  v: number;
  /** Quantisation table selector Tqi. */
  tq: number;
  /** Blocks in a row of the stored (MCU-padded) component. */
  blocksPerLine: number;
  /** Blocks in a column of the stored component. */
  blocksPerColumn: number;
  /** Samples in a row of the component proper, before padding: ceil(X * Hi / Hmax) (A.1.1). */
  width: number;
  /** Rows of the component proper: ceil(Y * Vi / Vmax). */
  height: number;
  /** Quantised coefficients, 64 per block in natural (row-major) order, blocks row-major. */
  coefficients: Int16Array;
  /** DC predictor of the scan being decoded. */
  pred: number;
  /** The quantisation table, latched at the component's first scan (as libjpeg's jdinput.c does). */
  quant?: Uint16Array;
  /** DC Huffman table of the scan being decoded. */
  dc?: HuffmanTable;
  /** AC Huffman table of the scan being decoded. */
  ac?: HuffmanTable;
}

/** The frame header (SOF) with its components. */
interface Frame {
  progressive: boolean;
  width: number;
  height: number;
  components: Component[];
  maxH: number;
  maxV: number;
  mcusPerLine: number;
  mcusPerColumn: number;
}

/**
 * A Huffman table (T.81 Annex C, F.2.2.3): codes of each length 1..16 and their values, with
 * MAXCODE / VALPTR / MINCODE of figure F.16 and a 9-bit look-up for the short codes.
 */
interface HuffmanTable {
  /** `(length << 8) | value` of the code that starts with these 9 bits, or 0 when it is longer. */
  lookup: Uint16Array;
  maxcode: Int32Array;
  mincode: Int32Array;
  valptr: Int32Array;
  values: Uint8Array;
}

/** Position in a block of the k-th coefficient in zig-zag order (T.81 figure A.6). */
const ZIGZAG = new Uint8Array(64);
{
  let x = 0;
  let y = 0;
  for (let k = 0; k < 64; k++) {
    ZIGZAG[k] = 8 * y + x;
    if ((x + y) % 2 === 0) {
      if (x === 7) y++;
      else if (y === 0) x++;
      else { x++; y--; }
    } else if (y === 7) x++;
    else if (x === 0) y++;
    else { x--; y++; }
  }
}

/** Builds a {@link HuffmanTable} from the 16 code counts and the values of a DHT segment (C.2, F.2.2.3). */
function buildHuffmanTable(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const maxcode = new Int32Array(18).fill(-1);
  const mincode = new Int32Array(17);
  const valptr = new Int32Array(17);
  const lookup = new Uint16Array(512);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    if (n > 0) {
      valptr[length] = k;
      mincode[length] = code;
      for (let i = 0; i < n; i++, k++, code++) {
        if (length <= 9) {
          const shift = 9 - length;
          const first = code << shift;
          for (let j = 0; j < 1 << shift; j++) lookup[first + j] = (length << 8) | values[k]!;
        }
      }
      maxcode[length] = code - 1;
    }
    if (code >= 1 << length) throw new Error('a Huffman table has more codes than its lengths allow (DHT)');
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff; // sentinel: no code is longer than 16 bits
  return { lookup, maxcode, mincode, valptr, values };
}

/**
 * Reads the entropy-coded data of a scan bit by bit (T.81 F.2.2.5): a stuffed `FF 00` is the
 * byte `FF`; at a marker, zero bits are supplied (as libjpeg does) but taking any of them is an
 * error, since a whole file never needs them.
 */
class BitReader {
  private acc = 0;
  private bits = 0;
  /** Zero bits supplied after the data ended (at the low end of `acc`). */
  private padding = 0;
  /** Offset of the next byte to read. */
  pos: number;

  constructor(private readonly data: Uint8Array, start: number) {
    this.pos = start;
  }

  /** Tops the bit buffer up to more than 24 bits. */
  private fill(): void {
    while (this.bits <= 24) {
      let byte = 0;
      if (this.padding === 0 && this.pos < this.data.length) {
        byte = this.data[this.pos]!;
        if (byte === 0xff) {
          const next = this.data[this.pos + 1];
          if (next === 0x00) this.pos += 2;
          else {
            byte = 0; // a marker (or the end): stay before it
            this.padding += 8;
          }
        } else this.pos++;
      } else this.padding += 8;
      this.acc = (this.acc << 8) | byte;
      this.bits += 8;
    }
  }

  /** Throws when a read reached into the supplied zero bits. */
  private checkOverrun(): void {
    if (this.bits < this.padding) throw new Error('the image data of a scan ends before all its blocks are decoded');
  }

  /** The next `n` (0..16) bits as an unsigned number. */
  bitsOf(n: number): number {
    if (n === 0) return 0;
    if (this.bits < n) this.fill();
    this.bits -= n;
    this.checkOverrun();
    return (this.acc >>> this.bits) & ((1 << n) - 1);
  }

  /** The next bit. */
  bit(): number {
    return this.bitsOf(1);
  }

  /** The next `n` bits as a signed magnitude category value: RECEIVE then EXTEND (F.2.2.1, figure F.12). */
  receiveExtend(n: number): number {
    if (n === 0) return 0;
    if (n > 16) throw new Error(`a coefficient magnitude category ${n} is over 16`);
    const v = this.bitsOf(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  /** Decodes one Huffman-coded value (DECODE, F.2.2.3, figure F.16), using the 9-bit look-up first. */
  decode(table: HuffmanTable): number {
    if (this.bits < 16) this.fill();
    const peek = (this.acc >>> (this.bits - 9)) & 511;
    const hit = table.lookup[peek]!;
    if (hit !== 0) {
      this.bits -= hit >> 8;
      this.checkOverrun();
      return hit & 0xff;
    }
    let length = 10;
    let code = (this.acc >>> (this.bits - 10)) & 1023;
    while (code > table.maxcode[length]!) {
      length++;
      if (length > 16) throw new Error('a Huffman code matches no code of its table (corrupt image data)');
      code = (this.acc >>> (this.bits - length)) & ((1 << length) - 1);
    }
    this.bits -= length;
    this.checkOverrun();
    const index = table.valptr[length]! + code - table.mincode[length]!;
    if (index >= table.values.length) throw new Error('a Huffman code has no value in its table (corrupt image data)');
    return table.values[index]!;
  }

  /**
   * Drops the bits left in the buffer (at a restart marker or the end of a scan): what is left
   * is the 1-bits padding the last byte (F.1.2.3), and the reader stops at a marker, so the
   * next marker is at or after `pos`.
   */
  reset(): void {
    this.acc = 0;
    this.bits = 0;
    this.padding = 0;
  }
}

/** State kept across the blocks of one progressive AC scan: the end-of-band run (G.1.2.2). */
interface ScanState {
  eobrun: number;
}

/** Decodes the blocks of one scan into the components' coefficients (F.2.2, G.1.2). Returns the offset after its data. */
function decodeScan(
  data: Uint8Array,
  start: number,
  frame: Frame,
  scan: Component[],
  ss: number,
  se: number,
  ah: number,
  al: number,
  restartInterval: number,
): number {
  const reader = new BitReader(data, start);
  const state: ScanState = { eobrun: 0 };
  let decodeBlock: (c: Component, offset: number) => void;
  if (!frame.progressive) {
    decodeBlock = (c, offset) => decodeBaselineBlock(reader, c, offset);
  } else if (ss === 0) {
    decodeBlock = ah === 0
      ? (c, offset) => {
          const t = reader.decode(c.dc!);
          c.pred += reader.receiveExtend(t);
          c.coefficients[offset] = c.pred * (1 << al);
        }
      : (c, offset) => {
          if (reader.bit()) c.coefficients[offset] |= 1 << al;
        };
  } else {
    decodeBlock = ah === 0
      ? (c, offset) => decodeAcFirst(reader, c, offset, ss, se, al, state)
      : (c, offset) => decodeAcRefine(reader, c, offset, ss, se, al, state);
  }

  // A single-component scan is not interleaved: its blocks are taken in raster order over the
  // component proper, ceil(width / 8) x ceil(height / 8) (A.2.2). Otherwise MCUs of Hi x Vi
  // blocks of each component in turn (A.2.3).
  const single = scan.length === 1;
  const c0 = scan[0]!;
  const unitsPerLine = single ? Math.ceil(c0.width / 8) : frame.mcusPerLine;
  const units = single ? unitsPerLine * Math.ceil(c0.height / 8) : frame.mcusPerLine * frame.mcusPerColumn;
  const decodeUnit = (n: number): void => {
    const row = Math.floor(n / unitsPerLine);
    const col = n % unitsPerLine;
    if (single) {
      decodeBlock(c0, 64 * (row * c0.blocksPerLine + col));
      return;
    }
    for (const c of scan) {
      for (let v = 0; v < c.v; v++) {
        for (let h = 0; h < c.h; h++) {
          decodeBlock(c, 64 * ((row * c.v + v) * c.blocksPerLine + col * c.h + h));
        }
      }
    }
  };

  let expectedRst = 0;
  for (let n = 0; n < units; n++) {
    if (restartInterval > 0 && n > 0 && n % restartInterval === 0) {
      // F.2.1.3.1: at each restart marker the bit buffer is emptied, predictions and EOB runs reset.
      reader.reset();
      const at = nextMarker(data, reader.pos);
      const marker = data[at + 1];
      if (marker !== 0xd0 + expectedRst) {
        throw new Error(`expected the restart marker RST${expectedRst} after ${n} MCUs of a scan, found ${marker === undefined ? 'the end of the file' : `marker 0x${marker.toString(16)}`}`);
      }
      expectedRst = (expectedRst + 1) & 7;
      reader.pos = at + 2;
      for (const c of scan) c.pred = 0;
      state.eobrun = 0;
    }
    decodeUnit(n);
  }
  reader.reset();
  const end = nextMarker(data, reader.pos);
  const after = data[end + 1];
  if (after !== undefined && after >= 0xd0 && after <= 0xd7) throw new Error(`a restart marker (RST${after - 0xd0}) follows the last MCU of a scan`);
  return end;
}

/** Offset of the next marker at or after `from` (skipping stuffed `FF 00` and fill bytes), or the length of the data. */
function nextMarker(data: Uint8Array, from: number): number {
  let at = from;
  for (;;) {
    while (at < data.length && data[at] !== 0xff) at++;
    if (at + 1 >= data.length) return data.length;
    const next = data[at + 1]!;
    if (next === 0x00 || next === 0xff) at += next === 0xff ? 1 : 2;
    else return at;
  }
}

/** A sequential (baseline or extended) block: DC difference then run-length coded AC coefficients (F.2.2.1, F.2.2.2). */
function decodeBaselineBlock(reader: BitReader, c: Component, offset: number): void {
  const out = c.coefficients;
  const t = reader.decode(c.dc!);
  c.pred += reader.receiveExtend(t);
  out[offset] = c.pred;
  for (let k = 1; k < 64; ) {
    const rs = reader.decode(c.ac!);
    const r = rs >> 4;
    const s = rs & 15;
    if (s === 0) {
      if (r !== 15) break; // EOB
      k += 16; // ZRL: sixteen zeros
      continue;
    }
    k += r;
    if (k > 63) throw new Error('a block has more than 64 coefficients (corrupt image data)');
    out[offset + ZIGZAG[k]!] = reader.receiveExtend(s);
    k++;
  }
}

/** First AC scan of a progressive band Ss..Se (G.1.2.2): run-length coded values scaled by 2^Al, and end-of-band runs. */
function decodeAcFirst(reader: BitReader, c: Component, offset: number, ss: number, se: number, al: number, state: ScanState): void {
  if (state.eobrun > 0) {
    state.eobrun--;
    return;
  }
  const out = c.coefficients;
  for (let k = ss; k <= se; ) {
    const rs = reader.decode(c.ac!);
    const r = rs >> 4;
    const s = rs & 15;
    if (s === 0) {
      if (r < 15) {
        // EOBr: this band and the next 2^r - 1 + (r more bits) bands are zero (figure G.4)
        state.eobrun = (1 << r) - 1 + reader.bitsOf(r);
        break;
      }
      k += 16;
      continue;
    }
    k += r;
    if (k > se) throw new Error('a progressive block has a coefficient beyond its band (corrupt image data)');
    out[offset + ZIGZAG[k]!] = reader.receiveExtend(s) * (1 << al);
    k++;
  }
}

/**
 * A successive approximation AC scan (G.1.2.3): one more bit of the coefficients already
 * non-zero ("correction bits", in order), and new coefficients of magnitude 2^Al placed after a
 * run of still-zero ones; an end-of-band run gives correction bits only.
 */
function decodeAcRefine(reader: BitReader, c: Component, offset: number, ss: number, se: number, al: number, state: ScanState): void {
  const out = c.coefficients;
  const plus = 1 << al;
  const minus = -1 << al;
  /** Applies the correction bit of a non-zero coefficient: its magnitude gains the bit 2^Al. */
  const refine = (pos: number): void => {
    if (reader.bit() && (out[pos]! & plus) === 0) out[pos] += out[pos]! >= 0 ? plus : minus;
  };
  let k = ss;
  if (state.eobrun === 0) {
    for (; k <= se; k++) {
      const rs = reader.decode(c.ac!);
      let r = rs >> 4;
      const s = rs & 15;
      let value = 0;
      if (s !== 0) {
        if (s !== 1) throw new Error(`a refinement scan codes a magnitude category ${s} (only 1 is allowed; corrupt image data)`);
        value = reader.bit() ? plus : minus;
      } else if (r !== 15) {
        state.eobrun = (1 << r) + reader.bitsOf(r); // counts this block, handled below
        break;
      }
      // Skip r zero-history coefficients (refining the non-zero ones passed), stop on the next zero one.
      for (; k <= se; k++) {
        const pos = offset + ZIGZAG[k]!;
        if (out[pos] !== 0) refine(pos);
        else if (r-- === 0) break;
      }
      if (value !== 0) {
        if (k > se) throw new Error('a refinement scan places a coefficient beyond its band (corrupt image data)');
        out[offset + ZIGZAG[k]!] = value;
      }
    }
  }
  if (state.eobrun > 0) {
    for (; k <= se; k++) {
      const pos = offset + ZIGZAG[k]!;
      if (out[pos] !== 0) refine(pos);
    }
    state.eobrun--;
  }
}

// ---------------------------------------------------------------------------------------------
// Inverse DCT: libjpeg's jidctint.c ("islow"). Constants are FIX(x) = round(x * 2^13).

const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/**
 * The 8-point inverse DCT of `input[at], input[at + step], ... input[at + 7 step]` into
 * `output[o], output[o + ostep], ...`: the even part from inputs 0, 2, 4, 6 (the rotation by
 * sqrt(2) c6 of figure 1 of Loeffler et al., 1989) and the odd part from 1, 3, 5, 7 (their
 * eq. 8-11 with the "z5" shared rotation), each output scaled by 2^`CONST_BITS` and shifted
 * right with rounding by `shift` (libjpeg's DESCALE).
 */
function idct8(
  input: Int32Array,
  at: number,
  step: number,
  output: Int32Array,
  o: number,
  ostep: number,
  shift: number,
): void {
  const round = 1 << (shift - 1);
  // Even part.
  const z2 = input[at + 2 * step]!;
  const z3 = input[at + 6 * step]!;
  const z1 = (z2 + z3) * FIX_0_541196100;
  const tmp2 = z1 + z3 * -FIX_1_847759065;
  const tmp3 = z1 + z2 * FIX_0_765366865;
  const tmp0 = (input[at]! + input[at + 4 * step]!) * (1 << CONST_BITS);
  const tmp1 = (input[at]! - input[at + 4 * step]!) * (1 << CONST_BITS);
  const tmp10 = tmp0 + tmp3;
  const tmp13 = tmp0 - tmp3;
  const tmp11 = tmp1 + tmp2;
  const tmp12 = tmp1 - tmp2;
  // Odd part.
  let t0 = input[at + 7 * step]!;
  let t1 = input[at + 5 * step]!;
  let t2 = input[at + 3 * step]!;
  let t3 = input[at + step]!;
  const y1 = t0 + t3;
  const y2 = t1 + t2;
  let y3 = t0 + t2;
  let y4 = t1 + t3;
  const z5 = (y3 + y4) * FIX_1_175875602;
  t0 *= FIX_0_298631336;
  t1 *= FIX_2_053119869;
  t2 *= FIX_3_072711026;
  t3 *= FIX_1_501321110;
  const w1 = y1 * -FIX_0_899976223;
  const w2 = y2 * -FIX_2_562915447;
  y3 = y3 * -FIX_1_961570560 + z5;
  y4 = y4 * -FIX_0_390180644 + z5;
  t0 += w1 + y3;
  t1 += w2 + y4;
  t2 += w2 + y3;
  t3 += w1 + y4;
  output[o] = (tmp10 + t3 + round) >> shift;
  output[o + 7 * ostep] = (tmp10 - t3 + round) >> shift;
  output[o + ostep] = (tmp11 + t2 + round) >> shift;
  output[o + 6 * ostep] = (tmp11 - t2 + round) >> shift;
  output[o + 2 * ostep] = (tmp12 + t1 + round) >> shift;
  output[o + 5 * ostep] = (tmp12 - t1 + round) >> shift;
  output[o + 3 * ostep] = (tmp13 + t0 + round) >> shift;
  output[o + 4 * ostep] = (tmp13 - t0 + round) >> shift;
}

/**
 * Dequantises one block (F.2.1.4) and runs the islow inverse DCT (A.3.3): columns first, kept
 * with `PASS1_BITS` extra bits; then rows, down to samples, level-shifted by +128 (A.3.1) and
 * clamped to 0..255. A column (row) whose AC terms are all zero is its DC term repeated, as in
 * libjpeg (the same result, faster).
 */
function inverseDct(coefficients: Int16Array, at: number, quant: Uint16Array, work: Int32Array, dq: Int32Array, row8: Int32Array, out: Uint8Array, outAt: number, stride: number): void {
  for (let i = 0; i < 64; i++) dq[i] = coefficients[at + i]! * quant[i]!;
  for (let col = 0; col < 8; col++) {
    if (dq[8 + col] === 0 && dq[16 + col] === 0 && dq[24 + col] === 0 && dq[32 + col] === 0 && dq[40 + col] === 0 && dq[48 + col] === 0 && dq[56 + col] === 0) {
      const dc = dq[col]! * (1 << PASS1_BITS);
      for (let row = 0; row < 8; row++) work[8 * row + col] = dc;
    } else idct8(dq, col, 8, work, col, 8, CONST_BITS - PASS1_BITS);
  }
  const shift = CONST_BITS + PASS1_BITS + 3;
  for (let row = 0; row < 8; row++) {
    const w = 8 * row;
    let o = outAt + row * stride;
    if (work[w + 1] === 0 && work[w + 2] === 0 && work[w + 3] === 0 && work[w + 4] === 0 && work[w + 5] === 0 && work[w + 6] === 0 && work[w + 7] === 0) {
      const v = clamp255(((work[w]! + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) + 128);
      for (let x = 0; x < 8; x++) out[o++] = v;
      continue;
    }
    idct8(work, w, 1, row8, 0, 1, shift);
    for (let x = 0; x < 8; x++) out[o++] = clamp255(row8[x]! + 128);
  }
}

/** Clamps to 0..255 (libjpeg's range-limit table, for the values a valid file gives). */
function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// ---------------------------------------------------------------------------------------------
// Upsampling (jdsample.c) of one component's samples to the image's size.

/**
 * The component's samples at full resolution, `width` x `height` of the image: libjpeg's fancy
 * upsampling for factors 2x1, 2x2 and 1x2 (each output sample 3/4 of the nearer input sample
 * and 1/4 of the next, with libjpeg's alternating rounding bias so the errors do not drift),
 * replication for other integer factors. Edge samples repeat beyond the component's own
 * width and height (libjpeg's context rows at the top and bottom).
 */
function upsample(samples: Uint8Array, stride: number, c: Component, frame: Frame): Uint8Array {
  const { width, height } = frame;
  const hx = frame.maxH / c.h;
  const vx = frame.maxV / c.v;
  if (hx === 1 && vx === 1) {
    if (stride === width) return samples.subarray(0, width * height);
    const out = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) out.set(samples.subarray(y * stride, y * stride + width), y * width);
    return out;
  }
  if (!Number.isInteger(hx) || !Number.isInteger(vx)) throw new Error(`sampling factors ${c.h}x${c.v} of a component against ${frame.maxH}x${frame.maxV} are not an integer ratio`);
  const out = new Uint8Array(width * height);
  const cw = c.width;
  const lastRow = c.height - 1;
  /** Offset of input row `y`, the first or last row repeated beyond the component's edges. */
  const rowAt = (y: number): number => (y < 0 ? 0 : y > lastRow ? lastRow : y) * stride;
  if (hx === 2 && (vx === 1 || vx === 2) && cw > 2) {
    // h2v1_fancy_upsample / h2v2_fancy_upsample. Each output sample is 3/4 of the nearer input
    // sample and 1/4 of the next one. For 2x2 this is done vertically first ("column sums" of
    // 3/4 of the nearer row and 1/4 of the other row, in quarters), then horizontally, and the
    // result is rounded once from sixteenths (biases 8 and 7); for 2x1 from quarters (1 and 2).
    const sums = new Int32Array(cw);
    const wide = new Uint8Array(2 * cw); // one output row before it is cropped to `width`
    const shift = vx === 2 ? 4 : 2;
    const even = vx === 2 ? 8 : 1;
    const odd = vx === 2 ? 7 : 2;
    for (let y = 0; y < height; y++) {
      const inRow = Math.floor(y / vx);
      const near = rowAt(inRow);
      if (vx === 2) {
        const far = rowAt(y % 2 === 0 ? inRow - 1 : inRow + 1);
        for (let x = 0; x < cw; x++) sums[x] = 3 * samples[near + x]! + samples[far + x]!;
      } else for (let x = 0; x < cw; x++) sums[x] = samples[near + x]!;
      // the first and last columns: the nearer sample alone (no sample beyond the edge)
      wide[0] = vx === 2 ? (4 * sums[0]! + 8) >> 4 : sums[0]!;
      wide[1] = (3 * sums[0]! + sums[1]! + odd) >> shift;
      for (let x = 1; x < cw - 1; x++) {
        wide[2 * x] = (3 * sums[x]! + sums[x - 1]! + even) >> shift;
        wide[2 * x + 1] = (3 * sums[x]! + sums[x + 1]! + odd) >> shift;
      }
      wide[2 * cw - 2] = (3 * sums[cw - 1]! + sums[cw - 2]! + even) >> shift;
      wide[2 * cw - 1] = vx === 2 ? (4 * sums[cw - 1]! + 7) >> 4 : sums[cw - 1]!;
      out.set(wide.subarray(0, width), y * width);
    }
    return out;
  }
  if (hx === 1 && vx === 2) {
    // h1v2_fancy_upsample: the vertical triangle alone, bias 1 for the upper output row of a pair, 2 for the lower.
    for (let y = 0; y < height; y++) {
      const inRow = y >> 1;
      const upper = y % 2 === 0;
      const near = rowAt(inRow);
      const far = rowAt(upper ? inRow - 1 : inRow + 1);
      const bias = upper ? 1 : 2;
      for (let x = 0; x < width; x++) out[y * width + x] = (3 * samples[near + x]! + samples[far + x]! + bias) >> 2;
    }
    return out;
  }
  // int_upsample (and h2v1 / h2v2 on components 1 or 2 samples wide): each sample repeated.
  for (let y = 0; y < height; y++) {
    const row = rowAt(Math.floor(y / vx));
    for (let x = 0; x < width; x++) out[y * width + x] = samples[row + Math.floor(x / hx)]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Colour conversion (jdcolor.c): YCbCr -> RGB with 16-bit fixed-point tables.

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
/** FIX(x) of jdcolor.c: x in 16-bit fixed point, rounded. */
const fix = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);
/** R = Y + 1.402 (Cr - 128), B = Y + 1.772 (Cb - 128), G = Y - 0.34414 (Cb - 128) - 0.71414 (Cr - 128) (JFIF 1.02 section 7). */
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

/** Pillow's `MULDIV255(a, b)`: a * b / 255 rounded, in integers. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * Interleaved RGBA (alpha 255) from the full-resolution component planes: gray repeated; RGB as
 * is; YCbCr by libjpeg's tables (ycc_rgb_convert); CMYK and YCCK as Pillow makes RGB of them:
 * libjpeg gives CMYK (for YCCK: 255 - R, 255 - G, 255 - B of the converted YCC, and K), Pillow
 * reads it inverted (Adobe's convention, rawmode "CMYK;I") and computes each channel as
 * (255 - K) - C (255 - K) / 255.
 */
function toRgba(planes: Uint8Array[], colorSpace: JpegColorSpace, pixels: number): Uint8Array {
  const rgba = new Uint8Array(pixels * 4).fill(255);
  const [p0, p1, p2, p3] = planes as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  if (colorSpace === 'gray') {
    for (let p = 0, q = 0; p < pixels; p++, q += 4) rgba[q] = rgba[q + 1] = rgba[q + 2] = p0[p]!;
    return rgba;
  }
  if (colorSpace === 'rgb') {
    for (let p = 0, q = 0; p < pixels; p++, q += 4) {
      rgba[q] = p0[p]!;
      rgba[q + 1] = p1[p]!;
      rgba[q + 2] = p2[p]!;
    }
    return rgba;
  }
  if (colorSpace === 'ycbcr') {
    for (let p = 0, q = 0; p < pixels; p++, q += 4) {
      const y = p0[p]!;
      const cb = p1[p]!;
      const cr = p2[p]!;
      rgba[q] = clamp255(y + CR_R[cr]!);
      rgba[q + 1] = clamp255(y + ((CB_G[cb]! + CR_G[cr]!) >> SCALEBITS));
      rgba[q + 2] = clamp255(y + CB_B[cb]!);
    }
    return rgba;
  }
  for (let p = 0, q = 0; p < pixels; p++, q += 4) {
    let r = p0[p]!;
    let g = p1[p]!;
    let b = p2[p]!;
    if (colorSpace === 'ycck') {
      const y = r;
      const cb = g;
      const cr = b;
      r = clamp255(y + CR_R[cr]!);
      g = clamp255(y + ((CB_G[cb]! + CR_G[cr]!) >> SCALEBITS));
      b = clamp255(y + CB_B[cb]!);
    }
    // CMYK or YCCK: C = 255 - stored (for YCCK libjpeg's 255 - R, inverted, is R)
    const inverted = colorSpace === 'cmyk';
    const nk = p3[p]!; // 255 - K once inverted
    r = clamp255(nk - mulDiv255(inverted ? 255 - r : r, nk));
    g = clamp255(nk - mulDiv255(inverted ? 255 - g : g, nk));
    b = clamp255(nk - mulDiv255(inverted ? 255 - b : b, nk));
    rgba[q] = r;
    rgba[q + 1] = g;
    rgba[q + 2] = b;
  }
  return rgba;
}

/** How the components of a frame become RGB (libjpeg's `jpeg_color_space`, jdapimin.c). */
export type JpegColorSpace = 'gray' | 'ycbcr' | 'rgb' | 'cmyk' | 'ycck';

/** What {@link decodeJpegPixels} returns. */
export interface JpegPixels {
  /** Width in pixels (as stored, before any EXIF orientation). */
  width: number;
  /** Height in pixels (as stored). */
  height: number;
  /** Number of components: 1, 3 or 4. */
  components: number;
  /** How the components were turned into RGB. */
  colorSpace: JpegColorSpace;
  /** Whether the frame is progressive (SOF2). */
  progressive: boolean;
  /** 8-bit RGBA, alpha 255, `width * height * 4` bytes. */
  rgba: Uint8Array;
}

/**
 * Decodes a whole JPEG file's bytes to RGBA as libjpeg-turbo does by default (islow IDCT, fancy
 * upsampling, its YCbCr conversion). Throws an `Error` whose message is the reason (the caller
 * names the file). The caller checks the image size against its limits first.
 */
export function decodeJpegPixels(data: Uint8Array): JpegPixels {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) throw new Error('it does not start with the JPEG SOI marker');
  const quant: Array<Uint16Array | undefined> = [];
  const dcTables: Array<HuffmanTable | undefined> = [];
  const acTables: Array<HuffmanTable | undefined> = [];
  let frame: Frame | undefined;
  let restartInterval = 0;
  let jfif = false;
  let adobe: number | null = null;
  let scans = 0;
  let offset = 2;
  for (;;) {
    // B.1.1.2, B.1.1.3: a marker (0xFF, possibly more 0xFF fill bytes, then the code) follows every segment
    if (offset >= data.length) throw new Error('the file ends before the EOI marker');
    if (data[offset] !== 0xff) throw new Error(`expected a marker at byte ${offset}, found 0x${data[offset]!.toString(16).padStart(2, '0')}`);
    while (data[offset + 1] === 0xff) offset++;
    const marker = data[offset + 1];
    if (marker === undefined) throw new Error('the file ends in a marker');
    offset += 2;
    if (marker === 0xd9) break; // EOI
    if (marker === 0x00) throw new Error(`bytes FF 00 at byte ${offset - 2} outside image data (not a marker)`);
    if (marker === 0xd8) throw new Error(`a second SOI marker at byte ${offset - 2}`);
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // TEM, RSTn: no length
    if (offset + 2 > data.length) throw new Error(`the segment of marker 0x${marker.toString(16)} is cut off`);
    const length = (data[offset]! << 8) | data[offset + 1]!;
    if (length < 2 || offset + length > data.length) throw new Error(`the segment of marker 0x${marker.toString(16)} has a bad length ${length}`);
    const seg = data.subarray(offset + 2, offset + length);
    offset += length;
    if (marker === 0xdb) {
      // DQT (B.2.4.1): Pq (0: 8-bit, 1: 16-bit) and Tq, then 64 values in zig-zag order.
      for (let p = 0; p < seg.length; ) {
        const pq = seg[p]! >> 4;
        const tq = seg[p]! & 15;
        const size = pq === 0 ? 64 : 128;
        if (pq > 1 || tq > 3 || p + 1 + size > seg.length) throw new Error('a quantisation table (DQT) is malformed');
        const table = new Uint16Array(64);
        for (let k = 0; k < 64; k++) table[ZIGZAG[k]!] = pq === 0 ? seg[p + 1 + k]! : (seg[p + 1 + 2 * k]! << 8) | seg[p + 2 + 2 * k]!;
        quant[tq] = table;
        p += 1 + size;
      }
    } else if (marker === 0xc4) {
      // DHT (B.2.4.2): Tc (0: DC, 1: AC) and Th, 16 code counts, then the values.
      for (let p = 0; p < seg.length; ) {
        const tc = seg[p]! >> 4;
        const th = seg[p]! & 15;
        if (tc > 1 || th > 3 || p + 17 > seg.length) throw new Error('a Huffman table (DHT) is malformed');
        const counts = seg.subarray(p + 1, p + 17);
        const total = counts.reduce((a, b) => a + b, 0);
        if (total > 256 || p + 17 + total > seg.length) throw new Error('a Huffman table (DHT) is cut short or has more than 256 values');
        const table = buildHuffmanTable(counts, seg.slice(p + 17, p + 17 + total));
        (tc === 0 ? dcTables : acTables)[th] = table;
        p += 17 + total;
      }
    } else if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      if (frame !== undefined) throw new Error('a second frame header (only single-frame JPEGs are read)');
      frame = parseFrame(seg, marker === 0xc2);
    } else if (marker >= 0xc3 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const kind = marker === 0xc3 || marker === 0xc7 || marker === 0xcb || marker === 0xcf ? 'lossless' : marker >= 0xc9 ? 'arithmetic-coded' : 'hierarchical';
      throw new Error(`${kind} JPEG (SOF${marker - 0xc0}) is not supported`);
    } else if (marker === 0xcc) {
      throw new Error('arithmetic-coded JPEG (DAC) is not supported');
    } else if (marker === 0xdd) {
      if (seg.length !== 2) throw new Error(`the restart interval segment (DRI) has ${seg.length + 2} bytes, not 4`);
      restartInterval = (seg[0]! << 8) | seg[1]!;
    } else if (marker === 0xe0) {
      if (seg.length >= 5 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) jfif = true;
    } else if (marker === 0xee) {
      if (seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') adobe = seg[11]!;
    } else if (marker === 0xda) {
      if (frame === undefined) throw new Error('image data (SOS) comes before the frame header (SOF)');
      offset = startScan(data, seg, offset, frame, quant, dcTables, acTables, restartInterval);
      scans++;
    } else if (marker === 0xdc) {
      throw new Error('a DNL marker (height given after the first scan) is not supported');
    }
    // APPn, COM and others: skipped
  }
  if (frame === undefined) throw new Error('there is no frame header (SOF marker)');
  if (scans === 0) throw new Error('there is no image data (SOS marker)');
  for (const c of frame.components) {
    c.quant ??= quant[c.tq]; // a component in no scan: all its coefficients are zero
    if (c.quant === undefined) throw new Error(`component ${c.id} uses quantisation table ${c.tq}, which no DQT segment before it gives`);
  }

  // Inverse DCT of every block into the component's sample plane (padded to whole blocks).
  const work = new Int32Array(64);
  const dq = new Int32Array(64);
  const row8 = new Int32Array(8);
  const full = frame.components.map((c) => {
    const stride = 8 * c.blocksPerLine;
    const samples = new Uint8Array(stride * 8 * c.blocksPerColumn);
    const table = c.quant!;
    // only the blocks that cover the component proper are needed
    const rows = Math.ceil(c.height / 8);
    const cols = Math.ceil(c.width / 8);
    for (let by = 0; by < rows; by++) {
      for (let bx = 0; bx < cols; bx++) inverseDct(c.coefficients, 64 * (by * c.blocksPerLine + bx), table, work, dq, row8, samples, 8 * by * stride + 8 * bx, stride);
    }
    c.coefficients = new Int16Array(0); // no longer needed: lower the peak memory of large images
    return upsample(samples, stride, c, frame!);
  });

  const { width, height } = frame;
  const n = frame.components.length;
  const colorSpace: JpegColorSpace = n === 1 ? 'gray'
    : n === 3 ? (jfif ? 'ycbcr' : adobe !== null ? (adobe === 0 ? 'rgb' : 'ycbcr') : frame.components.map((c) => c.id).join() === '82,71,66' ? 'rgb' : 'ycbcr')
    : adobe === 2 ? 'ycck' : 'cmyk';
  const rgba = toRgba(full, colorSpace, width * height);
  return { width, height, components: n, colorSpace, progressive: frame.progressive, rgba };
}

/** Parses a frame header (B.2.2) and sizes its components' coefficient storage (A.1.1, A.2.4). */
function parseFrame(seg: Uint8Array, progressive: boolean): Frame {
  if (seg.length < 6) throw new Error('the frame header is cut short');
  if (seg[0] !== 8) throw new Error(`${seg[0]}-bit samples are not supported (only 8-bit)`);
  const height = (seg[1]! << 8) | seg[2]!;
  const width = (seg[3]! << 8) | seg[4]!;
  const count = seg[5]!;
  if (width === 0 || height === 0) throw new Error(`the image is ${width}x${height} pixels`);
  if (count !== 1 && count !== 3 && count !== 4) throw new Error(`${count} colour components are not supported (1, 3 or 4)`);
  if (seg.length !== 6 + 3 * count) throw new Error(`the frame header has ${seg.length + 2} bytes, not ${8 + 3 * count} for ${count} components`);
  const components: Component[] = [];
  for (let i = 0; i < count; i++) {
    const id = seg[6 + 3 * i]!;
    const h = seg[7 + 3 * i]! >> 4;
    const v = seg[7 + 3 * i]! & 15;
    const tq = seg[8 + 3 * i]!;
    if (h < 1 || h > 4 || v < 1 || v > 4) throw new Error(`component ${id} has sampling factors ${h}x${v} (1..4 allowed)`);
    if (tq > 3) throw new Error(`component ${id} names quantisation table ${tq} (0..3 allowed)`);
    if (components.some((c) => c.id === id)) throw new Error(`two components have the identifier ${id}`);
    components.push({ id, h, v, tq, blocksPerLine: 0, blocksPerColumn: 0, width: 0, height: 0, coefficients: new Int16Array(0), pred: 0 });
  }
  const maxH = Math.max(...components.map((c) => c.h));
  const maxV = Math.max(...components.map((c) => c.v));
  const mcusPerLine = Math.ceil(width / (8 * maxH));
  const mcusPerColumn = Math.ceil(height / (8 * maxV));
  for (const c of components) {
    c.width = Math.ceil((width * c.h) / maxH);
    c.height = Math.ceil((height * c.v) / maxV);
    c.blocksPerLine = mcusPerLine * c.h;
    c.blocksPerColumn = mcusPerColumn * c.v;
    c.coefficients = new Int16Array(64 * c.blocksPerLine * c.blocksPerColumn);
  }
  return { progressive, width, height, components, maxH, maxV, mcusPerLine, mcusPerColumn };
}

/** Parses a scan header (B.2.3), checks it against the frame (G.1.1.1.1 for progressive bands) and decodes its data. Returns the offset after the data. */
function startScan(
  data: Uint8Array,
  seg: Uint8Array,
  offset: number,
  frame: Frame,
  quant: Array<Uint16Array | undefined>,
  dcTables: Array<HuffmanTable | undefined>,
  acTables: Array<HuffmanTable | undefined>,
  restartInterval: number,
): number {
  const ns = seg[0] ?? 0;
  if (ns < 1 || ns > 4 || seg.length !== 1 + 2 * ns + 3) throw new Error(`a scan header (SOS) of ${seg.length + 2} bytes for ${ns} components is malformed`);
  const scan: Component[] = [];
  for (let i = 0; i < ns; i++) {
    const id = seg[1 + 2 * i]!;
    const c = frame.components.find((x) => x.id === id);
    if (c === undefined) throw new Error(`a scan names component ${id}, which the frame does not have`);
    if (scan.includes(c)) throw new Error(`a scan names component ${id} twice`);
    const td = seg[2 + 2 * i]! >> 4;
    const ta = seg[2 + 2 * i]! & 15;
    c.dc = dcTables[td];
    c.ac = acTables[ta];
    c.pred = 0;
    c.quant ??= quant[c.tq]?.slice();
    if (c.quant === undefined) throw new Error(`component ${id} uses quantisation table ${c.tq}, which no DQT segment before it gives`);
    scan.push(c);
  }
  const ss = seg[1 + 2 * ns]!;
  const se = seg[2 + 2 * ns]!;
  const ah = seg[3 + 2 * ns]! >> 4;
  const al = seg[3 + 2 * ns]! & 15;
  if (ns > 1 && scan.reduce((n, c) => n + c.h * c.v, 0) > 10) throw new Error('an interleaved scan has more than 10 blocks per MCU');
  if (frame.progressive) {
    const dcScan = ss === 0;
    if ((dcScan && se !== 0) || (!dcScan && (se < ss || se > 63 || ns !== 1)) || al > 13 || (ah !== 0 && ah !== al + 1)) {
      throw new Error(`a progressive scan has an invalid band or bit position (Ss ${ss}, Se ${se}, Ah ${ah}, Al ${al})`);
    }
  } else if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) {
    throw new Error(`a sequential scan has Ss ${ss}, Se ${se}, Ah ${ah}, Al ${al} (expected 0, 63, 0, 0)`);
  }
  for (const c of scan) {
    const needsDc = !frame.progressive || (ss === 0 && ah === 0);
    const needsAc = !frame.progressive || ss > 0;
    if (needsDc && c.dc === undefined) throw new Error(`component ${c.id} uses DC Huffman table ${seg[2 + 2 * scan.indexOf(c)]! >> 4}, which no DHT segment before the scan gives`);
    if (needsAc && c.ac === undefined) throw new Error(`component ${c.id} uses AC Huffman table ${seg[2 + 2 * scan.indexOf(c)]! & 15}, which no DHT segment before the scan gives`);
  }
  return decodeScan(data, offset, frame, scan, ss, se, ah, al, restartInterval);
}
