//! Classifying an upstream answer. Decisions come from the status code and structured
//! fields, never from substrings of free text.

use freeway_wire::usage::AttemptOutcome;
use std::time::Duration;

/// Why an attempt did not produce an answer for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 429: the route is out of capacity for now.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx.
    ServerError,
    /// 401, 402, 403: the credential is bad, unpaid or not entitled to the model.
    CredentialRejected,
    /// 404 or 405 from the provider: it does not serve the model or endpoint (it is our
    /// catalog that pointed here, so the client is not at fault).
    NotServed,
    /// No response head (or no first chunk) within the provider's timeout.
    Timeout,
    /// Connection refused, reset, DNS, TLS.
    Connect,
    /// A 2xx whose body is not what the protocol promises.
    BadResponse,
    /// A stream that ended before any content.
    EmptyStream,
    /// A stream that carried an error event before any content.
    InBandError,
    /// A stream that broke before any content.
    StreamBroken,
}

impl Failure {
    pub fn outcome(&self) -> AttemptOutcome {
        match self {
            Failure::RateLimited { .. } => AttemptOutcome::RateLimited,
            Failure::ServerError => AttemptOutcome::ServerError,
            Failure::CredentialRejected => AttemptOutcome::CredentialRejected,
            Failure::NotServed => AttemptOutcome::NotServed,
            Failure::Timeout => AttemptOutcome::Timeout,
            Failure::Connect => AttemptOutcome::ConnectError,
            Failure::BadResponse => AttemptOutcome::BadResponse,
            Failure::EmptyStream => AttemptOutcome::EmptyStream,
            Failure::InBandError => AttemptOutcome::InBandError,
            Failure::StreamBroken => AttemptOutcome::StreamBroken,
        }
    }
}

/// What to do with a non-2xx status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Try the next route.
    Failover(Failure),
    /// The request itself is at fault (400, 413, 422, ...): answer the client with it.
    ClientError,
}

pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Disposition {
    match status {
        429 => Disposition::Failover(Failure::RateLimited { retry_after }),
        401..=403 => Disposition::Failover(Failure::CredentialRejected),
        404 | 405 => Disposition::Failover(Failure::NotServed),
        408 => Disposition::Failover(Failure::Timeout),
        500..=599 => Disposition::Failover(Failure::ServerError),
        _ => Disposition::ClientError,
    }
}

/// `Retry-After` in seconds (the form providers use). HTTP dates are rare here and are
/// ignored rather than guessed at.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            classify_status(429, Some(Duration::from_secs(3))),
            Disposition::Failover(Failure::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            })
        );
        assert_eq!(
            classify_status(503, None),
            Disposition::Failover(Failure::ServerError)
        );
        assert_eq!(
            classify_status(401, None),
            Disposition::Failover(Failure::CredentialRejected)
        );
        assert_eq!(
            classify_status(404, None),
            Disposition::Failover(Failure::NotServed)
        );
        assert_eq!(classify_status(400, None), Disposition::ClientError);
        assert_eq!(classify_status(422, None), Disposition::ClientError);
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after(Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(Some(" 1.5 ")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }
}
