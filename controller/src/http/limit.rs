//! Who a request comes from, for the rate limit: the connection's peer address, or the
//! right-most `X-Forwarded-For` entry when the peer is a trusted proxy (`--trusted-proxies`).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::HeaderMap;

/// A GCRA rate limiter (the algorithm Bitnami's `throttled` uses), keyed by client.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    tat: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// `rate` requests per second with bursts of `burst`; a rate of 0 disables limiting.
    pub fn new(rate: u32, burst: u32) -> Self {
        let interval = if rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / f64::from(rate))
        };
        Self {
            interval,
            tolerance: interval * burst.max(1),
            tat: Mutex::default(),
        }
    }

    /// Whether a request from `key` at `now` may pass.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        if self.interval.is_zero() {
            return true;
        }
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if tat.len() > 10_000 {
            // Forget idle clients so the map cannot grow without bound.
            tat.retain(|_, t| *t > now);
        }
        let current = tat.get(key).copied().unwrap_or(now).max(now);
        let next = current + self.interval;
        if next.duration_since(now) > self.tolerance {
            return false;
        }
        tat.insert(key.to_owned(), next);
        true
    }
}

/// One address range, `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u128::from(u32::from(ip)), 32, self.prefix) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(ip), 128, self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `bits` with everything after the first `prefix` of `width` bits cleared.
fn mask(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (width - prefix);
    bits & keep & (u128::MAX >> (128 - u32::from(width)))
}

/// A `--trusted-proxies` entry that is not an address or range. Addresses are not secret; the
/// entry is quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// Neither an address nor `address/prefix`.
    #[error("{0:?} is not an IP address or CIDR range")]
    NotAnAddress(String),
    /// A prefix length that is not a number up to the address width.
    #[error("{text:?}: prefix length must be 0-{width}")]
    Prefix {
        /// The entry.
        text: String,
        /// 32 or 128.
        width: u8,
    },
    /// Bits set after the prefix (`10.0.0.1/8`): most likely a typo for another range.
    #[error("{text:?} has host bits set; the range is {base}/{prefix}")]
    HostBits {
        /// The entry.
        text: String,
        /// The range's first address.
        base: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::NotAnAddress(text.to_owned()))?;
        let network = network.to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| CidrError::Prefix {
                    text: text.to_owned(),
                    width,
                })?,
        };
        let cidr = Self { network, prefix };
        if !cidr.contains(network) {
            let bits = match network {
                IpAddr::V4(v) => u128::from(u32::from(v)),
                IpAddr::V6(v) => u128::from(v),
            };
            let masked = mask(bits, width, prefix);
            let base = if width == 32 {
                IpAddr::from(std::net::Ipv4Addr::from(masked as u32))
            } else {
                IpAddr::from(std::net::Ipv6Addr::from(masked))
            };
            return Err(CidrError::HostBits {
                text: text.to_owned(),
                base,
                prefix,
            });
        }
        Ok(cidr)
    }
}

/// `--trusted-proxies`: the peers whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDR ranges or addresses; empty trusts nobody.
    pub fn parse(list: &str) -> Result<Self, CidrError> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `peer` is a trusted proxy.
    pub fn contains(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(peer))
    }

    /// The client a request counts against. The connection's peer, unless the peer is a trusted
    /// proxy: then the right-most `X-Forwarded-For` entry, the address that proxy itself saw
    /// (everything left of it was written by the client and proves nothing). A missing or
    /// unreadable entry leaves the peer.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .and_then(|e| {
                e.parse::<IpAddr>()
                    .ok()
                    .or_else(|| e.parse::<SocketAddr>().ok().map(|s| s.ip()))
            })
            .map_or(peer, |ip| ip.to_canonical())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn gcra_allows_burst_then_rate() {
        let l = RateLimiter::new(2, 2);
        let t0 = Instant::now();
        assert!(l.allow("a", t0));
        assert!(l.allow("a", t0));
        assert!(!l.allow("a", t0), "burst of 2 used up");
        assert!(l.allow("b", t0), "other clients are independent");
        assert!(l.allow("a", t0 + Duration::from_millis(600)));
        assert!(RateLimiter::new(0, 0).allow("a", t0));
    }

    #[test]
    fn cidrs_parse_and_match() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7,fd00::/8").unwrap();
        assert!(t.contains("10.200.3.4".parse().unwrap()));
        assert!(t.contains("::ffff:10.1.1.1".parse().unwrap()), "mapped v4");
        assert!(t.contains("192.168.1.7".parse().unwrap()));
        assert!(!t.contains("192.168.1.8".parse().unwrap()));
        assert!(t.contains("fd12::1".parse().unwrap()));
        assert!(!t.contains("fe80::1".parse().unwrap()));
        assert!(!t.contains("11.0.0.1".parse().unwrap()));
        assert_eq!(TrustedProxies::parse(""), Ok(TrustedProxies::default()));
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        for (bad, says) in [
            ("10.0.0.1/8", "host bits set; the range is 10.0.0.0/8"),
            ("10.0.0.0/33", "prefix length must be 0-32"),
            ("fd00::/129", "prefix length must be 0-128"),
            ("example.com", "not an IP address or CIDR range"),
            ("10.0.0.0/", "prefix length"),
        ] {
            let e = TrustedProxies::parse(&format!("127.0.0.1,{bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forged_forwarded_for_from_an_untrusted_peer_is_limited() {
        let trusted = TrustedProxies::parse("10.96.0.0/12").unwrap();
        let peer: SocketAddr = "10.244.1.5:40000".parse().unwrap();
        let limiter = RateLimiter::new(2, 2);
        let now = Instant::now();
        let allowed = (0..100)
            .filter(|i| {
                let client = trusted.client(peer, &xff(&[&format!("203.0.113.{i}")]));
                assert_eq!(client, peer.ip(), "an untrusted peer's header is ignored");
                limiter.allow(&format!("/v1/verify|{client}"), now)
            })
            .count();
        assert_eq!(allowed, 2, "100 forged headers: only the burst passes");
    }

    #[test]
    fn from_a_trusted_peer_the_right_most_entry_is_the_client() {
        let trusted = TrustedProxies::parse("10.96.0.0/12").unwrap();
        let proxy: SocketAddr = "10.96.0.1:443".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            trusted.client(proxy, &xff(&["1.1.1.1, 2.2.2.2", "3.3.3.3, 4.4.4.4"])),
            ip("4.4.4.4")
        );
        assert_eq!(
            trusted.client(proxy, &xff(&["5.5.5.5:8080"])),
            ip("5.5.5.5")
        );
        assert_eq!(
            trusted.client(proxy, &xff(&["[fd00::1]:80"])),
            ip("fd00::1")
        );
        assert_eq!(
            trusted.client(proxy, &xff(&["1.1.1.1, junk"])),
            ip("10.96.0.1")
        );
        assert_eq!(trusted.client(proxy, &HeaderMap::new()), ip("10.96.0.1"));
        // Behind a trusted proxy, a client's forged left-hand entries change nothing.
        let limiter = RateLimiter::new(2, 2);
        let now = Instant::now();
        let allowed = (0..100)
            .filter(|i| {
                let client =
                    trusted.client(proxy, &xff(&[&format!("203.0.113.{i}, 198.51.100.9")]));
                limiter.allow(&format!("/v1/verify|{client}"), now)
            })
            .count();
        assert_eq!(allowed, 2);
    }
}
