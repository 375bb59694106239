//! Generators shared by the properties: addresses biased towards the ranges
//! the rules care about, and text a client might send.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proptest::prelude::*;

/// Any IPv4 address, half the time from a range with a rule of its own.
pub fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    let in_range = |base: u32, prefix: u32| (0..=u32::MAX >> prefix).prop_map(move |host| Ipv4Addr::from(base | host));
    prop_oneof![
        4 => any::<u32>().prop_map(Ipv4Addr::from),
        1 => in_range(0x0000_0000, 8),  // 0.0.0.0/8
        1 => in_range(0x0a00_0000, 8),  // 10.0.0.0/8
        1 => in_range(0x6440_0000, 10), // 100.64.0.0/10
        1 => in_range(0x7f00_0000, 8),  // 127.0.0.0/8
        1 => in_range(0xa9fe_0000, 16), // 169.254.0.0/16
        1 => in_range(0xac10_0000, 12), // 172.16.0.0/12
        1 => in_range(0xc0a8_0000, 16), // 192.168.0.0/16
        1 => in_range(0xe000_0000, 4),  // multicast
        1 => Just(Ipv4Addr::BROADCAST),
    ]
}

/// Any IPv6 address, half the time loopback, link-local, unique-local,
/// multicast, documentation, or a form that carries an IPv4 address.
pub fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    let in_range =
        |base: u128, prefix: u32| (0..=u128::MAX >> prefix).prop_map(move |host| Ipv6Addr::from(base | host));
    prop_oneof![
        6 => any::<u128>().prop_map(Ipv6Addr::from),
        1 => Just(Ipv6Addr::LOCALHOST),
        1 => Just(Ipv6Addr::UNSPECIFIED),
        1 => in_range(0xfe80 << 112, 10),
        1 => in_range(0xfc00 << 112, 7),
        1 => in_range(0xff00 << 112, 8),
        1 => in_range(0x2001_0db8 << 96, 32),
        2 => ipv4().prop_map(|v4| v4.to_ipv6_mapped()),
        1 => ipv4().prop_map(|v4| v4.to_ipv6_compatible()),
        1 => ipv4().prop_map(|v4| Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(u32::from(v4)))),
        1 => (ipv4(), any::<u64>()).prop_map(|(v4, rest)| Ipv6Addr::from(
            (0x2002_u128 << 112) | (u128::from(u32::from(v4)) << 80) | u128::from(rest)
        )),
    ]
}

pub fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![ipv4().prop_map(IpAddr::V4), ipv6().prop_map(IpAddr::V6)]
}

/// An address inside `net`, and sometimes its IPv4-mapped form.
pub fn inside(net: IpNet, host_bits: u128, mapped: bool) -> IpAddr {
    match net {
        IpNet::V4(v4) => {
            let addr = Ipv4Addr::from(u32::from(v4.network()) | (host_bits as u32 & u32::from(v4.hostmask())));
            if mapped { IpAddr::V6(addr.to_ipv6_mapped()) } else { IpAddr::V4(addr) }
        }
        IpNet::V6(v6) => IpAddr::V6((u128::from(v6.network()) | (host_bits & u128::from(v6.hostmask()))).into()),
    }
}

/// Characters that have tripped parsers before: controls, Unicode spaces
/// (trimmed by `str::trim`, not by CSV), zero-width and bidi marks, a BOM,
/// combining marks, multi-byte letters and emoji.
pub fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        3 => proptest::char::range(' ', '~'),
        2 => prop::sample::select(vec![
            '\0', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}',
            '\u{200b}', '\u{202e}', '\u{feff}', '\u{301}', 'é', 'ö', 'İ', '😀', ',', '"', ':', '/', '[', ']',
        ]),
    ]
}

/// Text a client might send: anything, or tricky characters in a length
/// near `limit`, padded with spaces that should be trimmed.
pub fn client_text(limit: usize) -> impl Strategy<Value = String> {
    let padding = || prop::collection::vec(prop::sample::select(vec![' ', '\t', '\n', '\u{a0}', '\u{3000}']), 0..3);
    let near_limit = (padding(), prop::collection::vec(tricky_char(), limit.saturating_sub(2)..=limit + 2), padding())
        .prop_map(|(before, body, after)| before.into_iter().chain(body).chain(after).collect());
    prop_oneof![
        2 => any::<String>(),
        2 => prop::collection::vec(tricky_char(), 0..24).prop_map(String::from_iter),
        1 => near_limit,
        1 => (proptest::char::range('a', 'z'), limit - 1..=limit + 1)
            .prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

/// The most characters an error message may have, whatever the input: the
/// message goes back to the caller in the `grpc-message` header and into
/// the logs, so it quotes at most an excerpt of what was sent.
pub const MESSAGE_MAX_CHARS: usize = 1024;
