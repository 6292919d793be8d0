//! `POST /containers/create`: checks what can be checked before a start, merges the image's
//! config in as Docker does, and writes the record.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use crate::config::CreateBody;
use crate::error::ContainerError;
use crate::names;
use crate::process;
use crate::record::{new_id, valid_name, Container};
use crate::service::ContainerService;
use crate::state::ContainerState;

/// How long an `--rm` container may wait for its start before its record is made durable
/// (see `ContainerService::create`).
const UNSTARTED_SYNC_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl ContainerService {
    /// `POST /containers/create`: checks everything that can be checked before a start, merges
    /// the image's config in as Docker does, and writes the record. Returns ID and warnings.
    pub fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        platform: Option<&berth_image::manifest::Platform>,
        mut body: CreateBody,
    ) -> Result<(String, Vec<String>), ContainerError> {
        crate::ops::prime_cgroup_migration();
        // A start is likely to follow (`run` is create and start): what it takes ready-made is
        // made while the record is being written, unless it is ready already.
        self.make_spares();
        let image_name = body.config.image.clone();
        if image_name.is_empty() {
            return Err(ContainerError::Invalid(
                "Config cannot be empty in order to create a container".into(),
            ));
        }
        let image_id = self
            .images
            .resolve(&image_name)
            .map_err(|_| ContainerError::NoSuchImage(image_name.clone()))?;
        let image_cfg = self
            .images
            .config(&image_id)
            .map_err(|_| ContainerError::NoSuchImage(image_name.clone()))?;
        if let Some(wanted) = platform {
            let actual = berth_image::manifest::Platform {
                architecture: image_cfg.architecture.clone(),
                os: image_cfg.os.clone(),
                variant: image_cfg.variant.clone(),
                os_version: None,
            };
            if !wanted.matches(&actual) {
                return Err(ContainerError::NotFound(format!(
                    "image with reference {image_name} was found but does not match the specified platform: wanted {}, actual: {}",
                    wanted, actual
                )));
            }
        }
        let hc = &body.host_config;
        let runtime = if hc.runtime.is_empty() {
            self.runtimes.default.clone()
        } else {
            hc.runtime.clone()
        };
        if !self.runtimes.known.contains_key(&runtime) {
            return Err(ContainerError::Invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        hc.restart_policy
            .validate()
            .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        if hc.auto_remove && !hc.restart_policy.is_none() {
            return Err(ContainerError::Invalid(
                "can't create 'AutoRemove' container with restart policy".into(),
            ));
        }
        validate_host_config(hc)?;
        berth_runtime::logfile::LogSettings::parse(&hc.log_config.kind, &hc.log_config.config)
            .map_err(ContainerError::Invalid)?;
        let img = image_cfg.config.clone().unwrap_or_default();
        let strings = |k: &str| -> Option<Vec<String>> {
            img.get(k)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        };
        let merged = process::merge_config_command(
            strings("Entrypoint").as_deref(),
            strings("Cmd").as_deref(),
            body.config.entrypoint.as_deref(),
            body.config.cmd.as_deref(),
        )
        .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        let argv = merged.argv();
        body.config.entrypoint = merged.entrypoint;
        body.config.cmd = merged.cmd;
        body.config.env = Some(process::merge_config_env(
            &strings("Env").unwrap_or_default(),
            body.config.env.as_deref().unwrap_or_default(),
        ));
        if body.config.working_dir.is_empty() {
            body.config.working_dir = img
                .get("WorkingDir")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
        }
        if body.config.user.is_empty() {
            body.config.user = img
                .get("User")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
        }
        if body.config.stop_signal.is_none() {
            body.config.stop_signal = img
                .get("StopSignal")
                .and_then(|v| v.as_str())
                .map(str::to_string);
        }
        let mut labels: BTreeMap<String, String> = img
            .get("Labels")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        labels.extend(std::mem::take(&mut body.config.labels));
        body.config.labels = labels;
        // The image's HEALTHCHECK unless the container has its own; either is checked.
        // A healthcheck without a test (only `--health-interval`, say) takes the image's test.
        let image_health = img.get("Healthcheck").filter(|v| !v.is_null()).cloned();
        match (&mut body.config.healthcheck, image_health) {
            (None, image) => body.config.healthcheck = image,
            (Some(own), Some(image)) => {
                let no_test = own["Test"].as_array().is_none_or(|t| t.is_empty());
                if no_test && own.is_object() {
                    own["Test"] = image["Test"].clone();
                }
            }
            _ => {}
        }
        if let Some(h) = &body.config.healthcheck {
            crate::health::HealthConfig::from_value(h).map_err(ContainerError::Invalid)?;
        }
        if body.config.exposed_ports.is_none() {
            body.config.exposed_ports = img
                .get("ExposedPorts")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
        }
        if body.host_config.network_mode.is_empty() {
            body.host_config.network_mode = "bridge".into();
        }
        if body.host_config.log_config.kind.is_empty() {
            body.host_config.log_config.kind = "json-file".into();
        }
        if body.host_config.shm_size == 0 {
            body.host_config.shm_size = 64 * 1024 * 1024;
        }
        body.host_config.runtime = runtime.clone();

        // The image's VOLUMEs are the container's too, as dockerd merges them.
        if let Some(v) = img.get("Volumes").and_then(|v| v.as_object()) {
            let vols = body.config.volumes.get_or_insert_with(BTreeMap::new);
            for k in v.keys() {
                vols.entry(k.clone()).or_insert(serde_json::json!({}));
            }
        }

        let id = new_id();
        if body.config.hostname.is_empty() {
            body.config.hostname = id[..12].to_string();
        }
        let endpoints = endpoints_of(self, &body)?;
        // Published ports are read now so that a bad one is refused at create.
        berth_network::ports::requests(
            body.host_config
                .port_bindings
                .as_ref()
                .map(|m| serde_json::Map::from_iter(m.clone()))
                .as_ref(),
            None,
            false,
        )?;
        let mount_points = self.resolve_mounts(&id, &body)?;
        let dir = self.paths.dir(&id);
        // What a create that fails from here on leaves: nothing of the container, and none
        // of the anonymous volumes made for it.
        let undo_mounts = |svc: &Self| {
            svc.volumes.release(&id, &mount_points, true);
            if crate::rootfs::unmount_rootfs(&dir).is_ok() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        };
        if self.volumes.needs_population(&mount_points) {
            if let Err(e) =
                self.populate_volumes(&image_id, &dir, &mount_points, body.host_config.auto_remove)
            {
                undo_mounts(self);
                return Err(e);
            }
        }
        let mut recs = self.records.lock().unwrap();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    drop(recs);
                    undo_mounts(self);
                    return Err(ContainerError::Invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = format!("/{}", n.trim_start_matches('/'));
                if let Some(other) = recs.by_name(&n) {
                    let other = other.id.clone();
                    drop(recs);
                    undo_mounts(self);
                    return Err(ContainerError::Conflict(format!(
                        "Conflict. The container name \"{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n
            }
            None => loop {
                let n = format!("/{}", names::random_name(0));
                if recs.by_name(&n).is_none() {
                    break n;
                }
            },
        };
        if let Err(e) = crate::rootfs::prepare_dirs(&dir) {
            drop(recs);
            undo_mounts(self);
            return Err(ContainerError::io("creating the container's directories")(
                e,
            ));
        }
        let c = Container {
            id: id.clone(),
            name,
            created: Utc::now(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            image: image_id.to_string(),
            config: body.config,
            host_config: body.host_config,
            state: ContainerState::new_created(),
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            runtime,
            mount_points: mount_points.clone(),
            endpoints,
            network_settings: None,
        };
        // An `--rm` container's record is made durable only if the container is still
        // waiting for its start a second later. Once started, an `--rm` container is lost to a
        // power loss whatever is on disk (the recovery at the next start removes it), so
        // `run --rm`, which starts it at once, never needs the fsync of the file and
        // directory: 0.5 to 1.5 ms of the disk's time, whose journal commit also held up the
        // next container's directories.
        let durable = !c.host_config.auto_remove;
        if let Err(e) = recs.save_new(&self.paths, &c, durable) {
            drop(recs);
            undo_mounts(self);
            return Err(ContainerError::io("saving the container record")(e));
        }
        drop(recs);
        if !durable {
            self.sync_record_if_not_started(&id);
        }
        self.emit(&c, "create", &[]);
        Ok((id, Vec::new()))
    }

    /// The container's mounts from its binds, mounts, tmpfs, volumes (its own and its
    /// image's) and `--volumes-from`: volumes it names are created if missing.
    fn resolve_mounts(
        &self,
        id: &str,
        body: &CreateBody,
    ) -> Result<Vec<berth_volume::MountPoint>, ContainerError> {
        let hc = &body.host_config;
        let mut volumes_from = Vec::new();
        for spec in hc.volumes_from.iter().flatten() {
            let (name, writable) = berth_volume::parse::parse_volumes_from(spec)?;
            let other = self.get(&name)?;
            volumes_from.push((other.mount_points, writable));
        }
        let req = berth_volume::Request {
            binds: hc.binds.as_deref().unwrap_or_default(),
            mounts: hc.mounts.as_deref().unwrap_or_default(),
            tmpfs: hc.tmpfs.as_ref(),
            volumes: body
                .config
                .volumes
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect(),
            volumes_from,
            volume_driver: &hc.volume_driver,
        };
        Ok(self.volumes.resolve(id, &req)?)
    }

    /// Copies the image's content into the container's empty volumes, as dockerd does at
    /// create: the container's root filesystem is mounted for it, and stays mounted for the
    /// start that usually follows.
    fn populate_volumes(
        &self,
        image_id: &berth_image::Digest,
        dir: &std::path::Path,
        points: &[berth_volume::MountPoint],
        volatile: bool,
    ) -> Result<(), ContainerError> {
        crate::rootfs::prepare_dirs(dir)
            .map_err(ContainerError::io("creating the container's directories"))?;
        let lower = self
            .lower_dirs(image_id)
            .map_err(ContainerError::NotFound)?;
        let root = crate::rootfs::mount_rootfs(&lower, dir, volatile).map_err(
            ContainerError::io("mounting the container's root filesystem"),
        )?;
        Ok(self.volumes.populate(points, &root)?)
    }

    /// Makes a record written without fsync durable, off the request's path, if its
    /// container has not been started [`UNSTARTED_SYNC_AFTER`] from now (see `create`). A
    /// record removed meanwhile has nothing left to sync.
    fn sync_record_if_not_started(self: &Arc<Self>, id: &str) {
        let (svc, id) = (self.clone(), id.to_string());
        let sync = move || {
            if svc.get(&id).is_ok_and(|c| c.has_been_started) {
                return;
            }
            if let Err(e) = crate::record::sync_new(&svc.paths, &id) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(id, error = %e, "syncing the container record");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(async move {
                tokio::time::sleep(UNSTARTED_SYNC_AFTER).await;
                let _ = tokio::task::spawn_blocking(sync).await;
            })),
            Err(_) => sync(),
        }
    }
}

pub(crate) fn validate_host_config(hc: &crate::config::HostConfig) -> Result<(), ContainerError> {
    // Negative values are below the floor too, as dockerd has it.
    if hc.memory != 0 && hc.memory < 6 * 1024 * 1024 {
        return Err(ContainerError::Invalid(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if hc.memory > 0 && hc.memory_swap > 0 && hc.memory_swap < hc.memory {
        return Err(ContainerError::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if hc.memory == 0 && hc.memory_swap > 0 {
        return Err(ContainerError::Invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if hc.memory_reservation != 0 && hc.memory_reservation < 6 * 1024 * 1024 {
        return Err(ContainerError::Invalid(
            "Minimum memory reservation allowed is 6MB".into(),
        ));
    }
    if hc.memory > 0 && hc.memory_reservation > 0 && hc.memory < hc.memory_reservation {
        return Err(ContainerError::Invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        ));
    }
    if let Some(s) = hc
        .memory_swappiness
        .filter(|s| *s != -1 && !(0..=100).contains(s))
    {
        return Err(ContainerError::Invalid(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if hc.cpu_period != 0 && !(1000..=1_000_000).contains(&hc.cpu_period) {
        return Err(ContainerError::Invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)".into(),
        ));
    }
    if hc.cpu_quota > 0 && hc.cpu_quota < 1000 {
        return Err(ContainerError::Invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)".into(),
        ));
    }
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(ContainerError::Invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    if hc.shm_size < 0 {
        return Err(ContainerError::Invalid(
            "SHM size can not be less than 0".into(),
        ));
    }
    if hc.cpu_shares < 0 {
        return Err(ContainerError::Invalid(format!(
            "invalid CPU shares: {}: it must not be negative",
            hc.cpu_shares
        )));
    }
    if hc.nano_cpus != 0 && (hc.cpu_period != 0 || hc.cpu_quota != 0) {
        return Err(ContainerError::Invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
        ));
    }
    // Counted once: it reads the cgroup's CPU quota files each time.
    static CPUS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64
    });
    if hc.nano_cpus < 0 || hc.nano_cpus > cpus * 1_000_000_000 {
        return Err(ContainerError::Invalid(format!(
            "range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    // A parent that climbs out of the cgroup hierarchy would put the container's cgroup
    // somewhere else in /sys/fs.
    if hc.cgroup_parent.split('/').any(|c| c == "..") {
        return Err(ContainerError::Invalid(format!(
            "invalid cgroup parent {:?}: it must not contain \"..\"",
            hc.cgroup_parent
        )));
    }
    Ok(())
}

/// The networks a container joins and what it asks of each: its `NetworkMode` first (unless
/// host, none or another container's), then the other networks `EndpointsConfig` names.
fn endpoints_of(
    svc: &ContainerService,
    body: &CreateBody,
) -> Result<Vec<(String, berth_network::EndpointRequest)>, ContainerError> {
    let mode = body.host_config.network_mode.as_str();
    let configs = body
        .networking_config
        .as_ref()
        .and_then(|n| n.get("EndpointsConfig"))
        .and_then(|e| e.as_object());
    let request =
        |v: &serde_json::Value| -> Result<berth_network::EndpointRequest, ContainerError> {
            let s = |k: &str| v[k].as_str().filter(|x| !x.is_empty()).map(str::to_string);
            let ipv4 =
                match v["IPAMConfig"]["IPv4Address"]
                    .as_str()
                    .filter(|x| !x.is_empty())
                {
                    Some(ip) => Some(ip.parse().map_err(|_| {
                        ContainerError::Invalid(format!("invalid IPv4 address: {ip}"))
                    })?),
                    None => None,
                };
            let mac = s("MacAddress");
            if let Some(m) = &mac {
                if berth_network::ipam::parse_mac(m).is_none() {
                    return Err(ContainerError::Invalid(format!("invalid MAC address: {m}")));
                }
            }
            Ok(berth_network::EndpointRequest {
                aliases: v["Aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect(),
                ipv4,
                mac,
                links: Vec::new(),
            })
        };
    let mut out: Vec<(String, berth_network::EndpointRequest)> = Vec::new();
    let joins = !matches!(mode, "host" | "none") && !mode.starts_with("container:");
    if joins {
        let first = if mode == "default" { "bridge" } else { mode };
        let net = svc.network.get(first)?;
        let cfg = configs.and_then(|c| {
            c.get(mode)
                .or_else(|| c.get(&net.name))
                .or_else(|| c.get(&net.id))
        });
        let mut req = cfg.map(request).transpose()?.unwrap_or_default();
        // The old top-level Config.MacAddress is the first network's.
        if req.mac.is_none() {
            req.mac = body.config.mac_address.clone().filter(|m| !m.is_empty());
        }
        if net.predefined && !req.aliases.is_empty() {
            return Err(ContainerError::Invalid(
                "network-scoped aliases are only supported for user-defined networks".into(),
            ));
        }
        out.push((net.name.clone(), req));
    }
    for (name, v) in configs.into_iter().flatten() {
        if name == "default" || name == mode {
            continue;
        }
        let net = svc.network.get(name)?;
        if out.iter().any(|(n, _)| *n == net.name) {
            continue;
        }
        if !joins {
            return Err(ContainerError::Invalid(format!(
                "container cannot be connected to network {name} in network mode {mode}"
            )));
        }
        out.push((net.name.clone(), request(v)?));
    }
    Ok(out)
}
