//! Who the client is behind a reverse proxy (Caddy, nginx) on a self-hosted
//! server: `X-Forwarded-For` and `Forwarded` are believed **only** when the
//! connection comes from a trusted proxy (`--trusted-proxy CIDR`), and then
//! the client is the nearest address in the chain that is not itself a
//! trusted proxy — so a client cannot pick its own rate-limit bucket by
//! sending the header, and everyone behind the proxy does not share one.
//!
//! The same trust decides whether the request reached the proxy over HTTPS
//! (`X-Forwarded-Proto`, `Forwarded: proto=`), which turns on HSTS
//! ([`super::security`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ipnet::IpNet;

use super::ClientAddr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

/// Set on a request that reached the trusted proxy over HTTPS.
#[derive(Debug, Clone, Copy)]
pub struct ViaHttps;

impl TrustedProxies {
    /// Parses `127.0.0.1/32`, `10.0.0.0/8`, or a bare address (one host).
    pub fn parse(specs: &[String]) -> Result<TrustedProxies, String> {
        specs
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(canonical_net)
                    .map_err(|_| {
                        format!(
                            "--trusted-proxy {s}: expected an address or a network like 127.0.0.1 or 10.0.0.0/8"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `addr` is one of them (an IPv4-mapped IPv6 address as IPv4).
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request that came from `peer` with `headers`, and
    /// whether it came over HTTPS (as far as a trusted proxy says).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> (IpAddr, bool) {
        if !self.trusts(peer) {
            return (canonical(peer), false);
        }
        let mut chain = forwarded_for(headers);
        let https = forwarded_proto(headers).is_some_and(|p| p.eq_ignore_ascii_case("https"));
        // Nearest first: the last hop a trusted proxy added is the one to believe.
        chain.reverse();
        let client = chain
            .iter()
            .copied()
            .find(|a| !self.trusts(*a))
            .or_else(|| chain.last().copied())
            .unwrap_or(peer);
        (canonical(client), https)
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 one it
/// is, since addresses are compared as IPv4 ([`canonical`]).
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .addr()
            .to_ipv4_mapped()
            .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, IpNet::V4),
        other => other,
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The addresses of `X-Forwarded-For` (what Caddy and nginx set), else —
/// for a proxy that sets only the standard header — of `Forwarded: for=`,
/// farthest first. Never `Forwarded` over `X-Forwarded-For`: a proxy that
/// sets one passes the other on as the client sent it. An element that is
/// not an address (`unknown`, an obfuscated name) ends the chain there:
/// nothing before it is believed.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let x_forwarded: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let items: Vec<String> = if x_forwarded.is_empty() {
        headers
            .get_all("forwarded")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|element| param(element, "for"))
            .collect()
    } else {
        x_forwarded
    };
    let mut out = Vec::new();
    for item in items.iter().rev() {
        match parse_node(item) {
            Some(addr) => out.push(addr),
            None => break,
        }
    }
    out.reverse();
    out
}

/// `X-Forwarded-Proto`, else the nearest `Forwarded: proto=`.
fn forwarded_proto(headers: &HeaderMap) -> Option<String> {
    if let Some(proto) = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        return proto.rsplit(',').next().map(|p| p.trim().to_owned());
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| param(element, "proto"))
        .next_back()
}

/// One `name=value` of a `Forwarded` element (`for="[2001:db8::1]:443"`).
fn param(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// `203.0.113.7`, `203.0.113.7:5000`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(addr, _)| addr.parse().ok())
        })
}

/// Middleware for `mutualaid serve --production`: sets [`ClientAddr`] from
/// the socket, or from the forwarding headers when the socket is a trusted
/// proxy, and [`ViaHttps`] when that proxy says so.
pub async fn client_from_forwarded(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer {
        let (client, https) = trusted.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
        if https {
            request.extensions_mut().insert(ViaHttps);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap()
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(trusted().client(local, &h).0.to_string(), "203.0.113.7");
        assert_eq!(trusted().client(stranger, &h).0, stranger);
    }

    #[test]
    fn a_client_cannot_pick_its_address_by_prepending_one() {
        // The client sent "1.2.3.4"; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.1.2.3")]);
        let (client, _) = trusted().client("127.0.0.1".parse().unwrap(), &h);
        assert_eq!(client.to_string(), "203.0.113.7");
    }

    #[test]
    fn forwarded_is_read_with_ports_brackets_and_proto() {
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";proto=https"#,
        )]);
        let (client, https) = trusted().client("10.0.0.1".parse().unwrap(), &h);
        assert_eq!(client.to_string(), "2001:db8:cafe::17");
        assert!(https);
    }

    #[test]
    fn a_forwarded_header_the_client_sent_does_not_override_the_proxys() {
        // Caddy sets X-Forwarded-For and passes the client's own Forwarded on.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=198.51.100.99"),
        ]);
        let (client, _) = trusted().client("127.0.0.1".parse().unwrap(), &h);
        assert_eq!(client.to_string(), "203.0.113.7");
    }

    #[test]
    fn garbage_in_the_chain_stops_belief_there() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7, unknown")]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(trusted().client(peer, &h).0, peer);
    }

    #[test]
    fn an_ipv4_mapped_network_trusts_its_ipv4_addresses() {
        let trusted = TrustedProxies::parse(&["::ffff:10.0.0.0/104".into()]).unwrap();
        assert!(trusted.trusts("10.1.2.3".parse().unwrap()));
        assert!(trusted.trusts("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!trusted.trusts("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_bad_network_is_refused_with_the_flag_named() {
        let e = TrustedProxies::parse(&["10.0.0.0/99".into()]).unwrap_err();
        assert!(e.contains("--trusted-proxy 10.0.0.0/99"), "{e}");
    }
}
