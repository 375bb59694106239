//! Which addresses a reference-photo download may reach (the SSRF guard),
//! and the operator's allow-list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use attn_domain::download_address::{AllowList, check, refusal};
use proptest::prelude::*;

use crate::strategies::{ip, ipv4, ipv6, tricky_char};

/// Every IPv6 form that carries `v4`: mapped, compatible, NAT64, 6to4.
fn ipv6_forms(v4: Ipv4Addr, rest: u64) -> [Ipv6Addr; 4] {
    let bits = u128::from(u32::from(v4));
    [
        v4.to_ipv6_mapped(),
        v4.to_ipv6_compatible(),
        Ipv6Addr::from((0x0064_ff9b_u128 << 96) | bits),
        Ipv6Addr::from((0x2002_u128 << 112) | (bits << 80) | u128::from(rest)),
    ]
}

/// Closed by the standard library's own definitions, independently of
/// the module's table.
fn closed_by_std(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    }
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,3}\\.?",
        Just("localhost".to_owned()),
        Just("Photos.Campus.EDU".to_owned()),
        ip().prop_map(|addr| addr.to_string()),
        any::<String>(),
    ]
}

/// An allow-list as an operator writes it, or a mistake.
fn allow_list_text() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        host(),
        ip().prop_map(|addr| addr.to_string()),
        ipv6().prop_map(|addr| format!("[{addr}]")),
        (ipv4(), 0..=32u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        (ipv6(), 0..=128u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        prop::collection::vec(tricky_char(), 0..12).prop_map(String::from_iter),
        Just("http://127.0.0.1:8090/x".to_owned()),
    ];
    prop::collection::vec(item, 0..4).prop_map(|items| items.join(", "))
}

/// An allow-list naming no IPv6 network: host names and IPv4 ones only.
fn ipv4_allow_list() -> impl Strategy<Value = AllowList> {
    let item = prop_oneof![
        host().prop_filter("a host name", |h| h.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))),
        (ipv4(), 8..=32u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
    ];
    prop::collection::vec(item, 0..3)
        .prop_map(|items| AllowList::parse("ATTN_FACE_PHOTO_ALLOWED_HOSTS", &items.join(",")).expect("valid items"))
}

proptest! {
    #[test]
    fn an_ipv4_address_is_judged_the_same_in_every_ipv6_form_that_carries_it(
        v4 in ipv4(),
        rest in any::<u64>(),
        host in host(),
        allowed in ipv4_allow_list(),
    ) {
        let judged = refusal(IpAddr::V4(v4));
        prop_assert_eq!(refusal(IpAddr::V6(v4.to_ipv6_mapped())), judged);
        for form in ipv6_forms(v4, rest) {
            // (`::` and `::1` are themselves, so 0.0.0.0 and 0.0.0.1 keep
            // a refusal but may change its name.)
            prop_assert_eq!(refusal(IpAddr::V6(form)).is_some(), judged.is_some(), "{}", form);
            if check(&host, IpAddr::V4(v4), &allowed).is_err() {
                prop_assert!(check(&host, IpAddr::V6(form), &allowed).is_err(), "{} opened {}", form, v4);
            }
        }
    }

    #[test]
    fn loopback_private_link_local_and_unspecified_addresses_are_refused_unless_allow_listed(
        addr in ip(),
        host in host(),
    ) {
        if closed_by_std(addr) {
            prop_assert!(refusal(addr).is_some(), "{} is open", addr);
            prop_assert!(check(&host, addr, &AllowList::default()).is_err());
        }
        prop_assert_eq!(check(&host, addr, &AllowList::default()), refusal(addr).map_or(Ok(()), Err));
    }

    #[test]
    fn an_allow_list_opens_only_what_it_names_and_errors_name_the_setting(
        text in allow_list_text(),
        host in host(),
        addr in ip(),
    ) {
        match AllowList::parse("ATTN_FACE_PHOTO_ALLOWED_HOSTS", &text) {
            Ok(allowed) => {
                let opened = check(&host, addr, &allowed).is_ok() && refusal(addr).is_some();
                prop_assert!(!opened || allowed.allows_host(&host) || allowed.allows_address(addr));
                prop_assert_eq!(allowed.allows_host(&host), allowed.allows_host(&host.to_ascii_uppercase()));
                if let IpAddr::V4(v4) = addr {
                    let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                    prop_assert_eq!(allowed.allows_address(addr), allowed.allows_address(mapped));
                }
            }
            Err(err) => prop_assert_eq!(err.field, "ATTN_FACE_PHOTO_ALLOWED_HOSTS"),
        }
    }
}
