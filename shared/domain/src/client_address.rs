//! Which address a request came from.
//!
//! The TCP peer, unless the peer is a trusted proxy (the front door): then the
//! address that proxy appended to `x-forwarded-for`. Walking the header from
//! the right and skipping trusted hops finds the first address no trusted
//! proxy vouches for; anything left of it may have been written by the client
//! and is never believed.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::network::canonical;

pub fn resolve_client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |addr: &IpAddr| trusted_proxies.iter().any(|net| net.contains(addr));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // A trusted proxy speaks for the client. If it does not say who the
    // client is, we don't know: using the proxy's own address would let
    // every check-in through it pass the network check.
    let mut leftmost = None;
    for hop in forwarded_for?.rsplit(',').map(str::trim).filter(|hop| !hop.is_empty()) {
        // "unknown" (RFC 7239) or garbage: the chain can't be followed further.
        let addr = canonical(parse_hop(hop)?);
        if !is_trusted(&addr) {
            return Some(addr);
        }
        leftmost = Some(addr);
    }
    // Every hop is a trusted proxy: the first one is as close to the client as we can get.
    leftmost
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(addr);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|sa| sa.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/24".parse().unwrap(), "fd00::/64".parse().unwrap()]
    }

    #[test]
    fn untrusted_peer_is_the_client_even_with_a_forwarded_header() {
        let addr = resolve_client_address(Some(ip("203.0.113.9")), Some("10.0.0.1, 1.2.3.4"), &trusted());
        assert_eq!(addr, Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_peer_reports_the_address_it_appended() {
        let addr = resolve_client_address(Some(ip("10.0.0.5")), Some("192.168.1.20"), &trusted());
        assert_eq!(addr, Some(ip("192.168.1.20")));
    }

    #[test]
    fn a_forged_leftmost_entry_is_ignored() {
        // The client sent "x-forwarded-for: 10.20.30.40"; the proxy appended the real peer.
        let addr = resolve_client_address(Some(ip("10.0.0.5")), Some("10.20.30.40, 198.51.100.7"), &trusted());
        assert_eq!(addr, Some(ip("198.51.100.7")));
    }

    #[test]
    fn chained_trusted_proxies_are_skipped() {
        let addr = resolve_client_address(Some(ip("10.0.0.5")), Some("6.6.6.6, 198.51.100.7, 10.0.0.9"), &trusted());
        assert_eq!(addr, Some(ip("198.51.100.7")));
    }

    #[test]
    fn trusted_peer_that_names_no_client_leaves_the_address_unknown() {
        assert_eq!(resolve_client_address(Some(ip("10.0.0.5")), None, &trusted()), None);
        assert_eq!(resolve_client_address(Some(ip("10.0.0.5")), Some(""), &trusted()), None);
    }

    #[test]
    fn an_unknown_or_garbage_hop_leaves_the_address_unknown() {
        assert_eq!(resolve_client_address(Some(ip("10.0.0.5")), Some("unknown"), &trusted()), None);
        assert_eq!(resolve_client_address(Some(ip("10.0.0.5")), Some("1.1.1.1, nonsense"), &trusted()), None);
    }

    #[test]
    fn a_chain_of_only_trusted_proxies_gives_the_leftmost() {
        let addr = resolve_client_address(Some(ip("10.0.0.5")), Some("10.0.0.7, 10.0.0.6"), &trusted());
        assert_eq!(addr, Some(ip("10.0.0.7")));
    }

    #[test]
    fn hops_with_ports_and_ipv6_are_understood() {
        let addr = resolve_client_address(Some(ip("fd00::1")), Some("[2001:db8::7]:443"), &trusted());
        assert_eq!(addr, Some(ip("2001:db8::7")));
        let addr = resolve_client_address(Some(ip("10.0.0.5")), Some("192.0.2.1:5555"), &trusted());
        assert_eq!(addr, Some(ip("192.0.2.1")));
    }

    #[test]
    fn ipv4_mapped_peer_is_matched_against_ipv4_trusted_proxies() {
        let addr = resolve_client_address(Some(ip("::ffff:10.0.0.5")), Some("192.0.2.1"), &trusted());
        assert_eq!(addr, Some(ip("192.0.2.1")));
    }

    #[test]
    fn no_peer_means_no_address() {
        assert_eq!(resolve_client_address(None, Some("1.2.3.4"), &trusted()), None);
    }

    #[test]
    fn with_no_trusted_proxies_the_header_is_never_read() {
        let addr = resolve_client_address(Some(ip("127.0.0.1")), Some("10.20.30.40"), &[]);
        assert_eq!(addr, Some(ip("127.0.0.1")));
    }
}
