// Runs one model with onnxruntime-web (WASM) from a manifest; shared by Node.js and the page.
// manifest: {model, external_data: [path], inputs: [{name, dtype, shape, file}]}
// readBytes(path) -> Promise<Uint8Array>, relative to the manifest's folder.

const TYPED_ARRAYS = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  bool: Uint8Array,
};

function typedArray(dtype, bytes) {
  const Ctor = TYPED_ARRAYS[dtype];
  if (!Ctor) throw new Error(`dtype ${dtype} is not supported by the web runner`);
  const copy = new Uint8Array(bytes.byteLength); // aligned, owned buffer
  copy.set(bytes);
  return new Ctor(copy.buffer);
}

export async function runModel(ort, readBytes, manifest) {
  ort.env.wasm.numThreads = 1; // deterministic, and no SharedArrayBuffer needed in a page
  const externalData = [];
  for (const path of manifest.external_data) {
    externalData.push({ path, data: await readBytes(path) });
  }
  const session = await ort.InferenceSession.create(await readBytes(manifest.model), {
    executionProviders: ["wasm"],
    externalData,
  });
  const feeds = {};
  for (const input of manifest.inputs) {
    const data = typedArray(input.dtype, await readBytes(input.file));
    feeds[input.name] = new ort.Tensor(input.dtype, data, input.shape);
  }
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name) => {
    const tensor = results[name];
    const data = tensor.data;
    if (typeof data[0] === "string") throw new Error(`output ${name}: string tensors are not supported`);
    return {
      name,
      dtype: tensor.type,
      shape: Array.from(tensor.dims),
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  });
  await session.release();
  return outputs;
}
