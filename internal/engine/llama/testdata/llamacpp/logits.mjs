// Prints nothing; writes to OUT the logits llama.cpp computes after each
// token of TOKENS (a JSON array) fed to the GGUF model MODEL:
//
//	node logits.mjs MODEL TOKENS OUT
//
// Install with: NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional
import {getLlama} from "node-llama-cpp";
import fs from "node:fs";

const [modelPath, tokensJSON, outPath] = process.argv.slice(2);
const tokens = JSON.parse(tokensJSON);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const ctx = await model.createContext({contextSize: 256, threads: 2});
const seq = ctx.getSequence();
const out = await seq.controlledEvaluate(tokens.map((t) => [t, {generateNext: {logits: true}}]));
const logits = out.map((o) => {
  const row = new Array(model.tokens.length ?? o.next.logits.size).fill(0);
  for (const [id, v] of o.next.logits) row[id] = v;
  return row;
});
fs.writeFileSync(outPath, JSON.stringify(logits));
