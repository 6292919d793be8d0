//! Networks: IPAM, the default bridge and user-defined bridges with a veth pair per container,
//! NAT and port publishing through iptables, and the /etc files a container's network needs.
//!
//! The container service reaches it through [`NetworkService::attach`] (at each start: the
//! container's namespace gets its endpoints, the result is its [`NetworkSettings`]) and
//! [`NetworkService::detach`] (at its exit).

pub mod bridge;
pub mod dns;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod model;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod service;

pub use error::NetworkError;
pub use model::{Driver, Endpoint, EndpointRequest, Network, NetworkSettings, PortMapping};
pub use service::{CreateRequest, NetworkConfig, NetworkService};
