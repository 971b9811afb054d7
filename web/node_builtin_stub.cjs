// The browser build's stand-in for Node's built-in modules (node:fs, node:path, node:zlib, ...):
// the library imports them only for files and processes, which a page does not use. Any call
// fails with a message naming the function; the few values read at import time are real.
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const known = {
  endianness: () => (littleEndian ? 'LE' : 'BE'),
  sep: '/',
};
module.exports = new Proxy(known, {
  get(target, name) {
    if (name in target) return target[name];
    if (name === '__esModule' || typeof name === 'symbol') return undefined;
    return (..._args) => {
      throw new Error(`${String(name)}() is a Node.js function: it is not available in the browser build`);
    };
  },
});
