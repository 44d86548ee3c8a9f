// Files exchanged with Python: manifest.json + raw little-endian inputs in, outputs.json +
// raw outputs back.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

export function requireFrom(nodeModules) {
  return createRequire(join(nodeModules, "noop.js"));
}

export function readManifest(workdir) {
  return JSON.parse(readFileSync(join(workdir, "manifest.json"), "utf8"));
}

export function writeOutputs(workdir, outputs) {
  const entries = outputs.map((output, i) => {
    const file = `output_${i}.bin`;
    writeFileSync(join(workdir, file), output.bytes);
    return { name: output.name, dtype: output.dtype, shape: output.shape, file };
  });
  writeFileSync(join(workdir, "outputs.json"), JSON.stringify(entries));
}

// The error and its stack, without the minified source line Node prints for an uncaught one.
export function reportAndExit(error) {
  console.error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
}
