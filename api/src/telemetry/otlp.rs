//! Trace export over OTLP/HTTP (`OTEL_EXPORTER_OTLP_*`): each request's span goes to a
//! collector (Jaeger, Grafana Tempo, an OpenTelemetry Collector) through a batch processor
//! of the SDK's own, on a thread of its own, off the request path. Its queue is bounded
//! (2048 spans, `OTEL_BSP_MAX_QUEUE_SIZE`): while the collector is down or slow, spans past
//! it are dropped (the SDK logs the first drop, and the total at shutdown) and no request
//! ever waits for an export.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};

use crate::config::{OtlpConfig, OtlpProtocol};

/// How long one export may take, retries included (the SDK's default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a graceful shutdown waits for the last spans to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// A collector's answer is a few bytes (at most a partial-success message).
const MAX_ANSWER_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
#[error("cannot set up trace export: {0}")]
pub struct ExportError(String);

/// The SDK's tracer provider: spans in, batches out to the collector.
pub fn provider(config: &OtlpConfig) -> Result<SdkTracerProvider, ExportError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| ExportError("no Tokio runtime to send spans from".into()))?;
    // reqwest is built without a default rustls provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .user_agent(concat!("freeway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ExportError(e.to_string()))?;
    let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Collector { client, runtime })
        .with_endpoint(config.endpoint.clone())
        .with_protocol(match config.protocol {
            OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
            OtlpProtocol::HttpJson => Protocol::HttpJson,
        })
        .with_headers(headers)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| ExportError(e.to_string()))?;
    let started_here = if config.sample_ratio >= 1.0 {
        Sampler::AlwaysOn
    } else {
        Sampler::TraceIdRatioBased(config.sample_ratio)
    };
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.version", freeway_wire::VERSION))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(Reported::new(exporter))
        // A caller's `traceparent` decides whether its trace is kept.
        .with_sampler(Sampler::ParentBased(Box::new(started_here)))
        .with_resource(resource)
        .build())
}

/// Sends what is still queued, waiting at most a few seconds for the collector.
pub async fn shutdown(provider: SdkTracerProvider) {
    // The SDK blocks until its thread has exported, and that export runs on this runtime.
    let done =
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT));
    match done.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "could not send the last spans"),
        Err(error) => tracing::warn!(%error, "could not send the last spans"),
    }
}

/// The exporter's HTTP client: our reqwest client, run on the server's runtime (the batch
/// processor's thread has none). opentelemetry-otlp's own reqwest client is another major.
#[derive(Debug)]
struct Collector {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for Collector {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let mut response = client.execute(reqwest::Request::try_from(request)?).await?;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
                    return Err::<_, HttpError>("the collector's answer is too large".into());
                }
                body.extend_from_slice(&chunk);
            }
            let mut answer = http::Response::new(Bytes::from(body));
            *answer.status_mut() = response.status();
            *answer.headers_mut() = std::mem::take(response.headers_mut());
            Ok(answer)
        });
        sent.await?
    }
}

/// The exporter, reporting a collector's outage once when it starts and once when it ends
/// rather than once per batch.
#[derive(Debug)]
struct Reported<E> {
    inner: E,
    failing: AtomicBool,
}

impl<E> Reported<E> {
    fn new(inner: E) -> Self {
        Reported {
            inner,
            failing: AtomicBool::new(false),
        }
    }
}

impl<E: SpanExporter> SpanExporter for Reported<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        match self.inner.export(batch).await {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("trace export works again");
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        spans,
                        "trace export failed: spans are dropped until the collector answers"
                    );
                }
            }
        }
        // The batch is gone either way; the SDK would only log it again.
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
