//! The network service: the networks (records under `<data-root>/network`, written whole),
//! their address allocators and endpoints, the firewall's rules for them, and attaching and
//! detaching containers.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::bridge;
use crate::error::NetworkError;
use crate::firewall::{self, Chains, Firewall, PortRule};
use crate::ipam::{self, format_mac, parse_mac, Allocator, IpamError, Subnet};
use crate::model::{Driver, Endpoint, EndpointRequest, Network, NetworkSettings, PortMapping};
use crate::ports::{self, Hold, PortRequest};

/// berthd's networking flags (dockerd's).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// `<data-root>/network`
    pub data_dir: PathBuf,
    /// `--bridge`: the default bridge's device; `none` for no default bridge.
    pub bridge: String,
    /// `--bip`: the default bridge's gateway address and subnet (`172.17.0.1/16`).
    pub bip: Option<String>,
    /// `--default-address-pool`: where default subnets come from.
    pub pools: Vec<Subnet>,
    /// `--iptables`: berth keeps the firewall rules networks need.
    pub iptables: bool,
    /// `--ip-forward`: berth turns on IPv4 forwarding.
    pub ip_forward: bool,
}

struct Entry {
    net: Network,
    alloc: Option<Allocator>,
    /// By container ID.
    endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Default)]
struct State {
    nets: BTreeMap<String, Entry>,
    /// Host ports held for each container's published ports, and their mappings.
    holds: HashMap<String, Vec<Hold>>,
    ports: HashMap<String, Vec<PortMapping>>,
}

mod create;
mod dns;

pub struct NetworkService {
    cfg: NetworkConfig,
    fw: Option<Box<dyn Firewall>>,
    chains: Chains,
    state: Arc<Mutex<State>>,
    /// The embedded DNS servers, by container.
    dns: Mutex<HashMap<String, crate::dns::DnsServer>>,
}

/// Options `network create -o` takes.
const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
const ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
const MTU: &str = "com.docker.network.driver.mtu";
const MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl NetworkService {
    /// Loads the networks, makes the predefined ones (bridge, host, none) and puts the default
    /// bridge and every bridge network in place, with their firewall rules.
    pub fn open(
        cfg: NetworkConfig,
        fw: Option<Box<dyn Firewall>>,
    ) -> Result<NetworkService, NetworkError> {
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(NetworkError::io("creating the network dir"))?;
        let chains = Chains::new(&Chains::prefix_for(&cfg.bridge));
        let svc = NetworkService {
            fw: if cfg.iptables { fw } else { None },
            chains,
            state: Arc::default(),
            dns: Mutex::default(),
            cfg,
        };
        let mut nets = svc.load()?;
        for (name, driver) in [("host", Driver::Host), ("none", Driver::Null)] {
            if !nets.values().any(|n| n.name == name) {
                let n = predefined(name, driver);
                svc.save(&n)?;
                nets.insert(n.id.clone(), n);
            }
        }
        if svc.cfg.bridge != "none" {
            let existing = nets.values().find(|n| n.name == "bridge").cloned();
            let n = svc.default_bridge(existing, &nets)?;
            svc.save(&n)?;
            nets.insert(n.id.clone(), n);
        } else if let Some(id) = nets
            .values()
            .find(|n| n.name == "bridge")
            .map(|n| n.id.clone())
        {
            nets.remove(&id);
        }
        if svc.cfg.ip_forward {
            bridge::sysctl("net/ipv4/ip_forward", "1");
        }
        if let Some(fw) = &svc.fw {
            firewall::reset_chains(fw.as_ref(), &svc.chains)
                .map_err(NetworkError::io("setting up berth's firewall chains"))?;
        }
        let mut st = svc.state.lock().unwrap();
        for n in nets.into_values() {
            if n.driver == Driver::Bridge {
                svc.setup_bridge(&n)?;
            }
            st.nets.insert(
                n.id.clone(),
                Entry {
                    alloc: allocator(&n),
                    net: n,
                    endpoints: BTreeMap::new(),
                },
            );
        }
        drop(st);
        Ok(svc)
    }

    fn load(&self) -> Result<BTreeMap<String, Network>, NetworkError> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(&self.cfg.data_dir)
            .map_err(NetworkError::io("reading the network dir"))?
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "json") {
                match std::fs::read(e.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Network>(&b).ok())
                {
                    Some(n) => {
                        out.insert(n.id.clone(), n);
                    }
                    None => tracing::warn!(file = %e.path().display(), "unreadable network record"),
                }
            }
        }
        Ok(out)
    }

    fn save(&self, n: &Network) -> Result<(), NetworkError> {
        let bytes = serde_json::to_vec(n).map_err(|e| NetworkError::Invalid(e.to_string()))?;
        berth_image::atomic_write(&self.cfg.data_dir.join(format!("{}.json", n.id)), &bytes)
            .map_err(NetworkError::io(format!("saving network {}", n.name)))
    }

    /// The default bridge: from `--bip`, or as it was, or the first free pool.
    fn default_bridge(
        &self,
        existing: Option<Network>,
        nets: &BTreeMap<String, Network>,
    ) -> Result<Network, NetworkError> {
        let (gateway, subnet) = match &self.cfg.bip {
            Some(bip) => ipam::parse_cidr_host(bip)
                .map_err(|e| NetworkError::Invalid(format!("--bip: {e}")))?,
            None => match existing
                .as_ref()
                .and_then(|n| Some((n.gateway?, n.subnet?)))
            {
                Some(g)
                    if existing
                        .as_ref()
                        .is_some_and(|n| n.bridge == self.cfg.bridge) =>
                {
                    g
                }
                _ => {
                    let taken = self.taken_subnets(nets, Some(&self.cfg.bridge));
                    let s = ipam::choose_subnet(&self.cfg.pools, &taken).ok_or_else(|| {
                        NetworkError::Unavailable(
                            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                        )
                    })?;
                    (s.first_host(), s)
                }
            },
        };
        let mut n = existing.unwrap_or_else(|| predefined("bridge", Driver::Bridge));
        n.subnet = Some(subnet);
        n.gateway = Some(gateway);
        n.bridge = self.cfg.bridge.clone();
        n.options = BTreeMap::from([
            (BRIDGE_NAME.to_string(), self.cfg.bridge.clone()),
            (ENABLE_ICC.to_string(), "true".into()),
            (MASQUERADE.to_string(), "true".into()),
        ]);
        Ok(n)
    }

    /// Subnets a new network must not overlap: the host's routes (but those of the bridge
    /// `own`, which is ours) and every bridge network's.
    fn taken_subnets(&self, nets: &BTreeMap<String, Network>, own: Option<&str>) -> Vec<Subnet> {
        let mut taken = host_routes_except(own);
        taken.extend(nets.values().filter_map(|n| n.subnet));
        taken
    }

    fn setup_bridge(&self, n: &Network) -> Result<(), NetworkError> {
        let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) else {
            return Ok(());
        };
        bridge::ensure(&n.bridge, gw, &subnet, n.mtu)?;
        if let Some(fw) = &self.fw {
            let rules =
                firewall::network_rules(&self.chains, &n.bridge, &subnet, n.internal, n.icc);
            fw.restore(&firewall::restore_input("-A", &rules))
                .map_err(NetworkError::io(format!(
                    "firewall rules of network {}",
                    n.name
                )))?;
        }
        Ok(())
    }

    fn teardown_bridge(&self, n: &Network) {
        if let (Some(fw), Some(subnet)) = (&self.fw, n.subnet) {
            let rules =
                firewall::network_rules(&self.chains, &n.bridge, &subnet, n.internal, n.icc);
            if let Err(e) = fw.restore(&firewall::restore_input("-D", &rules)) {
                tracing::warn!(network = n.name, error = %e, "removing firewall rules");
            }
        }
        if let Err(e) = bridge::remove(&n.bridge) {
            tracing::warn!(network = n.name, error = %e, "removing bridge");
        }
    }

    /// Every network.
    pub fn list(&self) -> Vec<Network> {
        self.state
            .lock()
            .unwrap()
            .nets
            .values()
            .map(|e| e.net.clone())
            .collect()
    }

    /// A network by full ID, exact name, or unique ID prefix, as dockerd looks them up.
    pub fn get(&self, key: &str) -> Result<Network, NetworkError> {
        let st = self.state.lock().unwrap();
        find(&st, key).map(|e| e.net.clone())
    }

    /// The endpoints of a network, by container ID.
    pub fn endpoints(&self, id: &str) -> BTreeMap<String, Endpoint> {
        self.state
            .lock()
            .unwrap()
            .nets
            .get(id)
            .map(|e| e.endpoints.clone())
            .unwrap_or_default()
    }

    /// `DELETE /networks/{id}`.
    pub fn remove(&self, key: &str) -> Result<Network, NetworkError> {
        let mut st = self.state.lock().unwrap();
        let e = find(&st, key)?;
        let n = e.net.clone();
        if n.predefined {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if !e.endpoints.is_empty() {
            return Err(NetworkError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        let _ = std::fs::remove_file(self.cfg.data_dir.join(format!("{}.json", n.id)));
        st.nets.remove(&n.id);
        drop(st);
        self.teardown_bridge(&n);
        Ok(n)
    }

    /// Attaches a container's namespace to its networks (`mode` names the first: `bridge`,
    /// `default` or a network's name or ID; `more` are further ones of a create body) and
    /// publishes its ports. On an error nothing of it is left.
    pub fn attach(
        &self,
        container: &str,
        netns: &Path,
        networks: &[(String, EndpointRequest)],
        names: &[String],
        ports: &[PortRequest],
    ) -> Result<NetworkSettings, NetworkError> {
        let mut settings = NetworkSettings {
            sandbox_key: netns.display().to_string(),
            ..Default::default()
        };
        let done = (|| -> Result<(), NetworkError> {
            for (i, (net, req)) in networks.iter().enumerate() {
                let ep = self.plug(container, netns, net, req, names, i)?;
                settings.endpoints.insert(ep.network_name.clone(), ep);
            }
            if !ports.is_empty() {
                let first = networks
                    .first()
                    .and_then(|(n, _)| self.get(n).ok())
                    .and_then(|n| settings.endpoints.get(&n.name).cloned())
                    .ok_or_else(|| {
                        NetworkError::Invalid("published ports need a bridge network".into())
                    })?;
                settings.ports = self.publish(container, &first, ports)?;
            }
            Ok(())
        })();
        if let Err(e) = done {
            self.detach(container, &settings);
            return Err(e);
        }
        Ok(settings)
    }

    fn plug(
        &self,
        container: &str,
        netns: &Path,
        key: &str,
        req: &EndpointRequest,
        names: &[String],
        index: usize,
    ) -> Result<Endpoint, NetworkError> {
        let key = if key == "default" { "bridge" } else { key };
        let (net, ip) = {
            let mut st = self.state.lock().unwrap();
            let e = find_mut(&mut st, key)?;
            if e.net.driver != Driver::Bridge {
                return Err(NetworkError::Invalid(format!(
                    "container cannot be connected to network {}: it is not a bridge network",
                    e.net.name
                )));
            }
            if e.endpoints.contains_key(container) {
                return Err(NetworkError::Forbidden(format!(
                    "endpoint with name {} already exists in network {}",
                    names.first().map(String::as_str).unwrap_or(container),
                    e.net.name
                )));
            }
            let alloc = e.alloc.as_mut().expect("bridge networks have an allocator");
            let ip = match req.ipv4 {
                Some(ip) => {
                    if e.net.predefined {
                        return Err(NetworkError::Invalid(
                            "user specified IP address is supported on user defined networks only"
                                .into(),
                        ));
                    }
                    alloc.reserve(ip).map_err(|e| match e {
                        IpamError::InUse(_) => {
                            NetworkError::Forbidden(format!("Address already in use: {ip}"))
                        }
                        other => NetworkError::Invalid(other.to_string()),
                    })?;
                    ip
                }
                None => alloc
                    .allocate()
                    .map_err(|e| NetworkError::Unavailable(e.to_string()))?,
            };
            (e.net.clone(), ip)
        };
        let release = || {
            if let Some(e) = self.state.lock().unwrap().nets.get_mut(&net.id) {
                if let Some(a) = e.alloc.as_mut() {
                    a.release(ip);
                }
            }
        };
        let mac = match &req.mac {
            Some(m) => match parse_mac(m) {
                Some(m) => m,
                None => {
                    release();
                    return Err(NetworkError::Invalid(format!("invalid MAC address: {m}")));
                }
            },
            None => ipam::mac_of(ip),
        };
        let subnet = net.subnet.expect("bridge networks have a subnet");
        let gateway = net.gateway.expect("bridge networks have a gateway");
        let host_ifname = bridge::veth_name();
        let ifname = format!("eth{index}");
        if let Err(e) = bridge::plug(
            &net.bridge,
            &host_ifname,
            netns,
            &ifname,
            ip,
            subnet.prefix,
            gateway,
            mac,
            net.mtu,
            index == 0,
        ) {
            release();
            return Err(e);
        }
        let mut dns_names: Vec<String> = names.to_vec();
        dns_names.extend(req.aliases.iter().cloned());
        let ep = Endpoint {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            endpoint_id: random_id(),
            ip,
            prefix_len: subnet.prefix,
            gateway,
            mac: format_mac(&mac),
            host_ifname,
            ifname,
            aliases: req.aliases.clone(),
            dns_names,
            links: req.links.clone(),
            bridge: net.bridge.clone(),
        };
        if let Some(e) = self.state.lock().unwrap().nets.get_mut(&net.id) {
            e.endpoints.insert(container.to_string(), ep.clone());
        }
        Ok(ep)
    }

    fn publish(
        &self,
        container: &str,
        ep: &Endpoint,
        ports: &[PortRequest],
    ) -> Result<Vec<PortMapping>, NetworkError> {
        let mut holds = Vec::new();
        let mut out = Vec::new();
        for r in ports {
            let (host_port, hold) = ports::take(r)?;
            holds.push(hold);
            out.push(PortMapping {
                container_port: r.key(),
                host_ip: if r.host_ip.is_empty() {
                    "0.0.0.0".into()
                } else {
                    r.host_ip.clone()
                },
                host_port,
                rule: PortRule {
                    proto: r.proto.clone(),
                    host_ip: r.host_ip.clone(),
                    host_port,
                    container_ip: ep.ip,
                    container_port: r.container_port,
                    bridge: ep.bridge.clone(),
                },
            });
        }
        self.port_rules("-A", &out)?;
        let mut st = self.state.lock().unwrap();
        st.holds.insert(container.to_string(), holds);
        st.ports.insert(container.to_string(), out.clone());
        Ok(out)
    }

    fn port_rules(&self, op: &str, mappings: &[PortMapping]) -> Result<(), NetworkError> {
        let Some(fw) = &self.fw else { return Ok(()) };
        if mappings.is_empty() {
            return Ok(());
        }
        let rules: Vec<_> = mappings
            .iter()
            .flat_map(|m| firewall::port_rules(&self.chains, &m.rule))
            .collect();
        fw.restore(&firewall::restore_input(op, &rules))
            .map_err(NetworkError::io("publishing ports"))
    }

    /// Connects a running container's namespace to one more network (`network connect`);
    /// `index` numbers its interface (`eth<index>`).
    pub fn connect(
        &self,
        container: &str,
        netns: &Path,
        network: &str,
        req: &EndpointRequest,
        names: &[String],
        index: usize,
    ) -> Result<Endpoint, NetworkError> {
        self.plug(container, netns, network, req, names, index)
    }

    /// Takes one endpoint of a running container away (`network disconnect`).
    pub fn disconnect(&self, container: &str, network: &str) -> Result<Endpoint, NetworkError> {
        let ep = {
            let mut st = self.state.lock().unwrap();
            let e = find_mut(&mut st, network)?;
            let ep = e.endpoints.remove(container).ok_or_else(|| {
                NetworkError::Forbidden(format!(
                    "container {container} is not connected to network {}",
                    e.net.name
                ))
            })?;
            if let Some(a) = e.alloc.as_mut() {
                a.release(ep.ip);
            }
            ep
        };
        bridge::unplug(&ep.host_ifname);
        Ok(ep)
    }

    /// Undoes [`Self::attach`]: veths, addresses, port rules and held ports go.
    pub fn detach(&self, container: &str, settings: &NetworkSettings) {
        let ports = {
            let mut st = self.state.lock().unwrap();
            st.holds.remove(container);
            st.ports
                .remove(container)
                .unwrap_or_else(|| settings.ports.clone())
        };
        if let Err(e) = self.port_rules("-D", &ports) {
            tracing::warn!(container, error = %e, "removing port rules");
        }
        let mut st = self.state.lock().unwrap();
        for ep in settings.endpoints.values() {
            if let Some(e) = st.nets.get_mut(&ep.network_id) {
                if e.endpoints
                    .get(container)
                    .is_some_and(|x| x.endpoint_id == ep.endpoint_id)
                {
                    e.endpoints.remove(container);
                    if let Some(a) = e.alloc.as_mut() {
                        a.release(ep.ip);
                    }
                }
            }
        }
        drop(st);
        for ep in settings.endpoints.values() {
            bridge::unplug(&ep.host_ifname);
        }
    }

    /// [`Self::detach`] of whatever a container has attached, from the service's own
    /// account of it (a container's record may be gone already).
    pub fn detach_all(&self, container: &str) {
        self.dns.lock().unwrap().remove(container);
        let settings = {
            let st = self.state.lock().unwrap();
            let mut s = NetworkSettings::default();
            for e in st.nets.values() {
                if let Some(ep) = e.endpoints.get(container) {
                    s.endpoints.insert(ep.network_name.clone(), ep.clone());
                }
            }
            s.ports = st.ports.get(container).cloned().unwrap_or_default();
            s
        };
        if !settings.endpoints.is_empty() || !settings.ports.is_empty() {
            self.detach(container, &settings);
        }
    }

    /// At berthd's start, for a container still running: its addresses, endpoints, port
    /// rules and held ports are taken up again.
    pub fn readopt(&self, container: &str, settings: &NetworkSettings) {
        let mut st = self.state.lock().unwrap();
        for ep in settings.endpoints.values() {
            if let Some(e) = st.nets.get_mut(&ep.network_id) {
                if let Some(a) = e.alloc.as_mut() {
                    let _ = a.reserve(ep.ip);
                }
                e.endpoints.insert(container.to_string(), ep.clone());
            }
        }
        let mut holds = Vec::new();
        for m in &settings.ports {
            let r = PortRequest {
                container_port: m.rule.container_port,
                proto: m.rule.proto.clone(),
                host_ip: m.rule.host_ip.clone(),
                host_ports: (m.host_port, m.host_port),
            };
            match ports::take(&r) {
                Ok((_, h)) => holds.push(h),
                Err(e) => tracing::warn!(container, error = %e, "holding a published port again"),
            }
        }
        st.holds.insert(container.to_string(), holds);
        st.ports
            .insert(container.to_string(), settings.ports.clone());
        drop(st);
        if let Err(e) = self.port_rules("-A", &settings.ports) {
            tracing::warn!(container, error = %e, "publishing ports again");
        }
    }

    /// At a clean shutdown with no container running: berth's rules, chains and bridges go.
    pub fn shutdown(&self, containers_running: bool) {
        if containers_running {
            return;
        }
        let nets = self.list();
        if let Some(fw) = &self.fw {
            if let Err(e) = firewall::remove_chains(fw.as_ref(), &self.chains) {
                tracing::warn!(error = %e, "removing berth's firewall chains");
            }
        }
        for n in nets.iter().filter(|n| n.driver == Driver::Bridge) {
            if let Err(e) = bridge::remove(&n.bridge) {
                tracing::warn!(network = n.name, error = %e, "removing bridge");
            }
        }
    }

    /// The default bridge's device, if there is one.
    pub fn default_bridge_name(&self) -> Option<String> {
        (self.cfg.bridge != "none").then(|| self.cfg.bridge.clone())
    }
}

fn predefined(name: &str, driver: Driver) -> Network {
    Network {
        id: random_id(),
        name: name.into(),
        driver,
        created: Utc::now(),
        subnet: None,
        gateway: None,
        ip_range: None,
        bridge: String::new(),
        internal: false,
        attachable: false,
        icc: true,
        mtu: None,
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        predefined: true,
    }
}

fn allocator(n: &Network) -> Option<Allocator> {
    Some(Allocator::new(n.subnet?, n.ip_range, n.gateway?))
}

fn host_routes_except(own: Option<&str>) -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || own.is_none_or(|o| l.split_whitespace().next() != Some(o)))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    ipam::host_routes(&kept)
}

fn find<'a>(st: &'a State, key: &str) -> Result<&'a Entry, NetworkError> {
    if let Some(e) = st.nets.get(key) {
        return Ok(e);
    }
    if let Some(e) = st.nets.values().find(|e| e.net.name == key) {
        return Ok(e);
    }
    let hits: Vec<&Entry> = st
        .nets
        .values()
        .filter(|e| !key.is_empty() && e.net.id.starts_with(key))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(NetworkError::NotFound(key.to_string())),
        _ => Err(NetworkError::Invalid(format!(
            "network {key} is ambiguous ({} matches found based on ID prefix)",
            hits.len()
        ))),
    }
}

fn find_mut<'a>(st: &'a mut State, key: &str) -> Result<&'a mut Entry, NetworkError> {
    let id = find(st, key)?.net.id.clone();
    Ok(st.nets.get_mut(&id).expect("found just now"))
}
