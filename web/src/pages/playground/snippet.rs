//! The request just sent, as a command or a script to run elsewhere: the key comes from
//! `$FREEWAY_API_KEY`, never the one pasted here.

use serde_json::Value;

/// `curl` streaming the same request to `base` (the gateway's `/v1`).
pub fn curl(base: &str, body: &Value) -> String {
    let json = serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string());
    // Inside single quotes a `'` is written `'\''`.
    let json = json.replace('\'', r"'\''");
    format!(
        "curl -N {url} \\\n  -H \"Authorization: Bearer $FREEWAY_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{json}'\n",
        url = shell_quote(&format!("{base}/chat/completions")),
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A Python script with the OpenAI SDK, streaming the same conversation.
pub fn python(base: &str, body: &Value) -> String {
    // JSON strings, lists and objects of strings are Python literals too.
    let literal = |v: Option<&Value>| {
        v.map(|v| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
            .unwrap_or_else(|| "None".into())
    };
    let messages = literal(body.get("messages")).replace('\n', "\n    ");
    format!(
        r#"import os

from openai import OpenAI

client = OpenAI(base_url={base}, api_key=os.environ["FREEWAY_API_KEY"])
stream = client.chat.completions.create(
    model={model},
    messages={messages},
    stream=True,
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
"#,
        base = literal(Some(&Value::String(base.to_string()))),
        model = literal(body.get("model")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"model": "auto", "messages": [{"role": "user", "content": "it's \"fine\""}], "stream": true})
    }

    #[test]
    fn curl_reads_the_key_from_the_environment_and_quotes_the_body() {
        let text = curl("https://gw.example/v1", &body());
        assert!(text.starts_with("curl -N 'https://gw.example/v1/chat/completions'"));
        assert!(text.contains("Bearer $FREEWAY_API_KEY"));
        assert!(text.contains(r#"it'\''s \"fine\""#));
    }

    #[test]
    fn python_uses_the_sdk_with_the_same_conversation() {
        let text = python("https://gw.example/v1", &body());
        assert!(text.contains(r#"base_url="https://gw.example/v1""#));
        assert!(text.contains(r#"os.environ["FREEWAY_API_KEY"]"#));
        assert!(text.contains(r#"model="auto","#));
        assert!(text.contains(r#""content": "it's \"fine\"""#));
    }
}
