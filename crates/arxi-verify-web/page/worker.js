// The arxi browser verifier's Web Worker: runs the WebAssembly verifier off
// the page's thread, reading the chosen File in slices (FileReaderSync), and
// reports progress. The assembled page prepends wasm-bindgen's glue (the
// `wasm_bindgen` global) and sets ARXI_WASM_BASE64 to the module.
'use strict';

let started = false;
function start() {
  if (started) return;
  const text = atob(ARXI_WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  wasm_bindgen.initSync({ module: bytes });
  started = true;
}

// The Source the module reads: size(), read(offset, length), progress(...).
function source(file, onProgress) {
  const reader = new FileReaderSync();
  return {
    size: () => file.size,
    read: (offset, length) => new Uint8Array(reader.readAsArrayBuffer(file.slice(offset, offset + length))),
    progress: onProgress || (() => {}),
  };
}

self.onmessage = (event) => {
  const message = event.data;
  try {
    start();
    if (message.op === 'version') {
      self.postMessage({ op: 'version', version: wasm_bindgen.version() });
    } else if (message.op === 'verify') {
      const file = message.file;
      let last = 0;
      const began = performance.now();
      const report = JSON.parse(wasm_bindgen.verify(source(file, (envelopes, seals, bytes) => {
        const now = performance.now();
        if (now - last < 50) return;
        last = now;
        self.postMessage({ op: 'progress', envelopes, seals, bytes, total: file.size });
      }), message.keys));
      const verifiedMs = performance.now() - began;
      const summary = JSON.parse(wasm_bindgen.inspect(source(file)));
      self.postMessage({ op: 'verified', report, summary, verifiedMs, bytes: file.size });
    } else if (message.op === 'records') {
      const offset = message.offset === null ? wasm_bindgen.first_record_offset() : message.offset;
      const page = JSON.parse(wasm_bindgen.records(source(message.file), offset, message.count));
      self.postMessage({ op: 'records', page, offset, token: message.token });
    }
  } catch (error) {
    self.postMessage({ op: 'error', message: String(error && error.message || error) });
  }
};
