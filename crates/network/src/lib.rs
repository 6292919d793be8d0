//! Networks: IPAM, the default bridge and user-defined bridges with a veth pair per container,
//! NAT and port publishing through iptables, and DNS by container name on user networks.
//!
//! So far: the network namespace a container gets (loopback up), made and kept by berthd so
//! that it outlives daemon restarts. Bridges, IPAM, NAT and DNS are not implemented yet.

pub mod netns;
