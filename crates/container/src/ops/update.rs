//! `POST /containers/{id}/update`: new resource limits and restart policy, saved in the
//! record and applied to a running container's cgroup at once.

use serde_json::Value;

use crate::error::ContainerError;
use crate::service::ContainerService;
use crate::state::RestartPolicy;

/// The fields of an update body berth applies; every other one must be unset.
const APPLIED: &[&str] = &[
    "CpuShares",
    "Memory",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "MemoryReservation",
    "MemorySwap",
    "NanoCpus",
    "PidsLimit",
    "RestartPolicy",
];

impl ContainerService {
    /// Applies an update body; returns dockerd's warnings.
    pub fn update_container(
        &self,
        key: &str,
        mut body: Value,
    ) -> Result<Vec<String>, ContainerError> {
        crate::unsupported::strip_nulls(&mut body);
        let obj = body
            .as_object()
            .ok_or_else(|| ContainerError::Invalid("invalid JSON: expected an object".into()))?;
        for (k, v) in obj {
            let unset = match v {
                Value::Null => true,
                Value::Bool(b) => !b,
                Value::Number(n) => n.as_f64() == Some(0.0),
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
            };
            // -1 is the API's "unset" swappiness.
            let default_swappiness = k == "MemorySwappiness" && v.as_i64() == Some(-1);
            if !APPLIED.contains(&k.as_str()) && !unset && !default_swappiness {
                return Err(ContainerError::Invalid(format!(
                    "{k} cannot be updated by berth yet; leave it unset"
                )));
            }
        }
        let num = |k: &str| obj.get(k).and_then(Value::as_i64).unwrap_or(0);
        let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let c = self.get(key)?;
        let mut hc = c.host_config.clone();
        let set = |field: &mut i64, k: &str| {
            if num(k) != 0 {
                *field = num(k);
            }
        };
        set(&mut hc.cpu_shares, "CpuShares");
        set(&mut hc.memory_reservation, "MemoryReservation");
        set(&mut hc.cpu_period, "CpuPeriod");
        set(&mut hc.cpu_quota, "CpuQuota");
        if num("NanoCpus") != 0 {
            // --cpus replaces a period and quota, as in dockerd.
            hc.nano_cpus = num("NanoCpus");
            hc.cpu_period = 0;
            hc.cpu_quota = 0;
        } else if num("CpuPeriod") != 0 || num("CpuQuota") != 0 {
            hc.nano_cpus = 0;
        }
        let (memory, swap) = (num("Memory"), num("MemorySwap"));
        if memory != 0 {
            if swap == 0 && hc.memory_swap > 0 && memory > hc.memory_swap {
                return Err(ContainerError::Invalid(
                    "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
                ));
            }
            hc.memory = memory;
        }
        if swap != 0 {
            hc.memory_swap = swap;
        }
        if !text("CpusetCpus").is_empty() {
            hc.cpuset_cpus = text("CpusetCpus");
        }
        if !text("CpusetMems").is_empty() {
            hc.cpuset_mems = text("CpusetMems");
        }
        if let Some(p) = obj.get("PidsLimit").and_then(Value::as_i64) {
            // 0 and -1 both lift the limit.
            hc.pids_limit = Some(if p <= 0 { -1 } else { p });
        }
        if let Some(rp) = obj
            .get("RestartPolicy")
            .filter(|v| !v.as_object().is_some_and(|o| o.is_empty()))
        {
            let rp: RestartPolicy = serde_json::from_value(rp.clone())
                .map_err(|e| ContainerError::Invalid(format!("invalid restart policy: {e}")))?;
            if !rp.name.is_empty() {
                rp.validate()
                    .map_err(|e| ContainerError::Invalid(e.to_string()))?;
                if hc.auto_remove && !rp.is_none() {
                    return Err(ContainerError::Invalid(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                    ));
                }
                hc.restart_policy = rp;
            }
        }
        super::create::validate_host_config(&hc)?;
        let cannot =
            |e: String| ContainerError::Invalid(format!("Cannot update container {}: {e}", c.id));
        let limits = berth_runtime::spec::limits(&crate::bundle::resources_of(&hc))
            .map_err(|e| cannot(e.to_string()))?;
        if c.state.running && !c.state.restarting {
            let path = self.paths.cgroups_path(&c.id, &hc.cgroup_parent);
            berth_runtime::cgroups::update(&path, &limits).map_err(cannot)?;
        }
        // A change of configuration, not of state: written durably, as a rename is.
        let mut recs = self.records.lock().unwrap();
        let mut rec = recs.find(&c.id)?.clone();
        rec.host_config = hc;
        recs.save(&self.paths, &rec)
            .map_err(ContainerError::io("saving the container record"))?;
        drop(recs);
        let c = rec;
        self.emit(&c, "update", &[]);
        Ok(Vec::new())
    }
}
