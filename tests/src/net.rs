//! Each test's berthd gets a bridge and a subnet of its own, and what it leaves of them (a
//! killed daemon leaves its bridges and firewall chains) is removed with it.

use std::path::Path;
use std::process::Command;

/// A bridge name and `--bip` no other test uses: `bt` and eight hex digits, and a /24 of
/// 10.64.0.0/10 that the host does not route.
pub fn test_bridge() -> (String, String) {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    loop {
        let r: u32 = rand::random();
        let (a, b) = (64 + (r >> 8) % 64, r % 256);
        // /proc/net/route spells the destination little-endian in hex: 10.a.b.0 -> 00bbaa0a.
        let dest = format!("00{:02X}{:02X}0A", b, a);
        if !routes.contains(&dest) {
            return (
                format!("bt{:08x}", rand::random::<u32>()),
                format!("10.{a}.{b}.1/24"),
            );
        }
    }
}

/// Removes the bridges of a daemon (its default one and its networks', from their records)
/// and its firewall chains; what is gone already is skipped.
pub fn remove_daemon_networks(bridge: &str, data_root: &Path) {
    let mut bridges = vec![bridge.to_string()];
    for e in std::fs::read_dir(data_root.join("network"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some(v) = std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        {
            if let Some(b) = v["bridge"].as_str().filter(|b| !b.is_empty()) {
                bridges.push(b.to_string());
            }
        }
    }
    for b in &bridges {
        if Path::new("/sys/class/net").join(b).exists() {
            let _ = Command::new("ip").args(["link", "del", b]).status();
        }
    }
    let prefix = format!("BERTH-{bridge}");
    for table in ["filter", "nat"] {
        let Ok(out) = Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        // Jumps into our chains first, then the chains themselves.
        for line in text
            .lines()
            .filter(|l| l.starts_with("-A ") && l.contains(&format!("-j {prefix}")))
        {
            let chain = line.split_whitespace().nth(1).unwrap_or("");
            if chain.starts_with(&prefix) {
                continue;
            }
            let rule: Vec<&str> = line.split_whitespace().skip(2).collect();
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-D", chain])
                .args(&rule)
                .status();
        }
        for line in text
            .lines()
            .filter(|l| l.starts_with(&format!("-N {prefix}")))
        {
            let chain = line.split_whitespace().nth(1).unwrap_or("");
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-F", chain])
                .status();
        }
        for line in text
            .lines()
            .filter(|l| l.starts_with(&format!("-N {prefix}")))
        {
            let chain = line.split_whitespace().nth(1).unwrap_or("");
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-X", chain])
                .status();
        }
    }
}
