//! `diff` and `export`: a container's filesystem, as changes or as a tar.

use std::io::Write;

use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;

use crate::client::{empty, Client};
use crate::tty;

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `diff`: one `C|A|D path` line per change, as the docker CLI prints them.
pub async fn diff(client: &Client, a: DiffArgs) -> anyhow::Result<u8> {
    let v = client
        .get_json(&format!("/containers/{}/changes", a.container))
        .await?;
    for c in v.as_array().into_iter().flatten() {
        let kind = match c["Kind"].as_u64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", c["Path"].as_str().unwrap_or_default());
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub async fn export(client: &Client, a: ExportArgs) -> anyhow::Result<u8> {
    if a.output.is_none() && tty::is_terminal(tty::STDOUT) {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/export", a.container),
            empty(),
            &[],
        )
        .await?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("failed to export container: {e}"))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow::anyhow!("error exporting container: {e}"))?;
        if let Some(d) = frame.data_ref() {
            out.write_all(d)?;
        }
    }
    out.flush()?;
    Ok(0)
}
