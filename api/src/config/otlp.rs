//! OpenTelemetry trace export (OTLP over HTTP), set by the standard `OTEL_*` variables
//! rather than `FREEWAY_*` ones, so that a collector's usual instructions apply as written.
//! No endpoint, no export: then nothing else is read.

use super::ConfigError;

/// Where spans are sent: the traces endpoint itself, or a base that `/v1/traces` is added to.
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// Trace export's settings; present only when an endpoint is set.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// The URL spans are POSTed to (`.../v1/traces`).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Sent with every export (a collector's token): never printed.
    pub headers: Vec<(String, String)>,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Share of the traces started here that are kept, 0 to 1; a `traceparent`'s own
    /// decision wins.
    pub sample_ratio: f64,
}

/// The body's encoding (`OTEL_EXPORTER_OTLP_PROTOCOL`); gRPC is not built in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf`, the default.
    #[default]
    HttpProtobuf,
    /// `http/json`.
    HttpJson,
}

// The headers may hold a token: only their names are printed.
impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &super::redact_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &names)
            .field("service_name", &self.service_name)
            .field("sample_ratio", &self.sample_ratio)
            .finish()
    }
}

impl OtlpConfig {
    /// From the variables `var` looks up (the process's environment, or a test's table);
    /// none when no endpoint is set or `OTEL_SDK_DISABLED=true`. A value that cannot be used
    /// is an error naming its variable (never quoting a header's value).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        if set(SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let endpoint = match (set(TRACES_ENDPOINT), set(ENDPOINT)) {
            (Some(exact), _) => url(TRACES_ENDPOINT, exact.trim())?,
            (None, Some(base)) => {
                let base = url(ENDPOINT, base.trim())?;
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (None, None) => return Ok(None),
        };
        let protocol = match set(TRACES_PROTOCOL).map(|v| (TRACES_PROTOCOL, v)) {
            Some(found) => Some(found),
            None => set(PROTOCOL).map(|v| (PROTOCOL, v)),
        };
        let protocol = match protocol {
            None => OtlpProtocol::HttpProtobuf,
            Some((name, value)) => protocol_named(name, value.trim())?,
        };
        let headers = match set(TRACES_HEADERS).map(|v| (TRACES_HEADERS, v)) {
            Some(found) => Some(found),
            None => set(HEADERS).map(|v| (HEADERS, v)),
        };
        let headers = match headers {
            None => Vec::new(),
            Some((name, value)) => parse_headers(name, &value)?,
        };
        let sample_ratio = match set(SAMPLER_ARG) {
            None => 1.0,
            Some(value) => match value.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
                _ => {
                    return Err(ConfigError(format!(
                        "{SAMPLER_ARG} must be a ratio from 0 to 1, not `{}`",
                        value.trim()
                    )));
                }
            },
        };
        Ok(Some(OtlpConfig {
            endpoint,
            protocol,
            headers,
            service_name: set(SERVICE_NAME).map_or_else(|| "freeway".into(), |s| s.trim().into()),
            sample_ratio,
        }))
    }
}

/// An `http://` or `https://` URL with a host.
fn url(variable: &str, value: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(url.to_string())
        }
        _ => Err(ConfigError(format!(
            "{variable} must be an http:// or https:// URL, not `{}`",
            super::redact_url(value)
        ))),
    }
}

fn protocol_named(variable: &str, value: &str) -> Result<OtlpProtocol, ConfigError> {
    match value {
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Ok(OtlpProtocol::HttpJson),
        "grpc" => Err(ConfigError(format!(
            "{variable}: grpc is not built in; use http/protobuf (port 4318 on most collectors)"
        ))),
        other => Err(ConfigError(format!(
            "{variable} must be http/protobuf or http/json, not `{other}`"
        ))),
    }
}

/// `key=value,key2=value2`, values percent-decoded (the W3C baggage form the OTLP exporter
/// specification uses). Errors name the entry by its position, never its value.
fn parse_headers(variable: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers = Vec::new();
    for (index, entry) in value.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            continue;
        }
        let position = index.saturating_add(1);
        let bad = |why: &str| ConfigError(format!("{variable}: entry {position} {why}"));
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| bad("is not key=value"))?;
        let name = name.trim();
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| bad("is not UTF-8 once percent-decoded"))?;
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad("has a key that is not a header name"));
        }
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(bad("has a value that cannot be sent in a header"));
        }
        headers.push((name.to_ascii_lowercase(), value.into_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtlpConfig::from_vars(|name| vars.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        parse(vars).unwrap_err().to_string()
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&[(PROTOCOL, "http/json"), (ENDPOINT, " ")]).unwrap(),
            None
        );
        let disabled = [(ENDPOINT, "http://c:4318"), (SDK_DISABLED, "true")];
        assert_eq!(parse(&disabled).unwrap(), None);
    }

    #[test]
    fn a_base_endpoint_gets_the_traces_path_and_defaults() {
        let config = parse(&[(ENDPOINT, "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(config.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(config.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(config.service_name, "freeway");
        assert_eq!(config.sample_ratio, 1.0);
        assert!(config.headers.is_empty());
    }

    #[test]
    fn the_traces_variables_win() {
        let config = parse(&[
            (ENDPOINT, "http://base:4318"),
            (TRACES_ENDPOINT, "https://tempo.example/otlp/traces"),
            (PROTOCOL, "http/protobuf"),
            (TRACES_PROTOCOL, "http/json"),
            (SERVICE_NAME, "gateway-eu"),
            (SAMPLER_ARG, "0.25"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.endpoint, "https://tempo.example/otlp/traces");
        assert_eq!(config.protocol, OtlpProtocol::HttpJson);
        assert_eq!(config.service_name, "gateway-eu");
        assert_eq!(config.sample_ratio, 0.25);
    }

    #[test]
    fn headers_are_parsed_decoded_and_never_printed() {
        let config = parse(&[
            (ENDPOINT, "http://c:4318"),
            (
                HEADERS,
                "Authorization=Basic%20c2VjcmV0, x-scope-orgid = team-1 ,",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.headers,
            [
                ("authorization".into(), "Basic c2VjcmV0".into()),
                ("x-scope-orgid".into(), "team-1".into())
            ]
        );
        let printed = format!("{config:?}");
        assert!(printed.contains("authorization"), "{printed}");
        assert!(!printed.contains("c2VjcmV0"), "{printed}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable() {
        let endpoint = (ENDPOINT, "http://c:4318");
        for (vars, variable) in [
            (vec![(ENDPOINT, "collector:4318")], ENDPOINT),
            (
                vec![(TRACES_ENDPOINT, "ftp://c/v1/traces")],
                TRACES_ENDPOINT,
            ),
            (vec![endpoint, (PROTOCOL, "grpc")], PROTOCOL),
            (vec![endpoint, (PROTOCOL, "json")], PROTOCOL),
            (vec![endpoint, (SAMPLER_ARG, "1.5")], SAMPLER_ARG),
            (vec![endpoint, (SAMPLER_ARG, "half")], SAMPLER_ARG),
            (vec![endpoint, (HEADERS, "a=1,bare-token")], HEADERS),
            (vec![endpoint, (HEADERS, "bad name=1")], HEADERS),
        ] {
            let message = error(&vars);
            assert!(message.contains(variable), "{vars:?}: {message}");
        }
        let message = error(&[endpoint, (HEADERS, "x-token=s3cret%0A")]);
        assert!(message.contains("entry 1"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}
