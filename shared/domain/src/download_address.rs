//! Where ATTN may download from on a URL someone else gave it (students'
//! reference photos): public addresses only, unless the operator
//! allow-lists the host. Otherwise a roster entry could point
//! verification-service at the cloud metadata service, Redis, or anything
//! else on the internal network (server-side request forgery).
//!
//! The rule applies to every address a download would connect to: a
//! literal IP in the URL, each address DNS returns, and each redirect hop.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::LazyLock,
};

use ipnet::IpNet;

use crate::{Invalid, network::canonical};

/// Why an address is closed to downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Loopback,
    /// `0.0.0.0/8` and `::`: on Linux, connecting there reaches this host.
    Unspecified,
    /// `169.254.0.0/16` and `fe80::/10`, where cloud metadata services live.
    LinkLocal,
    /// RFC 1918 and unique-local IPv6 (`fd00:ec2::254` is AWS's metadata).
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (Alibaba's metadata is inside).
    SharedAddressSpace,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking and other ranges that are never public.
    Reserved,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "a loopback address",
            Self::Unspecified => "an unspecified address",
            Self::LinkLocal => "a link-local address (where cloud metadata services live)",
            Self::Private => "a private address",
            Self::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Reserved => "a reserved, non-public address",
        })
    }
}

/// Checked in order: the first range that holds the address names it.
static CLOSED_RANGES: LazyLock<Vec<(IpNet, Refusal)>> = LazyLock::new(|| {
    use Refusal::*;
    [
        ("0.0.0.0/8", Unspecified),
        ("10.0.0.0/8", Private),
        ("100.64.0.0/10", SharedAddressSpace),
        ("127.0.0.0/8", Loopback),
        ("169.254.0.0/16", LinkLocal),
        ("172.16.0.0/12", Private),
        ("192.0.0.0/24", Reserved),
        ("192.0.2.0/24", Reserved),
        ("192.168.0.0/16", Private),
        ("198.18.0.0/15", Reserved),
        ("198.51.100.0/24", Reserved),
        ("203.0.113.0/24", Reserved),
        ("224.0.0.0/4", Multicast),
        ("255.255.255.255/32", Broadcast),
        ("240.0.0.0/4", Reserved),
        ("::/128", Unspecified),
        ("::1/128", Loopback),
        ("fe80::/10", LinkLocal),
        ("fec0::/10", Private),
        ("fc00::/7", Private),
        ("ff00::/8", Multicast),
        ("64:ff9b:1::/48", Private),
        ("100::/64", Reserved),
        ("2001:db8::/32", Reserved),
    ]
    .into_iter()
    .map(|(net, why)| (net.parse().expect("a valid CIDR"), why))
    .collect()
});

/// Why `addr` is closed to downloads, or `None` for a public address. IPv6
/// forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are
/// judged by the IPv4 address they carry.
pub fn refusal(addr: IpAddr) -> Option<Refusal> {
    let addr = match addr {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    };
    CLOSED_RANGES.iter().find(|(net, _)| net.contains(&addr)).map(|(_, why)| *why)
}

fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last32 = || Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    match s {
        // ::ffff:a.b.c.d (mapped)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last32()),
        // ::a.b.c.d (compatible, deprecated); `::` and `::1` are themselves.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(last32()),
        // 64:ff9b::a.b.c.d (NAT64, well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32()),
        // 2002:aabb:ccdd::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from(((hi as u32) << 16) | lo as u32)),
        _ => None,
    }
}

/// `ATTN_FACE_PHOTO_ALLOWED_HOSTS`: hosts exempt from the rule. A host name
/// matches the URL's host exactly (case-insensitively); an address or CIDR
/// matches a literal or resolved address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
}

impl AllowList {
    /// Parses a comma-separated list; `field` names the setting in errors.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, Invalid> {
        let mut list = Self::default();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let bare = item.trim_start_matches('[').trim_end_matches(']');
            if let Ok(net) = bare.parse::<IpNet>() {
                list.networks.push(net.trunc());
            } else if let Ok(addr) = bare.parse::<IpAddr>() {
                list.networks.push(IpNet::from(canonical(addr)));
            } else if is_host_name(item) {
                list.hosts.push(normal_host(item));
            } else {
                return Err(Invalid::new(
                    field,
                    format!("{item:?} is not a host name, IP address or CIDR (no scheme, port or path)"),
                ));
            }
        }
        Ok(list)
    }

    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts.contains(&normal_host(host))
    }

    pub fn allows_address(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.networks.iter().any(|net| net.contains(&addr) || net.contains(&IpAddr::from(to_mapped(addr))))
    }
}

/// An allow-listed `::ffff:10.0.0.0/104` still admits `10.0.0.1`.
fn to_mapped(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn is_host_name(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// May a download reached through `host` connect to `addr`?
pub fn check(host: &str, addr: IpAddr, allowed: &AllowList) -> Result<(), Refusal> {
    if allowed.allows_host(host) || allowed.allows_address(addr) {
        return Ok(());
    }
    refusal(addr).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn allow(text: &str) -> AllowList {
        AllowList::parse("ATTN_FACE_PHOTO_ALLOWED_HOSTS", text).unwrap()
    }

    #[test]
    fn the_cloud_metadata_addresses_are_refused() {
        assert_eq!(refusal(ip("169.254.169.254")), Some(Refusal::LinkLocal));
        assert_eq!(refusal(ip("fd00:ec2::254")), Some(Refusal::Private));
        assert_eq!(refusal(ip("100.100.100.200")), Some(Refusal::SharedAddressSpace));
    }

    #[test]
    fn loopback_unspecified_and_link_local_are_refused() {
        assert_eq!(refusal(ip("127.0.0.1")), Some(Refusal::Loopback));
        assert_eq!(refusal(ip("127.255.0.9")), Some(Refusal::Loopback));
        assert_eq!(refusal(ip("::1")), Some(Refusal::Loopback));
        assert_eq!(refusal(ip("0.0.0.0")), Some(Refusal::Unspecified));
        assert_eq!(refusal(ip("::")), Some(Refusal::Unspecified));
        assert_eq!(refusal(ip("fe80::1")), Some(Refusal::LinkLocal));
    }

    #[test]
    fn private_networks_are_refused() {
        for private in ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fdab::1"] {
            assert_eq!(refusal(ip(private)), Some(Refusal::Private), "{private}");
        }
    }

    #[test]
    fn multicast_broadcast_and_reserved_ranges_are_refused() {
        assert_eq!(refusal(ip("224.0.0.1")), Some(Refusal::Multicast));
        assert_eq!(refusal(ip("ff02::1")), Some(Refusal::Multicast));
        assert_eq!(refusal(ip("255.255.255.255")), Some(Refusal::Broadcast));
        assert_eq!(refusal(ip("192.0.2.10")), Some(Refusal::Reserved));
        assert_eq!(refusal(ip("240.0.0.1")), Some(Refusal::Reserved));
        assert_eq!(refusal(ip("2001:db8::1")), Some(Refusal::Reserved));
    }

    #[test]
    fn public_addresses_are_allowed() {
        for public in ["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"] {
            assert_eq!(refusal(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_as_that_ipv4_address() {
        assert_eq!(refusal(ip("::ffff:127.0.0.1")), Some(Refusal::Loopback));
        assert_eq!(refusal(ip("::ffff:169.254.169.254")), Some(Refusal::LinkLocal));
        assert_eq!(refusal(ip("::10.0.0.1")), Some(Refusal::Private));
        assert_eq!(refusal(ip("64:ff9b::a9fe:a9fe")), Some(Refusal::LinkLocal));
        assert_eq!(refusal(ip("2002:c0a8:0101::1")), Some(Refusal::Private));
        assert_eq!(refusal(ip("::ffff:8.8.8.8")), None);
        assert_eq!(refusal(ip("64:ff9b::808:808")), None);
    }

    #[test]
    fn an_allow_listed_address_or_cidr_admits_what_it_covers() {
        let list = allow("127.0.0.1, 10.20.0.0/16");
        assert_eq!(check("127.0.0.1", ip("127.0.0.1"), &list), Ok(()));
        assert_eq!(check("photos.campus.edu", ip("10.20.3.4"), &list), Ok(()));
        assert_eq!(check("localhost", ip("::ffff:127.0.0.1"), &list), Ok(()));
        assert_eq!(check("localhost", ip("::1"), &list), Err(Refusal::Loopback));
        assert_eq!(check("photos.campus.edu", ip("10.21.0.1"), &list), Err(Refusal::Private));
    }

    #[test]
    fn an_allow_listed_host_name_matches_exactly_and_ignores_case() {
        let list = allow("Photos.Campus.EDU");
        assert_eq!(check("photos.campus.edu", ip("10.0.0.5"), &list), Ok(()));
        assert_eq!(check("photos.campus.edu.", ip("10.0.0.5"), &list), Ok(()));
        assert_eq!(check("evil.photos.campus.edu", ip("10.0.0.5"), &list), Err(Refusal::Private));
        assert_eq!(check("campus.edu", ip("10.0.0.5"), &list), Err(Refusal::Private));
    }

    #[test]
    fn an_empty_allow_list_admits_only_public_addresses() {
        let list = allow("");
        assert_eq!(check("example.org", ip("93.184.215.14"), &list), Ok(()));
        assert_eq!(check("localhost", ip("127.0.0.1"), &list), Err(Refusal::Loopback));
    }

    #[test]
    fn an_allow_list_entry_with_a_scheme_or_port_is_refused_naming_the_setting() {
        for bad in ["http://127.0.0.1", "127.0.0.1:8090", "photos/x"] {
            let err = AllowList::parse("ATTN_FACE_PHOTO_ALLOWED_HOSTS", bad).unwrap_err();
            assert_eq!(err.field, "ATTN_FACE_PHOTO_ALLOWED_HOSTS", "{bad}");
        }
        assert!(allow("[::1]").allows_address(ip("::1")));
    }
}
