//! Address management: IPv4 subnets, the pools default networks are taken from, the addresses
//! handed to containers in order, and the MAC address Docker derives from each.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet, `172.17.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(ip: Ipv4Addr, prefix: u8) -> Subnet {
        let mask = Self::mask_of(prefix);
        Subnet {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        }
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        }
    }

    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.base)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        Subnet::new(self.base, p) == Subnet::new(other.base, p)
    }

    /// The first usable address (`.1`): the gateway by default.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) | !self.mask())
    }

    /// Number of addresses in it.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR address: {0}")]
pub struct BadCidr(pub String);

impl FromStr for Subnet {
    type Err = BadCidr;
    fn from_str(s: &str) -> Result<Subnet, BadCidr> {
        let (ip, prefix) = s.split_once('/').ok_or_else(|| BadCidr(s.into()))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| BadCidr(s.into()))?;
        let prefix: u8 = prefix.parse().map_err(|_| BadCidr(s.into()))?;
        if prefix > 32 {
            return Err(BadCidr(s.into()));
        }
        Ok(Subnet::new(ip, prefix))
    }
}

/// `ip/prefix` (the bridge's `--bip`): the gateway and its subnet.
pub fn parse_cidr_host(s: &str) -> Result<(Ipv4Addr, Subnet), BadCidr> {
    let (ip, _) = s.split_once('/').ok_or_else(|| BadCidr(s.into()))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| BadCidr(s.into()))?;
    Ok((ip, s.parse()?))
}

/// The pools dockerd takes default subnets from: 172.17–172.31 /16s, then the /20 blocks of
/// 192.168.0.0/16.
pub fn default_pools() -> Vec<Subnet> {
    let mut out: Vec<Subnet> = (17..=31)
        .map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16))
        .collect();
    out.extend((0..16).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20)));
    out
}

/// The first of `pools` that overlaps none of `taken` (routes the host has, other networks).
pub fn choose_subnet(pools: &[Subnet], taken: &[Subnet]) -> Option<Subnet> {
    pools
        .iter()
        .find(|p| !taken.iter().any(|t| t.overlaps(p)))
        .copied()
}

/// The IPv4 destinations the host routes (from `/proc/net/route`, hex little-endian).
pub fn host_routes(proc_net_route: &str) -> Vec<Subnet> {
    proc_net_route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if mask == 0 {
                return None; // the default route covers everything; it takes nothing
            }
            let dest = Ipv4Addr::from(u32::from_be(dest.to_le()));
            let prefix = u32::from_be(mask.to_le()).count_ones() as u8;
            Some(Subnet::new(dest, prefix))
        })
        .collect()
}

/// The addresses of one network in use: the gateway, and one per attached endpoint.
#[derive(Debug, Clone)]
pub struct Allocator {
    pub subnet: Subnet,
    /// `--ip-range`: where automatic addresses come from.
    pub range: Subnet,
    pub gateway: Ipv4Addr,
    used: BTreeSet<Ipv4Addr>,
    /// Where the next search starts: addresses are handed out in order, and a released one is
    /// not reused before the range wraps (as dockerd's bitmap does).
    next: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(Subnet),
    #[error("Address already in use")]
    InUse(Ipv4Addr),
    #[error("invalid address {ip}: it does not belong to any of this network's subnets")]
    Outside { ip: Ipv4Addr },
}

impl Allocator {
    pub fn new(subnet: Subnet, range: Option<Subnet>, gateway: Ipv4Addr) -> Allocator {
        let range = range.unwrap_or(subnet);
        let mut used = BTreeSet::new();
        used.insert(gateway);
        Allocator {
            subnet,
            range,
            gateway,
            used,
            next: u32::from(range.base),
        }
    }

    /// The next free address of the range, in order.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, IpamError> {
        let lo = u32::from(self.range.base);
        let hi = u32::from(self.range.broadcast());
        let span = hi - lo + 1;
        for i in 0..span {
            let cand = lo + (self.next - lo + i) % span;
            let ip = Ipv4Addr::from(cand);
            if cand == u32::from(self.subnet.base)
                || cand == u32::from(self.subnet.broadcast())
                || self.used.contains(&ip)
            {
                continue;
            }
            self.used.insert(ip);
            self.next = if cand == hi { lo } else { cand + 1 };
            return Ok(ip);
        }
        Err(IpamError::Exhausted(self.subnet))
    }

    /// A chosen address (`--ip`), or one an endpoint had before a daemon restart.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> Result<(), IpamError> {
        if !self.subnet.contains(ip) || ip == self.subnet.base || ip == self.subnet.broadcast() {
            return Err(IpamError::Outside { ip });
        }
        if !self.used.insert(ip) {
            return Err(IpamError::InUse(ip));
        }
        Ok(())
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        if ip != self.gateway {
            self.used.remove(&ip);
        }
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// The MAC Docker gives an endpoint: `02:42` and the four bytes of its IPv4 address.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().unwrap()
    }

    #[test]
    fn subnets() {
        let n = s("172.17.5.9/16");
        assert_eq!(n.to_string(), "172.17.0.0/16");
        assert!(n.contains("172.17.255.1".parse().unwrap()));
        assert!(!n.contains("172.18.0.1".parse().unwrap()));
        assert_eq!(n.first_host(), Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 17, 255, 255));
        assert!(s("10.0.0.0/8").overlaps(&s("10.1.2.0/24")));
        assert!(!s("10.0.0.0/24").overlaps(&s("10.0.1.0/24")));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("10.0.0/8".parse::<Subnet>().is_err());
        assert_eq!(
            parse_cidr_host("10.9.0.1/24").unwrap(),
            (Ipv4Addr::new(10, 9, 0, 1), s("10.9.0.0/24"))
        );
    }

    #[test]
    fn the_first_free_pool_that_the_host_does_not_route() {
        let pools = default_pools();
        assert_eq!(pools[0], s("172.17.0.0/16"));
        assert_eq!(pools[15], s("192.168.0.0/20"));
        // A host running Docker routes 172.17/16 already.
        let taken = [s("172.17.0.0/16"), s("172.18.3.0/24")];
        assert_eq!(choose_subnet(&pools, &taken), Some(s("172.19.0.0/16")));
        let everything = [s("172.16.0.0/12"), s("192.168.0.0/16")];
        assert_eq!(choose_subnet(&pools, &everything), None);
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\ndocker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(host_routes(route), vec![s("172.17.0.0/16")]);
    }

    #[test]
    fn addresses_in_order_with_reservations() {
        let mut a = Allocator::new(s("10.0.0.0/29"), None, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(a.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 2));
        a.reserve(Ipv4Addr::new(10, 0, 0, 4)).unwrap();
        assert_eq!(a.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(a.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(
            a.reserve(Ipv4Addr::new(10, 0, 0, 5)),
            Err(IpamError::InUse(Ipv4Addr::new(10, 0, 0, 5)))
        );
        assert!(matches!(
            a.reserve(Ipv4Addr::new(10, 0, 1, 5)),
            Err(IpamError::Outside { .. })
        ));
        assert_eq!(a.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 6));
        assert!(matches!(a.allocate(), Err(IpamError::Exhausted(_))));
        a.release(Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(a.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 3));
        // An --ip-range narrows what is handed out on its own.
        let mut r = Allocator::new(
            s("10.1.0.0/16"),
            Some(s("10.1.5.0/24")),
            Ipv4Addr::new(10, 1, 0, 1),
        );
        assert_eq!(r.allocate().unwrap(), Ipv4Addr::new(10, 1, 5, 0));
    }

    #[test]
    fn macs_as_docker_derives_them() {
        let m = mac_of(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&m), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02"), Some(m));
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
    }
}
