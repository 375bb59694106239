//! CIDR lists from teachers (session networks) and operators (campus
//! networks, trusted proxies), and the network check that uses them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use attn_domain::network::{
    MAX_SESSION_NETWORKS, NetworkVerdict, SESSION_MIN_PREFIX_V4, SESSION_MIN_PREFIX_V6, admits_family_of, canonical,
    check_network, parse_networks, parse_session_networks,
};
use ipnet::IpNet;
use proptest::prelude::*;

use crate::strategies::{MESSAGE_MAX_CHARS, inside, ip, ipv4, ipv6, tricky_char};

/// Prefixes people mistype: signs, leading zeros, spaces, overflow.
fn odd_prefix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "-1", "+8", "08", " 8", "8 ", "8/8", "4294967304", "256", "0x10", "١٦", "/"])
}

/// A network as a teacher or operator might type it, or a mistake.
fn cidr_text() -> impl Strategy<Value = String> {
    let padding = || prop::sample::select(vec!["", "", " ", "\t", "\n", " \u{a0}"]);
    let body = prop_oneof![
        3 => (ipv4(), 0..=40u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        3 => (ipv6(), 0..=140u8).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        2 => (ipv4(), 80..=140u8).prop_map(|(addr, prefix)| format!("::ffff:{addr}/{prefix}")),
        1 => ip().prop_map(|addr| addr.to_string()),
        1 => ipv4().prop_map(|addr| format!("::ffff:{addr}")),
        2 => (ip(), odd_prefix()).prop_map(|(addr, prefix)| format!("{addr}/{prefix}")),
        1 => "[0-9a-fA-F:./]{0,45}",
        1 => any::<String>(),
        1 => prop::collection::vec(tricky_char(), 500..2_000).prop_map(String::from_iter),
    ];
    (padding(), body, padding()).prop_map(|(before, body, after)| format!("{before}{body}{after}"))
}

fn ipv6_not_mapped() -> impl Strategy<Value = Ipv6Addr> {
    ipv6().prop_filter("IPv4-mapped forms have their own case", |addr| addr.to_ipv4_mapped().is_none())
}

/// A valid network as typed, an address in it, and the prefix it must
/// have once parsed (an IPv4-mapped network is the IPv4 network it holds).
fn valid_cidr() -> impl Strategy<Value = (String, IpAddr, u8)> {
    prop_oneof![
        (ipv4(), 0..=32u8).prop_map(|(addr, prefix)| (format!("{addr}/{prefix}"), addr.into(), prefix)),
        (ipv6_not_mapped(), 0..=128u8).prop_map(|(addr, prefix)| (format!("{addr}/{prefix}"), addr.into(), prefix)),
        (ipv4(), 96..=128u8).prop_map(|(addr, prefix)| (format!("::ffff:{addr}/{prefix}"), addr.into(), prefix - 96)),
        ipv4().prop_map(|addr| (format!(" {addr} "), addr.into(), 32)),
        ipv4().prop_map(|addr| (format!("::ffff:{addr}"), addr.into(), 32)),
        ipv6_not_mapped().prop_map(|addr| (addr.to_string(), addr.into(), 128)),
    ]
}

/// An IPv4 address that `net` would hold if it held IPv4 addresses: inside
/// it for an IPv4 network, the last 32 bits of an address inside it for an
/// IPv6 one (so its IPv4-mapped form lies inside a network that holds
/// mapped addresses).
fn ipv4_near(net: IpNet, host_bits: u128) -> Ipv4Addr {
    match inside(net, host_bits, false) {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => Ipv4Addr::from(u128::from(v6) as u32),
    }
}

proptest! {
    #[test]
    fn any_network_list_parses_to_clean_networks_or_an_error_naming_its_field(
        field in prop::sample::select(vec!["networks", "campus_networks", "ATTN_TRUSTED_PROXIES"]),
        items in prop::collection::vec(cidr_text(), 0..=MAX_SESSION_NETWORKS + 2),
    ) {
        match parse_networks(field, &items) {
            Ok(networks) => {
                prop_assert!(items.len() <= MAX_SESSION_NETWORKS);
                prop_assert_eq!(networks.len(), items.len());
                for net in networks {
                    prop_assert_eq!(net, net.trunc(), "host bits are clear");
                    if let IpNet::V6(v6) = net {
                        prop_assert!(
                            v6.prefix_len() < 96 || v6.network().to_ipv4_mapped().is_none(),
                            "{} holds only IPv4-mapped addresses, so it is an IPv4 network", net
                        );
                    }
                }
            }
            Err(err) => {
                prop_assert_eq!(err.field, field);
                prop_assert!(!err.message.is_empty());
                prop_assert!(err.message.chars().count() <= MESSAGE_MAX_CHARS, "{} chars", err.message.chars().count());
            }
        }
    }

    #[test]
    fn a_network_admits_every_address_inside_it_in_either_form(
        (text, addr, prefix) in valid_cidr(),
        host_bits in any::<u128>(),
        mapped in any::<bool>(),
    ) {
        let networks = parse_networks("networks", std::slice::from_ref(&text)).expect("a valid CIDR parses");
        let net = networks[0];
        prop_assert_eq!(net.prefix_len(), prefix);
        prop_assert!(net.contains(&canonical(addr)), "{} holds {}", net, addr);
        let client = inside(net, host_bits, mapped);
        // (An IPv6 network wide enough to hold IPv4-mapped addresses never
        // admits IPv4 clients: those are compared as IPv4.)
        if canonical(client).is_ipv4() == matches!(net, IpNet::V4(_)) {
            prop_assert_eq!(check_network(Some(client), &networks, &[]), NetworkVerdict::Passed, "{}", client);
            prop_assert_eq!(check_network(Some(client), &[], &networks), NetworkVerdict::Passed, "{}", client);
            prop_assert!(admits_family_of(&networks, client));
        }
    }

    #[test]
    fn session_networks_admit_no_more_than_a_slash_16_of_ipv4_or_a_slash_48_of_ipv6(
        items in prop::collection::vec(cidr_text(), 0..6),
        host_bits in any::<u128>(),
        probe in ipv4(),
    ) {
        let all = parse_networks("networks", &items);
        match parse_session_networks(&items) {
            Ok(networks) => {
                prop_assert_eq!(Ok(networks.clone()), all, "the same networks as parse_networks");
                for net in networks {
                    let narrowest = match net {
                        IpNet::V4(_) => SESSION_MIN_PREFIX_V4,
                        IpNet::V6(_) => SESSION_MIN_PREFIX_V6,
                    };
                    prop_assert!(net.prefix_len() >= narrowest, "{}", net);
                    // Whichever form an IPv4 client connects in, it passes
                    // only inside an IPv4 network of /16 or narrower.
                    for v4 in [probe, ipv4_near(net, host_bits)] {
                        for client in [IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped())] {
                            if check_network(Some(client), &[net], &[]).passed() {
                                let narrow_ipv4 = matches!(net, IpNet::V4(v4net)
                                    if v4net.prefix_len() >= SESSION_MIN_PREFIX_V4 && v4net.contains(&v4));
                                prop_assert!(narrow_ipv4, "{} admitted {}", net, client);
                            }
                        }
                    }
                }
            }
            Err(err) => {
                prop_assert_eq!(err.field, "networks");
                prop_assert!(err.message.chars().count() <= MESSAGE_MAX_CHARS, "{} chars", err.message.chars().count());
                if let Ok(networks) = all {
                    prop_assert!(
                        networks.iter().any(|net| match net {
                            IpNet::V4(_) => net.prefix_len() < SESSION_MIN_PREFIX_V4,
                            IpNet::V6(_) => net.prefix_len() < SESSION_MIN_PREFIX_V6,
                        }),
                        "refused only for a network too wide: {:?}", networks
                    );
                }
            }
        }
    }

    #[test]
    fn the_network_check_passes_only_inside_a_network_of_the_clients_family(
        session in prop::collection::vec(cidr_text(), 0..4),
        campus in prop::collection::vec(cidr_text(), 0..4),
        client in prop::option::of(ip()),
    ) {
        let usable = |items: Vec<String>| -> Vec<IpNet> {
            items.into_iter().filter_map(|item| parse_networks("networks", &[item]).ok()).flatten().collect()
        };
        let (session, campus) = (usable(session), usable(campus));
        let verdict = check_network(client, &session, &campus);
        let Some(addr) = client else {
            prop_assert_eq!(verdict, NetworkVerdict::AddressMissing);
            return Ok(());
        };
        let both = [session.clone(), campus.clone()].concat();
        prop_assert_eq!(verdict, check_network(client, &both, &[]));
        prop_assert_eq!(verdict, check_network(client, &campus, &session));
        prop_assert_eq!(verdict.passed(), both.iter().any(|net| net.contains(&canonical(addr))));
        if verdict.passed() {
            prop_assert!(admits_family_of(&both, addr), "a list that admits a client admits its family");
        } else {
            prop_assert_eq!(verdict, NetworkVerdict::Outside);
        }
    }
}
