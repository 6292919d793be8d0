//! Published ports: what `HostConfig.PortBindings`, `PublishAllPorts` and `ExposedPorts` ask
//! for, and the host ports taken for them. A taken port is held by a socket bound to it (never
//! accepted on: the kernel's DNAT sends the traffic to the container before it could reach
//! the socket), so that a second container, or a host program, cannot take it meanwhile and a
//! port already in use is refused at start with Docker's words.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use serde_json::Value;

use crate::error::NetworkError;

/// One port to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub container_port: u16,
    pub proto: String,
    /// Empty: every address.
    pub host_ip: String,
    /// `(0, 0)`: any free port; otherwise the first free one of the range.
    pub host_ports: (u16, u16),
}

impl PortRequest {
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

fn port_key(key: &str) -> Result<(u16, String), NetworkError> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = if proto.is_empty() { "tcp" } else { proto };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(NetworkError::Invalid(format!("invalid proto: {proto}")));
    }
    let port: u16 =
        port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
            NetworkError::Invalid(format!("invalid port specification: \"{key}\""))
        })?;
    Ok((port, proto.to_string()))
}

fn host_ports(s: &str) -> Result<(u16, u16), NetworkError> {
    let bad = || NetworkError::Invalid(format!("invalid port specification: \"{s}\""));
    if s.is_empty() {
        return Ok((0, 0));
    }
    let num = |x: &str| x.parse::<u16>().map_err(|_| bad());
    match s.split_once('-') {
        None => {
            let p = num(s)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b || a == 0 {
                return Err(bad());
            }
            Ok((a, b))
        }
    }
}

/// The ports a container publishes, in key order.
pub fn requests(
    bindings: Option<&serde_json::Map<String, Value>>,
    exposed: Option<&serde_json::Map<String, Value>>,
    publish_all: bool,
) -> Result<Vec<PortRequest>, NetworkError> {
    let mut out = Vec::new();
    for (key, list) in bindings.into_iter().flatten() {
        let (port, proto) = port_key(key)?;
        for b in list.as_array().into_iter().flatten() {
            let host_ip = b["HostIp"].as_str().unwrap_or("").to_string();
            if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
                return Err(NetworkError::Invalid(format!(
                    "invalid host IP {host_ip:?}: berth publishes ports on IPv4 addresses"
                )));
            }
            out.push(PortRequest {
                container_port: port,
                proto: proto.clone(),
                host_ip,
                host_ports: host_ports(b["HostPort"].as_str().unwrap_or(""))?,
            });
        }
    }
    if publish_all {
        for key in exposed.into_iter().flatten().map(|(k, _)| k) {
            let (port, proto) = port_key(key)?;
            if !out
                .iter()
                .any(|r| r.container_port == port && r.proto == proto)
            {
                out.push(PortRequest {
                    container_port: port,
                    proto,
                    host_ip: String::new(),
                    host_ports: (0, 0),
                });
            }
        }
    }
    out.sort_by_key(|r| (r.container_port, r.proto.clone()));
    Ok(out)
}

/// A host port held for a container.
#[derive(Debug)]
pub enum Hold {
    Tcp(TcpListener),
    Udp(UdpSocket),
    /// SCTP: not held (no socket type for it in std); the DNAT alone publishes it.
    None,
}

fn bind(proto: &str, ip: Ipv4Addr, port: u16) -> std::io::Result<(Hold, u16)> {
    let addr = SocketAddrV4::new(ip, port);
    match proto {
        "tcp" => {
            let l = TcpListener::bind(addr)?;
            let p = l.local_addr()?.port();
            Ok((Hold::Tcp(l), p))
        }
        "udp" => {
            let s = UdpSocket::bind(addr)?;
            let p = s.local_addr()?.port();
            Ok((Hold::Udp(s), p))
        }
        _ => Ok((Hold::None, port)),
    }
}

/// Takes a host port for `r`: the one asked for, the first free one of its range, or any.
pub fn take(r: &PortRequest) -> Result<(u16, Hold), NetworkError> {
    let ip: Ipv4Addr = if r.host_ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        r.host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    };
    let shown = if r.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        r.host_ip.as_str()
    };
    let (lo, hi) = r.host_ports;
    if lo == 0 {
        if r.proto == "sctp" {
            return Err(NetworkError::Invalid(
                "an ephemeral host port for sctp is not supported yet by berth; give one".into(),
            ));
        }
        let (h, p) = bind(&r.proto, ip, 0).map_err(|e| {
            NetworkError::Unavailable(format!("failed to find a free port on {shown}: {e}"))
        })?;
        return Ok((p, h));
    }
    let mut last = None;
    for port in lo..=hi {
        match bind(&r.proto, ip, port) {
            Ok((h, p)) => return Ok((p, h)),
            Err(e) => last = Some(e),
        }
    }
    let what = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    };
    Err(NetworkError::Unavailable(format!(
        "Bind for {shown}:{what} failed: port is already allocated{}",
        last.filter(|e| e.kind() != std::io::ErrorKind::AddrInUse)
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn bindings_exposed_ports_and_ranges() {
        let b = map(
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}], "53/udp": [{"HostPort": "5300-5310"}]}),
        );
        let e = map(json!({"80/tcp": {}, "443/tcp": {}}));
        let r = requests(Some(&b), Some(&e), true).unwrap();
        let keys: Vec<(String, String, (u16, u16))> = r
            .iter()
            .map(|r| (r.key(), r.host_ip.clone(), r.host_ports))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("53/udp".into(), "".into(), (5300, 5310)),
                ("80/tcp".into(), "".into(), (8080, 8080)),
                ("80/tcp".into(), "127.0.0.1".into(), (0, 0)),
                ("443/tcp".into(), "".into(), (0, 0)),
            ]
        );
        // Exposed alone publishes nothing.
        assert!(requests(None, Some(&e), false).unwrap().is_empty());
        for bad in [
            json!({"99999/tcp": []}),
            json!({"80/icmp": []}),
            json!({"80/tcp": [{"HostPort": "abc"}]}),
            json!({"80/tcp": [{"HostPort": "9-3"}]}),
        ] {
            assert!(
                requests(Some(&map(bad.clone())), None, false).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_held_port_is_refused_to_the_next() {
        let r = PortRequest {
            container_port: 80,
            proto: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_ports: (0, 0),
        };
        let (port, _hold) = take(&r).unwrap();
        assert!(port > 0);
        let again = PortRequest {
            host_ports: (port, port),
            ..r.clone()
        };
        let e = take(&again).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        // A range moves on to the next free port.
        let range = PortRequest {
            host_ports: (port, port.saturating_add(5)),
            ..r
        };
        let (next, _h) = take(&range).unwrap();
        assert_ne!(next, port);
    }
}
