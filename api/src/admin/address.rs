//! The client's address behind load balancers: `X-Forwarded-For` is read only when the
//! peer is a trusted proxy (`FREEWAY_TRUSTED_PROXIES`), and then from the right, so that a
//! client cannot pick its own address by sending the header.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The address the login throttle counts a request against.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    from_forwarded(peer, &forwarded.join(","), trusted)
}

/// The rightmost address of `forwarded` that is not a trusted proxy, when `peer` is one;
/// else `peer`. An entry that is not an address stops the walk at the last one trusted.
pub fn from_forwarded(peer: Option<IpAddr>, forwarded: &str, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut last = peer;
    for entry in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Ok(ip) = entry.parse::<IpAddr>() else {
            break;
        };
        if !is_trusted(&ip) {
            return Some(ip);
        }
        last = ip;
    }
    Some(last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_trusted() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            from_forwarded(ip("192.0.2.7"), "203.0.113.9", &trusted),
            ip("192.0.2.7")
        );
        assert_eq!(
            from_forwarded(ip("127.0.0.1"), "203.0.113.9", &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client sent a forged first entry; the proxies appended what they saw.
        let chain = "198.51.100.1, 203.0.113.9, 10.1.2.3";
        assert_eq!(
            from_forwarded(ip("127.0.0.1"), chain, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn only_trusted_hops_or_garbage_stop_at_the_last_trusted_one() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            from_forwarded(ip("10.0.0.2"), "10.0.0.9", &trusted),
            ip("10.0.0.9")
        );
        assert_eq!(from_forwarded(ip("10.0.0.2"), "", &trusted), ip("10.0.0.2"));
        assert_eq!(
            from_forwarded(ip("10.0.0.2"), "203.0.113.9, not-an-ip, 10.0.0.5", &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(from_forwarded(None, "203.0.113.9", &trusted), None);
    }
}
