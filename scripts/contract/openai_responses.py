"""The official OpenAI Python SDK against Freeway's Responses API (`/v1/responses`), as an
agent built on it (Codex, the Agents SDK) would use it.

    FREEWAY_URL=http://127.0.0.1:8080 FREEWAY_API_KEY=fw-... FREEWAY_MOCK_URL=http://127.0.0.1:9000 \
        python openai_responses.py

The pool must serve the chat model `mock-chat` from the mock upstream at FREEWAY_MOCK_URL,
whose default answer is "Hello from the mock upstream." with 10 prompt and 7 completion
tokens. The script queues the mock's tool calls itself (`POST /__mock/push`).
"""

import json
import os
import urllib.request

import openai

client = openai.OpenAI(
    base_url=os.environ["FREEWAY_URL"] + "/v1",
    api_key=os.environ["FREEWAY_API_KEY"],
    max_retries=0,
)
REPLY = "Hello from the mock upstream."


def push(query):
    request = urllib.request.Request(os.environ["FREEWAY_MOCK_URL"] + "/__mock/push?" + query, method="POST")
    urllib.request.urlopen(request).read()


def push_tool_call(arguments):
    push("tool=get_weather&tool_args=" + urllib.request.quote(json.dumps(arguments)))


# responses.create with a string input: one assistant message, its text and the usage.
response = client.responses.create(model="mock-chat", input="Say hello.")
assert response.object == "response" and response.id.startswith("resp_"), response
assert response.status == "completed" and response.error is None, response
assert response.model == "mock-chat", response
assert response.output_text == REPLY, response
assert [item.type for item in response.output] == ["message"], response.output
message = response.output[0]
assert message.role == "assistant" and message.id.startswith("msg_") and message.status == "completed", message
assert [part.type for part in message.content] == ["output_text"], message
usage = response.usage
assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (10, 7, 17), usage
assert response.store is True and response.previous_response_id is None, response
assert response._request_id, "no x-request-id header"

# With instructions and the usual settings, echoed in the Response object.
instructed = client.responses.create(
    model="mock-chat",
    instructions="You are a terse assistant.",
    input=[{"role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}],
    max_output_tokens=64,
    temperature=0.5,
    metadata={"run": "contract"},
)
assert instructed.output_text == REPLY, instructed
assert instructed.instructions == "You are a terse assistant.", instructed
assert instructed.max_output_tokens == 64 and instructed.temperature == 0.5, instructed
assert instructed.metadata == {"run": "contract"}, instructed

# stream=True: the raw events, in order, with increasing sequence numbers.
events = list(client.responses.create(model="mock-chat", input="Say hello.", stream=True))
types = [event.type for event in events]
assert types[0] == "response.created" and types[-1] == "response.completed", types
assert "error" not in types and "response.failed" not in types, types
lifecycle = [t for t in types if not t.endswith(".delta")]
assert lifecycle == [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
], types
numbers = [event.sequence_number for event in events]
assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
assert len(deltas) > 1 and "".join(deltas) == REPLY, deltas
done = next(event for event in events if event.type == "response.output_text.done")
assert done.text == REPLY, done
streamed = events[-1].response
assert streamed.id == events[0].response.id and streamed.status == "completed", streamed
assert streamed.output_text == REPLY, streamed
assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (10, 7), streamed.usage

# responses.stream: the SDK's helper accumulates the events into the final Response.
with client.responses.stream(model="mock-chat", input="Say hello.") as stream:
    helper_deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
    final = stream.get_final_response()
assert "".join(helper_deltas) == REPLY, helper_deltas
assert final.status == "completed" and final.output_text == REPLY, final
assert final.usage.total_tokens == 17, final.usage

# A function-call round trip: the model calls get_weather, the agent runs it and sends the
# output back on top of the stored response.
tools = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": False,
    }
]
push_tool_call({"city": "Paris"})
called = client.responses.create(model="mock-chat", input="What is the weather in Paris?", tools=tools)
calls = [item for item in called.output if item.type == "function_call"]
assert len(calls) == 1, called.output
call = calls[0]
assert call.name == "get_weather" and call.call_id == "call_mock_1", call
assert call.id.startswith("fc_") and json.loads(call.arguments) == {"city": "Paris"}, call
assert called.tools[0].name == "get_weather", called.tools
answer = client.responses.create(
    model="mock-chat",
    previous_response_id=called.id,
    tools=tools,
    input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18 C, sunny"}],
)
assert answer.output_text == REPLY and answer.previous_response_id == called.id, answer

# The same, streamed through the helper: the call's arguments are accumulated.
push_tool_call({"city": "Oslo"})
with client.responses.stream(model="mock-chat", input="And in Oslo?", tools=tools) as stream:
    argument_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
    streamed_call = stream.get_final_response()
assert json.loads("".join(argument_deltas)) == {"city": "Oslo"}, argument_deltas
streamed_calls = [item for item in streamed_call.output if item.type == "function_call"]
assert len(streamed_calls) == 1 and json.loads(streamed_calls[0].arguments) == {"city": "Oslo"}, streamed_call
streamed_answer = client.responses.create(
    model="mock-chat",
    previous_response_id=streamed_call.id,
    tools=tools,
    input=[{"type": "function_call_output", "call_id": streamed_calls[0].call_id, "output": "-3 C, snow"}],
)
assert streamed_answer.output_text == REPLY, streamed_answer

# previous_response_id continuing a text conversation.
first = client.responses.create(model="mock-chat", input="My name is Ada.")
second = client.responses.create(model="mock-chat", input="What is my name?", previous_response_id=first.id)
assert second.previous_response_id == first.id and second.output_text == REPLY, second

# retrieve: the stored Response, whole and streamed ones alike.
got = client.responses.retrieve(second.id)
assert got.id == second.id and got.status == "completed" and got.output_text == REPLY, got
assert got.previous_response_id == first.id, got
got_streamed = client.responses.retrieve(streamed.id)
assert got_streamed.id == streamed.id and got_streamed.output_text == REPLY, got_streamed

# store=False: answered, never kept.
ephemeral = client.responses.create(model="mock-chat", input="Forget this.", store=False)
assert ephemeral.store is False and ephemeral.output_text == REPLY, ephemeral
try:
    client.responses.retrieve(ephemeral.id)
    raise AssertionError("a store=False response was kept")
except openai.NotFoundError as error:
    assert error.body["message"] == f"Response with id '{ephemeral.id}' not found.", error.body
    assert error.body["type"] == "invalid_request_error", error.body

# Errors come as the SDK's typed exceptions, naming the field.
try:
    client.responses.create(model="mock-chat", input=[{"type": "hologram"}])
    raise AssertionError("an unknown input item type was accepted")
except openai.BadRequestError as error:
    assert error.body["type"] == "invalid_request_error", error.body
    assert (error.param or "").startswith("input[0]"), error.body
try:
    client.responses.create(model="mock-chat", input="Search the web.", tools=[{"type": "web_search"}])
    raise AssertionError("a web_search tool was accepted")
except openai.BadRequestError as error:
    assert error.code == "unsupported_tool" and error.param == "tools[0].type", error.body
    assert "web_search" in error.body["message"], error.body
for missing in ("resp_does_not_exist", ephemeral.id):
    try:
        client.responses.create(model="mock-chat", input="Go on.", previous_response_id=missing)
        raise AssertionError(f"previous_response_id {missing} was accepted")
    except openai.BadRequestError as error:
        assert error.body["code"] == "previous_response_not_found", error.body
        assert error.body["param"] == "previous_response_id", error.body
        assert error.body["message"] == f"Previous response with id '{missing}' not found.", error.body

# models.retrieve on the same client.
model = client.models.retrieve("mock-chat")
assert model.id == "mock-chat", model

print(
    "openai SDK responses: create, instructions, stream events, responses.stream, function-call round trips "
    "(whole and streamed), previous_response_id, retrieve, store=False, typed errors, models.retrieve: ok"
)
