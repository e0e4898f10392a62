//! Embeddings, images, speech, transcriptions and legacy completions: each fails over like
//! chat; embeddings never leave their family and never return vectors of the wrong size.

use freeway::config::Config;
use freeway::crypto::{Keyring, Secret};
use freeway::mock::{Behavior, IMAGE_URL, MockUpstream, SPEECH_BYTES, TRANSCRIPT};
use freeway::startup::{Application, Signals};
use freeway::store::models::{self, ModelFields};
use freeway::store::providers::{self, ProviderFields};
use freeway::store::{self};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use base64::Engine;

use crate::errors::expect_error;
use crate::helpers::{ACTOR, create_key, fresh_database, http};

/// A model every mock provider serves: its id, modality and embedding family.
struct Model {
    id: &'static str,
    modality: &'static str,
    family: Option<(&'static str, i32)>,
}

const fn model(id: &'static str, modality: &'static str) -> Model {
    Model {
        id,
        modality,
        family: None,
    }
}

/// The app with `mock<i>` providers in priority order, each with one credential.
struct App {
    address: String,
    db: PgPool,
    api_key: String,
    mocks: Vec<MockUpstream>,
    client: reqwest::Client,
}

/// Seeds the pool before the app starts: provider `i` serves `models[i]`.
async fn spawn(models: Vec<Vec<Model>>, configure: impl FnOnce(&mut Config)) -> App {
    let database_url = fresh_database().await;
    let key_file = std::env::temp_dir()
        .join(format!("freeway-test-{}", Uuid::new_v4().simple()))
        .join("master.key");
    Keyring::generate_file(&key_file).unwrap();
    let mut config = Config {
        database_url: database_url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        master_key_file: Some(key_file.clone()),
        workers: 1,
        shutdown_timeout_secs: 5,
        ..Config::default()
    };
    config.usage.flush_interval_ms = 50;
    configure(&mut config);
    store::migrate::run(&database_url).await.unwrap();
    let db = PgPool::connect(&database_url).await.unwrap();
    let keyring = Keyring::load_file(&key_file).unwrap();

    let mut mocks = Vec::new();
    for (index, models) in models.into_iter().enumerate() {
        let mock = MockUpstream::start().await.unwrap();
        let provider = providers::create(
            &db,
            ACTOR,
            ProviderFields {
                keyless: false,
                priority: 10 * (index as i32 + 1),
                timeout_ms: 5_000,
                ..ProviderFields::new(&format!("mock{index}"), &mock.base_url())
            },
        )
        .await
        .unwrap();
        for model in models {
            let fields = ModelFields {
                modality: freeway_wire::pool::Modality::parse(model.modality).unwrap(),
                supports_tools: false,
                supports_json: false,
                embedding_family: model.family.map(|(family, _)| family.to_string()),
                embedding_dimensions: model.family.map(|(_, dimensions)| dimensions),
                ..ModelFields::chat(model.id)
            };
            models::create(&db, ACTOR, &provider, &fields)
                .await
                .unwrap();
        }
        let secret = Secret::new(format!("secret-{index}"));
        crate::helpers::add_credential(&db, &keyring, &provider, &secret).await;
        mocks.push(mock);
    }
    let (_, member) = crate::helpers::add_member(&db, "team", "alice").await;
    let api_key = create_key(&db, &member, None, None).await;

    let app = Application::build(config, Signals::Ignore).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    App {
        address,
        db,
        api_key,
        mocks,
        client: http(),
    }
}

impl App {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1{path}", self.address))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn upload(&self, form: Form) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/audio/transcriptions", self.address))
            .bearer_auth(&self.api_key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// The only usage event: endpoint, prompt tokens, stream flag and attempt outcomes.
    async fn usage(&self) -> (String, Option<i32>, bool, Vec<Value>) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let row: Option<(String, Option<i32>, bool, Value)> = sqlx::query_as(
                "SELECT endpoint, prompt_tokens, stream, attempt_trail FROM usage_events",
            )
            .fetch_optional(&self.db)
            .await
            .unwrap();
            if let Some((endpoint, prompt, stream, trail)) = row {
                return (endpoint, prompt, stream, trail.as_array().unwrap().clone());
            }
            assert!(tokio::time::Instant::now() < deadline, "no usage event");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// `bge-m3` (8 dimensions in the mock) served by two providers under their own model ids;
/// provider 0 also has a chat model.
async fn bge_m3() -> App {
    let cloudflare = Model {
        family: Some(("bge-m3", 8)),
        ..model("@cf/baai/bge-m3", "embedding")
    };
    let huggingface = Model {
        family: Some(("bge-m3", 8)),
        ..model("BAAI/bge-m3", "embedding")
    };
    spawn(
        vec![
            vec![cloudflare, model("mock-model", "chat")],
            vec![huggingface],
        ],
        |_| {},
    )
    .await
}

fn vectors(body: &Value) -> Vec<usize> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["embedding"].as_array().unwrap().len())
        .collect()
}

#[tokio::test]
async fn a_rate_limited_embedding_provider_hands_over_within_the_family() {
    let app = bge_m3().await;
    app.mocks[0].push(Behavior::rate_limited(30));
    let response = app
        .post(
            "/embeddings",
            json!({"model": "bge-m3", "input": ["one two", "three"], "user": "u-1"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-embedding-family"),
        Some("bge-m3")
    );
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/BAAI/bge-m3")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(vectors(&body), [8, 8]);
    // Each provider got its own model id; everything else was forwarded untouched.
    assert_eq!(app.mocks[0].requests()[0].body["model"], "@cf/baai/bge-m3");
    let sent = &app.mocks[1].requests()[0].body;
    assert_eq!(
        sent,
        &json!({"model": "BAAI/bge-m3", "input": ["one two", "three"], "user": "u-1"})
    );
    let (endpoint, prompt, _, trail) = app.usage().await;
    assert_eq!(endpoint, "embeddings");
    assert_eq!(prompt, Some(3), "the provider's own count");
    let outcomes: Vec<&str> = trail
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["rate_limited", "ok"]);
}

#[tokio::test]
async fn embeddings_by_model_id_use_that_model_only() {
    let app = bge_m3().await;
    let response = app
        .post(
            "/embeddings",
            json!({"model": "BAAI/bge-m3", "input": "hello"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/BAAI/bge-m3")
    );
    assert_eq!(
        header(&response, "x-freeway-embedding-family"),
        Some("bge-m3")
    );
    assert_eq!(header(&response, "x-freeway-attempts"), Some("1"));
    let pinned = app
        .post(
            "/embeddings",
            json!({"model": "mock0/@cf/baai/bge-m3", "input": "hello"}),
        )
        .await;
    assert_eq!(
        header(&pinned, "x-freeway-route"),
        Some("mock0/@cf/baai/bge-m3")
    );
    let body: Value = pinned.json().await.unwrap();
    assert_eq!(vectors(&body), [8]);
    assert_eq!(app.mocks[0].request_count(), 1);
}

#[tokio::test]
async fn a_chat_model_is_no_embedding_model() {
    let app = bge_m3().await;
    let response = app
        .post(
            "/embeddings",
            json!({"model": "mock-model", "input": "hello"}),
        )
        .await;
    let error = expect_error(response, 404, "model_not_found").await;
    assert_eq!(error["param"], "model");
    let missing = app.post("/embeddings", json!({"model": "bge-m3"})).await;
    let error = expect_error(missing, 400, "missing_required_parameter").await;
    assert_eq!(error["param"], "input");
    assert!(app.mocks.iter().all(|m| m.request_count() == 0));
}

#[tokio::test]
async fn vectors_of_the_wrong_size_are_never_returned() {
    let app = bge_m3().await;
    app.mocks[0].push(Behavior::ok().with_dimensions(4));
    let response = app
        .post("/embeddings", json!({"model": "bge-m3", "input": "hello"}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/BAAI/bge-m3")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(vectors(&body), [8]);
    let (_, _, _, trail) = app.usage().await;
    assert_eq!(trail[0]["outcome"], "bad_response");
    assert_eq!(trail[0]["detail"], "dimensions");
}

#[tokio::test]
async fn a_family_answering_only_the_wrong_size_is_a_502() {
    let app = bge_m3().await;
    for mock in &app.mocks {
        mock.set_default(Behavior::ok().with_dimensions(1024));
    }
    let response = app
        .post("/embeddings", json!({"model": "bge-m3", "input": "hello"}))
        .await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(!text.contains("embedding\""), "no vector returned: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["type"], "upstream_error", "{text}");
    assert!(body.get("data").is_none());
    let (_, _, _, trail) = app.usage().await;
    assert_eq!(trail.len(), 2);
    assert!(
        trail.iter().all(|a| a["detail"] == "dimensions"),
        "{trail:?}"
    );
    assert_eq!(
        app.mocks[0].request_count() + app.mocks[1].request_count(),
        2
    );
}

/// Two providers serving one model of `modality`.
async fn media(id: &'static str, modality: &'static str) -> App {
    spawn(
        vec![vec![model(id, modality)], vec![model(id, modality)]],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn images_fail_over_from_a_503() {
    let app = media("mock-image", "image").await;
    app.mocks[0].push(Behavior::status(503));
    let response = app
        .post(
            "/images/generations",
            json!({"model": "mock-image", "prompt": "a lighthouse", "size": "256x256"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/mock-image")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][0]["url"], IMAGE_URL);
    let sent = &app.mocks[1].requests()[0];
    assert_eq!(sent.path, "/v1/images/generations");
    assert_eq!(
        sent.body,
        json!({"model": "mock-image", "prompt": "a lighthouse", "size": "256x256"})
    );
    let unknown = app
        .post(
            "/images/generations",
            json!({"model": "nope", "prompt": "x"}),
        )
        .await;
    expect_error(unknown, 404, "model_not_found").await;
}

#[tokio::test]
async fn speech_fails_over_and_passes_the_audio_through() {
    let app = media("mock-tts", "speech").await;
    app.mocks[0].push(Behavior::status(503));
    let response = app
        .post(
            "/audio/speech",
            json!({"model": "mock-tts", "input": "Hello there", "voice": "alloy"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(header(&response, "content-type"), Some("audio/mpeg"));
    assert_eq!(response.bytes().await.unwrap(), SPEECH_BYTES);
    assert_eq!(app.mocks[1].requests()[0].body["voice"], "alloy");
    let (endpoint, _, _, _) = app.usage().await;
    assert_eq!(endpoint, "audio.speech");
}

fn audio_form(model: &str, size: usize) -> Form {
    Form::new()
        .text("model", model.to_string())
        .text("language", "en")
        .part(
            "file",
            Part::bytes(vec![0x5a_u8; size])
                .file_name("meeting.mp3")
                .mime_str("audio/mpeg")
                .unwrap(),
        )
        .text("response_format", "json")
}

#[tokio::test]
async fn transcriptions_fail_over_with_the_same_upload() {
    let app = media("whisper-large-v3", "transcription").await;
    app.mocks[0].push(Behavior::status(503));
    let response = app.upload(audio_form("whisper-large-v3", 50_000)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["text"], TRANSCRIPT);
    let expected = json!({
        "model": "whisper-large-v3",
        "language": "en",
        "response_format": "json",
        "file": {"filename": "meeting.mp3", "content_type": "audio/mpeg", "size": 50_000},
    });
    for mock in &app.mocks {
        let sent = &mock.requests()[0];
        assert_eq!(sent.path, "/v1/audio/transcriptions");
        assert_eq!(sent.body, expected);
        assert!(
            sent.header("authorization")
                .unwrap()
                .starts_with("Bearer secret-")
        );
    }
}

#[tokio::test]
async fn a_pinned_transcription_reaches_the_provider_with_its_model_id() {
    let app = media("whisper-large-v3", "transcription").await;
    let response = app
        .upload(audio_form("mock1/whisper-large-v3", 1_000))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.mocks[0].request_count(), 0);
    let sent = &app.mocks[1].requests()[0].body;
    assert_eq!(sent["model"], "whisper-large-v3");
    assert_eq!(sent["file"]["size"], 1_000);
    let (endpoint, _, _, _) = app.usage().await;
    assert_eq!(endpoint, "audio.transcriptions");
}

#[tokio::test]
async fn transcription_uploads_are_bounded_and_checked() {
    let app = spawn(
        vec![vec![model("whisper-large-v3", "transcription")]],
        |config| config.max_body_bytes = 4_096,
    )
    .await;
    let response = app.upload(audio_form("whisper-large-v3", 10_000)).await;
    expect_error(response, 413, "request_too_large").await;
    // Without a declared length (a chunked upload) the limit holds as well.
    let chunked = Form::new().text("model", "whisper-large-v3").part(
        "file",
        Part::stream(reqwest::Body::from(vec![0_u8; 10_000])).file_name("long.wav"),
    );
    expect_error(app.upload(chunked).await, 413, "request_too_large").await;

    let no_file = Form::new().text("model", "whisper-large-v3");
    let error = expect_error(app.upload(no_file).await, 400, "missing_required_parameter").await;
    assert_eq!(error["param"], "file");
    let no_model = Form::new().part("file", Part::bytes(vec![1_u8; 10]).file_name("a.wav"));
    let error = expect_error(
        app.upload(no_model).await,
        400,
        "missing_required_parameter",
    )
    .await;
    assert_eq!(error["param"], "model");
    let json = app
        .post(
            "/audio/transcriptions",
            json!({"model": "whisper-large-v3"}),
        )
        .await;
    expect_error(json, 415, "unsupported_media_type").await;
    assert_eq!(app.mocks[0].request_count(), 0);
}

#[tokio::test]
async fn legacy_completions_pass_through() {
    let app = media("mock-model", "chat").await;
    app.mocks[0].push(Behavior::reply("Once upon a time").with_usage(Some((4, 5))));
    let response = app
        .post(
            "/completions",
            json!({"model": "mock-model", "prompt": "Tell a story", "max_tokens": 20}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock0/mock-model")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["choices"][0]["text"], "Once upon a time");
    let sent = &app.mocks[0].requests()[0];
    assert_eq!(sent.path, "/v1/completions");
    assert_eq!(
        sent.body,
        json!({"model": "mock-model", "prompt": "Tell a story", "max_tokens": 20})
    );
    let (endpoint, prompt, stream, _) = app.usage().await;
    assert_eq!(
        (endpoint.as_str(), prompt, stream),
        ("completions", Some(4), false)
    );
}

#[tokio::test]
async fn a_streamed_legacy_completion_fails_over_from_an_empty_stream() {
    let app = media("mock-model", "chat").await;
    app.mocks[0].push(Behavior::empty_stream());
    app.mocks[1].push(Behavior::ok().with_chunks(["Once", " upon", " a time"]));
    let response = app
        .post(
            "/completions",
            json!({"model": "mock-model", "prompt": "Tell a story", "stream": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/mock-model")
    );
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(said, "Once upon a time");
    // The usage chunk Freeway asked for is not the client's unless it asked too.
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "{text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(
        app.mocks[1].requests()[0].body["stream_options"]["include_usage"],
        true
    );
    let (_, prompt, stream, trail) = app.usage().await;
    assert!(stream);
    assert_eq!(prompt, Some(10), "the usage chunk's count");
    let outcomes: Vec<&str> = trail
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["empty_stream", "ok"]);
}

#[tokio::test]
async fn embeddings_come_in_the_encoding_the_client_asked_for() {
    let app = spawn(
        vec![vec![Model {
            family: Some(("mockfam", 8)),
            ..model("mock-embed", "embedding")
        }]],
        |_| {},
    )
    .await;
    // The mock answers floats whatever it is asked, as a provider that ignores the format;
    // the official SDKs ask for base64 by default.
    for _ in 0..5 {
        let response = app
            .post(
                "/embeddings",
                json!({"model": "mock-embed", "input": ["a b", "c"], "encoding_format": "base64"}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        for item in body["data"].as_array().unwrap() {
            let packed = base64::engine::general_purpose::STANDARD
                .decode(item["embedding"].as_str().unwrap())
                .unwrap();
            assert_eq!(packed.len(), 8 * 4, "eight little-endian f32s");
        }
    }
    let floats: Value = app
        .post(
            "/embeddings",
            json!({"model": "mock-embed", "input": "a b"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(floats["data"][0]["embedding"].as_array().unwrap().len(), 8);
    // Nothing was held against the route or the model.
    let cooled: i64 = sqlx::query_scalar("SELECT count(*) FROM cooldowns")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(cooled, 0);
    assert_eq!(app.mocks[0].request_count(), 6);
}

#[tokio::test]
async fn the_official_openai_sdk_retrieves_models_and_makes_its_default_embeddings_call() {
    let app = spawn(
        vec![vec![
            model("mock-chat", "chat"),
            Model {
                family: Some(("mockfam", 8)),
                ..model("mock-embed", "embedding")
            },
        ]],
        |_| {},
    )
    .await;
    let (ok, output) = crate::contract::run(
        "the official openai SDK",
        "\"$FREEWAY_TOOLS_VENV/bin/python\" scripts/contract/openai_sdk.py",
        &[
            ("FREEWAY_URL", &app.address),
            ("FREEWAY_API_KEY", &app.api_key),
        ],
    )
    .await;
    assert!(ok, "{output}");
    // The refused max_tokens never reached the provider.
    assert_eq!(app.mocks[0].request_count(), 3);
}
