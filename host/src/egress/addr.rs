//! Hosts and addresses: how a URL's host is read (the way a resolver would
//! read it, so odd IPv4 spellings cannot pose as names) and which addresses
//! are special-purpose, refused unless a rule names them.
//!
//! Pure functions, no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host of a request URL, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP literal (an IPv4-mapped IPv6 address is stored as the IPv4
    /// address it designates).
    Ip(IpAddr),
    /// A DNS name: lower case, without a trailing dot.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// An address range `addr/len` (a single address has the full length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    pub fn single(addr: IpAddr) -> Cidr {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, len }
    }

    pub fn is_single(&self) -> bool {
        self.len == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.len as u32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.len as u32)
            }
            _ => false,
        }
    }

    /// Whether every address of `other` is in `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// Parses `addr/len` with no host bits set, or a bare address.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let addr = canonical_ip(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(len) => match len.parse::<u8>() {
                Ok(n) if n <= max && n.to_string() == len => n,
                _ => return Err(format!("`/{len}` is not a prefix length from 0 to {max}")),
            },
        };
        let cidr = Cidr { addr, len };
        let network = cidr.network();
        if network != addr {
            return Err(format!(
                "`{text}` has host bits set (write {network}/{len})"
            ));
        }
        Ok(cidr)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(ip) => {
                let mask = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask))
            }
            IpAddr::V6(ip) => {
                let mask = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask))
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address: a
/// dual-stack socket connecting to one reaches the other.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Reads the host of a request URL (no port, no userinfo).
///
/// * `[v6]`: an IPv6 literal; zone identifiers are refused.
/// * A host whose last label is a number is an IPv4 address, read the way
///   `inet_aton` and the WHATWG URL standard read it (`2130706433`,
///   `0177.0.0.1`, `0x7f.1` and `127.1` all mean 127.0.0.1). Such spellings
///   are refused unless canonical (dotted decimal), so no name can hide an
///   address and no reader disagrees about which address is meant.
/// * Anything else is a DNS name: letters, digits, `-`, `_` and `.`, case
///   folded, one trailing dot dropped. Internationalised names must be
///   written in punycode (`xn--`).
pub fn parse_host(host: &str) -> Result<Host, String> {
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(format!("`{host}` is not a valid IPv6 literal"));
        };
        if inner.contains('%') {
            return Err(format!("`{host}`: IPv6 zone identifiers are not allowed"));
        }
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| format!("`{host}` is not a valid IPv6 literal"))?;
        return Ok(Host::Ip(canonical_ip(IpAddr::V6(ip))));
    }
    let lower = host.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(format!("`{host}` is not a valid host name"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "`{host}` is not a valid host name (letters, digits, '-', '_' and '.'; \
             internationalised names in punycode)"
        ));
    }
    if name.len() > 253 || name.split('.').any(|label| label.len() > 63) {
        return Err(format!("`{host}` is too long for a DNS name"));
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if ends_in_number(last) {
        let ip = parse_ipv4_like_resolver(name)
            .ok_or_else(|| format!("`{host}` is neither a valid IPv4 address nor a host name"))?;
        if name != ip.to_string() {
            return Err(format!(
                "`{host}` is a non-canonical spelling of the IPv4 address {ip}: \
                 write it as {ip}"
            ));
        }
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    Ok(Host::Name(name.to_string()))
}

/// WHATWG URL "ends in a number": all digits, or `0x` followed by hex digits.
fn ends_in_number(label: &str) -> bool {
    if !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    match label.strip_prefix("0x") {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// Reads 1 to 4 dot-separated numbers (decimal, `0`-prefixed octal or
/// `0x`-prefixed hex; the last one fills the remaining bytes) as an IPv4
/// address, like `inet_aton`. `None` when it is not one.
pub fn parse_ipv4_like_resolver(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        numbers.push(parse_ipv4_number(part)?);
    }
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let last_bits = 8 * (5 - numbers.len() as u32);
    if last_bits < 32 && *last >= 1u64 << last_bits {
        return None;
    }
    if *last > u32::MAX as u64 {
        return None;
    }
    let mut value: u32 = 0;
    for (i, &n) in init.iter().enumerate() {
        value |= (n as u32) << (24 - 8 * i as u32);
    }
    value |= *last as u32;
    Some(Ipv4Addr::from(value))
}

fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        if hex.is_empty() {
            return Some(0);
        }
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.len() > 20 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Why `ip` is a special-purpose address the host refuses unless a rule
/// names it, or `None` for an ordinary (public unicast) address. IPv6
/// addresses that embed an IPv4 address (mapped, compatible, NAT64, 6to4)
/// are judged by the embedded address too.
pub fn special_purpose(ip: IpAddr) -> Option<String> {
    if let Some(what) = cloud_metadata(ip) {
        return Some(what.to_string());
    }
    match canonical_ip(ip) {
        IpAddr::V4(v4) => special_v4(v4).map(str::to_string),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// Cloud instance-metadata endpoints (credentials live there). A rule must
/// name the address itself (not a range containing it) to reach one.
pub fn cloud_metadata(ip: IpAddr) -> Option<&'static str> {
    const V4: [(Ipv4Addr, &str); 3] = [
        (
            Ipv4Addr::new(169, 254, 169, 254),
            "a cloud metadata address (AWS, GCP, Azure, OpenStack...)",
        ),
        (
            Ipv4Addr::new(100, 100, 100, 200),
            "a cloud metadata address (Alibaba Cloud)",
        ),
        (
            Ipv4Addr::new(168, 63, 129, 16),
            "a cloud metadata address (Azure WireServer)",
        ),
    ];
    const AWS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
    match canonical_ip(ip) {
        IpAddr::V4(v4) => V4.iter().find(|(a, _)| *a == v4).map(|(_, what)| *what),
        IpAddr::V6(v6) if v6 == AWS_V6 => Some("a cloud metadata address (AWS, IPv6)"),
        IpAddr::V6(v6) => embedded_v4(v6).and_then(|v4| cloud_metadata(IpAddr::V4(v4))),
    }
}

/// IPv4 special-purpose ranges (IANA registry, RFC 6890 and successors).
fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 32, "the unspecified address"),
        ([0, 0, 0, 0], 8, "a \"this network\" address (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "a private address (10.0.0.0/8)"),
        (
            [100, 64, 0, 0],
            10,
            "a carrier-grade NAT address (100.64.0.0/10)",
        ),
        ([127, 0, 0, 0], 8, "a loopback address (127.0.0.0/8)"),
        (
            [169, 254, 0, 0],
            16,
            "a link-local address (169.254.0.0/16)",
        ),
        ([172, 16, 0, 0], 12, "a private address (172.16.0.0/12)"),
        (
            [192, 0, 0, 0],
            24,
            "an IETF protocol address (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "a documentation address (192.0.2.0/24)"),
        (
            [192, 88, 99, 0],
            24,
            "a 6to4 relay anycast address (192.88.99.0/24)",
        ),
        ([192, 168, 0, 0], 16, "a private address (192.168.0.0/16)"),
        (
            [198, 18, 0, 0],
            15,
            "a benchmarking address (198.18.0.0/15)",
        ),
        (
            [198, 51, 100, 0],
            24,
            "a documentation address (198.51.100.0/24)",
        ),
        (
            [203, 0, 113, 0],
            24,
            "a documentation address (203.0.113.0/24)",
        ),
        ([224, 0, 0, 0], 4, "a multicast address (224.0.0.0/4)"),
        ([255, 255, 255, 255], 32, "the broadcast address"),
        ([240, 0, 0, 0], 4, "a reserved address (240.0.0.0/4)"),
    ];
    RANGES
        .iter()
        .find(|(net, len, _)| prefix_eq(net, &ip.octets(), *len as u32))
        .map(|(_, _, what)| *what)
}

/// The IPv4 address an IPv6 address carries by a well-known translation:
/// IPv4-mapped `::ffff:0:0/96`, IPv4-translated `::ffff:0:0:0/96`,
/// IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let s = ip.segments();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some(low);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

fn special_v6(ip: Ipv6Addr) -> Option<String> {
    if ip.is_unspecified() {
        return Some("the unspecified address (::)".into());
    }
    if ip.is_loopback() {
        return Some("the loopback address (::1)".into());
    }
    if let Some(v4) = embedded_v4(ip)
        && let Some(what) = special_v4(v4)
    {
        return Some(format!("an IPv6 address embedding {v4}, which is {what}"));
    }
    const RANGES: &[(u128, u8, &str)] = &[
        (0, 96, "an IPv4-compatible address (::/96, deprecated)"),
        (
            0x0064_ff9b_0001 << 80,
            48,
            "a local-use NAT64 address (64:ff9b:1::/48)",
        ),
        (0x0100 << 112, 64, "a discard-only address (100::/64)"),
        (
            0x2001_0db8 << 96,
            32,
            "a documentation address (2001:db8::/32)",
        ),
        (
            0x2001 << 112,
            23,
            "an IETF protocol address (2001::/23, incl. Teredo)",
        ),
        (0x3fff << 112, 20, "a documentation address (3fff::/20)"),
        (0xfc00 << 112, 7, "a unique-local address (fc00::/7)"),
        (0xfe80 << 112, 10, "a link-local address (fe80::/10)"),
        (
            0xfec0 << 112,
            10,
            "a site-local address (fec0::/10, deprecated)",
        ),
        (0xff00 << 112, 8, "a multicast address (ff00::/8)"),
    ];
    let value = u128::from(ip);
    RANGES
        .iter()
        .find(|(net, len, _)| {
            let mask = u128::MAX.checked_shl(128 - *len as u32).unwrap_or(0);
            value & mask == *net
        })
        .map(|(_, _, what)| what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn hosts_are_read_like_a_resolver() {
        // (host, Ok(canonical) or Err(fragment))
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("api.example.com", Ok("api.example.com")),
            ("API.Example.COM", Ok("api.example.com")),
            ("api.example.com.", Ok("api.example.com")),
            ("api.example.com..", Err("not a valid host name")),
            (".example.com", Err("not a valid host name")),
            ("", Err("no host")),
            ("127.0.0.1", Ok("127.0.0.1")),
            ("2130706433", Err("non-canonical spelling of the IPv4 address 127.0.0.1")),
            ("0177.0.0.1", Err("non-canonical spelling of the IPv4 address 127.0.0.1")),
            ("0x7f.1", Err("non-canonical spelling of the IPv4 address 127.0.0.1")),
            ("0X7F.0.0.1", Err("127.0.0.1")),
            ("127.1", Err("non-canonical spelling of the IPv4 address 127.0.0.1")),
            ("127.0.0.1.", Ok("127.0.0.1")),
            ("017700000001", Err("127.0.0.1")),
            ("0x7f000001", Err("127.0.0.1")),
            ("10.0.0.010", Err("10.0.0.8")),
            ("256.0.0.1", Err("neither")),
            ("1.2.3.4.5", Err("neither")),
            ("example.123", Err("neither")),
            ("123.example", Ok("123.example")),
            ("0x", Err("0.0.0.0")),
            ("[::1]", Ok("[::1]")),
            ("[0:0:0:0:0:0:0:1]", Ok("[::1]")),
            ("[::ffff:127.0.0.1]", Ok("127.0.0.1")),
            ("[::ffff:7f00:1]", Ok("127.0.0.1")),
            ("[fe80::1%25eth0]", Err("zone")),
            ("[::1", Err("not a valid IPv6")),
            ("[nope]", Err("not a valid IPv6")),
            ("evil.com/x", Err("not a valid host name")),
            ("ex%61mple.com", Err("not a valid host name")),
            ("münchen.de", Err("punycode")),
        ];
        for (host, expected) in cases {
            let got = parse_host(host).map(|h| h.to_string());
            match expected {
                Ok(want) => assert_eq!(got.as_deref(), Ok(*want), "{host:?}"),
                Err(fragment) => {
                    let err = got.expect_err(host);
                    assert!(err.contains(fragment), "{host:?}: {err}");
                }
            }
        }
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn special_purpose_addresses_are_recognised() {
        // (address, Some(fragment of the reason) or None for public)
        let cases: &[(&str, Option<&str>)] = &[
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("2606:4700::1111", None),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("100.127.255.255", Some("carrier-grade NAT")),
            ("100.128.0.1", None),
            ("169.254.1.1", Some("link-local")),
            ("169.254.169.254", Some("cloud metadata")),
            ("100.100.100.200", Some("cloud metadata")),
            ("168.63.129.16", Some("cloud metadata")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("this network")),
            ("224.0.0.1", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("192.0.2.1", Some("documentation")),
            ("198.18.0.1", Some("benchmarking")),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("::ffff:0:127.0.0.1", Some("embedding 127.0.0.1")),
            ("::127.0.0.1", Some("embedding 127.0.0.1")),
            ("::8.8.8.8", Some("IPv4-compatible")),
            ("64:ff9b::127.0.0.1", Some("embedding 127.0.0.1")),
            ("64:ff9b::a9fe:a9fe", Some("cloud metadata")),
            ("64:ff9b::8.8.8.8", None),
            ("64:ff9b:1::1", Some("NAT64")),
            ("2002:7f00:1::", Some("embedding 127.0.0.1")),
            ("2002:0808:0808::", None),
            ("2001::1", Some("Teredo")),
            ("2001:db8::1", Some("documentation")),
            ("fc00::1", Some("unique-local")),
            ("fd12:3456::1", Some("unique-local")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("ff02::1", Some("multicast")),
            ("100::1", Some("discard")),
        ];
        for (text, expected) in cases {
            let got = special_purpose(ip(text));
            match expected {
                None => assert_eq!(got, None, "{text}"),
                Some(fragment) => {
                    let reason = got.unwrap_or_else(|| panic!("{text} should be special"));
                    assert!(reason.contains(fragment), "{text}: {reason}");
                }
            }
        }
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.255.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.1.1")),
            "mapped addresses are IPv4"
        );
        assert!(net.covers(&Cidr::parse("10.1.0.0/16").unwrap()));
        assert!(!net.covers(&Cidr::parse("0.0.0.0/0").unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        assert!(Cidr::parse("127.0.0.1").unwrap().is_single());
        for (bad, fragment) in [
            ("10.0.0.1/8", "host bits"),
            ("10.0.0.0/33", "prefix length"),
            ("10.0.0.0/08", "prefix length"),
            ("10.0.0.0/", "prefix length"),
            ("fd00::1/8", "host bits"),
            ("nope/8", "not an IP"),
            ("0177.0.0.1", "not an IP"),
        ] {
            let err = Cidr::parse(bad).unwrap_err();
            assert!(err.contains(fragment), "{bad}: {err}");
        }
    }
}
