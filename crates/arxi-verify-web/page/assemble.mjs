// Assembles the arxi browser verifier into one HTML file: the template
// (index.html) with style.css, app.js and the worker inlined, the worker
// being wasm-bindgen's no-modules glue, the WebAssembly module as base64,
// and worker.js. One file works from a disk (file://), where a page may not
// fetch a module beside it, and from the sidecar alike.
//   node assemble.mjs GLUE.js MODULE.wasm OUT.html
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [glue, module, out] = process.argv.slice(2);
if (!glue || !module || !out) {
  console.error('usage: node assemble.mjs GLUE.js MODULE.wasm OUT.html');
  process.exit(64);
}
const here = dirname(fileURLToPath(import.meta.url));
const read = (name) => readFileSync(join(here, name), 'utf8');
const wasm = readFileSync(module);
const worker = `${readFileSync(glue, 'utf8')}\nconst ARXI_WASM_BASE64 = '${wasm.toString('base64')}';\n${read('worker.js')}`;
const parts = { STYLE: read('style.css'), WORKER: worker, APP: read('app.js') };
let html = read('index.html');
for (const [name, text] of Object.entries(parts)) {
  // Inline text must not close its element early.
  if (/<\/(script|style)/i.test(text)) throw new Error(`${name} holds a closing tag`);
  const marker = `/*${name}*/`;
  if (html.split(marker).length !== 2) throw new Error(`the template must hold ${marker} once`);
  html = html.replace(marker, () => text);
}
writeFileSync(out, html);
console.log(`assembled ${out}: ${html.length} bytes (module ${wasm.length} bytes)`);
