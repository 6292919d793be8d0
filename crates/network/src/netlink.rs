//! The few rtnetlink requests berth's networking makes, over a synchronous netlink socket:
//! bridges, veth pairs (the container's end made directly in its namespace), addresses,
//! routes. Messages are built with `netlink-packet-route`; the socket is `netlink-sys`'s. A
//! request is one round trip of a few microseconds, where an `ip` command would cost a
//! process.
//!
//! A netlink socket talks to the network namespace it was created in, so [`Netlink::in_netns`]
//! makes its socket on a throwaway thread that has entered the container's namespace; the
//! calling thread never leaves the host's.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;

/// A route-netlink socket in one network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// The kernel's answer as an error that keeps its errno (callers tell `EEXIST` and `ENODEV`
/// apart), its context logged for the record.
fn nl_err(code: i32, what: &str) -> io::Error {
    let e = io::Error::from_raw_os_error(-code);
    tracing::debug!(what, error = %e, "netlink request refused");
    e
}

impl Netlink {
    /// A socket in the caller's (the host's) namespace.
    pub fn new() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace bound at `netns` (a file of `/run/…/netns`).
    pub fn in_netns(netns: &Path) -> io::Result<Netlink> {
        let ns = std::fs::File::open(netns)?;
        std::thread::spawn(move || -> io::Result<Netlink> {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
            // The socket stays in this namespace after the thread ends.
            Netlink::new()
        })
        .join()
        .map_err(|_| io::Error::other("netlink namespace thread panicked"))?
    }

    /// Sends one request and waits for its acknowledgement (or, for a `GetLink`, its answer).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> io::Result<Option<RouteNetlinkMessage>> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        self.seq = self.seq.wrapping_add(1);
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0u8; req.header.length as usize];
        req.serialize(&mut buf[..]);
        self.socket.send(&buf, 0)?;
        let mut rbuf = vec![0u8; 16 * 1024];
        loop {
            let n = self.socket.recv(&mut &mut rbuf[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let packet = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[offset..n])
                    .map_err(|e| {
                    io::Error::other(format!("{what}: bad netlink answer: {e}"))
                })?;
                let len = packet.header.length as usize;
                if packet.header.sequence_number == self.seq {
                    match packet.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(None),
                                Some(code) => Err(nl_err(code.get(), what)),
                            }
                        }
                        NetlinkPayload::InnerMessage(m) => return Ok(Some(m)),
                        NetlinkPayload::Done(_) => return Ok(None),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// The index of the link named `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            RouteNetlinkMessage::GetLink(m),
            0,
            &format!("finding {name}"),
        ) {
            Ok(Some(RouteNetlinkMessage::NewLink(l))) => Ok(Some(l.header.index)),
            Ok(_) => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge named `name` (with `mtu` if given); `EEXIST` if it is there.
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> io::Result<u32> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating bridge {name}"),
        )?;
        self.link_index(name)?
            .ok_or_else(|| io::Error::other(format!("bridge {name} vanished")))
    }

    /// A veth pair: `host_name` here, attached to the bridge `master` and up; its peer
    /// created directly in the namespace `peer_netns` as `peer_name`, with `mac`.
    pub fn create_veth(
        &mut self,
        host_name: &str,
        master: u32,
        peer_name: &str,
        peer_netns: &Path,
        mac: [u8; 6],
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let ns = std::fs::File::open(peer_netns)?;
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        let mut m = LinkMessage::default();
        m.header.flags |= LinkFlags::Up;
        m.header.change_mask |= LinkFlags::Up;
        m.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        m.attributes.push(LinkAttribute::Controller(master));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating veth {host_name}"),
        )?;
        drop(ns);
        Ok(())
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags |= LinkFlags::Up;
        m.header.change_mask |= LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            "setting a link up",
        )?;
        Ok(())
    }

    /// Removes the link named `name`; nothing if there is none.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let Some(index) = self.link_index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(
            RouteNetlinkMessage::DelLink(m),
            NLM_F_ACK,
            &format!("deleting {name}"),
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Adds `ip/prefix` to the link; an address that is there already is fine.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        let bcast = u32::from(ip) | (u32::MAX.checked_shr(prefix as u32).unwrap_or(0));
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(bcast)));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding address {ip}/{prefix}"),
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// The default route, via `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: 0,
            table: RouteHeader::RT_TABLE_MAIN,
            protocol: RouteProtocol::Boot,
            scope: RouteScope::Universe,
            kind: RouteType::Unicast,
            ..Default::default()
        };
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(index));
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "adding the default route",
        )?;
        Ok(())
    }
}
