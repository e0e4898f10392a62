// The official `openai` npm SDK against Freeway's Responses API (`/v1/responses`), as a Node
// agent would use it: create, stream (raw events and the SDK's stream helper), a function-call
// round trip through `previous_response_id`, retrieve, and typed errors.
//
//   FREEWAY_URL=http://127.0.0.1:8080 FREEWAY_API_KEY=fw-... FREEWAY_MOCK_URL=http://127.0.0.1:9000 \
//     node scripts/contract/responses.mjs
//
// The pool must serve the chat model `mock-chat` from the mock upstream at FREEWAY_MOCK_URL,
// whose default answer is "Hello from the mock upstream." with 10 prompt and 7 completion
// tokens; the script queues the mock's tool calls itself (`POST /__mock/push`). `openai` comes
// from the cache of tools.sh (FREEWAY_TOOLS_NODE), pinned in package.json.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";

const cache = process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache");
const toolsNode = process.env.FREEWAY_TOOLS_NODE ?? join(cache, "freeway", "tools", "node");
const { OpenAI } = createRequire(join(toolsNode, "package.json"))("openai");

const client = new OpenAI({
  baseURL: `${process.env.FREEWAY_URL}/v1`,
  apiKey: process.env.FREEWAY_API_KEY,
  maxRetries: 0,
});
const REPLY = "Hello from the mock upstream.";

async function pushToolCall(args) {
  const query = new URLSearchParams({ tool: "get_weather", tool_args: JSON.stringify(args) });
  const answer = await fetch(`${process.env.FREEWAY_MOCK_URL}/__mock/push?${query}`, { method: "POST" });
  assert.equal(answer.status, 204, "the mock took the tool call");
}

/** Runs `call`, which must fail with `kind`; returns the error. */
async function refused(kind, call) {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof kind, `${error?.constructor?.name}: ${error}`);
    return error;
  }
  assert.fail(`expected ${kind.name}`);
}

// create: a string input with instructions.
const created = await client.responses.create({
  model: "mock-chat",
  instructions: "You are a terse assistant.",
  input: "Say hello.",
});
assert.equal(created.object, "response");
assert.match(created.id, /^resp_/);
assert.equal(created.status, "completed");
assert.equal(created.model, "mock-chat");
assert.equal(created.instructions, "You are a terse assistant.");
assert.equal(created.output_text, REPLY);
assert.deepEqual(
  created.output.map((item) => item.type),
  ["message"],
);
assert.deepEqual(
  [created.usage.input_tokens, created.usage.output_tokens, created.usage.total_tokens],
  [10, 7, 17],
);
assert.ok(created._request_id, "no x-request-id header");

// stream: for await over the raw events.
const stream = await client.responses.create({ model: "mock-chat", input: "Say hello.", stream: true });
const events = [];
for await (const event of stream) events.push(event);
const types = events.map((event) => event.type);
assert.equal(types[0], "response.created", types.join());
assert.equal(types.at(-1), "response.completed", types.join());
assert.ok(!types.includes("response.failed") && !types.includes("error"), types.join());
const numbers = events.map((event) => event.sequence_number);
assert.ok(
  numbers.every((n, i) => i === 0 || n > numbers[i - 1]),
  `sequence numbers increase: ${numbers}`,
);
const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta);
assert.ok(deltas.length > 1, deltas.join("|"));
assert.equal(deltas.join(""), REPLY);
const completed = events.at(-1).response;
assert.equal(completed.id, events[0].response.id);
assert.equal(completed.status, "completed");
assert.equal(completed.usage.output_tokens, 7);

// The SDK's stream helper and the final Response it accumulates.
const helper = client.responses.stream({ model: "mock-chat", input: "Say hello." });
let helperText = "";
for await (const event of helper) {
  if (event.type === "response.output_text.delta") helperText += event.delta;
}
const final = await helper.finalResponse();
assert.equal(helperText, REPLY);
assert.equal(final.output_text, REPLY);
assert.equal(final.status, "completed");

// A function-call round trip through previous_response_id.
const tools = [
  {
    type: "function",
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    strict: false,
  },
];
await pushToolCall({ city: "Paris" });
const called = await client.responses.create({
  model: "mock-chat",
  input: [{ role: "user", content: "What is the weather in Paris?" }],
  tools,
});
const calls = called.output.filter((item) => item.type === "function_call");
assert.equal(calls.length, 1, JSON.stringify(called.output));
assert.equal(calls[0].name, "get_weather");
assert.equal(calls[0].call_id, "call_mock_1");
assert.deepEqual(JSON.parse(calls[0].arguments), { city: "Paris" });
const answered = await client.responses.create({
  model: "mock-chat",
  previous_response_id: called.id,
  tools,
  input: [{ type: "function_call_output", call_id: calls[0].call_id, output: "18 C, sunny" }],
});
assert.equal(answered.output_text, REPLY);
assert.equal(answered.previous_response_id, called.id);

// retrieve: the stored Response; an unknown one is a typed 404.
const retrieved = await client.responses.retrieve(answered.id);
assert.equal(retrieved.id, answered.id);
assert.equal(retrieved.status, "completed");
assert.equal(retrieved.output_text, REPLY);
const streamedBack = await client.responses.retrieve(completed.id);
assert.equal(streamedBack.output_text, REPLY);
const missing = await refused(OpenAI.NotFoundError, () => client.responses.retrieve("resp_does_not_exist"));
assert.equal(missing.status, 404);
assert.equal(missing.error.message, "Response with id 'resp_does_not_exist' not found.");
const orphan = await refused(OpenAI.BadRequestError, () =>
  client.responses.create({ model: "mock-chat", input: "Go on.", previous_response_id: "resp_does_not_exist" }),
);
assert.equal(orphan.code, "previous_response_not_found");
assert.equal(orphan.param, "previous_response_id");

console.log(
  "openai npm SDK responses: create, stream (raw and helper), function-call round trip, retrieve, typed errors: ok",
);
