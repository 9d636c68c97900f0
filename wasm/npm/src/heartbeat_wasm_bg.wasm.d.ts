// `import wasm from '@heartbeat/web/heartbeat_wasm_bg.wasm'`: the URL of the WebAssembly module
// as a bundler emits it (esbuild `--loader:.wasm=file`, Vite `?url`, webpack `asset/resource`),
// to pass to `init({ wasm })`. See the package README, "With a bundler".
declare const url: string;
export default url;
