//! `POST /networks/create`.

use super::*;

impl NetworkService {
    /// `POST /networks/create`.
    pub fn create(&self, req: CreateRequest) -> Result<Network, NetworkError> {
        if req.name.is_empty() {
            return Err(NetworkError::Invalid("network name cannot be empty".into()));
        }
        match req.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" => {
                return Err(NetworkError::Forbidden(format!(
                    "only one instance of \"{}\" network is allowed",
                    req.driver
                )))
            }
            d => {
                return Err(NetworkError::Invalid(format!(
                    "network driver {d:?} is not supported yet by berth; bridge is"
                )))
            }
        }
        if req.enable_ipv6 {
            return Err(NetworkError::Invalid(
                "IPv6 networks (--ipv6) are not supported yet by berth".into(),
            ));
        }
        let mut icc = true;
        let mut bridge_name = None;
        let mut mtu = None;
        for (k, v) in &req.options {
            match k.as_str() {
                BRIDGE_NAME => {
                    if v.is_empty()
                        || v.len() > 15
                        || v.contains('/')
                        || v.contains(char::is_whitespace)
                    {
                        return Err(NetworkError::Invalid(format!("invalid bridge name {v:?}")));
                    }
                    bridge_name = Some(v.clone());
                }
                ENABLE_ICC => {
                    icc = v.parse().map_err(|_| {
                        NetworkError::Invalid(format!("invalid value for {ENABLE_ICC}: {v:?}"))
                    })?
                }
                MTU => {
                    mtu = Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|m| *m >= 68)
                            .ok_or_else(|| NetworkError::Invalid(format!("invalid MTU {v:?}")))?,
                    )
                }
                MASQUERADE if v == "true" => {}
                other => {
                    return Err(NetworkError::Invalid(format!(
                        "network option {other:?} is not supported yet by berth"
                    )))
                }
            }
        }
        let mut st = self.state.lock().unwrap();
        if st.nets.values().any(|e| e.net.name == req.name) {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let nets: BTreeMap<String, Network> = st
            .nets
            .iter()
            .map(|(k, e)| (k.clone(), e.net.clone()))
            .collect();
        let subnet = match &req.subnet {
            Some(s) => {
                let s: Subnet = s
                    .parse()
                    .map_err(|e: ipam::BadCidr| NetworkError::Invalid(e.to_string()))?;
                if self
                    .taken_subnets(&nets, None)
                    .iter()
                    .any(|t| t.overlaps(&s))
                {
                    return Err(NetworkError::Forbidden(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                s
            }
            None => {
                if req.gateway.is_some() || req.ip_range.is_some() {
                    return Err(NetworkError::Invalid(
                        "a gateway or an IP range needs a subnet (--subnet)".into(),
                    ));
                }
                ipam::choose_subnet(&self.cfg.pools, &self.taken_subnets(&nets, None)).ok_or_else(
                    || {
                        NetworkError::Unavailable(
                            "all predefined address pools have been fully subnetted".into(),
                        )
                    },
                )?
            }
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let g: Ipv4Addr = g
                    .parse()
                    .map_err(|_| NetworkError::Invalid(format!("invalid gateway address {g:?}")))?;
                if !subnet.contains(g) {
                    return Err(NetworkError::Forbidden(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                g
            }
            None => subnet.first_host(),
        };
        let ip_range = match &req.ip_range {
            Some(r) => {
                let r: Subnet = r
                    .parse()
                    .map_err(|e: ipam::BadCidr| NetworkError::Invalid(e.to_string()))?;
                if !subnet.contains(r.base) || r.prefix < subnet.prefix {
                    return Err(NetworkError::Forbidden(format!(
                        "no matching subnet for range {r}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let id = random_id();
        let bridge = bridge_name.unwrap_or_else(|| format!("br-{}", &id[..12]));
        if st.nets.values().any(|e| e.net.bridge == bridge) {
            return Err(NetworkError::Conflict(format!(
                "bridge name {bridge} is in use by another network"
            )));
        }
        let n = Network {
            id,
            name: req.name,
            driver: Driver::Bridge,
            created: Utc::now(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range,
            bridge,
            internal: req.internal,
            attachable: req.attachable,
            icc,
            mtu,
            options: req.options,
            labels: req.labels,
            predefined: false,
        };
        self.setup_bridge(&n)
            .inspect_err(|_| self.teardown_bridge(&n))?;
        if let Err(e) = self.save(&n) {
            self.teardown_bridge(&n);
            return Err(e);
        }
        st.nets.insert(
            n.id.clone(),
            Entry {
                alloc: allocator(&n),
                net: n.clone(),
                endpoints: BTreeMap::new(),
            },
        );
        Ok(n)
    }
}
