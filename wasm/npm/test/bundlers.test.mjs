// The package as a user gets it: `npm pack` (exactly the files a user needs), installed into
// throwaway apps, each bundled the way frontend engineers load things (esbuild, Vite, webpack 5)
// or imported from a plain <script type="module"> through an import map, then loaded in headless
// Chromium: every app must find the .wasm by itself (no file copied by hand) and deliver its
// counts to a local collector. Run after wasm/build.sh:
//   node --test wasm/npm/test/bundlers.test.mjs
// A bundler that is not installed skips its test, and fails it under CI=true.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { launch, servers, PACKAGE_ROOT } from './browser.mjs';

const APPS = `${PACKAGE_ROOT}/test-results/apps`;
const CI = process.env.CI === 'true';
let browser;
let env;
let packed;

before(async () => {
  rmSync(APPS, { recursive: true, force: true });
  mkdirSync(APPS, { recursive: true });
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', APPS], { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 120000 }));
  packed = { ...info, tarball: `${APPS}/${info.filename}` };
  env = await servers();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await env?.close();
});

test('npm pack holds exactly the files a user needs', () => {
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, ['README.md', 'dist/heartbeat_wasm_bg.wasm', 'dist/heartbeat_wasm_bg.wasm.d.ts', 'dist/index.d.ts', 'dist/index.js', 'package.json']);
  assert.equal(packed.name, '@heartbeat/web');
});

test('the README stands on its own on the registry page: no relative links', () => {
  const readme = readFileSync(`${PACKAGE_ROOT}/README.md`, 'utf8');
  const links = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]);
  assert.deepEqual(links.filter((l) => !/^(https:\/\/|#)/.test(l)), []);
  for (const anchor of links.filter((l) => l.startsWith('#'))) {
    const headings = [...readme.matchAll(/^#+ (.*)$/gm)].map((m) => '#' + m[1].toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'));
    assert.ok(headings.includes(anchor), `${anchor} is a heading of the README`);
  }
  for (const section of ['CORS', 'Content Security Policy', 'Errors']) assert.match(readme, new RegExp(`^## .*${section}`, 'm'));
});

/** A new app directory with the packed package installed as `npm install` would. */
function app(name, files) {
  const dir = `${APPS}/${name}`;
  mkdirSync(`${dir}/node_modules/@heartbeat/web`, { recursive: true });
  execFileSync('tar', ['-xzf', packed.tarball, '-C', `${dir}/node_modules/@heartbeat/web`, '--strip-components=1'], { timeout: 60000 });
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(`${dir}/${file}`.replace(/\/[^/]*$/, ''), { recursive: true });
    writeFileSync(`${dir}/${file}`, text);
  }
  return dir;
}

/** The app's code: start Heartbeat (with `extra` options), count 4 successes, flush. */
const main = (outcome, imports = '', extra = '') => `import { init } from '@heartbeat/web';
${imports}
window.start = async (endpoint) => {
  const errors = [];
  const hb = await init({ endpoint, serviceName: 'bundled', exportIntervalMs: 86400000, onError: (e) => errors.push(e.message)${extra} });
  const send = hb.outcome('${outcome}');
  for (let i = 0; i < 4; i++) send.success();
  return { flushed: await hb.flush(), errors };
};
`;

const page = (script) => `<!doctype html><meta charset="utf-8"><title>app</title>${script}`;

/** Loads `path` from the site in Chromium, starts the app, and checks its 4 successes arrived. */
async function loads(path, outcome) {
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    const thrown = [];
    p.on('pageerror', (e) => thrown.push(e.message));
    await p.goto(`${env.site.url}/test-results/apps/${path}`);
    await p.waitForFunction(() => typeof window.start === 'function');
    const result = await p.evaluate((endpoint) => window.start(endpoint), env.rx.url);
    assert.deepEqual(result, { flushed: true, errors: [] });
    assert.equal(env.rx.value('heartbeat.outcomes', { 'heartbeat.outcome': outcome, 'heartbeat.result': 'success' }), 4);
    assert.deepEqual(thrown, []);
  } finally {
    await ctx.close();
  }
}

/** The bundler module, or a skip (a failure under CI=true) when it is not installed. */
async function tool(t, name) {
  try {
    return await import(name);
  } catch (e) {
    if (CI) throw new Error(`${name} is not installed (npm ci in wasm/npm): ${e.message}`);
    t.skip(`${name} is not installed`);
    return undefined;
  }
}

const emittedWasm = (dir) => readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.wasm'));

test('esbuild: the documented .wasm subpath import with the file loader', async (t) => {
  const esbuild = await tool(t, 'esbuild');
  if (!esbuild) return;
  const dir = app('esbuild', {
    'main.js': main('bundle.esbuild', "import wasm from '@heartbeat/web/heartbeat_wasm_bg.wasm';", ', wasm'),
    'out/index.html': page('<script type="module" src="main.js"></script>'),
  });
  await esbuild.build({ absWorkingDir: dir, entryPoints: ['main.js'], bundle: true, format: 'esm', outdir: 'out', loader: { '.wasm': 'file' }, logLevel: 'warning' });
  assert.equal(emittedWasm(`${dir}/out`).length, 1, 'esbuild emitted the .wasm');
  await loads('esbuild/out/index.html', 'bundle.esbuild');
});

test("Vite: the module's own new URL(..., import.meta.url), with no configuration", async (t) => {
  const vite = await tool(t, 'vite');
  if (!vite) return;
  const dir = app('vite', {
    'main.js': main('bundle.vite'),
    'index.html': page('<script type="module" src="./main.js"></script>'),
  });
  await vite.build({ root: dir, base: './', logLevel: 'warn', configFile: false, build: { outDir: 'out', emptyOutDir: true } });
  assert.equal(emittedWasm(`${dir}/out`).length, 1, 'Vite emitted the .wasm');
  await loads('vite/out/index.html', 'bundle.vite');
});

test("webpack 5: the module's own new URL(..., import.meta.url), with no configuration", async (t) => {
  const mod = await tool(t, 'webpack');
  if (!mod) return;
  const webpack = mod.default;
  const dir = app('webpack', {
    'main.js': main('bundle.webpack'),
    'out/index.html': page('<script src="main.js"></script>'),
  });
  const stats = await new Promise((resolve, reject) =>
    webpack({ mode: 'production', context: dir, entry: './main.js', output: { path: `${dir}/out`, filename: 'main.js' } }, (e, s) => (e ? reject(e) : resolve(s))),
  );
  assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
  assert.equal(emittedWasm(`${dir}/out`).length, 1, 'webpack emitted the .wasm');
  await loads('webpack/out/index.html', 'bundle.webpack');
});

test('a plain <script type="module"> page: the package by name through an import map', async () => {
  app('plain', {
    'index.html': page(`<script type="importmap">{"imports":{"@heartbeat/web":"./node_modules/@heartbeat/web/dist/index.js"}}</script>
<script type="module">${main('bundle.plain')}</script>`),
  });
  assert.ok(existsSync(`${APPS}/plain/node_modules/@heartbeat/web/dist/heartbeat_wasm_bg.wasm`));
  await loads('plain/index.html', 'bundle.plain');
});
