//! Which address a request came from.
//!
//! The TCP peer, unless the peer is a trusted proxy (the front door): then
//! the hop that the chain of trusted proxies appended to `x-forwarded-for`
//! for the client, counted from the right exactly as Envoy's
//! `xff_num_trusted_hops` counts. Each proxy appends the address it saw, so
//! with `hops` proxies in the chain the client's address is the `hops`-th
//! entry from the right. Everything left of it may have been written by the
//! client, so it is never read, not even when the chain is shorter than
//! expected or the hop is unreadable: then the address is unknown.
//!
//! Why counting, not skipping addresses inside the trusted ranges: on a
//! campus the proxies' range (say 10.0.0.0/8) often holds the student Wi-Fi
//! too, so "the rightmost untrusted hop" let a student at 10.50.3.17 claim
//! any 10.x address by writing it into the header.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::network::canonical;

/// The proxies in front of a service: who they are, and how many of them
/// append to `x-forwarded-for` before a call arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Networks of the proxies that connect to the service (the front door).
    pub networks: Vec<IpNet>,
    /// Proxies in the chain, each appending one hop: 1 for Envoy alone, 2 for
    /// a campus load balancer in front of Envoy. At least 1.
    pub hops: usize,
}

/// Most proxies a chain may have; a longer one is a misconfiguration.
pub const MAX_TRUSTED_HOPS: usize = 10;

impl TrustedProxies {
    /// No proxy is trusted: the TCP peer is always the client.
    pub fn none() -> Self {
        Self { networks: Vec::new(), hops: 1 }
    }

    fn contains(&self, addr: &IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(addr))
    }
}

/// The client's address, or `None` when it cannot be known. `forwarded_for`
/// is every `x-forwarded-for` value of the request, in order, joined with
/// commas (`None` when a value was not readable text).
pub fn resolve_client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !proxies.contains(&peer) {
        return Some(peer);
    }
    // A trusted proxy speaks for the client. If it does not say who the
    // client is, we don't know: using the proxy's own address would let
    // every check-in through it pass the network check.
    let hops: Vec<&str> = forwarded_for?.split(',').map(str::trim).filter(|hop| !hop.is_empty()).collect();
    let position = hops.len().checked_sub(proxies.hops.max(1))?;
    // "unknown" (RFC 7239) or garbage where a proxy's hop should be: unknown.
    parse_hop(hops[position]).map(canonical)
}

/// The bucket a client's per-address limits count in: the IPv4 address
/// itself, the /64 of an IPv6 one (one subscriber or one Wi-Fi gets a whole
/// /64, so counting single IPv6 addresses would give a flood 2^64 buckets),
/// and one shared bucket for every caller whose address is unknown.
pub fn address_bucket(client: Option<IpAddr>) -> String {
    match client.map(canonical) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, 64).expect("64 is a valid prefix").trunc().to_string(),
        None => "unknown".into(),
    }
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

    /// The Kubernetes base: proxies anywhere in 10.0.0.0/8, like campus Wi-Fi.
    fn envoy_alone() -> TrustedProxies {
        TrustedProxies { networks: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/64".parse().unwrap()], hops: 1 }
    }

    fn two_proxies() -> TrustedProxies {
        TrustedProxies { hops: 2, ..envoy_alone() }
    }

    fn resolve(peer: &str, forwarded_for: Option<&str>, proxies: &TrustedProxies) -> Option<IpAddr> {
        resolve_client_address(Some(ip(peer)), forwarded_for, proxies)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_even_with_a_forwarded_header() {
        assert_eq!(resolve("203.0.113.9", Some("10.0.0.1, 1.2.3.4"), &envoy_alone()), Some(ip("203.0.113.9")));
    }

    #[test]
    fn a_trusted_peer_reports_the_address_it_appended() {
        assert_eq!(resolve("10.0.0.5", Some("192.168.1.20"), &envoy_alone()), Some(ip("192.168.1.20")));
    }

    #[test]
    fn a_student_inside_the_trusted_range_cannot_forge_a_hop() {
        // The student at 10.50.3.17 sent `x-forwarded-for: 10.20.30.77`; Envoy appended 10.50.3.17.
        assert_eq!(resolve("10.0.0.5", Some("10.20.30.77, 10.50.3.17"), &envoy_alone()), Some(ip("10.50.3.17")));
        assert_eq!(
            resolve("10.0.0.5", Some("10.20.30.77,10.1.1.1, 10.50.3.17"), &envoy_alone()),
            Some(ip("10.50.3.17"))
        );
    }

    #[test]
    fn an_all_trusted_chain_gives_the_hop_the_proxies_appended_never_the_leftmost() {
        assert_eq!(resolve("10.0.0.5", Some("10.0.0.7, 10.0.0.6"), &envoy_alone()), Some(ip("10.0.0.6")));
    }

    #[test]
    fn two_proxies_believe_the_second_hop_from_the_right() {
        // client → campus load balancer (appends 198.51.100.7) → Envoy (appends the balancer, 10.1.0.2).
        let proxies = two_proxies();
        assert_eq!(resolve("10.0.0.5", Some("198.51.100.7, 10.1.0.2"), &proxies), Some(ip("198.51.100.7")));
        assert_eq!(resolve("10.0.0.5", Some("6.6.6.6, 198.51.100.7, 10.1.0.2"), &proxies), Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_chain_shorter_than_the_proxies_configured_leaves_the_address_unknown() {
        assert_eq!(resolve("10.0.0.5", Some("198.51.100.7"), &two_proxies()), None);
    }

    #[test]
    fn a_trusted_peer_that_names_no_client_leaves_the_address_unknown() {
        assert_eq!(resolve("10.0.0.5", None, &envoy_alone()), None);
        assert_eq!(resolve("10.0.0.5", Some(""), &envoy_alone()), None);
        assert_eq!(resolve("10.0.0.5", Some(" , "), &envoy_alone()), None);
    }

    #[test]
    fn an_unknown_or_garbage_hop_where_the_proxy_writes_leaves_the_address_unknown() {
        assert_eq!(resolve("10.0.0.5", Some("unknown"), &envoy_alone()), None);
        assert_eq!(resolve("10.0.0.5", Some("1.1.1.1, nonsense"), &envoy_alone()), None);
        // Garbage the client wrote further left is never read.
        assert_eq!(resolve("10.0.0.5", Some("nonsense, 1.1.1.1"), &envoy_alone()), Some(ip("1.1.1.1")));
    }

    #[test]
    fn hops_with_ports_and_ipv6_are_understood() {
        assert_eq!(resolve("fd00::1", Some("[2001:db8::7]:443"), &envoy_alone()), Some(ip("2001:db8::7")));
        assert_eq!(resolve("10.0.0.5", Some("192.0.2.1:5555"), &envoy_alone()), Some(ip("192.0.2.1")));
        assert_eq!(resolve("10.0.0.5", Some("2001:db8::1, 2001:db8::7"), &envoy_alone()), Some(ip("2001:db8::7")));
    }

    #[test]
    fn ipv4_mapped_peers_and_hops_compare_as_ipv4() {
        assert_eq!(resolve("::ffff:10.0.0.5", Some("192.0.2.1"), &envoy_alone()), Some(ip("192.0.2.1")));
        assert_eq!(resolve("10.0.0.5", Some("::ffff:192.0.2.1"), &envoy_alone()), Some(ip("192.0.2.1")));
        // A mapped peer outside the trusted range is the client, as IPv4.
        assert_eq!(resolve("::ffff:203.0.113.9", Some("10.0.0.1"), &envoy_alone()), Some(ip("203.0.113.9")));
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_slash_64_and_unknown_ones_share_one() {
        assert_eq!(address_bucket(Some(ip("2001:db8:1:2::1"))), "2001:db8:1:2::/64");
        assert_eq!(address_bucket(Some(ip("2001:db8:1:2:ffff::9"))), "2001:db8:1:2::/64");
        assert_ne!(address_bucket(Some(ip("2001:db8:1:3::1"))), address_bucket(Some(ip("2001:db8:1:2::1"))));
        assert_eq!(address_bucket(Some(ip("192.0.2.7"))), "192.0.2.7");
        assert_eq!(address_bucket(Some(ip("::ffff:192.0.2.7"))), "192.0.2.7");
        assert_eq!(address_bucket(None), "unknown");
    }

    #[test]
    fn no_peer_means_no_address() {
        assert_eq!(resolve_client_address(None, Some("1.2.3.4"), &envoy_alone()), None);
    }

    #[test]
    fn with_no_trusted_proxies_the_header_is_never_read() {
        assert_eq!(resolve("127.0.0.1", Some("10.20.30.40"), &TrustedProxies::none()), Some(ip("127.0.0.1")));
    }
}
