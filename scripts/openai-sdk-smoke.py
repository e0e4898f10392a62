#!/usr/bin/env python3
"""Calls a running Freeway with the official OpenAI Python SDK, streamed and not streamed.

    pip install openai
    FREEWAY_API_KEY=fw-... FREEWAY_MODEL=llama-3.1-8b-instant scripts/openai-sdk-smoke.py
"""
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("FREEWAY_BASE_URL", "http://127.0.0.1:8080/v1"),
    api_key=os.environ["FREEWAY_API_KEY"],
)
model = os.environ.get("FREEWAY_MODEL", "mock-model")
messages = [{"role": "user", "content": "Say hello in five words."}]

print("models:", [m.id for m in client.models.list()])

raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
completion = raw.parse()
print("route:", raw.headers.get("x-freeway-route"), "attempts:", raw.headers.get("x-freeway-attempts"))
print("non-streamed:", completion.choices[0].message.content, "| usage:", completion.usage)

pieces = []
for chunk in client.chat.completions.create(model=model, messages=messages, stream=True,
                                            stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage:
        print("stream usage:", chunk.usage)
print("streamed:", "".join(pieces), f"({len(pieces)} chunks)")
