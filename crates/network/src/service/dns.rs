//! The service's side of the embedded DNS: which names a container's server answers.

use std::path::Path;
use std::sync::Arc;

use super::NetworkService;
use crate::NetworkError;

impl NetworkService {
    /// Serves the embedded DNS at `127.0.0.11` in `container`'s namespace, answering the
    /// names on the user networks it is on and sending the rest to `upstream`.
    pub fn serve_dns(
        &self,
        container: &str,
        netns: &Path,
        upstream: Vec<std::net::SocketAddr>,
    ) -> Result<(), NetworkError> {
        let state = self.state.clone();
        let me = container.to_string();
        let lookup: crate::dns::Lookup = Arc::new(move |name: &str| {
            let st = state.lock().unwrap();
            st.nets
                .values()
                .filter(|e| e.net.name != "bridge" && e.endpoints.contains_key(&me))
                .find_map(|e| {
                    e.endpoints.values().find_map(|ep| {
                        let hit = ep.dns_names.iter().any(|n| {
                            let n = n.to_ascii_lowercase();
                            name == n || name == format!("{n}.{}", e.net.name.to_ascii_lowercase())
                        });
                        hit.then_some(ep.ip)
                    })
                })
        });
        let server = crate::dns::serve(netns, lookup, upstream).map_err(|e| NetworkError::Io {
            context: "starting the embedded DNS server".into(),
            source: e,
        })?;
        self.dns
            .lock()
            .unwrap()
            .insert(container.to_string(), server);
        Ok(())
    }
}
