//! `resolve_client_address` against `x-forwarded-for` headers a client
//! helped write, and `address_bucket`.

use std::net::{IpAddr, Ipv6Addr};

use attn_domain::{
    client_address::{MAX_TRUSTED_HOPS, TrustedProxies, address_bucket, resolve_client_address},
    network::{canonical, parse_networks},
};
use proptest::prelude::*;

use crate::strategies::{inside, ip, ipv4, ipv6, tricky_char};

/// One `x-forwarded-for` entry as written, and the address it names
/// (`None`: unreadable, like `unknown`). Never empty after trimming and
/// never holds a comma, so it is exactly one hop.
fn hop() -> impl Strategy<Value = (String, Option<IpAddr>)> {
    prop_oneof![
        3 => ip().prop_map(|addr| (addr.to_string(), Some(canonical(addr)))),
        1 => (ipv4(), any::<u16>()).prop_map(|(addr, port)| (format!("{addr}:{port}"), Some(IpAddr::V4(addr)))),
        1 => (ipv6(), any::<u16>())
            .prop_map(|(addr, port)| (format!("[{addr}]:{port}"), Some(canonical(IpAddr::V6(addr))))),
        1 => ipv4().prop_map(|addr| (format!("::ffff:{addr}"), Some(IpAddr::V4(addr)))),
        1 => Just(("unknown".to_owned(), None)),
        2 => unreadable_hop().prop_map(|text| (text, None)),
    ]
}

/// Text where a hop should be that names no address.
fn unreadable_hop() -> impl Strategy<Value = String> {
    prop_oneof![
        "[g-zG-Z_!#/=~][g-zG-Z_!#/=~ ]{0,12}",
        (ipv4(), 0..=9u8).prop_map(|(addr, n)| format!("{addr}.{n}")),
        any::<[u8; 3]>().prop_map(|[a, b, c]| format!("{a}.{b}.{c}")),
        (ipv4(), 65_536..=999_999u32).prop_map(|(addr, port)| format!("{addr}:{port}")),
        (ipv4(), any::<u16>()).prop_map(|(addr, port)| format!("[{addr}]:{port}")),
        ipv4().prop_map(|addr| format!("{addr}/24")),
        ipv4().prop_map(|addr| format!("0{addr}")),
        ipv6().prop_map(|addr| format!("[{addr}")),
        ipv6().prop_map(|addr| format!("{addr}%eth0")),
        any::<u32>().prop_map(|n| n.to_string()),
    ]
}

/// What joins the hops: Envoy writes ", "; people write anything, and
/// empty entries (", ,") are skipped.
fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![",", ", ", " ,", " , ", ",\t", "\t,", ", ,", ",,", ",  ,  "])
}

fn header(hops: &[(String, Option<IpAddr>)], separators: &[&str], ends: (&str, &str)) -> String {
    let mut text = ends.0.to_owned();
    for (i, (hop, _)) in hops.iter().enumerate() {
        if i > 0 {
            text.push_str(separators[i % separators.len()]);
        }
        text.push_str(hop);
    }
    text.push_str(ends.1);
    text
}

/// A header made of known hops: the hops, and the text.
fn known_header(min_hops: usize) -> impl Strategy<Value = (Vec<(String, Option<IpAddr>)>, String)> {
    (
        prop::collection::vec(hop(), min_hops..=min_hops + 6),
        prop::collection::vec(separator(), 1..4),
        prop::sample::select(vec!["", " ", ", ", " , ,"]),
        prop::sample::select(vec!["", " ", ",", "\t"]),
    )
        .prop_map(|(hops, separators, start, end)| {
            let text = header(&hops, &separators, (start, end));
            (hops, text)
        })
}

/// Anything a client could put in the header.
fn any_header() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(tricky_char(), 0..40).prop_map(String::from_iter),
        known_header(0).prop_map(|(_, text)| text),
    ]
}

/// Proxy networks as a deployment configures them (through
/// `parse_networks`, like `ATTN_TRUSTED_PROXIES`), and a hop count.
fn proxies() -> impl Strategy<Value = TrustedProxies> {
    let network = prop_oneof![
        (ipv4(), 8..=32u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        (ipv6(), 32..=128u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        (ipv4(), 104..=128u8).prop_map(|(addr, prefix)| format!("::ffff:{addr}/{prefix}")),
    ];
    (prop::collection::vec(network, 1..4), 1..=MAX_TRUSTED_HOPS).prop_map(|(items, hops)| TrustedProxies {
        networks: parse_networks("ATTN_TRUSTED_PROXIES", &items).expect("generated CIDRs are valid"),
        hops,
    })
}

/// Proxies, and a peer inside one of their networks.
fn trusted_peer() -> impl Strategy<Value = (TrustedProxies, IpAddr)> {
    (proxies(), any::<prop::sample::Index>(), any::<u128>(), any::<bool>())
        .prop_map(|(proxies, which, host_bits, mapped)| {
            let peer = inside(*which.get(&proxies.networks), host_bits, mapped);
            (proxies, peer)
        })
        // An IPv4-mapped address inside an IPv6 network such as ::/64 is
        // compared as IPv4, so that network does not trust it.
        .prop_filter("a peer the proxies trust", |(proxies, peer)| trusts(proxies, *peer))
}

fn trusts(proxies: &TrustedProxies, peer: IpAddr) -> bool {
    proxies.networks.iter().any(|net| net.contains(&canonical(peer)))
}

proptest! {
    #[test]
    fn any_header_from_any_peer_gives_a_canonical_address_or_none(
        peer in prop::option::of(ip()),
        forwarded_for in prop::option::of(any_header()),
        proxies in proxies(),
    ) {
        let resolved = resolve_client_address(peer, forwarded_for.as_deref(), &proxies);
        prop_assert_eq!(resolved.map(canonical), resolved, "never an IPv4-mapped address");
        if peer.is_none() {
            prop_assert_eq!(resolved, None);
        }
        let zero_hops = TrustedProxies { hops: 0, ..proxies.clone() };
        let one_hop = TrustedProxies { hops: 1, ..proxies };
        prop_assert_eq!(
            resolve_client_address(peer, forwarded_for.as_deref(), &zero_hops),
            resolve_client_address(peer, forwarded_for.as_deref(), &one_hop),
            "0 hops counts as 1"
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says(
        peer in ip(),
        forwarded_for in prop::option::of(any_header()),
        proxies in proxies(),
    ) {
        if !trusts(&proxies, peer) {
            prop_assert_eq!(
                resolve_client_address(Some(peer), forwarded_for.as_deref(), &proxies),
                Some(canonical(peer))
            );
        }
    }

    #[test]
    fn a_trusted_peer_gives_exactly_the_hop_its_proxies_appended(
        (proxies, peer) in trusted_peer(),
        (hops, forwarded_for) in known_header(0),
    ) {
        // The proxies' hop is `proxies.hops` from the right; a shorter chain
        // or an unreadable hop there is unknown, and nothing to its left is
        // ever read.
        let expected = hops.len().checked_sub(proxies.hops).and_then(|position| hops[position].1);
        prop_assert_eq!(resolve_client_address(Some(peer), Some(&forwarded_for), &proxies), expected);
    }

    #[test]
    fn text_a_client_writes_in_front_of_the_proxies_hops_never_changes_the_answer(
        (proxies, peer) in trusted_peer(),
        (_, appended) in known_header(MAX_TRUSTED_HOPS),
        client in any_header(),
        joint in prop::sample::select(vec![",", ", ", " , "]),
    ) {
        let honest = resolve_client_address(Some(peer), Some(&appended), &proxies);
        let forged = format!("{client}{joint}{appended}");
        prop_assert_eq!(resolve_client_address(Some(peer), Some(&forged), &proxies), honest);
    }

    #[test]
    fn every_address_of_one_ipv6_slash_64_shares_one_bucket(
        network in 1..=u64::MAX,
        a in any::<u64>(),
        b in any::<u64>(),
        other in 1..=u64::MAX,
    ) {
        // (The zero /64 is left out: it holds the IPv4-mapped addresses,
        // which are bucketed as IPv4.)
        let addr = |net: u64, host: u64| Some(IpAddr::V6(Ipv6Addr::from((u128::from(net) << 64) | u128::from(host))));
        let bucket = address_bucket(addr(network, a));
        prop_assert_eq!(&bucket, &address_bucket(addr(network, b)));
        let parsed: ipnet::Ipv6Net = bucket.parse().expect("a bucket is a /64");
        prop_assert_eq!(parsed.prefix_len(), 64);
        prop_assert_eq!(u128::from(parsed.network()) >> 64, u128::from(network));
        if other != network {
            prop_assert_ne!(bucket, address_bucket(addr(other, a)));
        }
    }

    #[test]
    fn an_ipv4_client_is_its_own_bucket_in_either_form(a in ipv4(), b in ipv4()) {
        let bucket = address_bucket(Some(IpAddr::V4(a)));
        prop_assert_eq!(&bucket, &a.to_string());
        prop_assert_eq!(&bucket, &address_bucket(Some(IpAddr::V6(a.to_ipv6_mapped()))));
        prop_assert_ne!(&bucket, &address_bucket(None), "a known client is never in the unknown bucket");
        if a != b {
            prop_assert_ne!(bucket, address_bucket(Some(IpAddr::V4(b))));
        }
    }
}
