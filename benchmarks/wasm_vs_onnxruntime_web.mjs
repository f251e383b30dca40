// The forward pass in WebAssembly, one thread: UNPIC's engine (Burn flex + our kernels, built
// with simd128 exactly as the browser app is) next to onnxruntime-web's wasm backend (SIMD, one
// thread), in the same Node process, same model file, same input. Prints a table and writes
// benchmarks/wasm.json.
//
//   cargo build --release --target wasm32-unknown-unknown -p unpic-bench-wasm
//   wasm-bindgen --target nodejs --out-dir benchmarks/wasm/pkg \
//       target/wasm32-unknown-unknown/release/unpic_bench_wasm.wasm
//   (cd benchmarks && npm install)
//   python3 benchmarks/make_models.py            # optional: the models outside the oracle kit
//   node benchmarks/wasm_vs_onnxruntime_web.mjs [--runs 10]

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const require = createRequire(import.meta.url);
const unpic = require(join(here, "wasm", "pkg", "unpic_bench_wasm.js"));
const ort = await import("onnxruntime-web");

const runsFlag = process.argv.indexOf("--runs");
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 10;

ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;

const oracle = join(root, "tests", "fixtures", "oracle", "models");
const extra = join(here, "models");
const models = [
  ["ResNet-18", join(oracle, "resnet18_bn_unfused.onnx"), [3, 224, 224]],
  ["MobileNetV2", join(oracle, "mobilenet_v2.onnx"), [3, 224, 224]],
  ["SqueezeNet 1.1", join(oracle, "squeezenet1_1.onnx"), [3, 224, 224]],
  ["EfficientNet-B0 †", join(extra, "efficientnet_b0.onnx"), [3, 224, 224]],
  ["RegNet-X-400MF †", join(extra, "regnet_x_400mf.onnx"), [3, 224, 224]],
];

// Must equal `unpic_bench_wasm::pattern`.
function pattern(len) {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = ((i * 7919) % 1000) / 500 - 1;
  return out;
}

function median(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const rows = [];
for (const [name, path, shape] of models) {
  if (!existsSync(path)) {
    console.error(`skipping ${name}: ${path} is missing (python3 benchmarks/make_models.py)`);
    continue;
  }
  const bytes = readFileSync(path);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const len = shape.reduce((a, b) => a * b, 1);
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", pattern(len), [1, ...shape]) };
  let out = await session.run(feeds);
  const ortTimes = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    out = await session.run(feeds);
    ortTimes.push(performance.now() - start);
  }
  const ortLogits = Array.from(out[session.outputNames[0]].data.slice(0, 10));

  const ours = JSON.parse(await unpic.forward_ms(bytes, 1, runs));
  const diff = Math.max(...ours.logits.map((v, i) => Math.abs(v - ortLogits[i])));
  const row = {
    model: name,
    batch: 1,
    unpic_ms: ours.median_ms,
    onnxruntime_web_ms: median(ortTimes),
    ratio: ours.median_ms / median(ortTimes),
    max_logit_diff: diff,
  };
  rows.push(row);
  console.error(`${name}: ${row.unpic_ms.toFixed(1)} ms vs ${row.onnxruntime_web_ms.toFixed(1)} ms`);
}

console.log("model                 UNPIC wasm ms  onnxruntime-web ms  ratio  max |logit diff|");
for (const r of rows) {
  console.log(
    `${r.model.padEnd(22)}${r.unpic_ms.toFixed(1).padStart(13)}${r.onnxruntime_web_ms
      .toFixed(1)
      .padStart(20)}${(r.ratio.toFixed(2) + "x").padStart(7)}  ${r.max_logit_diff.toExponential(1)}`,
  );
}
writeFileSync(
  join(here, "wasm.json"),
  JSON.stringify(
    { runs, threads: 1, onnxruntime_web: "1.30.0", node: process.version, rows },
    null,
    1,
  ),
);
