// node run_node.mjs WORKDIR NODE_MODULES: runs WORKDIR/manifest.json with onnxruntime-web in
// Node.js (WASM backend) and writes WORKDIR/outputs.json.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readManifest, reportAndExit, requireFrom, writeOutputs } from "./node_io.mjs";
import { runModel } from "./run_model.mjs";

const [workdir, nodeModules] = process.argv.slice(2);
try {
  const ort = requireFrom(nodeModules)("onnxruntime-web");
  const readBytes = async (path) => new Uint8Array(await readFile(join(workdir, path)));
  writeOutputs(workdir, await runModel(ort, readBytes, readManifest(workdir)));
} catch (error) {
  reportAndExit(error);
}
