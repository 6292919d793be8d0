//! `POST /networks/{id}/connect` and `/disconnect`: a container joins or leaves a network;
//! a running one at once (a new interface in its namespace), a stopped one at its next start.

use berth_network::EndpointRequest;

use crate::error::ContainerError;
use crate::service::ContainerService;

impl ContainerService {
    /// Connects the container `key` to `network`.
    pub fn connect(
        &self,
        network: &str,
        key: &str,
        req: EndpointRequest,
    ) -> Result<(), ContainerError> {
        let net = self.network.get(network)?;
        let c = self.get(key)?;
        let mode = c.host_config.network_mode.as_str();
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return Err(ContainerError::Invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        if net.predefined && net.name != "bridge" {
            return Err(ContainerError::Invalid(format!(
                "container cannot be disconnected from host network or connected to {} network",
                net.name
            )));
        }
        if c.endpoints.iter().any(|(n, _)| *n == net.name) {
            return Err(ContainerError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.bare_name(),
                net.name
            )));
        }
        if net.predefined && !req.aliases.is_empty() {
            return Err(ContainerError::Invalid(
                "network-scoped aliases are only supported for user-defined networks".into(),
            ));
        }
        let running = c.state.running && !c.state.restarting;
        let endpoint = if running {
            let names = [c.bare_name().to_string(), c.short_id().to_string()];
            let netns = self.paths.netns_path(&c.id);
            let index = c.network_settings.as_ref().map_or(0, |s| {
                s.endpoints
                    .values()
                    .filter_map(|e| e.ifname.strip_prefix("eth")?.parse::<usize>().ok())
                    .max()
                    .map_or(0, |m| m + 1)
            });
            Some(
                self.network
                    .connect(&c.id, &netns, &net.name, &req, &names, index)?,
            )
        } else {
            None
        };
        self.emit_network(&net, "connect", Some(&c.id));
        let name = net.name.clone();
        self.update(&c.id, move |r| {
            r.endpoints.push((name.clone(), req));
            if let (Some(ep), Some(s)) = (endpoint, r.network_settings.as_mut()) {
                s.endpoints.insert(name, ep);
            }
        });
        Ok(())
    }

    /// Disconnects the container `key` from `network`.
    pub fn disconnect(&self, network: &str, key: &str, force: bool) -> Result<(), ContainerError> {
        let net = self.network.get(network)?;
        let c = match self.get(key) {
            Ok(c) => c,
            // `--force` takes an endpoint whose container is gone.
            Err(_) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        if !c.endpoints.iter().any(|(n, _)| *n == net.name) {
            return Err(ContainerError::Conflict(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            )));
        }
        if c.state.running && !c.state.restarting {
            self.network.disconnect(&c.id, &net.name)?;
        }
        self.emit_network(&net, "disconnect", Some(&c.id));
        let name = net.name.clone();
        self.update(&c.id, move |r| {
            r.endpoints.retain(|(n, _)| *n != name);
            if let Some(s) = r.network_settings.as_mut() {
                s.endpoints.remove(&name);
            }
        });
        Ok(())
    }
}
