//! `login` and `logout`: credentials checked by the daemon (`POST /auth`), kept in config.json.

use std::io::{BufRead, Write};

use clap::Args;
use hyper::Method;
use serde_json::json;

use crate::client::Client;
use crate::config;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password")]
    password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

/// The `auths` key and the address sent to the daemon for a server argument.
fn server_key(server: Option<&str>) -> String {
    match server {
        None => config::DOCKER_HUB_KEY.to_string(),
        Some(s) => {
            let bare = s
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            match bare {
                "docker.io" | "index.docker.io" | "registry-1.docker.io" | "index.docker.io/v1" => {
                    config::DOCKER_HUB_KEY.to_string()
                }
                other => other.to_string(),
            }
        }
    }
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a password without echo when stdin is a terminal.
fn prompt_password() -> anyhow::Result<String> {
    // SAFETY: termios calls on stdin with a struct we own; echo is restored before returning.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        let tty = libc::isatty(0) == 1 && libc::tcgetattr(0, &mut t) == 0;
        if tty {
            let mut quiet = t;
            quiet.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &quiet);
        }
        let r = prompt("Password: ");
        if tty {
            libc::tcsetattr(0, libc::TCSANOW, &t);
            eprintln!();
        }
        r
    }
}

pub async fn login(client: &Client, args: LoginArgs) -> anyhow::Result<u8> {
    let key = server_key(args.server.as_deref());
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ")?,
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => anyhow::bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, false) => prompt_password()?,
    };
    if username.is_empty() {
        anyhow::bail!("Error: Non-null Username Required");
    }
    let body = json!({"username": username, "password": password, "serveraddress": key});
    client.send_json(Method::POST, "/auth", Some(&body)).await?;
    config::store(&key, &username, &password)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(args: &LogoutArgs) -> anyhow::Result<u8> {
    let key = server_key(args.server.as_deref());
    if config::erase(&key)? {
        println!(
            "Removing login credentials for {}",
            if key == config::DOCKER_HUB_KEY {
                "https://index.docker.io/v1/"
            } else {
                &key
            }
        );
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}
