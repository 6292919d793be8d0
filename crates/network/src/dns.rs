//! The embedded DNS server of user networks, as dockerd's: `127.0.0.11:53` inside each
//! container on one, answering the names (container names, aliases) of the containers that
//! share a network with it, and passing every other query to the upstream servers (the
//! container's `--dns`, else the host's). The socket is made inside the container's network
//! namespace by a thread that enters it and then ends; berthd serves it from its runtime.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

/// Where containers find the server, as with Docker.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Looks a name up for the container the server serves.
pub type Lookup = Arc<dyn Fn(&str) -> Option<Ipv4Addr> + Send + Sync>;

/// A running server; it stops when dropped.
pub struct DnsServer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `127.0.0.11:53` (UDP) inside the namespace at `netns`.
fn bind_in(netns: &Path) -> std::io::Result<UdpSocket> {
    let netns = netns.to_path_buf();
    std::thread::spawn(move || -> std::io::Result<UdpSocket> {
        // This thread alone enters the container's namespace, and ends there.
        let f = std::fs::File::open(&netns)?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)?;
        UdpSocket::bind((ADDRESS, 53))
    })
    .join()
    .map_err(|_| std::io::Error::other("the DNS socket thread panicked"))?
}

/// The nameservers of a resolv.conf, as upstreams (the embedded server itself left out).
pub fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .filter(|ip| *ip != std::net::IpAddr::V4(ADDRESS))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Starts serving in `netns`; `None` outside a tokio runtime.
pub fn serve(
    netns: &Path,
    lookup: Lookup,
    upstream: Vec<SocketAddr>,
) -> std::io::Result<DnsServer> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| std::io::Error::other("no runtime for the DNS server"))?;
    let std_sock = bind_in(netns)?;
    std_sock.set_nonblocking(true)?;
    let task = handle.spawn(async move {
        let Ok(sock) = tokio::net::UdpSocket::from_std(std_sock) else {
            return;
        };
        let sock = Arc::new(sock);
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            let query = buf[..n].to_vec();
            let (sock, lookup, upstream) = (sock.clone(), lookup.clone(), upstream.clone());
            tokio::spawn(async move {
                if let Some(answer) = answer(&query, &lookup, &upstream).await {
                    let _ = sock.send_to(&answer, from).await;
                }
            });
        }
    });
    Ok(DnsServer { task })
}

/// The answer to one query: from the network's names, else from upstream.
async fn answer(query: &[u8], lookup: &Lookup, upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    let msg = Message::from_vec(query).ok()?;
    let q = msg.queries().first()?.clone();
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if let Some(ip) = lookup(&name) {
        let mut reply = Message::new();
        reply
            .set_id(msg.id())
            .set_message_type(MessageType::Response)
            .set_op_code(msg.op_code())
            .set_recursion_desired(msg.recursion_desired())
            .set_recursion_available(true)
            .set_authoritative(true)
            .add_query(q.clone());
        if q.query_type() == RecordType::A {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                600,
                RData::A(ip.into()),
            ));
        }
        return reply.to_vec().ok();
    }
    for up in upstream {
        if let Some(r) = forward(query, *up).await {
            return Some(r);
        }
    }
    let mut fail = Message::new();
    fail.set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(msg.op_code())
        .set_response_code(ResponseCode::ServFail)
        .add_query(q);
    fail.to_vec().ok()
}

async fn forward(query: &[u8], to: SocketAddr) -> Option<Vec<u8>> {
    let bind: SocketAddr = if to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind).await.ok()?;
    sock.send_to(query, to).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_leave_the_embedded_server_out() {
        let r = "nameserver 127.0.0.11\nnameserver 10.0.0.2\n# x\nsearch example.org\n";
        assert_eq!(upstreams(r), ["10.0.0.2:53".parse::<SocketAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn names_are_answered_from_the_network() {
        let lookup: Lookup = Arc::new(|n: &str| (n == "web").then(|| Ipv4Addr::new(10, 1, 2, 3)));
        let mut q = Message::new();
        q.set_id(7)
            .set_recursion_desired(true)
            .add_query(hickory_proto::op::Query::query(
                hickory_proto::rr::Name::from_ascii("web.").unwrap(),
                RecordType::A,
            ));
        let bytes = answer(&q.to_vec().unwrap(), &lookup, &[]).await.unwrap();
        let r = Message::from_vec(&bytes).unwrap();
        assert_eq!(r.id(), 7);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(
            r.answers()[0].data(),
            &RData::A(Ipv4Addr::new(10, 1, 2, 3).into())
        );
        // Nothing upstream: a name not on the network fails, it is never made up.
        let mut q2 = q.clone();
        q2.queries_mut()[0].set_name(hickory_proto::rr::Name::from_ascii("other.").unwrap());
        let bytes = answer(&q2.to_vec().unwrap(), &lookup, &[]).await.unwrap();
        assert_eq!(
            Message::from_vec(&bytes).unwrap().response_code(),
            ResponseCode::ServFail
        );
    }
}
