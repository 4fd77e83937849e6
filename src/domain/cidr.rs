//! Address ranges: a token's allowed addresses and the trusted proxies, as CIDR blocks.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 range, normalized: the host bits are zero, so `10.1.2.3/8` is `10.0.0.0/8`,
/// and a bare address is its own `/32` or `/128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("“{0}” is not an IPv4 or IPv6 address or range (like 203.0.113.0/24 or 2001:db8::/32).")]
pub struct CidrError(pub String);

/// An address as ranges compare it: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
/// dual-stack socket reports for an IPv4 client) is that IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// An address as it is stored and shown: what `Display` writes, IPv4 without the formatting
/// machinery, which cost as much as the rest of a bearer request's activity record did
/// (docs/benchmarks.md).
pub fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(itoa::Buffer::new().format(octet));
    }
    text
}

impl Cidr {
    /// A range as the API takes it: exactly what `pattern()` matches, no surrounding space.
    pub fn parse(raw: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(raw.chars().take(60).collect());
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Decimal as people write it: `u8::from_str` would also take `+8` and `08`,
            // which no pattern the document can state would match.
            Some(p) if is_decimal(p) => {
                p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
        };
        // An IPv4-mapped IPv6 range inside the mapped block (`::ffff:192.0.2.0/120`) is the
        // IPv4 range it maps (`192.0.2.0/24`), as a dual-stack socket's mapped client address
        // is compared as IPv4 (`canonical`); a wider IPv6 range stays IPv6.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            IpAddr::V4(_) | IpAddr::V6(_) => (addr, prefix),
        };
        Ok(Cidr {
            network: mask(addr, prefix),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

fn is_decimal(p: &str) -> bool {
    (1..=3).contains(&p.len())
        && p.bytes().all(|b| b.is_ascii_digit())
        && (p == "0" || !p.starts_with('0'))
}

/// What `Cidr::parse` takes, as the regular expression `/api/openapi.json` states for each
/// allowed address (a unit test keeps the two in step): an IPv4 address or RFC 3986's
/// IPv6address (one alternative per place of the `::`), each with an optional prefix length
/// its family allows.
pub fn pattern() -> String {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let v4 = format!("{octet}(?:\\.{octet}){{3}}");
    let h = "[0-9A-Fa-f]{1,4}";
    let ls32 = format!("(?:{h}:{h}|{v4})");
    let v6 = [
        format!("(?:{h}:){{6}}{ls32}"),
        format!("::(?:{h}:){{5}}{ls32}"),
        format!("(?:{h})?::(?:{h}:){{4}}{ls32}"),
        format!("(?:(?:{h}:)?{h})?::(?:{h}:){{3}}{ls32}"),
        format!("(?:(?:{h}:){{0,2}}{h})?::(?:{h}:){{2}}{ls32}"),
        format!("(?:(?:{h}:){{0,3}}{h})?::{h}:{ls32}"),
        format!("(?:(?:{h}:){{0,4}}{h})?::{ls32}"),
        format!("(?:(?:{h}:){{0,5}}{h})?::{h}"),
        format!("(?:(?:{h}:){{0,6}}{h})?::"),
    ]
    .join("|");
    format!(
        "^(?:{v4}(?:/(?:3[0-2]|[12]?[0-9]))?|(?:{v6})(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
    )
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = bits.checked_shr(32 - u32::from(prefix)).unwrap_or(0);
            let masked = kept.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(masked))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = bits.checked_shr(128 - u32::from(prefix)).unwrap_or(0);
            let masked = kept.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(masked))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A setting's list (`--trusted-proxies 10.0.0.0/8, 192.168.0.0/16`) may have spaces after
/// its commas.
impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        Cidr::parse(s.trim())
    }
}

/// The addresses a token may be used from: none listed means anywhere. Sorted, without
/// repeats, at most `MAX`; stored as `203.0.113.0/24,2001:db8::/32` (empty: anywhere).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Default,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct AllowedIps(Vec<Cidr>);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllowedIpsError {
    #[error(transparent)]
    Invalid(#[from] CidrError),
    #[error("List at most {} addresses or ranges.", AllowedIps::MAX)]
    TooMany,
}

impl AllowedIps {
    pub const MAX: usize = 20;

    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<AllowedIps, AllowedIpsError> {
        let mut cidrs = list
            .iter()
            .map(|s| Cidr::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        cidrs.sort();
        cidrs.dedup();
        if cidrs.len() > AllowedIps::MAX {
            return Err(AllowedIpsError::TooMany);
        }
        Ok(AllowedIps(cidrs))
    }

    /// Anywhere when none are listed; otherwise only from a listed range. An unknown address
    /// (no socket address) is not in any range.
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        self.0.is_empty() || ip.is_some_and(|ip| self.0.iter().any(|c| c.contains(ip)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Cidr> {
        self.0.iter()
    }

    pub(super) fn to_db(&self) -> String {
        self.0
            .iter()
            .map(Cidr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A stored entry that no longer parses is dropped. (Never reached: only `parse` writes.)
    pub(super) fn from_db(s: &str) -> AllowedIps {
        AllowedIps(s.split(',').filter_map(|c| Cidr::parse(c).ok()).collect())
    }
}

/// In JSON: `["203.0.113.0/24", "2001:db8::/32"]`; `[]` for anywhere.
impl serde::Serialize for AllowedIps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Cidr::to_string))
    }
}

impl utoipa::PartialSchema for AllowedIps {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(pattern()))
                    .examples(["203.0.113.0/24"]),
            )
            .max_items(Some(AllowedIps::MAX))
            .description(Some(
                "CIDR ranges (IPv4 or IPv6; a bare address is its own range) the token may be \
                 used from; empty: anywhere.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for AllowedIps {}

super::text_column!(AllowedIps, |v| v.to_db(), |s| AllowedIps::from_db(&s));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "192.0.2.1",
            "10.20.255.9",
            "255.255.255.255",
            "2001:db8::1",
            "::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_normalized() {
        let c = |s: &str| Cidr::parse(s).map(|c| c.to_string());
        assert_eq!(c("10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert_eq!(c("203.0.113.7").unwrap(), "203.0.113.7/32");
        assert_eq!(
            " 203.0.113.7 ".parse::<Cidr>().unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(c("2001:DB8::1/32").unwrap(), "2001:db8::/32");
        assert_eq!(c("::ffff:192.0.2.1").unwrap(), "192.0.2.1/32");
        assert_eq!(c("::ffff:192.0.2.1/120").unwrap(), "192.0.2.0/24");
        assert_eq!(c("::ffff:c000:201/127").unwrap(), "192.0.2.0/31");
        assert_eq!(c("::ffff:192.0.2.1/95").unwrap(), "::fffe:0:0/95");
        assert_eq!(c("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(c("::/0").unwrap(), "::/0");
        for bad in [
            "",
            "/8",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "example.com",
            "10.0.0",
            "10.0.0.0/8/8",
            "10.0.0.0/08",
            " 10.0.0.1",
            "fe80::1%eth0",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn membership() {
        let net = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(net.contains(ip("192.0.2.255")));
        assert!(net.contains(ip("::ffff:192.0.2.9")), "IPv4-mapped");
        assert!(!net.contains(ip("192.0.3.0")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("192.0.2.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn allowed_lists() {
        assert!(AllowedIps::default().allows(None), "empty: anywhere");
        let list = AllowedIps::parse(&["2001:db8::/32", "192.0.2.0/24", "192.0.2.7/24"]).unwrap();
        assert_eq!(list.to_db(), "192.0.2.0/24,2001:db8::/32");
        assert_eq!(AllowedIps::from_db(&list.to_db()), list);
        assert!(list.allows(Some(ip("192.0.2.1"))));
        assert!(!list.allows(Some(ip("198.51.100.1"))));
        assert!(!list.allows(None));
        let many: Vec<String> = (0..=20).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(AllowedIps::parse(&many), Err(AllowedIpsError::TooMany));
        assert_eq!(AllowedIps::parse(&many[..20]).unwrap().iter().count(), 20);
    }

    /// The pattern matches exactly the strings `parse` takes, over strings built from the
    /// pieces addresses are made of (valid, nearly valid and broken).
    #[test]
    fn the_pattern_says_what_parse_takes() {
        use rand::{Rng, SeedableRng};
        let pattern = regex_lite::Regex::new(&pattern()).unwrap();
        let pieces = [
            "",
            "0",
            "1",
            "ff",
            "FFFF",
            "ffff",
            "12345",
            "abcd",
            "g",
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "0.0.0.0",
            "10.0.0",
            ":",
            "::",
            ".",
            "/",
            "/0",
            "/32",
            "/33",
            "/128",
            "/129",
            "/08",
            "/+8",
            " ",
            "%eth0",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut valid = 0;
        for _ in 0..200_000 {
            let mut s = String::new();
            for i in 0..rng.gen_range(1..12) {
                if i > 0 && rng.gen_bool(0.6) {
                    s.push(':');
                }
                s.push_str(pieces[rng.gen_range(0..pieces.len())]);
            }
            let parsed = Cidr::parse(&s).is_ok();
            valid += usize::from(parsed);
            assert_eq!(pattern.is_match(&s), parsed, "{s:?}");
        }
        assert!(valid > 1_000, "the sample holds valid ranges too: {valid}");
    }
}
