// Runs the official `ollama` npm package (ollama-js) against a running
// `silo serve` that fronts the enginetest upstream double (which echoes the
// words of the last message). internal/e2e starts the server and runs this
// script with:
//
//   SILO_URL             the server's base URL (https://127.0.0.1:PORT)
//   SILO_API_KEY         a valid API key
//   SILO_MODEL           the model the double serves
//   NODE_EXTRA_CA_CERTS  the server's self-signed certificate
//
// Every check is an assertion: the script exits non-zero on the first
// failure and prints "N passed, 0 failed" when all pass.
import assert from "node:assert/strict";
import { Ollama } from "ollama";

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`ollama.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const host = need("SILO_URL").replace(/\/+$/, "");
const apiKey = need("SILO_API_KEY");
const model = need("SILO_MODEL");

const client = new Ollama({ host, headers: { Authorization: `Bearer ${apiKey}` } });
const prompt = "the quick brown fox";

const checks = [
  ["version", async () => {
    const v = await client.version();
    assert.equal(typeof v.version, "string");
    assert.ok(v.version.length > 0);
  }],

  ["list shows the double's model", async () => {
    const res = await client.list();
    const names = res.models.map((m) => m.name);
    assert.ok(names.includes(model), `models ${JSON.stringify(names)} lack ${model}`);
    const m = res.models.find((m) => m.name === model);
    assert.equal(m.model, model);
    assert.equal(typeof m.details, "object");
  }],

  ["show describes the model", async () => {
    const res = await client.show({ model });
    assert.ok(res.capabilities.includes("completion"));
  }],

  ["chat, not streamed", async () => {
    const res = await client.chat({ model, messages: [{ role: "user", content: prompt }] });
    assert.equal(res.model, model);
    assert.equal(res.message.role, "assistant");
    assert.equal(res.message.content, prompt);
    assert.equal(res.done, true);
    assert.equal(res.done_reason, "stop");
    assert.equal(res.prompt_eval_count, 4);
    assert.equal(res.eval_count, 4);
  }],

  ["chat, streamed", async () => {
    const stream = await client.chat({ model, messages: [{ role: "user", content: prompt }], stream: true });
    let text = "";
    let parts = 0;
    let last = null;
    for await (const part of stream) {
      parts++;
      text += part.message.content;
      last = part;
    }
    assert.equal(text, prompt);
    assert.ok(parts >= 5, `only ${parts} parts`);
    assert.equal(last.done, true);
    assert.equal(last.done_reason, "stop");
    assert.equal(last.eval_count, 4);
  }],

  ["chat with options: num_predict cuts the answer", async () => {
    const res = await client.chat({
      model,
      messages: [{ role: "user", content: prompt }],
      options: { num_predict: 2, temperature: 0, seed: 7 },
    });
    assert.equal(res.message.content, "the quick");
    assert.equal(res.done_reason, "length");
  }],

  ["generate, not streamed and streamed", async () => {
    const res = await client.generate({ model, prompt });
    assert.equal(res.response, prompt);
    assert.equal(res.done, true);
    const stream = await client.generate({ model, prompt, stream: true });
    let text = "";
    for await (const part of stream) text += part.response;
    assert.equal(text, prompt);
  }],

  ["embed and the legacy embeddings", async () => {
    const res = await client.embed({ model, input: ["a b", "c"] });
    assert.equal(res.embeddings.length, 2);
    assert.ok(res.embeddings[0].length > 0);
    const one = await client.embeddings({ model, prompt: "a b" });
    assert.deepEqual(one.embedding, res.embeddings[0]);
  }],

  ["errors reach the client in Ollama's shape", async () => {
    await assert.rejects(client.chat({ model: "nope", messages: [{ role: "user", content: "hi" }] }), (err) => {
      assert.equal(err.name, "ResponseError");
      assert.equal(err.status_code, 404);
      assert.match(err.error, /model "nope" not found/);
      return true;
    });
    const bad = new Ollama({ host, headers: { Authorization: "Bearer sk-silo-not-a-real-key" } });
    await assert.rejects(bad.list(), (err) => err.name === "ResponseError" && err.status_code === 401);
  }],
];

let passed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    console.error(`FAIL ${name}\n${err?.stack ?? err}`);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  }
}
console.log(`${passed} passed, 0 failed`);
