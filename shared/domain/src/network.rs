//! The classroom-network rule (security options 2 and 3).
//!
//! A check-in passes when the student's address lies in one of the session's
//! networks or one of the deployment's campus networks. A session's networks
//! are the CIDRs its teacher gave, or by default the teacher's own address
//! widened to its /24 (IPv4) or /64 (IPv6), as in the seeds.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::{FailCode, Invalid, invalid::quoted};

/// Most networks one session may list; more is a mistake, not a classroom.
pub const MAX_SESSION_NETWORKS: usize = 32;

/// The widest network a session may list, by family: a /16 of IPv4 or a /48
/// of IPv6 is a building, not the internet. Campus-wide ranges belong in
/// the deployment's `ATTN_CAMPUS_NETWORKS`.
pub const SESSION_MIN_PREFIX_V4: u8 = 16;
pub const SESSION_MIN_PREFIX_V6: u8 = 48;

/// Compares IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) as the IPv4
/// address they carry, so a dual-stack socket does not defeat the check.
pub fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

/// Parses CIDRs (or bare addresses, taken as /32 or /128) given by a teacher
/// or an operator. `field` names the input in the error.
pub fn parse_networks(field: &'static str, items: &[String]) -> Result<Vec<IpNet>, Invalid> {
    if items.len() > MAX_SESSION_NETWORKS {
        return Err(Invalid::new(field, format!("at most {MAX_SESSION_NETWORKS} networks, not {}", items.len())));
    }
    items.iter().map(|item| parse_network(field, item)).collect()
}

/// A teacher's networks for one session: [`parse_networks`], and none wider
/// than a /16 (IPv4) or a /48 (IPv6), so `0.0.0.0/0` cannot switch the
/// network check off.
pub fn parse_session_networks(items: &[String]) -> Result<Vec<IpNet>, Invalid> {
    let networks = parse_networks("networks", items)?;
    if let Some(wide) = networks.iter().find(|net| net.prefix_len() < min_session_prefix(net)) {
        return Err(Invalid::new(
            "networks",
            format!(
                "{wide} is wider than a session may list (at most /{SESSION_MIN_PREFIX_V4} for IPv4, \
                 /{SESSION_MIN_PREFIX_V6} for IPv6); campus-wide ranges belong in the deployment's ATTN_CAMPUS_NETWORKS"
            ),
        ));
    }
    Ok(networks)
}

fn min_session_prefix(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(_) => SESSION_MIN_PREFIX_V4,
        IpNet::V6(_) => SESSION_MIN_PREFIX_V6,
    }
}

/// Does any of `networks` hold addresses of the same family (IPv4 or IPv6)
/// as `addr`? If not, a client connected the way `addr` is can never pass.
pub fn admits_family_of(networks: &[IpNet], addr: IpAddr) -> bool {
    let v4 = canonical(addr).is_ipv4();
    networks.iter().any(|net| matches!(canonical_net(*net), IpNet::V4(_)) == v4)
}

/// "IPv4" or "IPv6", for messages.
pub fn family_name(addr: IpAddr) -> &'static str {
    if canonical(addr).is_ipv4() { "IPv4" } else { "IPv6" }
}

fn parse_network(field: &'static str, item: &str) -> Result<IpNet, Invalid> {
    let text = item.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(canonical_net(net).trunc());
    }
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(canonical(addr)));
    }
    Err(Invalid::new(
        field,
        format!("{} is not a network in CIDR form such as 10.1.2.0/24 or 2001:db8::/64", quoted(text)),
    ))
}

/// `::ffff:10.0.0.0/104` is the IPv4 network `10.0.0.0/8`.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            _ => net,
        },
        IpNet::V4(_) => net,
    }
}

/// The seeds' default classroom: the teacher's address widened to its /24
/// (IPv4) or /64 (IPv6).
pub fn classroom_network(teacher: IpAddr) -> IpNet {
    match canonical(teacher) {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new(v4, 24).expect("24 is a valid prefix").trunc()),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new(v6, 64).expect("64 is a valid prefix").trunc()),
    }
}

/// The outcome of the network check, with the seeds' fail reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkVerdict {
    Passed,
    /// No client address was known.
    AddressMissing,
    /// The address is outside every allowed network.
    Outside,
}

impl NetworkVerdict {
    pub fn passed(self) -> bool {
        self == Self::Passed
    }

    /// The record's code for this verdict; `None` when passed.
    pub fn fail_code(self) -> Option<FailCode> {
        match self {
            Self::Passed => None,
            Self::AddressMissing => Some(FailCode::WifiRequiredButIpMissing),
            Self::Outside => Some(FailCode::WifiFailed),
        }
    }

    /// The record's `fail_reason` for this verdict (the code's name); empty when passed.
    pub fn fail_reason(self) -> &'static str {
        self.fail_code().map_or("", FailCode::as_str)
    }
}

/// Is `client` inside the session's networks or the campus networks?
pub fn check_network(client: Option<IpAddr>, session: &[IpNet], campus: &[IpNet]) -> NetworkVerdict {
    let Some(client) = client else {
        return NetworkVerdict::AddressMissing;
    };
    let client = canonical(client);
    let inside = session.iter().chain(campus).any(|net| canonical_net(*net).contains(&client));
    if inside { NetworkVerdict::Passed } else { NetworkVerdict::Outside }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Vec<IpNet> {
        parse_networks("networks", &items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn teacher_ipv4_address_widens_to_its_slash_24() {
        assert_eq!(classroom_network(ip("10.20.30.40")).to_string(), "10.20.30.0/24");
    }

    #[test]
    fn teacher_ipv6_address_widens_to_its_slash_64() {
        assert_eq!(classroom_network(ip("2001:db8:1:2:aaaa::1")).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn ipv4_mapped_teacher_address_widens_as_ipv4() {
        assert_eq!(classroom_network(ip("::ffff:192.168.7.9")).to_string(), "192.168.7.0/24");
    }

    #[test]
    fn student_in_the_same_slash_24_passes() {
        let session = vec![classroom_network(ip("10.20.30.40"))];
        assert_eq!(check_network(Some(ip("10.20.30.250")), &session, &[]), NetworkVerdict::Passed);
    }

    #[test]
    fn student_outside_the_network_gets_wifi_failed() {
        let session = vec![classroom_network(ip("10.20.30.40"))];
        let verdict = check_network(Some(ip("10.20.31.1")), &session, &[]);
        assert_eq!(verdict, NetworkVerdict::Outside);
        assert_eq!(verdict.fail_reason(), "WIFI_FAILED");
    }

    #[test]
    fn student_without_an_address_gets_wifi_required_but_ip_missing() {
        let verdict = check_network(None, &nets(&["10.0.0.0/8"]), &[]);
        assert_eq!(verdict.fail_reason(), "WIFI_REQUIRED_BUT_IP_MISSING");
    }

    #[test]
    fn ipv4_mapped_student_address_compares_as_ipv4() {
        let session = nets(&["10.1.2.0/24"]);
        assert!(check_network(Some(ip("::ffff:10.1.2.3")), &session, &[]).passed());
        assert!(!check_network(Some(ip("::ffff:10.1.3.3")), &session, &[]).passed());
    }

    #[test]
    fn ipv4_mapped_network_compares_as_ipv4() {
        let session = nets(&["::ffff:10.1.2.0/120"]);
        assert_eq!(session[0].to_string(), "10.1.2.0/24");
        assert!(check_network(Some(ip("10.1.2.77")), &session, &[]).passed());
    }

    #[test]
    fn campus_networks_admit_a_student_outside_the_session_networks() {
        let session = nets(&["10.1.2.0/24"]);
        let campus = nets(&["172.16.0.0/12"]);
        assert!(check_network(Some(ip("172.20.1.1")), &session, &campus).passed());
        assert!(!check_network(Some(ip("192.168.1.1")), &session, &campus).passed());
    }

    #[test]
    fn ipv6_student_in_the_slash_64_passes_and_one_outside_fails() {
        let session = vec![classroom_network(ip("2001:db8:0:1::10"))];
        assert!(check_network(Some(ip("2001:db8:0:1:ffff::1")), &session, &[]).passed());
        assert!(!check_network(Some(ip("2001:db8:0:2::1")), &session, &[]).passed());
    }

    #[test]
    fn a_bare_address_is_a_single_host_network() {
        assert_eq!(nets(&["10.9.8.7"])[0].to_string(), "10.9.8.7/32");
        assert_eq!(nets(&["2001:db8::1"])[0].to_string(), "2001:db8::1/128");
    }

    #[test]
    fn host_bits_are_cleared() {
        assert_eq!(nets(&["10.9.8.7/16"])[0].to_string(), "10.9.0.0/16");
    }

    #[test]
    fn malformed_cidr_is_invalid_and_names_the_field() {
        for bad in ["10.0.0.0/33", "banana", "10.0.0/8", "", "2001:db8::/129"] {
            let err = parse_networks("networks", &[bad.to_string()]).unwrap_err();
            assert_eq!(err.field, "networks", "{bad}");
        }
    }

    #[test]
    fn a_huge_network_is_quoted_only_in_part_in_the_error() {
        // Found by the network property test: the error echoed all of it.
        let err = parse_session_networks(&["1".repeat(3_000_000)]).unwrap_err();
        assert_eq!(err.field, "networks");
        assert!(err.message.len() < 200, "{} bytes", err.message.len());
    }

    #[test]
    fn a_session_may_not_list_a_network_wider_than_a_slash_16_or_slash_48() {
        let session = |items: &[&str]| parse_session_networks(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for wide in
            ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/15", "::/0", "2001:db8::/32", "2001:db8::/47", "::ffff:0.0.0.0/96"]
        {
            let err = session(&[wide]).unwrap_err();
            assert_eq!(err.field, "networks", "{wide}");
            assert!(err.message.contains("ATTN_CAMPUS_NETWORKS"), "{wide}: {}", err.message);
        }
        assert!(session(&["10.9.0.0/16", "2001:db8:1::/48", "10.9.9.7", "::ffff:10.1.0.0/112"]).is_ok());
        // A wide one anywhere in the list refuses the list.
        assert!(session(&["10.9.9.0/24", "0.0.0.0/0"]).is_err());
    }

    #[test]
    fn a_list_admits_a_family_only_if_one_of_its_networks_is_of_that_family() {
        let v4_only = nets(&["10.9.9.0/24"]);
        assert!(admits_family_of(&v4_only, ip("10.1.1.1")));
        assert!(admits_family_of(&v4_only, ip("::ffff:192.0.2.1")), "IPv4-mapped is IPv4");
        assert!(!admits_family_of(&v4_only, ip("2001:db8::1")));
        let both = nets(&["10.9.9.0/24", "2001:db8:1:2::/64"]);
        assert!(admits_family_of(&both, ip("2001:db8::1")));
        assert!(!admits_family_of(&[], ip("10.1.1.1")));
        assert_eq!(family_name(ip("::ffff:10.0.0.1")), "IPv4");
        assert_eq!(family_name(ip("2001:db8::1")), "IPv6");
    }

    #[test]
    fn too_many_networks_are_refused() {
        let items = vec!["10.0.0.0/8".to_string(); MAX_SESSION_NETWORKS + 1];
        assert!(parse_networks("networks", &items).is_err());
    }
}
