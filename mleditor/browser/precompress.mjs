// npm's postinstall here: writes <file>.br (brotli, quality 11) and <file>.gz (gzip 9) next to each
// onnxruntime-web file the editor serves, once, so `mleditor serve` and `mleditor browser export`
// hand out the 14 MB wasm as ~2.4 MB without compressing it on every start. Node's zlib only.
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("./node_modules/onnxruntime-web/dist/", import.meta.url));
const files = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
for (const name of files) {
  const source = dist + name;
  const data = readFileSync(source);
  const fresh = (suffix) => existsSync(source + suffix) && statSync(source + suffix).mtimeMs >= statSync(source).mtimeMs;
  if (!fresh(".br")) {
    writeFileSync(source + ".br", brotliCompressSync(data, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
    }));
  }
  if (!fresh(".gz")) writeFileSync(source + ".gz", gzipSync(data, { level: 9 }));
  console.log(`${name}: ${data.length} bytes, br ${statSync(source + ".br").size}, gzip ${statSync(source + ".gz").size}`);
}
