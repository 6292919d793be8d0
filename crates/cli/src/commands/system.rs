//! `version`, `info` and `inspect`.

use clap::Args;
use serde_json::{json, Value};

use crate::client::{Client, ClientError, CLIENT_API_VERSION};
use crate::format::{go_string, Template};

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        o => o,
    }
}

/// A build time as the docker CLI prints it ("Tue May 30 18:33:19 2023"); as given if it is
/// not RFC 3339.
fn built(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub async fn version(host: &str, args: &VersionArgs) -> anyhow::Result<u8> {
    let client_info = json!({
        "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": CLIENT_API_VERSION, "GoVersion": "rust",
        "GitCommit": env!("BERTH_GIT_COMMIT"), "BuildTime": built(env!("BERTH_BUILD_TIME")), "Os": "linux", "Arch": arch(), "Context": "default"
    });
    let server = match Client::connect(host).await {
        Ok(c) => c.get_json("/version").await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    if let Some(f) = &args.format {
        let data = json!({"Client": client_info, "Server": server.as_ref().ok()});
        println!("{}", Template::parse(f)?.render(&data)?);
        return server.map(|_| 0);
    }
    println!("Client:");
    println!(
        " Version:           {}",
        client_info["Version"].as_str().unwrap()
    );
    println!(" API version:       {CLIENT_API_VERSION}");
    println!(" Go version:        rust");
    println!(" Git commit:        {}", env!("BERTH_GIT_COMMIT"));
    println!(" Built:             {}", built(env!("BERTH_BUILD_TIME")));
    println!(" OS/Arch:           linux/{}", arch());
    println!(" Context:           default");
    let s = server?;
    let s_str = |k: &str| s.get(k).map(go_string).unwrap_or_default();
    println!();
    println!(
        "Server: {}",
        s.pointer("/Platform/Name")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    println!(" Engine:");
    println!("  Version:          {}", s_str("Version"));
    println!(
        "  API version:      {} (minimum version {})",
        s_str("ApiVersion"),
        s_str("MinAPIVersion")
    );
    println!("  Go version:       {}", s_str("GoVersion"));
    println!("  Git commit:       {}", s_str("GitCommit"));
    println!("  Built:            {}", built(&s_str("BuildTime")));
    println!("  OS/Arch:          {}/{}", s_str("Os"), s_str("Arch"));
    println!("  Experimental:     false");
    Ok(0)
}

pub async fn info(client: &Client, args: InfoArgs) -> anyhow::Result<u8> {
    let i = client.get_json("/info").await?;
    if let Some(f) = &args.format {
        println!("{}", Template::parse(f)?.render(&i)?);
        return Ok(0);
    }
    let g = |k: &str| i.get(k).map(go_string).unwrap_or_default();
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(" Context:    default");
    println!(" Debug Mode: false");
    println!();
    println!("Server:");
    println!(" Containers: {}", g("Containers"));
    println!("  Running: {}", g("ContainersRunning"));
    println!("  Paused: {}", g("ContainersPaused"));
    println!("  Stopped: {}", g("ContainersStopped"));
    println!(" Images: {}", g("Images"));
    println!(" Server Version: {}", g("ServerVersion"));
    println!(" Storage Driver: {}", g("Driver"));
    for pair in i["DriverStatus"].as_array().into_iter().flatten() {
        println!("  {}: {}", go_string(&pair[0]), go_string(&pair[1]));
    }
    println!(" Logging Driver: {}", g("LoggingDriver"));
    println!(" Cgroup Driver: {}", g("CgroupDriver"));
    println!(" Cgroup Version: {}", g("CgroupVersion"));
    println!(" Plugins:");
    for k in ["Volume", "Network", "Log"] {
        let list: Vec<String> = i["Plugins"][k]
            .as_array()
            .into_iter()
            .flatten()
            .map(go_string)
            .collect();
        println!("  {k}: {}", list.join(" "));
    }
    println!(" Swarm: inactive");
    println!(" Kernel Version: {}", g("KernelVersion"));
    println!(" Operating System: {}", g("OperatingSystem"));
    println!(" OSType: {}", g("OSType"));
    println!(" Architecture: {}", g("Architecture"));
    println!(" CPUs: {}", g("NCPU"));
    println!(
        " Total Memory: {}",
        berth_image::progress::bytes_size(i["MemTotal"].as_f64().unwrap_or(0.0))
    );
    println!(" Name: {}", g("Name"));
    println!(" ID: {}", g("ID"));
    println!(" Docker Root Dir: {}", g("DockerRootDir"));
    println!(" Debug Mode: {}", g("Debug"));
    println!(" Experimental: false");
    println!(" Insecure Registries:");
    for r in i["RegistryConfig"]["InsecureRegistryCIDRs"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!("  {}", go_string(r));
    }
    println!(" Live Restore Enabled: false");
    Ok(0)
}

/// Prints inspect results: a JSON array indented by four spaces, or one template line each.
pub fn print_inspect(items: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(f) if !f.is_empty() => {
            let t = Template::parse(&f.replace("\\n", "\n").replace("\\t", "\t"))?;
            for item in items {
                println!("{}", t.render(item)?);
            }
        }
        _ => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&items, &mut ser)?;
            println!("{}", String::from_utf8_lossy(&buf));
        }
    }
    Ok(())
}

/// The object types `inspect --type` accepts, in docker's order.
const INSPECT_TYPES: [&str; 10] = [
    "config",
    "container",
    "image",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "task",
    "volume",
];

/// Where each type is inspected, in the order `inspect` without `--type` tries them, and
/// whether it is a swarm object (tried only on a swarm manager).
const INSPECT_PATHS: [(&str, &str, bool); 10] = [
    ("container", "/containers/{}/json", false),
    ("image", "/images/{}/json", false),
    ("network", "/networks/{}", false),
    ("volume", "/volumes/{}", false),
    ("service", "/services/{}?insertDefaults=false", true),
    ("task", "/tasks/{}", true),
    ("node", "/nodes/{}", true),
    ("plugin", "/plugins/{}/json", false),
    ("secret", "/secrets/{}", true),
    ("config", "/configs/{}", true),
];

/// A miss that lets `inspect` go on to the next type, as docker's `isErrSkippable` decides.
fn skippable(e: &ClientError) -> bool {
    let msg = e.to_string();
    matches!(e, ClientError::Daemon { status, .. } if status.as_u16() == 404)
        || msg.contains("not supported")
        || msg.contains("invalid reference format")
}

pub async fn inspect(client: &Client, args: InspectArgs) -> anyhow::Result<u8> {
    let all_types = format!("\"{}\"", INSPECT_TYPES.join("\", \""));
    let kind = match args.kind.as_deref() {
        Some("") => anyhow::bail!("type is empty: must be one of {all_types}"),
        Some(k) if !INSPECT_TYPES.contains(&k) => {
            anyhow::bail!("unknown type: {k:?}: must be one of {all_types}")
        }
        k => k,
    };
    let mut swarm_manager: Option<bool> = None;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    'names: for name in &args.names {
        for (t, path, swarm) in INSPECT_PATHS {
            if kind.is_some_and(|k| k != t) {
                continue;
            }
            if kind.is_none() && swarm {
                if swarm_manager.is_none() {
                    swarm_manager = Some(match client.get_json("/info").await {
                        Ok(i) => i["Swarm"]["ControlAvailable"].as_bool().unwrap_or(false),
                        Err(e) => {
                            eprintln!("{e}");
                            false
                        }
                    });
                }
                if swarm_manager == Some(false) {
                    continue;
                }
            }
            let mut path = path.replace("{}", name);
            if t == "container" && args.size {
                path.push_str("?size=1");
            }
            match client.get_json(&path).await {
                Ok(v) => {
                    if args.size && t != "container" {
                        eprintln!("WARNING: --size ignored for {t}");
                    }
                    found.push(v);
                    continue 'names;
                }
                Err(e) if kind.is_none() && skippable(&e) => continue,
                Err(e) => {
                    errors.push(e.to_string());
                    continue 'names;
                }
            }
        }
        errors.push(format!("Error: No such object: {name}"));
    }
    print_inspect(&found, args.format.as_deref())?;
    Ok(super::report(errors))
}
