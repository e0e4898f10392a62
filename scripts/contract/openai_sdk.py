"""The official OpenAI Python SDK against Freeway, as a coding agent would use it.

    FREEWAY_URL=http://127.0.0.1:8080 FREEWAY_API_KEY=fw-... python openai_sdk.py

The pool must serve a chat model `mock-chat` and an embedding model `mock-embed` of 8
dimensions (the tests' mock upstream answers floats whatever it is asked).
"""

import os

import openai

client = openai.OpenAI(
    base_url=os.environ["FREEWAY_URL"] + "/v1",
    api_key=os.environ["FREEWAY_API_KEY"],
    max_retries=0,
)

# models.retrieve
model = client.models.retrieve("mock-embed")
assert model.id == "mock-embed", model

# The SDK's default embeddings call asks for base64 and decodes it.
embeddings = client.embeddings.create(model="mock-embed", input=["hello world", "bye"])
assert len(embeddings.data) == 2, embeddings
vector = embeddings.data[0].embedding
assert len(vector) == 8 and all(isinstance(x, float) for x in vector), vector
floats = client.embeddings.create(model="mock-embed", input="hello world", encoding_format="float")
assert [round(x, 5) for x in floats.data[0].embedding] == [round(x, 5) for x in vector]

# A bad number is refused before it reaches a provider, naming the field.
try:
    client.chat.completions.create(
        model="mock-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=-1
    )
    raise AssertionError("max_tokens=-1 was accepted")
except openai.BadRequestError as error:
    assert error.body["param"] == "max_tokens", error.body

chat = client.chat.completions.create(
    model="mock-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=16
)
assert chat.choices[0].message.content, chat
print("openai SDK: models.retrieve, default (base64) and float embeddings, a refused max_tokens, chat: ok")
