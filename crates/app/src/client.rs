//! The client's address: the peer of the connection, or, when that peer is a configured trusted
//! proxy, the address it forwarded (`Forwarded: for=` of RFC 7239, else `X-Forwarded-For`), walked
//! from the nearest hop back while each hop is itself trusted. A header from anyone else is ignored,
//! so a client cannot pick the address its requests are counted under.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An address block, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    net: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    pub fn parse(raw: &str) -> Result<TrustedProxy, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| format!("{raw:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{raw:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(TrustedProxy { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => (u128::from(u32::from(v4)), 32),
                    None => (u128::from(v6), 128),
                },
            }
        };
        let ((net, width), (ip, ip_width)) = (bits(self.net), bits(ip));
        if width != ip_width {
            return false;
        }
        let host_bits = width - u32::from(self.prefix);
        host_bits >= width || (net >> host_bits) == (ip >> host_bits)
    }
}

/// The forwarded chain, nearest hop last, from `Forwarded` if present, else `X-Forwarded-For`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect::<Vec<_>>();
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|elem| {
                elem.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v.trim().trim_matches('"')))?
                })
            })
            .collect();
    }
    values("x-forwarded-for").iter().flat_map(|v| v.split(',')).filter_map(|v| parse_node(v.trim())).collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.parse().ok().or_else(|| raw.rsplit_once(':').and_then(|(host, _)| host.parse().ok()))
}

/// The address requests are counted under.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[TrustedProxy]) -> Option<IpAddr> {
    let mut current = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(current) {
        return Some(current);
    }
    for hop in forwarded_chain(headers).into_iter().rev() {
        current = hop;
        if !is_trusted(current) {
            break;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap_or(axum::http::header::FORWARDED),
                v.parse().unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn hardening_forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies = [TrustedProxy::parse("10.0.0.0/8").unwrap_or(TrustedProxy { net: ip("10.0.0.0"), prefix: 8 })];
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
        // From the proxy: the nearest untrusted hop.
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &xff, &proxies), Some(ip("203.0.113.9")));
        // From anyone else: the header is theirs to invent, so it is ignored.
        assert_eq!(client_ip(Some(ip("198.51.100.7")), &xff, &proxies), Some(ip("198.51.100.7")));
        // A client prepending a fake hop does not pick its address.
        let spoof = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &spoof, &proxies), Some(ip("203.0.113.9")));
        let fwd = headers(&[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https, for=10.2.2.2")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &fwd, &proxies), Some(ip("2001:db8::7")));
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &fwd, &[]), Some(ip("10.0.0.1")));
    }

    #[test]
    fn trusted_proxy_blocks_parse_and_match() {
        let p = TrustedProxy::parse("192.168.0.0/16").unwrap_or(TrustedProxy { net: ip("0.0.0.0"), prefix: 32 });
        assert!(p.contains(ip("192.168.4.5")) && !p.contains(ip("192.169.0.1")));
        assert!(TrustedProxy::parse("::1").is_ok_and(|p| p.contains(ip("::1"))));
        assert!(TrustedProxy::parse("0.0.0.0/0").is_ok_and(|p| p.contains(ip("8.8.8.8"))));
        assert!(TrustedProxy::parse("10.0.0.0/33").is_err() && TrustedProxy::parse("proxy").is_err());
    }
}
