//! `-p`/`--expose` and `--network` values as the docker CLI parses them (go-connections/nat,
//! its `NetworkOpt`), for `ExposedPorts`, `PortBindings` and `NetworkingConfig`.

use std::collections::BTreeMap;

use berth_volume::cli::csv_fields;

/// Published ports: `ExposedPorts` and `PortBindings`, keyed `80/tcp` and sorted as Go sorts
/// map keys in JSON.
#[derive(Debug, Default, PartialEq)]
pub struct Ports {
    pub exposed: BTreeMap<String, ()>,
    pub bindings: BTreeMap<String, Vec<(String, String)>>,
}

/// `-p [ip:][hostPort:]containerPort[/proto]` (ranges allowed), or the long
/// `published=8080,target=80[,protocol=udp]` form, plus `--expose`.
pub fn ports(publish: &[String], expose: &[String]) -> Result<Ports, String> {
    let mut p = Ports::default();
    for spec in publish {
        let spec = if spec.contains('=') {
            let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
            for param in spec.split(',') {
                match param.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        params.insert(k, v);
                    }
                    _ => {
                        return Err(format!(
                            "invalid publish opts format (should be name=value but got '{param}')"
                        ))
                    }
                }
            }
            let g = |k: &str| params.get(k).copied().unwrap_or("");
            format!("{}:{}/{}", g("published"), g("target"), g("protocol"))
        } else {
            spec.clone()
        };
        for (port, binding) in port_spec(&spec)? {
            p.exposed.insert(port.clone(), ());
            p.bindings.entry(port).or_default().push(binding);
        }
    }
    for e in expose {
        if e.contains(':') {
            return Err(format!("invalid port format for --expose: {e}"));
        }
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        let (start, end) = port_range(port)
            .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
        for i in start..=end {
            p.exposed.insert(format!("{i}/{proto}"), ());
        }
    }
    Ok(p)
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let num = |x: &str| {
        x.parse::<u16>()
            .map_err(|_| format!("strconv.ParseUint: parsing {x:?}: invalid syntax"))
    };
    match s.split_once('-') {
        None => num(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("invalid range specified for port: {s}"));
            }
            Ok((a, b))
        }
    }
}

/// A container port key (`80/tcp`) and its (host IP, host port) binding.
type PortMapping = (String, (String, String));

/// One `-p` value as its mappings (one per port of a range).
fn port_spec(raw: &str) -> Result<Vec<PortMapping>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (ip, host_port, container) = match parts.len() {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        n => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (container, proto) = match container.split_once('/') {
        Some((c, p)) => (c, if p.is_empty() { "tcp" } else { p }),
        None => (container, "tcp"),
    };
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let ip = match ip.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        port_range(container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (hstart, hend) = if host_port.is_empty() {
        (0, 0)
    } else {
        let (hs, he) =
            port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != he - hs && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host_port}"
            ));
        }
        (hs, he)
    };
    let count = end - start + 1;
    Ok((0..count)
        .map(|i| {
            let hp = if host_port.is_empty() {
                String::new()
            } else if count == 1 && hstart != hend {
                format!("{hstart}-{hend}")
            } else {
                (hstart + i).to_string()
            };
            (format!("{}/{proto}", start + i), (ip.clone(), hp))
        })
        .collect())
}

/// One `--network` value: a plain name, or the long form `name=n,alias=a,ip=…,…`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NetworkAttachment {
    pub target: String,
    pub aliases: Vec<String>,
    pub ipv4: String,
    pub ipv6: String,
    pub mac: String,
    pub link_local_ips: Vec<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub gw_priority: i64,
}

/// Parses one `--network` value.
pub fn network(value: &str) -> Result<NetworkAttachment, String> {
    // docker's test is the unanchored regexp `\w+=\w+(,\w+=\w+)*`: a word character on
    // both sides of some `=`.
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = value.as_bytes();
    let long = (1..bytes.len().saturating_sub(1))
        .any(|i| bytes[i] == b'=' && word(bytes[i - 1]) && word(bytes[i + 1]));
    let mut n = NetworkAttachment::default();
    if !long {
        n.target = value.to_string();
        return Ok(n);
    }
    for field in csv_fields(value)? {
        let lower = field.to_lowercase();
        let (k, v) = lower
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("invalid field {field}"))?;
        let (k, v) = (k.trim(), v.trim().to_string());
        match k {
            "name" => n.target = v,
            "alias" => n.aliases.push(v),
            "ip" => n.ipv4 = v,
            "ip6" => n.ipv6 = v,
            "mac-address" => n.mac = v,
            "link-local-ip" => n.link_local_ips.push(v),
            "driver-opt" => {
                let (dk, dv) = v
                    .split_once('=')
                    .ok_or_else(|| "invalid key value pair format in driver options".to_string())?;
                n.driver_opts
                    .insert(dk.trim().to_lowercase(), dv.trim().to_lowercase());
            }
            "gw-priority" => {
                n.gw_priority = v
                    .parse()
                    .map_err(|_| format!("invalid gw-priority ({v}): invalid syntax"))?
            }
            other => return Err(format!("invalid field key {other}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_like_nat() {
        let p = ports(
            &[
                "8080:80".into(),
                "127.0.0.1:53:53/udp".into(),
                "9000-9001:90-91".into(),
                "[::1]:1:2".into(),
            ],
            &["7000-7001".into()],
        )
        .unwrap();
        assert_eq!(
            p.exposed.keys().collect::<Vec<_>>(),
            vec!["2/tcp", "53/udp", "7000/tcp", "7001/tcp", "80/tcp", "90/tcp", "91/tcp"]
        );
        assert_eq!(p.bindings["80/tcp"], vec![("".into(), "8080".into())]);
        assert_eq!(
            p.bindings["53/udp"],
            vec![("127.0.0.1".into(), "53".into())]
        );
        assert_eq!(p.bindings["91/tcp"], vec![("".into(), "9001".into())]);
        assert_eq!(p.bindings["2/tcp"], vec![("::1".into(), "1".into())]);
        let long = ports(&["published=8080,target=80,protocol=udp".into()], &[]).unwrap();
        assert_eq!(long.bindings["80/udp"], vec![("".into(), "8080".into())]);
        let dynamic = ports(&["8000-8010:80".into()], &[]).unwrap();
        assert_eq!(
            dynamic.bindings["80/tcp"],
            vec![("".into(), "8000-8010".into())]
        );
        assert_eq!(
            ports(&["80/xyz".into()], &[]).unwrap_err(),
            "invalid proto: xyz"
        );
        assert_eq!(
            ports(&["1.2.3:80:80".into()], &[]).unwrap_err(),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(
            ports(&["abc".into()], &[]).unwrap_err(),
            "invalid containerPort: abc"
        );
    }

    #[test]
    fn network_values() {
        let n = network("name=net1,alias=a,ip=10.0.0.2").unwrap();
        assert_eq!(
            (n.target.as_str(), n.aliases.clone(), n.ipv4.as_str()),
            ("net1", vec!["a".to_string()], "10.0.0.2")
        );
        assert_eq!(network("host").unwrap().target, "host");
        assert!(network("name=,alias=x").is_err());
        assert_eq!(network("container:abc").unwrap().target, "container:abc");
    }
}
