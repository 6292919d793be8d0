//! A bridge network's place in the kernel: its bridge device with the gateway address, the
//! sysctls it needs, and the veth pair of each endpoint.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::NetworkError;
use crate::ipam::{format_mac, Subnet};
use crate::netlink::Netlink;

/// Makes (or re-adopts) the bridge `name` with `gateway/prefix` on it, up, and with
/// `route_localnet` on, so that published ports answer on the host's 127.0.0.1 too.
pub fn ensure(
    name: &str,
    gateway: Ipv4Addr,
    subnet: &Subnet,
    mtu: Option<u32>,
) -> Result<(), NetworkError> {
    let err = |what: &str| NetworkError::io(format!("{what} bridge {name}"));
    let mut nl = Netlink::new().map_err(err("opening netlink for"))?;
    let index = match nl.link_index(name).map_err(err("finding"))? {
        Some(i) => i,
        None => nl.create_bridge(name, mtu).map_err(err("creating"))?,
    };
    nl.add_address(index, gateway, subnet.prefix)
        .map_err(err("addressing"))?;
    nl.set_up(index).map_err(err("bringing up"))?;
    sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1");
    Ok(())
}

/// Removes the bridge `name` (its veths go with it).
pub fn remove(name: &str) -> Result<(), NetworkError> {
    let mut nl = Netlink::new().map_err(NetworkError::io("opening netlink"))?;
    nl.delete_link(name)
        .map_err(NetworkError::io(format!("removing bridge {name}")))
}

/// Writes a sysctl under `/proc/sys`; a failure is logged, not fatal (a host may lock some).
pub fn sysctl(key: &str, value: &str) {
    let path = Path::new("/proc/sys").join(key);
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return;
    }
    if let Err(e) = std::fs::write(&path, value) {
        tracing::warn!(key, error = %e, "setting a sysctl");
    }
}

/// A host-side veth name as dockerd makes them: `veth` and seven hex digits.
pub fn veth_name() -> String {
    let r: u32 = rand::random();
    format!("veth{:07x}", r & 0x0fff_ffff)
}

/// The endpoint's veth pair: the host end on the bridge, the container end `ifname` in its
/// namespace with the address, up, and (for the first endpoint) the default route.
#[allow(clippy::too_many_arguments)]
pub fn plug(
    bridge: &str,
    host_ifname: &str,
    netns: &Path,
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
    mac: [u8; 6],
    mtu: Option<u32>,
    default_route: bool,
) -> Result<(), NetworkError> {
    let err = |what: &str| NetworkError::io(format!("{what} ({host_ifname} on {bridge})"));
    let mut host = Netlink::new().map_err(err("opening netlink"))?;
    let master = host
        .link_index(bridge)
        .map_err(err("finding the bridge"))?
        .ok_or_else(|| NetworkError::Unavailable(format!("bridge {bridge} is gone")))?;
    host.create_veth(host_ifname, master, ifname, netns, mac, mtu)
        .map_err(err("creating the veth pair"))?;
    let configured = (|| -> std::io::Result<()> {
        let mut inside = Netlink::in_netns(netns)?;
        let index = inside
            .link_index(ifname)?
            .ok_or_else(|| std::io::Error::other(format!("{ifname} did not arrive")))?;
        inside.add_address(index, ip, prefix)?;
        inside.set_up(index)?;
        if default_route {
            inside.add_default_route(index, gateway)?;
        }
        Ok(())
    })();
    if let Err(e) = configured {
        let _ = host.delete_link(host_ifname);
        return Err(NetworkError::io(format!(
            "configuring {ifname} ({}) in the container",
            format_mac(&mac)
        ))(e));
    }
    Ok(())
}

/// Removes the host end of an endpoint's veth pair (the container end goes with it).
pub fn unplug(host_ifname: &str) {
    match Netlink::new().and_then(|mut nl| nl.delete_link(host_ifname)) {
        Ok(()) => {}
        Err(e) => tracing::warn!(ifname = host_ifname, error = %e, "removing veth"),
    }
}
