//! `top CONTAINER [ps OPTIONS]`: the container's processes as the daemon's `ps` lists them.

use clap::Args;

use crate::client::{q, Client};

#[derive(Debug, Args)]

pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// ps OPTIONS
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    ps_args: Vec<String>,
}

pub async fn top(client: &Client, a: TopArgs) -> anyhow::Result<u8> {
    let mut path = format!("/containers/{}/top", a.container);
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", q(&a.ps_args.join(" "))));
    }
    let v = client.get_json(&path).await?;
    let cells = |row: &serde_json::Value| -> Vec<String> {
        row.as_array()
            .map(|r| {
                r.iter()
                    .map(|c| c.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut rows = vec![cells(&v["Titles"])];
    rows.extend(v["Processes"].as_array().into_iter().flatten().map(cells));
    print!("{}", table(&rows));
    Ok(0)
}

/// The docker CLI's table for `top`: a tabwriter with cells at least 20 wide, 3 apart.
fn table(rows: &[Vec<String>]) -> String {
    crate::format::tabwrite_cells(rows, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_twenty_wide_at_least() {
        let rows = vec![
            vec!["PID".to_string(), "CMD".to_string()],
            vec!["1".to_string(), "sleep 1000".to_string()],
        ];
        assert_eq!(
            table(&rows),
            format!("PID{}CMD\n1{}sleep 1000\n", " ".repeat(17), " ".repeat(19))
        );
    }
}
