/**
 * The built course site in headless Chromium (Debian's `chromium` package): every course page
 * loads without console errors, every image on it loads (`complete` and a non-zero natural
 * size, checked inside the browser), and its screenshot is not blank.
 *
 * Run by `npm run docs` after typedoc has written `docs/site` (it is not a `*.test.ts` file, so
 * `npm test`, which runs before the site exists, does not pick it up). Fails with a clear message
 * when Chromium is missing: install it with
 * `apt-get install -y --no-install-recommends chromium fonts-dejavu-core`.
 * Screenshots are kept in `docs/site-screenshots/` for a person to look at.
 */
import test from 'tape';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pngjs from 'pngjs';

const site = resolve('docs/site');
const shots = resolve('docs/site-screenshots');
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

const PROBE = `<script>
window.addEventListener('load', () => setTimeout(() => {
  const images = Array.from(document.querySelectorAll('.tsd-panel img, .col-content img'));
  const report = images.map((img) => ({ src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0 }));
  console.log('PROBE ' + JSON.stringify(report));
}, 200));
// Script errors, and resources that failed to load; typedoc's icon sprites (<use href=...svg#id>)
// cannot load from file:// URLs by Chromium's rules, so SVG <use> elements are left out.
window.addEventListener('error', (e) => {
  const el = e.target;
  if (e.message) console.error('PROBE-ERROR ' + e.message);
  else if (el && el.tagName && el.tagName.toLowerCase() !== 'use') console.error('PROBE-ERROR ' + el.tagName + ' ' + (el.src || el.href));
}, true);
</script>`;

interface PageResult { images: Array<{ src: string; ok: boolean }> | null; consoleErrors: string[]; png: Buffer | null; log: string }

function openPage(file: string, shot: string): PageResult {
  const probe = join(site, 'documents', `__probe_${process.pid}.html`);
  writeFileSync(probe, readFileSync(file, 'utf8').replace('</body>', `${PROBE}</body>`));
  const profile = mkdtempSync(join(tmpdir(), 'chromium-'));
  try {
    const run = spawnSync(chromium!, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--hide-scrollbars',
      '--window-size=1280,1600', '--enable-logging=stderr', '--v=0', '--virtual-time-budget=5000', `--screenshot=${shot}`,
      `file://${probe}`,
    ], { encoding: 'utf8', timeout: 120_000 });
    const log = `${run.stdout}\n${run.stderr}`;
    const consoleLines = log.split('\n').filter((l) => l.includes(':CONSOLE'));
    const probeLine = consoleLines.find((l) => l.includes('"PROBE '));
    const images = probeLine ? (JSON.parse(probeLine.slice(probeLine.indexOf('"PROBE ') + 7, probeLine.lastIndexOf('", source')).replace(/\\"/g, '"')) as PageResult['images']) : null;
    const consoleErrors = consoleLines.filter((l) => /ERROR:CONSOLE|PROBE-ERROR/.test(l) || /:(ERROR|WARNING):CONSOLE/.test(l));
    return { images, consoleErrors, png: existsSync(shot) ? readFileSync(shot) : null, log };
  } finally {
    rmSync(probe, { force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Fraction of pixels that differ from the page background (the top-left pixel). */
function inkFraction(png: Buffer): number {
  const img = pngjs.PNG.sync.read(png);
  const [r, g, b] = [img.data[0]!, img.data[1]!, img.data[2]!];
  let ink = 0;
  for (let i = 0; i < img.data.length; i += 4) if (Math.abs(img.data[i]! - r) + Math.abs(img.data[i + 1]! - g) + Math.abs(img.data[i + 2]! - b) > 30) ink++;
  return ink / (img.width * img.height);
}

test('course site in headless Chromium: pages render, images load, no console errors', (t) => {
  if (chromium === undefined) {
    t.fail('Chromium is not installed: the course site cannot be checked. Install it with `apt-get install -y --no-install-recommends chromium fonts-dejavu-core`.');
    t.end();
    return;
  }
  if (!existsSync(join(site, 'documents'))) {
    t.fail('docs/site/documents is missing: run `npm run docs` (it builds the site, then runs this check)');
    t.end();
    return;
  }
  mkdirSync(shots, { recursive: true });
  const pages = readdirSync(join(site, 'documents')).filter((f) => f.endsWith('.html') && !f.startsWith('__probe'));
  t.ok(pages.length >= 5, `${pages.length} course pages (introduction, 3 chapters, concept map)`);
  for (const page of pages) {
    const shot = join(shots, page.replace(/\.html$/, '.png'));
    const r = openPage(join(site, 'documents', page), shot);
    t.ok(r.png !== null, `${page}: Chromium wrote a screenshot`);
    if (r.png === null) {
      t.comment(r.log.slice(-2000));
      continue;
    }
    const ink = inkFraction(r.png);
    t.ok(ink > 0.02, `${page}: the screenshot is not blank (${(ink * 100).toFixed(1)}% of pixels drawn)`);
    t.ok(r.images !== null, `${page}: the in-page probe reported`);
    const broken = (r.images ?? []).filter((i) => !i.ok).map((i) => i.src);
    const expected = /^\d\._/.test(page) && !page.startsWith('4.') ? 1 : 0;
    t.ok((r.images ?? []).length >= expected, `${page}: ${(r.images ?? []).length} images in the content`);
    t.deepEqual(broken, [], `${page}: every image loaded`);
    t.deepEqual(r.consoleErrors, [], `${page}: no console errors`);
  }
  t.end();
});
