//! Running containers: the OCI runtime spec, the per-container shim, the `Runtime` trait with
//! its builtin and OCI-CLI implementations, and cgroups.
//!
//! Containers do not run yet; what is here today is the host detection the daemon reports.

pub mod cgroups;
