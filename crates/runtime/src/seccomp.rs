//! Docker's default seccomp profile, as an OCI `LinuxSeccomp`.
