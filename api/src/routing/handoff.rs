//! Context handoff: when a sticky conversation moves to another model, tell the new model it
//! takes over, and fit the conversation into its context window by keeping the system
//! prompt and the latest turns and compressing the older ones into one short recap.

use serde_json::{Map, Value, json};

/// A rough token count: about four characters a token, plus a little per message. Good
/// enough to reserve capacity and to fit windows with a safety margin.
pub fn estimate_tokens(messages: &[Value]) -> u64 {
    messages.iter().map(|m| 4 + text_len(m).div_ceil(4)).sum()
}

/// The length of `value` serialised compactly, counted without building the text.
fn json_len(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

fn text_len(message: &Value) -> u64 {
    let content = match message.get("content") {
        Some(Value::String(s)) => s.len() as u64,
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p.get("text") {
                Some(Value::String(s)) => s.len() as u64,
                // Images and other parts: a flat allowance.
                _ => 1000,
            })
            .sum(),
        _ => 0,
    };
    content + message.get("tool_calls").map_or(0, json_len)
}

fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

pub const HANDOFF_NOTE: &str = "You are taking over this conversation from another assistant model. \
Continue it seamlessly from the latest message; do not mention the switch.";

/// Rewrites `messages` for a new model with `window` tokens of context, leaving `reserve`
/// tokens for its answer. Returns `None` when even the system prompt and the last message do
/// not fit.
pub fn hand_off(messages: &[Value], window: Option<u64>, reserve: u64) -> Option<Vec<Value>> {
    let (system, turns): (Vec<&Value>, Vec<&Value>) = messages.iter().partition(|m| {
        matches!(
            m.get("role").and_then(Value::as_str),
            Some("system" | "developer")
        )
    });
    let note = json!({"role": "system", "content": HANDOFF_NOTE});
    let mut head: Vec<Value> = system.into_iter().cloned().collect();
    head.push(note);
    let budget = window.map(|w| w.saturating_sub(reserve));
    let fits = |msgs: &[Value]| budget.is_none_or(|b| estimate_tokens(msgs) <= b);

    let all: Vec<Value> = head
        .iter()
        .cloned()
        .chain(turns.iter().map(|t| (*t).clone()))
        .collect();
    if fits(&all) {
        return Some(all);
    }
    // Keep the longest suffix of turns that fits beside a recap of the rest. A suffix never
    // starts with a tool result: its call would be cut off.
    for start in 1..turns.len() {
        if turns[start].get("role").and_then(Value::as_str) == Some("tool") {
            continue;
        }
        let recap = recap(&turns[..start]);
        let candidate: Vec<Value> = head
            .iter()
            .cloned()
            .chain(std::iter::once(recap))
            .chain(turns[start..].iter().map(|t| (*t).clone()))
            .collect();
        if fits(&candidate) {
            return Some(candidate);
        }
    }
    let last: Vec<Value> = head
        .iter()
        .cloned()
        .chain(turns.last().map(|t| (*t).clone()))
        .collect();
    fits(&last).then_some(last)
}

/// The older turns, compressed: each as its role and the start of its text.
fn recap(turns: &[&Value]) -> Value {
    let lines: Vec<String> = turns
        .iter()
        .map(|t| {
            let role = t.get("role").and_then(Value::as_str).unwrap_or("message");
            let text = content_text(t);
            let short: String = text.chars().take(160).collect();
            let ellipsis = if text.chars().count() > 160 {
                "…"
            } else {
                ""
            };
            format!("- {role}: {short}{ellipsis}")
        })
        .collect();
    let mut message = Map::new();
    message.insert("role".into(), Value::String("system".into()));
    message.insert(
        "content".into(),
        Value::String(format!(
            "Earlier in this conversation ({} messages, shortened):\n{}",
            turns.len(),
            lines.join("\n")
        )),
    );
    Value::Object(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(turns: usize, words: usize) -> Vec<Value> {
        let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
        for i in 0..turns {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            messages.push(
                json!({"role": role, "content": format!("turn {i} {}", "word ".repeat(words))}),
            );
        }
        messages
    }

    #[test]
    fn a_conversation_that_fits_gets_only_the_note() {
        let messages = conversation(4, 3);
        let out = hand_off(&messages, Some(100_000), 1000).unwrap();
        assert_eq!(out.len(), messages.len() + 1);
        assert_eq!(out[0], messages[0]);
        assert_eq!(out[1]["content"], HANDOFF_NOTE);
        assert_eq!(out.last(), messages.last());
    }

    #[test]
    fn a_long_conversation_is_fitted_keeping_the_system_prompt_and_the_latest_turns() {
        let messages = conversation(40, 200);
        assert!(estimate_tokens(&messages) > 8000);
        let out = hand_off(&messages, Some(4000), 500).unwrap();
        assert!(estimate_tokens(&out) <= 3500);
        assert_eq!(out[0]["content"], "Be brief.");
        assert_eq!(out[1]["content"], HANDOFF_NOTE);
        assert!(
            out[2]["content"]
                .as_str()
                .unwrap()
                .starts_with("Earlier in this conversation")
        );
        assert_eq!(out.last(), messages.last());
    }

    #[test]
    fn nothing_fits_a_tiny_window() {
        assert!(hand_off(&conversation(2, 500), Some(100), 50).is_none());
    }
}
