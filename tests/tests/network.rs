//! Networking on the real kernel: the default bridge, addresses and routes, containers
//! reaching each other, published ports on the host's loopback, through berth and the docker
//! CLI. Traffic goes only to 127.0.0.1 and to this test's containers.

use std::io::{Read, Write};
use std::time::Duration;

use berth_tests::{wait_until, Daemon};

const SERVE: &str =
    "mkdir -p /www && echo served-by-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

fn inspect(d: &Daemon, name: &str, f: &str) -> String {
    d.docker(&["inspect", "-f", f, name])
        .ok()
        .stdout
        .trim()
        .to_string()
}

/// An HTTP GET of `/` on 127.0.0.1:`port`; the body, or `None` if nothing answered.
fn get_local(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(s, "GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

#[test]
fn the_default_bridge_gives_addresses_and_containers_reach_each_other() {
    let (d, _reg) = Daemon::with_busybox();
    let (gw, _) = d.bip().split_once('/').unwrap();
    let gw = gw.to_string();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; ip route; cat /sys/class/net/eth0/address",
        ])
        .ok();
    let prefix = gw.rsplit_once('.').unwrap().0;
    assert!(
        out.stdout.contains(&format!("inet {prefix}.")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("default via {gw} dev eth0")),
        "{}",
        out.stdout
    );
    // The MAC Docker derives from the address.
    let mac = out.stdout.lines().last().unwrap();
    assert!(mac.starts_with("02:42:0a:"), "{mac}");

    d.docker(&["run", "-d", "--name", "web", "busybox", "sh", "-c", SERVE])
        .ok();
    let ip = inspect(&d, "web", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with(prefix), "{ip}");
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    assert_eq!(inspect(&d, "web", "{{.NetworkSettings.Gateway}}"), gw);
    let mac = inspect(&d, "web", "{{.NetworkSettings.MacAddress}}");
    let o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(
        mac,
        format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
    );
    // The host side is a veth on the bridge.
    let on_bridge = std::fs::read_dir(format!("/sys/class/net/{}/brif", d.bridge()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect::<Vec<_>>();
    assert_eq!(on_bridge.len(), 1);
    assert!(
        on_bridge[0].starts_with("veth") && on_bridge[0].len() == 11,
        "{on_bridge:?}"
    );
    let out = d
        .docker(&["run", "--rm", "busybox", "sh", "-c", &format!("for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://{ip}/ && exit 0; sleep 0.3; done; exit 1")])
        .ok();
    assert!(out.stdout.starts_with("served-by-"), "{}", out.stdout);
    // /etc/hosts names the container's own address.
    let hosts = d.docker(&["exec", "web", "cat", "/etc/hosts"]);
    if hosts.code == 0 {
        assert!(hosts.stdout.contains(&ip), "{}", hosts.stdout);
    }
    let hosts = d
        .docker(&[
            "run",
            "--rm",
            "--hostname",
            "named",
            "busybox",
            "cat",
            "/etc/hosts",
        ])
        .ok();
    assert!(
        hosts
            .stdout
            .lines()
            .any(|l| l.ends_with("\tnamed") && l.starts_with(prefix)),
        "{}",
        hosts.stdout
    );
    d.docker(&["rm", "-f", "web"]).ok();
    // Gone with it: no veth on the bridge.
    wait_until("the veth to go", || {
        std::fs::read_dir(format!("/sys/class/net/{}/brif", d.bridge()))
            .unwrap()
            .count()
            == 0
    });
}

#[test]
fn published_ports_answer_on_loopback_and_show_everywhere() {
    let (d, _reg) = Daemon::with_busybox();
    let port = berth_tests::free_port();
    let spec = format!("127.0.0.1:{port}:80");
    d.docker(&[
        "run", "-d", "--name", "pub", "-p", &spec, "-p", "81", "busybox", "sh", "-c", SERVE,
    ])
    .ok();
    wait_until("the published port to answer", || {
        get_local(port).is_some_and(|b| b.starts_with("served-by-"))
    });
    let out = d.docker(&["port", "pub"]);
    if out.code == 0 {
        assert!(
            out.stdout.contains(&format!("80/tcp -> 127.0.0.1:{port}")),
            "{}",
            out.stdout
        );
    }
    let ports = d
        .docker(&["ps", "--format", "{{.Ports}}", "--filter", "name=pub"])
        .ok()
        .stdout;
    assert!(
        ports.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{ports}"
    );
    assert!(ports.contains("->81/tcp"), "{ports}");
    let hp = inspect(
        &d,
        "pub",
        "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
    );
    assert_eq!(hp, port.to_string());
    // The port is taken: a second container asking for it fails at start, leaving nothing.
    let out = d.docker(&[
        "run", "--rm", "--name", "clash", "-p", &spec, "busybox", "true",
    ]);
    assert_eq!(out.code, 125, "{out:?}");
    assert!(
        out.stderr.contains("port is already allocated"),
        "{}",
        out.stderr
    );
    d.docker(&["rm", "-f", "pub"]).ok();
    wait_until("the port to be released", || get_local(port).is_none());
    // Free again: a new container can have it.
    d.docker(&[
        "run", "-d", "--name", "again", "-p", &spec, "busybox", "sh", "-c", SERVE,
    ])
    .ok();
    wait_until("the port to answer again", || get_local(port).is_some());
}

#[test]
fn user_networks_connect_disconnect_and_isolation() {
    let (d, _reg) = Daemon::with_busybox();
    let (_, cidr) = berth_tests::net::test_bridge();
    let base = cidr.trim_end_matches(".1/24");
    let subnet = format!("{base}.0/24");
    let gateway = format!("{base}.1");
    let id = d
        .docker(&[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--gateway",
            &gateway,
            "appnet",
        ])
        .ok()
        .stdout;
    assert_eq!(id.trim().len(), 64, "{id}");
    let ls = d
        .docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .ok()
        .stdout;
    for want in ["appnet bridge", "bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == want), "{want} not in\n{ls}");
    }
    let ipam = d
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            "appnet",
        ])
        .ok()
        .stdout;
    assert_eq!(ipam.trim(), format!("{subnet} {gateway}"));
    for n in ["a1", "a2"] {
        d.docker(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "appnet",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    d.docker(&["run", "-d", "--name", "other", "busybox", "sleep", "1000"])
        .ok();
    let ip = |n: &str, net: &str| {
        d.docker(&[
            "inspect",
            "-f",
            &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
            n,
        ])
        .ok()
        .stdout
        .trim()
        .to_string()
    };
    let a1 = ip("a1", "appnet");
    assert!(a1.starts_with(&format!("{base}.")), "{a1}");
    d.docker(&["exec", "a2", "ping", "-c", "1", "-W", "2", &a1])
        .ok();
    // A container on another bridge does not reach it.
    let out = d.docker(&["exec", "other", "ping", "-c", "1", "-W", "1", &a1]);
    assert_ne!(out.code, 0, "networks must be isolated from each other");
    // Connected, it does; disconnected, it no longer has the interface.
    d.docker(&["network", "connect", "appnet", "other"]).ok();
    let other_ip = ip("other", "appnet");
    assert!(other_ip.starts_with(&format!("{base}.")), "{other_ip}");
    d.docker(&["exec", "other", "ping", "-c", "1", "-W", "2", &a1])
        .ok();
    let links = d
        .docker(&["exec", "other", "ip", "-o", "-4", "addr"])
        .ok()
        .stdout;
    assert!(links.contains(&other_ip), "{links}");
    d.docker(&["network", "disconnect", "appnet", "other"]).ok();
    let links = d
        .docker(&["exec", "other", "ip", "-o", "-4", "addr"])
        .ok()
        .stdout;
    assert!(!links.contains(&other_ip), "{links}");
    // In use: not removed; unused: removed, and prune takes the unused ones.
    let out = d.docker(&["network", "rm", "appnet"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("active endpoints"), "{}", out.stderr);
    d.docker(&["rm", "-f", "a1", "a2", "aliased"]).ok();
    d.berth(&["network", "rm", "appnet"]).ok();
    let ls = d
        .berth(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .stdout;
    assert!(!ls.lines().any(|l| l == "appnet"), "{ls}");
    d.berth(&["network", "create", "spare"]).ok();
    let out = d.docker(&["network", "prune", "-f"]).ok();
    assert!(out.stdout.contains("spare"), "{}", out.stdout);
    let out = d.docker(&["network", "inspect", "nosuch"]);
    assert!(out.stderr.contains("nosuch"), "{}", out.stderr);
}

#[test]
fn names_resolve_again_after_berthd_is_killed() {
    let (mut d, _reg) = Daemon::with_busybox();
    let (_, cidr) = berth_tests::net::test_bridge();
    let subnet = format!("{}.0/24", cidr.trim_end_matches(".1/24"));
    d.docker(&["network", "create", "--subnet", &subnet, "dnsnet"])
        .ok();
    for n in ["one", "two"] {
        d.docker(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "dnsnet",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    let one = d
        .docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.dnsnet.IPAddress}}",
            "one",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let lookup = |d: &Daemon| {
        d.docker(&["exec", "two", "nslookup", "-type=a", "one", "127.0.0.11"])
            .ok()
            .stdout
    };
    assert!(lookup(&d).contains(&one));
    d.kill9();
    d.start_again();
    assert!(lookup(&d).contains(&one), "after the restart");
    // A container on the default bridge has the host's resolvers, not the embedded server.
    let out = d
        .docker(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"])
        .ok()
        .stdout;
    assert!(!out.contains("127.0.0.11"), "{out}");
}
