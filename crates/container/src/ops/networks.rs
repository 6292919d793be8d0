//! The network API's changes made through the container service, so that they are reported
//! as events beside its containers' (dockerd's `network create|destroy|connect|disconnect`).

use berth_network::{CreateRequest, Network, NetworkError};

use crate::service::ContainerService;

impl ContainerService {
    pub(crate) fn emit_network(&self, n: &Network, action: &str, container: Option<&str>) {
        let mut attrs = vec![
            ("name", n.name.clone()),
            ("type", n.driver.as_str().to_string()),
        ];
        if let Some(c) = container {
            attrs.push(("container", c.to_string()));
        }
        self.events.publish(crate::events::Event::object(
            "network", &n.id, action, &attrs,
        ));
    }

    /// `POST /networks/create`.
    pub fn create_network(&self, req: CreateRequest) -> Result<Network, NetworkError> {
        let n = self.network.create(req)?;
        self.emit_network(&n, "create", None);
        Ok(n)
    }

    /// `DELETE /networks/{id}`.
    pub fn remove_network(&self, key: &str) -> Result<(), NetworkError> {
        let n = self.network.remove(key)?;
        self.emit_network(&n, "destroy", None);
        Ok(())
    }
}
