//! Networks: IPAM, the default bridge and user-defined bridges with a veth pair per container,
//! NAT and port publishing through iptables, and DNS by container name on user networks.
//!
//! Not implemented yet: berth has no container networking so far, and the network endpoints
//! answer that plainly.
