"""The official Anthropic Python SDK against Freeway's `/v1/messages`, as Claude Code uses it.

    FREEWAY_URL=http://127.0.0.1:8080 FREEWAY_API_KEY=fw-... FREEWAY_MOCK_URL=http://127.0.0.1:9000 \
        python anthropic_sdk.py

The pool must serve the chat model `mock-chat` from the mock upstream at FREEWAY_MOCK_URL,
whose default answer is "Hello from the mock upstream." with 10 prompt and 7 completion
tokens. The script queues the mock's tool calls itself (`POST /__mock/push`).
"""

import json
import os
import urllib.request

import anthropic

client = anthropic.Anthropic(
    base_url=os.environ["FREEWAY_URL"],
    api_key=os.environ["FREEWAY_API_KEY"],
    max_retries=0,
)
REPLY = "Hello from the mock upstream."


def push(query):
    request = urllib.request.Request(os.environ["FREEWAY_MOCK_URL"] + "/__mock/push?" + query, method="POST")
    urllib.request.urlopen(request).read()


# messages.create: text, with system blocks as Claude Code sends them.
message = client.messages.create(
    model="mock-chat",
    max_tokens=64,
    system=[{"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}}],
    messages=[{"role": "user", "content": "Say hello."}],
)
assert message.type == "message" and message.role == "assistant", message
assert message.model == "mock-chat", message
assert [b.type for b in message.content] == ["text"], message
assert message.content[0].text == REPLY, message
assert message.stop_reason == "end_turn", message
assert (message.usage.input_tokens, message.usage.output_tokens) == (10, 7), message.usage
assert message._request_id, "no request-id header"

# messages.stream: text deltas collected, and the final message they make.
with client.messages.stream(
    model="mock-chat", max_tokens=64, messages=[{"role": "user", "content": "Say hello."}]
) as stream:
    deltas = list(stream.text_stream)
    final = stream.get_final_message()
assert len(deltas) > 1, deltas
assert "".join(deltas) == REPLY, deltas
assert final.content[0].text == REPLY and final.stop_reason == "end_turn", final
assert final.usage.output_tokens == 7 and final.usage.input_tokens == 10, final.usage

# A tool_use -> tool_result round trip, streamed and whole.
tools = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
question = {"role": "user", "content": "What is the weather in Paris?"}
push("tool=get_weather&tool_args=" + urllib.request.quote(json.dumps({"city": "Paris"})))
with client.messages.stream(model="mock-chat", max_tokens=64, tools=tools, messages=[question]) as stream:
    called = stream.get_final_message()
assert called.stop_reason == "tool_use", called
uses = [b for b in called.content if b.type == "tool_use"]
assert len(uses) == 1 and uses[0].name == "get_weather" and uses[0].input == {"city": "Paris"}, called.content
answer = client.messages.create(
    model="mock-chat",
    max_tokens=64,
    tools=tools,
    tool_choice={"type": "auto"},
    messages=[
        question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in called.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "18 C, sunny"}]},
    ],
)
assert answer.content[0].text == REPLY and answer.stop_reason == "end_turn", answer
push("tool=get_weather&tool_args=" + urllib.request.quote(json.dumps({"city": "Oslo"})))
whole = client.messages.create(model="mock-chat", max_tokens=64, tools=tools, messages=[question])
assert whole.stop_reason == "tool_use" and whole.content[0].input == {"city": "Oslo"}, whole

# count_tokens: the router's estimate, a positive count that grows with the prompt.
short = client.messages.count_tokens(model="mock-chat", messages=[{"role": "user", "content": "hi"}])
long = client.messages.count_tokens(model="mock-chat", messages=[{"role": "user", "content": "hi " * 400}])
assert 0 < short.input_tokens < long.input_tokens, (short, long)

# models: Anthropic's shape, the pool's models and the mapped Claude names.
listed = [m.id for m in client.models.list()]
assert "mock-chat" in listed and "auto" in listed and "claude-*" in listed, listed
claude = client.models.retrieve("claude-sonnet-4-5")
assert claude.type == "model" and claude.id == "claude-sonnet-4-5", claude

# Errors come as the SDK's typed exceptions.
try:
    client.messages.create(model="mock-chat", max_tokens=64, messages=[{"role": "user", "content": [{"type": "video"}]}])
    raise AssertionError("an unknown block type was accepted")
except anthropic.BadRequestError as error:
    assert error.body["error"]["type"] == "invalid_request_error", error.body
    assert error.body["error"]["message"].startswith("messages.0.content.0.type"), error.body
try:
    client.messages.create(model="no-such-model", max_tokens=8, messages=[question])
    raise AssertionError("an unknown model was served")
except anthropic.NotFoundError as error:
    assert error.body["error"]["type"] == "not_found_error", error.body
try:
    anthropic.Anthropic(base_url=os.environ["FREEWAY_URL"], api_key="fw-nope-nope", max_retries=0).messages.create(
        model="mock-chat", max_tokens=8, messages=[question]
    )
    raise AssertionError("a bad key was accepted")
except anthropic.AuthenticationError as error:
    assert error.body["error"]["type"] == "authentication_error", error.body

print("anthropic SDK: create, stream, tool_use round trip (streamed and whole), count_tokens, typed errors: ok")
