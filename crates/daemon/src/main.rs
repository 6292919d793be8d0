//! `berthd`: parses flags, takes the data-root lock, opens the stores, and serves the Engine API
//! on a unix socket until SIGTERM or SIGINT.

mod config;
mod host;
mod lock;
mod modes;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;

use config::Config;

fn main() -> Result<()> {
    // A shim is this same executable; it must stay single-threaded, so it branches off before
    // any runtime or thread exists.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "shim") {
        let code = match (args.get(2), args.get(3)) {
            (Some(flag), Some(cfg)) if flag == "--delete" => {
                berth_runtime::shim::delete(cfg.as_ref())
            }
            (Some(flag), Some(run_dir)) if flag == "--stdin" => {
                berth_runtime::shim::run_from_stdin(run_dir.as_ref())
            }
            _ => {
                eprintln!("usage: berthd shim --stdin <run-dir> | --delete <config>");
                2
            }
        };
        std::process::exit(code);
    }
    let cfg = Config::parse();
    init_logging(&cfg.log_level, cfg.debug)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cfg))
}

/// `--group`: a group's name or number.
fn socket_group(group: &str) -> Result<nix::unistd::Gid> {
    nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid)
        .or_else(|| group.parse::<u32>().ok().map(nix::unistd::Gid::from_raw))
        .with_context(|| format!("--group {group}: no such group"))
}

fn init_logging(level: &str, debug: bool) -> Result<()> {
    let level = match (debug, level) {
        (true, _) => "debug",
        (_, "fatal") | (_, "panic") => "error",
        (_, l @ ("trace" | "debug" | "info" | "warn" | "error")) => l,
        (_, other) => bail!("invalid log level {other:?}: use debug, info, warn, error or fatal"),
    };
    tracing_subscriber::fmt().with_env_filter(format!("berth={level},berthd={level},berth_api={level},berth_image={level},berth_registry={level},berth_container={level},berth_runtime={level},berth_volume={level}")).with_writer(std::io::stderr).init();
    Ok(())
}

async fn run(cfg: Config) -> Result<()> {
    let socket_path = cfg.socket_path()?;
    // Flags are checked before anything is made: a bad one leaves no bridge or rule behind.
    let socket_gid = cfg.group.as_deref().map(socket_group).transpose()?;
    std::fs::create_dir_all(&cfg.data_root)
        .with_context(|| format!("creating data root {}", cfg.data_root.display()))?;
    std::fs::create_dir_all(&cfg.exec_root)
        .with_context(|| format!("creating exec root {}", cfg.exec_root.display()))?;
    let _lock = lock::DataRootLock::acquire(&cfg.data_root)?;
    for d in ["containers", "layers", "image", "content", "volumes"] {
        std::fs::create_dir_all(cfg.data_root.join(d))?;
    }
    for d in ["containers", "s", "netns", "runtime"] {
        std::fs::create_dir_all(cfg.exec_root.join(d))?;
    }
    modes::tighten(&cfg.data_root, &cfg.exec_root);
    // Scratch space of loads and imports cut short by a crash.
    let _ = std::fs::remove_dir_all(cfg.data_root.join("tmp"));

    let images =
        Arc::new(berth_image::ImageStore::open(&cfg.data_root).context("opening the image store")?);
    let registry = Arc::new(berth_registry::RegistryClient::new(
        berth_registry::InsecureRegistries::new(&cfg.insecure_registries),
    )?);
    let host = host::gather(&cfg);
    let runtimes = cfg.runtimes()?;
    let events = Arc::new(berth_container::events::EventLog::default());
    let network = Arc::new(
        berth_network::NetworkService::open(
            cfg.network()?,
            Some(Box::new(berth_network::firewall::Iptables)),
        )
        .context("setting up networking")?,
    );
    let volume_events = events.clone();
    let volumes = Arc::new(
        berth_volume::VolumeService::open(
            &cfg.data_root.join("volumes"),
            &cfg.exec_root.join("volumes"),
            Arc::new(berth_volume::kernel::Linux),
            Box::new(move |action, name, attrs| {
                let attrs: Vec<(&str, String)> =
                    attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                volume_events.publish(berth_container::events::Event::object(
                    "volume", name, action, &attrs,
                ));
            }),
        )
        .context("opening the volume store")?,
    );
    let containers = berth_container::ContainerService::open(
        berth_container::Paths {
            data: cfg.data_root.join("containers"),
            run: cfg.exec_root.join("containers"),
            netns: cfg.exec_root.join("netns"),
            sockets: cfg.exec_root.join("s"),
            cgroup_parent: cfg.cgroup_parent.clone(),
        },
        images.clone(),
        runtimes,
        std::env::current_exe().context("finding berthd's own executable")?,
        volumes,
        network,
        events.clone(),
    )
    .context("opening the container store")?;
    containers.recover().await;
    containers.make_spares();
    let service = containers.clone();
    let builder = Arc::new(berth_build::Builder {
        containers: containers.clone(),
        images: images.clone(),
        registry: registry.clone(),
        cache: berth_build::cache::BuildCache::open(&cfg.data_root)
            .context("opening the build cache")?,
        root: cfg.data_root.join("builder"),
    });
    let state = Arc::new(berth_api::ApiState {
        images,
        containers,
        builder,
        events,
        registry,
        host,
        gc: Arc::new(tokio::sync::RwLock::new(())),
        started: chrono::Utc::now(),
    });

    if let Some(dir) = socket_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The socket is made under a temporary name and renamed into place once its mode and
    // group are set: a client never finds it (nor connects) before it has its final owner.
    let staging = socket_path.with_extension("sock.new");
    let _ = std::fs::remove_file(&staging);
    let listener = tokio::net::UnixListener::bind(&staging)
        .with_context(|| format!("binding {}", staging.display()))?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o660))?;
    if let (Some(group), Some(gid)) = (&cfg.group, socket_gid) {
        nix::unistd::chown(&staging, None, Some(gid))
            .with_context(|| format!("giving {} to group {group}", socket_path.display()))?;
    }
    // The lock proves no other berthd owns this data root, so a socket left here is stale
    // and the rename replaces it.
    std::fs::rename(&staging, &socket_path)
        .with_context(|| format!("moving the socket to {}", socket_path.display()))?;
    tracing::info!(socket = %socket_path.display(), data_root = %cfg.data_root.display(), "API listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let server = berth_api::serve(listener, state, graceful);
    // Streams that never end by themselves (logs -f, events, wait) must not keep berthd up:
    // in-flight requests get a moment to finish after the signal, then berthd exits anyway.
    let deadline = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    tokio::select! {
        r = server => r?,
        _ = deadline => tracing::info!("requests still open at shutdown were cut"),
    }
    service.shutdown();
    // With nothing running, berth's bridges and firewall rules go; running containers keep
    // theirs (they outlive berthd, and it picks them up again at its next start).
    let running = service.list().iter().any(|c| c.state.running);
    service.network().shutdown(running);
    let _ = std::fs::remove_file(&socket_path);
    tracing::info!("berthd stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
}
