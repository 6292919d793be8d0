//! berth's packet filter rules, through the `iptables` binary.
//!
//! Why the binary: this host's iptables is the nf_tables backend, and rules made through it
//! are the ones a user lists and edits with the `iptables` they know, beside Docker's; no
//! well-kept Rust crate speaks nf_tables netlink for `iptables-nft`'s compatible rule
//! format, and writing raw nftables would hide berth's rules from `iptables -S`. The rules
//! change at daemon start, network create/remove and for published ports only, so the cost of
//! a process per batch (`iptables-restore --noflush`, one for many rules) stays off
//! ordinary container starts.
//!
//! Everything berth adds lives in chains of its own, named from a prefix (`BERTH` for the
//! default bridge `berth0`), with one jump from each built-in chain it needs; rules berth did
//! not make are never touched. A `<prefix>-USER` chain is jumped to first from `FORWARD`, as
//! `DOCKER-USER` is, for the user's own rules.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::ipam::Subnet;

/// Runs rule changes; the real one calls iptables, tests record what would run.
pub trait Firewall: Send + Sync {
    /// Applies `iptables-restore --noflush` input (several tables and rules in one go).
    fn restore(&self, input: &str) -> io::Result<()>;
    /// Whether a rule exists (`iptables -t table -C chain …`).
    fn exists(&self, table: &str, chain: &str, rule: &[String]) -> bool;
    /// Makes a chain if it is missing.
    fn ensure_chain(&self, table: &str, chain: &str) -> io::Result<()>;
    /// The rules of a chain, as `-A` lines (`iptables -S chain`).
    fn list(&self, table: &str, chain: &str) -> io::Result<Vec<String>>;
}

/// The host's iptables.
pub struct Iptables;

fn iptables(args: &[&str]) -> io::Result<std::process::Output> {
    Command::new("iptables")
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .output()
}

impl Firewall for Iptables {
    fn restore(&self, input: &str) -> io::Result<()> {
        let mut child = Command::new("iptables-restore")
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "iptables-restore: {}\n{input}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn exists(&self, table: &str, chain: &str, rule: &[String]) -> bool {
        let mut args = vec!["-t", table, "-C", chain];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args).is_ok_and(|o| o.status.success())
    }

    fn ensure_chain(&self, table: &str, chain: &str) -> io::Result<()> {
        if iptables(&["-t", table, "-S", chain, "1"])?.status.success() {
            return Ok(());
        }
        let out = iptables(&["-t", table, "-N", chain])?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "iptables -t {table} -N {chain}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn list(&self, table: &str, chain: &str) -> io::Result<Vec<String>> {
        let out = iptables(&["-t", table, "-S", chain])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("-A "))
            .map(str::to_string)
            .collect())
    }
}

/// The names of berth's chains for one daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    /// nat: published ports (DNAT); filter: their ACCEPTs.
    pub ports: String,
    /// filter: jumped to from FORWARD.
    pub forward: String,
    /// filter: networks kept apart from each other.
    pub isolate: String,
    /// filter: the user's own rules, first.
    pub user: String,
    /// nat: NAT out of the networks.
    pub postrouting: String,
}

impl Chains {
    pub fn new(prefix: &str) -> Chains {
        Chains {
            ports: prefix.to_string(),
            forward: format!("{prefix}-FORWARD"),
            isolate: format!("{prefix}-ISOLATION"),
            user: format!("{prefix}-USER"),
            postrouting: format!("{prefix}-POSTROUTING"),
        }
    }

    /// The chain prefix of a daemon whose default bridge is `bridge`: `BERTH` for `berth0`,
    /// `BERTH-<bridge>` otherwise (several daemons on one host, as the tests run them).
    pub fn prefix_for(bridge: &str) -> String {
        if bridge == "berth0" {
            "BERTH".into()
        } else {
            format!("BERTH-{bridge}")
        }
    }

    /// The jumps from built-in chains: (table, chain, rule), in the order they are put first.
    pub fn jumps(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            ("filter", "FORWARD", v(&["-j", &self.forward])),
            ("filter", "FORWARD", v(&["-j", &self.user])),
            (
                "nat",
                "PREROUTING",
                v(&["-m", "addrtype", "--dst-type", "LOCAL", "-j", &self.ports]),
            ),
            (
                "nat",
                "OUTPUT",
                v(&["-m", "addrtype", "--dst-type", "LOCAL", "-j", &self.ports]),
            ),
            ("nat", "POSTROUTING", v(&["-j", &self.postrouting])),
        ]
    }

    /// `(table, chain)` of every chain of berth's.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        vec![
            ("filter", self.user.clone()),
            ("filter", self.forward.clone()),
            ("filter", self.isolate.clone()),
            ("filter", self.ports.clone()),
            ("nat", self.ports.clone()),
            ("nat", self.postrouting.clone()),
        ]
    }
}

/// What a bridge network needs from the filter: NAT out (unless internal), traffic between
/// its containers (unless `enable_icc` is off), replies in, and isolation from berth's other
/// networks. Returned as `(table, chain, rule)` in order.
pub fn network_rules(
    c: &Chains,
    bridge: &str,
    subnet: &Subnet,
    internal: bool,
    icc: bool,
) -> Vec<(&'static str, String, Vec<String>)> {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let sub = subnet.to_string();
    let mut r = vec![
        // Other berth networks drop what comes from this one; this one what others send.
        (
            "filter",
            c.isolate.clone(),
            v(&["-o", bridge, "-j", "DROP"]),
        ),
        (
            "filter",
            c.forward.clone(),
            v(&["-i", bridge, "!", "-o", bridge, "-j", &c.isolate]),
        ),
        (
            "filter",
            c.forward.clone(),
            v(&[
                "-o",
                bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ]),
        ),
        (
            "filter",
            c.forward.clone(),
            v(&["-o", bridge, "-j", &c.ports]),
        ),
        (
            "filter",
            c.forward.clone(),
            v(&[
                "-i",
                bridge,
                "-o",
                bridge,
                "-j",
                if icc { "ACCEPT" } else { "DROP" },
            ]),
        ),
    ];
    if internal {
        r.push((
            "filter",
            c.forward.clone(),
            v(&["-i", bridge, "!", "-o", bridge, "-j", "DROP"]),
        ));
        r.push((
            "filter",
            c.forward.clone(),
            v(&["!", "-i", bridge, "-o", bridge, "-j", "DROP"]),
        ));
    } else {
        r.push((
            "filter",
            c.forward.clone(),
            v(&["-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"]),
        ));
        r.push((
            "nat",
            c.postrouting.clone(),
            v(&["-s", &sub, "!", "-o", bridge, "-j", "MASQUERADE"]),
        ));
        // Published ports reached from the host's own loopback (route_localnet on the bridge).
        r.push((
            "nat",
            c.postrouting.clone(),
            v(&[
                "-o",
                bridge,
                "-m",
                "addrtype",
                "--src-type",
                "LOCAL",
                "-j",
                "MASQUERADE",
            ]),
        ));
    }
    r
}

/// One published port: host address and port, the container's address and port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortRule {
    pub proto: String,
    /// Empty: every host address.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    pub bridge: String,
}

/// The DNAT and ACCEPT rules of published ports.
pub fn port_rules(c: &Chains, p: &PortRule) -> Vec<(&'static str, String, Vec<String>)> {
    let mut dnat = vec!["-p".to_string(), p.proto.clone()];
    if !p.host_ip.is_empty() && p.host_ip != "0.0.0.0" {
        dnat.extend(["-d".into(), format!("{}/32", p.host_ip)]);
    }
    dnat.extend([
        "-m".into(),
        p.proto.clone(),
        "--dport".into(),
        p.host_port.to_string(),
        "-j".into(),
        "DNAT".into(),
        "--to-destination".into(),
        format!("{}:{}", p.container_ip, p.container_port),
    ]);
    let accept = vec![
        "-d".to_string(),
        format!("{}/32", p.container_ip),
        "!".into(),
        "-i".into(),
        p.bridge.clone(),
        "-o".into(),
        p.bridge.clone(),
        "-p".into(),
        p.proto.clone(),
        "-m".into(),
        p.proto.clone(),
        "--dport".into(),
        p.container_port.to_string(),
        "-j".into(),
        "ACCEPT".into(),
    ];
    vec![
        ("nat", c.ports.clone(), dnat),
        ("filter", c.ports.clone(), accept),
    ]
}

/// `iptables-restore` input appending (`-A`) or deleting (`-D`) rules.
pub fn restore_input(op: &str, rules: &[(&'static str, String, Vec<String>)]) -> String {
    let mut out = String::new();
    for table in ["filter", "nat"] {
        let lines: Vec<String> = rules
            .iter()
            .filter(|(t, _, _)| *t == table)
            .map(|(_, chain, r)| format!("{op} {chain} {}", quote(r)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("*{table}\n"));
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}

fn quote(rule: &[String]) -> String {
    rule.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Flushes berth's chains (making any that are missing) and puts the jumps in place once.
pub fn reset_chains(fw: &dyn Firewall, c: &Chains) -> io::Result<()> {
    for (table, chain) in c.all() {
        fw.ensure_chain(table, &chain)?;
    }
    let mut flush = String::new();
    for table in ["filter", "nat"] {
        flush.push_str(&format!("*{table}\n"));
        for (t, chain) in c.all() {
            if t == table {
                flush.push_str(&format!("-F {chain}\n"));
            }
        }
        flush.push_str("COMMIT\n");
    }
    fw.restore(&flush)?;
    // The user chain passes everything on unless the user says otherwise.
    fw.restore(&format!("*filter\n-A {} -j RETURN\nCOMMIT\n", c.user))?;
    for (table, chain, rule) in c.jumps() {
        if !fw.exists(table, chain, &rule) {
            fw.restore(&format!(
                "*{table}\n-I {chain} 1 {}\nCOMMIT\n",
                quote(&rule)
            ))?;
        }
    }
    Ok(())
}

/// Removes every rule and chain of berth's (clean shutdown with nothing running, tests).
pub fn remove_chains(fw: &dyn Firewall, c: &Chains) -> io::Result<()> {
    for (table, chain, rule) in c.jumps() {
        while fw.exists(table, chain, &rule) {
            fw.restore(&format!("*{table}\n-D {chain} {}\nCOMMIT\n", quote(&rule)))?;
        }
    }
    for table in ["filter", "nat"] {
        let chains: Vec<String> = c
            .all()
            .into_iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, ch)| ch)
            .collect();
        let mut s = format!("*{table}\n");
        for ch in &chains {
            s.push_str(&format!("-F {ch}\n"));
        }
        for ch in &chains {
            s.push_str(&format!("-X {ch}\n"));
        }
        s.push_str("COMMIT\n");
        // A chain already gone makes the batch fail: remove one by one then.
        if fw.restore(&s).is_err() {
            for ch in &chains {
                let _ = fw.restore(&format!("*{table}\n-F {ch}\n-X {ch}\nCOMMIT\n"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_render_as_iptables_takes_them() {
        let c = Chains::new(&Chains::prefix_for("berth0"));
        assert_eq!(c.forward, "BERTH-FORWARD");
        assert_eq!(Chains::prefix_for("bt0001"), "BERTH-bt0001");
        let net = network_rules(&c, "berth0", &"172.17.0.0/16".parse().unwrap(), false, true);
        let text = restore_input("-A", &net);
        assert!(
            text.starts_with("*filter\n-A BERTH-ISOLATION -o berth0 -j DROP\n"),
            "{text}"
        );
        assert!(text.contains("-A BERTH-POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE\n"));
        assert!(text.contains("-A BERTH-FORWARD -i berth0 -o berth0 -j ACCEPT\n"));
        let internal = restore_input(
            "-A",
            &network_rules(&c, "br-x", &"10.0.0.0/24".parse().unwrap(), true, false),
        );
        assert!(!internal.contains("MASQUERADE") && internal.contains("-i br-x -o br-x -j DROP"));
        let p = PortRule {
            proto: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: 8080,
            container_ip: "172.17.0.2".parse().unwrap(),
            container_port: 80,
            bridge: "berth0".into(),
        };
        let text = restore_input("-A", &port_rules(&c, &p));
        assert_eq!(
            text,
            "*filter\n-A BERTH -d 172.17.0.2/32 ! -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n*nat\n-A BERTH -p tcp -d 127.0.0.1/32 -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n"
        );
    }
}
