//! `top`: the host's `ps`, run with the user's arguments (never through a shell) and cut down to
//! a container's processes, as dockerd does.

use std::process::Command;

/// `ps`'s header, split into titles, and one row per process of the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// ps refused its arguments or could not run; its first line of stderr.
    #[error("ps: {0}")]
    Ps(String),
    #[error("Couldn't find PID field in ps output")]
    NoPidColumn,
    #[error("Unexpected pid '{0}'")]
    BadPid(String),
}

/// Runs `ps` with `ps_args` (`-ef` when empty) and keeps the rows of `pids`. The list of pids
/// is passed to ps with `-q` first; options that cannot go with it (`f`) run without it.
pub fn top(ps_args: &str, pids: &[i32]) -> Result<Top, TopError> {
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.split(' ').collect()
    };
    let list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let with_q = Command::new("ps").args(&args).arg("-q").arg(&list).output();
    let out = match with_q {
        Ok(o) if o.status.success() => o,
        _ => {
            let o = Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| TopError::Ps(e.to_string()))?;
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr);
                let first = err.lines().next().unwrap_or_default().to_string();
                return Err(TopError::Ps(if first.is_empty() {
                    format!("{}", o.status)
                } else {
                    first
                }));
            }
            o
        }
    };
    parse(&String::from_utf8_lossy(&out.stdout), pids)
}

/// dockerd's `parsePSOutput`: titles from the header, the rows whose PID is the container's,
/// with the fields past the last title (a command's arguments) joined into it.
fn parse(output: &str, pids: &[i32]) -> Result<Top, TopError> {
    let mut lines = output.split('\n');
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    let pid_at = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or(TopError::NoPidColumn)?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(field) = fields.get(pid_at) else {
            continue;
        };
        let pid: i32 = field
            .parse()
            .map_err(|_| TopError::BadPid(field.to_string()))?;
        if !pids.contains(&pid) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields.iter().take(last).map(|s| s.to_string()).collect();
        row.push(fields.get(last..).unwrap_or_default().join(" "));
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
root        4242    4240  0 10:01 ?        00:00:00 sleep 1000\n\
root        4250    4242  0 10:01 pts/0    00:00:00 sh -c echo a  b\n";

    #[test]
    fn rows_of_the_container_with_the_command_whole() {
        let t = parse(PS, &[4242, 4250]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 2);
        assert_eq!(t.processes[0][1], "4242");
        assert_eq!(t.processes[0][7], "sleep 1000");
        assert_eq!(t.processes[1][7], "sh -c echo a b");
    }

    #[test]
    fn a_header_without_pid_or_a_bad_pid_is_an_error() {
        assert!(matches!(
            parse("USER CMD\nroot x\n", &[1]),
            Err(TopError::NoPidColumn)
        ));
        assert!(matches!(
            parse("PID CMD\nabc x\n", &[1]),
            Err(TopError::BadPid(_))
        ));
    }
}
