// Runs the official `openai` npm package against a running `silo serve`
// that fronts the enginetest upstream double (which echoes the words of
// the last message). internal/e2e starts the server and runs this script
// with:
//
//   SILO_URL             the server's base URL (https://127.0.0.1:PORT)
//   SILO_API_KEY         a valid API key
//   SILO_MODEL           the model the double serves
//   NODE_EXTRA_CA_CERTS  the server's self-signed certificate
//
// Every check is an assertion: the script exits non-zero on the first
// failure and prints "N passed, 0 failed" when all pass.
import assert from "node:assert/strict";
import OpenAI from "openai";

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`sdk.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const baseURL = need("SILO_URL").replace(/\/+$/, "") + "/v1";
const apiKey = need("SILO_API_KEY");
const model = need("SILO_MODEL");

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });
const prompt = "the quick brown fox";

const checks = [
  ["models.list lists the double's model", async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, "model");
      ids.push(m.id);
    }
    assert.ok(ids.includes(model), `models ${JSON.stringify(ids)} lack ${model}`);
  }],

  ["chat.completions.create, not streamed", async () => {
    const res = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: prompt }],
    });
    assert.equal(res.object, "chat.completion");
    assert.equal(res.model, model);
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].message.role, "assistant");
    assert.equal(res.choices[0].message.content, prompt);
    assert.equal(res.choices[0].finish_reason, "stop");
    assert.equal(res.usage.prompt_tokens, 4);
    assert.equal(res.usage.completion_tokens, 4);
    assert.equal(res.usage.total_tokens, 8);
  }],

  ["chat.completions.create, streamed with include_usage", async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: prompt }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish = null;
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      chunks++;
      for (const c of chunk.choices) {
        text += c.delta?.content ?? "";
        if (c.finish_reason) finish = c.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, prompt);
    assert.equal(finish, "stop");
    assert.ok(chunks >= 4, `only ${chunks} chunks`);
    assert.ok(usage, "no usage chunk");
    assert.equal(usage.completion_tokens, 4);
  }],

  ["chat.completions.stream helper accumulates the reply", async () => {
    const stream = client.chat.completions.stream({
      model,
      messages: [{ role: "user", content: "one two" }],
    });
    const done = await stream.finalChatCompletion();
    assert.equal(done.choices[0].message.content, "one two");
  }],

  ["a bad key gets an OpenAI-shaped 401", async () => {
    const bad = new OpenAI({ baseURL, apiKey: "sk-silo-not-a-real-key", maxRetries: 0 });
    await assert.rejects(bad.models.list(), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.type, "invalid_request_error");
      assert.equal(err.code, "invalid_api_key");
      assert.equal(typeof err.error?.message, "string");
      assert.ok(err.error.message.length > 0);
      assert.ok("param" in err.error, "error object lacks param");
      return true;
    });
    await assert.rejects(
      bad.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] }),
      (err) => err instanceof OpenAI.AuthenticationError && err.status === 401,
    );
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
