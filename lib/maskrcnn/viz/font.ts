/**
 * The bitmap fonts of every picture the project draws (one home for text in pictures): a 3x5
 * font, upper case only, for labels on detections, stage views and heat-map grids, where images
 * are 128 pixels wide; and a 5x7 font with lower case and descenders for the course's figures
 * (the paper's Figure 3, {@link drawRoiFigure}). {@link Canvas.text} draws either.
 *
 * @module
 */

/** A monospaced bitmap font: each glyph is `height` rows of `width` cells, `'#'` on. */
export interface BitmapFont {
  /** Cells per glyph row. */
  readonly width: number;
  /** Rows per glyph. */
  readonly height: number;
  /** Cells from one glyph's left edge to the next's (the width and a blank column). */
  readonly advance: number;
  /** Draw the text upper-cased (a font without lower-case glyphs). */
  readonly upperCaseOnly: boolean;
  /** Characters drawn two cells lower, hanging below the line (g, p, q, y). */
  readonly descenders: string;
  /** The glyphs by character; a character without one is drawn as a blank. */
  readonly glyphs: Readonly<Record<string, readonly string[]>>;
}

// A 3x5 font: five rows of three cells, rows separated by '|'.
const GLYPHS_3X5: Record<string, string> = {
  '0': '###|#.#|#.#|#.#|###', '1': '.#.|##.|.#.|.#.|###', '2': '###|..#|###|#..|###', '3': '###|..#|.##|..#|###',
  '4': '#.#|#.#|###|..#|..#', '5': '###|#..|###|..#|###', '6': '###|#..|###|#.#|###', '7': '###|..#|.#.|.#.|.#.',
  '8': '###|#.#|###|#.#|###', '9': '###|#.#|###|..#|###', '.': '...|...|...|...|.#.', ':': '...|.#.|...|.#.|...',
  '-': '...|...|###|...|...', '%': '#.#|..#|.#.|#..|#.#', '#': '#.#|###|#.#|###|#.#', '_': '...|...|...|...|###',
  '/': '..#|..#|.#.|#..|#..', '(': '.#.|#..|#..|#..|.#.', ')': '.#.|..#|..#|..#|.#.',
  A: '.#.|#.#|###|#.#|#.#', B: '##.|#.#|##.|#.#|##.', C: '.##|#..|#..|#..|.##', D: '##.|#.#|#.#|#.#|##.',
  E: '###|#..|##.|#..|###', F: '###|#..|##.|#..|#..', G: '.##|#..|#.#|#.#|.##', H: '#.#|#.#|###|#.#|#.#',
  I: '###|.#.|.#.|.#.|###', J: '..#|..#|..#|#.#|.#.', K: '#.#|#.#|##.|#.#|#.#', L: '#..|#..|#..|#..|###',
  M: '#.#|###|###|#.#|#.#', N: '##.|#.#|#.#|#.#|#.#', O: '.#.|#.#|#.#|#.#|.#.', P: '##.|#.#|##.|#..|#..',
  Q: '.#.|#.#|#.#|##.|.##', R: '##.|#.#|##.|#.#|#.#', S: '.##|#..|.#.|..#|##.', T: '###|.#.|.#.|.#.|.#.',
  U: '#.#|#.#|#.#|#.#|###', V: '#.#|#.#|#.#|#.#|.#.', W: '#.#|#.#|###|###|#.#', X: '#.#|#.#|.#.|#.#|#.#',
  Y: '#.#|#.#|.#.|.#.|.#.', Z: '###|..#|.#.|#..|###',
};

// prettier-ignore
const GLYPHS_5X7: Record<string, readonly string[]> = {
  ' ': ['     ', '     ', '     ', '     ', '     ', '     ', '     '],
  '0': [' ### ', '#   #', '#  ##', '# # #', '##  #', '#   #', ' ### '],
  '1': ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  '2': [' ### ', '#   #', '    #', '   # ', '  #  ', ' #   ', '#####'],
  '3': ['#####', '   # ', '  #  ', '   # ', '    #', '#   #', ' ### '],
  '4': ['   # ', '  ## ', ' # # ', '#  # ', '#####', '   # ', '   # '],
  '5': ['#####', '#    ', '#### ', '    #', '    #', '#   #', ' ### '],
  '6': ['  ## ', ' #   ', '#    ', '#### ', '#   #', '#   #', ' ### '],
  '7': ['#####', '    #', '   # ', '  #  ', ' #   ', ' #   ', ' #   '],
  '8': [' ### ', '#   #', '#   #', ' ### ', '#   #', '#   #', ' ### '],
  '9': [' ### ', '#   #', '#   #', ' ####', '    #', '   # ', ' ##  '],
  '-': ['     ', '     ', '     ', ' ### ', '     ', '     ', '     '],
  '.': ['     ', '     ', '     ', '     ', '     ', ' ##  ', ' ##  '],
  ',': ['     ', '     ', '     ', '     ', ' ##  ', '  #  ', ' #   '],
  ':': ['     ', ' ##  ', ' ##  ', '     ', ' ##  ', ' ##  ', '     '],
  '=': ['     ', '     ', '#####', '     ', '#####', '     ', '     '],
  '/': ['     ', '    #', '   # ', '  #  ', ' #   ', '#    ', '     '],
  '(': ['   # ', '  #  ', ' #   ', ' #   ', ' #   ', '  #  ', '   # '],
  ')': [' #   ', '  #  ', '   # ', '   # ', '   # ', '  #  ', ' #   '],
  'A': [' ### ', '#   #', '#   #', '#####', '#   #', '#   #', '#   #'],
  'I': [' ### ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  'P': ['#### ', '#   #', '#   #', '#### ', '#    ', '#    ', '#    '],
  'R': ['#### ', '#   #', '#   #', '#### ', '# #  ', '#  # ', '#   #'],
  'S': [' ####', '#    ', '#    ', ' ### ', '    #', '    #', '#### '],
  'a': ['     ', '     ', ' ### ', '    #', ' ####', '#   #', ' ####'],
  'b': ['#    ', '#    ', '# ## ', '##  #', '#   #', '#   #', '#### '],
  'c': ['     ', '     ', ' ### ', '#    ', '#    ', '#   #', ' ### '],
  'd': ['    #', '    #', ' ## #', '#  ##', '#   #', '#   #', ' ####'],
  'e': ['     ', '     ', ' ### ', '#   #', '#####', '#    ', ' ### '],
  'f': ['  ## ', ' #  #', ' #   ', '###  ', ' #   ', ' #   ', ' #   '],
  'g': [' ####', '#   #', '#   #', '#  ##', ' ## #', '    #', ' ### '],
  'h': ['#    ', '#    ', '# ## ', '##  #', '#   #', '#   #', '#   #'],
  'i': ['  #  ', '     ', ' ##  ', '  #  ', '  #  ', '  #  ', ' ### '],
  'k': ['#    ', '#    ', '#  # ', '# #  ', '##   ', '# #  ', '#  # '],
  'l': [' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  'm': ['     ', '     ', '## # ', '# # #', '# # #', '#   #', '#   #'],
  'n': ['     ', '     ', '# ## ', '##  #', '#   #', '#   #', '#   #'],
  'o': ['     ', '     ', ' ### ', '#   #', '#   #', '#   #', ' ### '],
  'p': ['# ## ', '##  #', '#   #', '#   #', '#### ', '#    ', '#    '],
  'q': [' ## #', '#  ##', '#   #', '#   #', ' ####', '    #', '    #'],
  'r': ['     ', '     ', '# ## ', '##  #', '#    ', '#    ', '#    '],
  's': ['     ', '     ', ' ### ', '#    ', ' ### ', '    #', '#### '],
  't': [' #   ', ' #   ', '###  ', ' #   ', ' #   ', ' #  #', '  ## '],
  'u': ['     ', '     ', '#   #', '#   #', '#   #', '#  ##', ' ## #'],
  'v': ['     ', '     ', '#   #', '#   #', '#   #', ' # # ', '  #  '],
  'w': ['     ', '     ', '#   #', '#   #', '# # #', '# # #', ' # # '],
  'x': ['     ', '     ', '#   #', ' # # ', '  #  ', ' # # ', '#   #'],
  'y': ['#   #', '#   #', '#   #', '#  ##', ' ## #', '    #', ' ### '],
  'z': ['     ', '     ', '#####', '   # ', '  #  ', ' #   ', '#####'],
};

/** The 3x5 font (upper case, digits, a little punctuation): labels on 128-pixel images. */
export const FONT_3X5: BitmapFont = Object.freeze({
  width: 3,
  height: 5,
  advance: 4,
  upperCaseOnly: true,
  descenders: '',
  glyphs: Object.freeze(Object.fromEntries(Object.entries(GLYPHS_3X5).map(([ch, rows]) => [ch, Object.freeze(rows.split('|'))]))),
});

/** The 5x7 font (both cases, digits, punctuation; g, p, q, y hang below the line): figures. */
export const FONT_5X7: BitmapFont = Object.freeze({
  width: 5,
  height: 7,
  advance: 6,
  upperCaseOnly: false,
  descenders: 'gpqy',
  glyphs: Object.freeze(GLYPHS_5X7),
});

/** Width in pixels of `s` drawn in `font` (default the 3x5 one) at `scale`. */
export function textWidth(s: string, scale = 1, font: BitmapFont = FONT_3X5): number {
  return s.length === 0 ? 0 : (s.length * font.advance - 1) * scale;
}
