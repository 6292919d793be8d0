//! `commit`: a container's changes as a new image.

use clap::{ArgAction, Args};
use hyper::Method;

use crate::client::{q, Client};

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(
        short = 'a',
        long = "author",
        default_value = "",
        hide_default_value = true
    )]
    author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(
        short = 'm',
        long = "message",
        default_value = "",
        hide_default_value = true
    )]
    message: String,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = super::parse::flag("-p, --pause", super::parse::go_bool))]
    pause: bool,
    #[arg(value_name = "CONTAINER")]
    container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

pub async fn commit(client: &Client, a: CommitArgs) -> anyhow::Result<u8> {
    let mut query = vec![
        format!("author={}", q(&a.author)),
        format!("comment={}", q(&a.message)),
        format!("container={}", q(&a.container)),
        format!("pause={}", a.pause),
    ];
    for c in &a.change {
        query.push(format!("changes={}", q(c)));
    }
    if let Some(r) = &a.reference {
        // The tag is what follows the last colon after the last slash.
        let slash = r.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match r[slash..].rfind(':') {
            Some(i) => (&r[..slash + i], &r[slash + i + 1..]),
            None => (r.as_str(), ""),
        };
        query.push(format!("repo={}", q(repo)));
        query.push(format!("tag={}", q(tag)));
    }
    let v = client
        .send_json(Method::POST, &format!("/commit?{}", query.join("&")), None)
        .await?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}
