//! Freeway: a self-hosted, multi-tenant, OpenAI-compatible LLM gateway.

pub mod wire;
