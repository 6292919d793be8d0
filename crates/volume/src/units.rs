//! Sizes as Docker writes them (go-units), shared by the `--mount`/`--tmpfs` parsing here and the
//! CLI's other size flags.

/// go-units `RAMInBytes`: a number with an optional binary unit (b, k, m, g, t, p; "kb"/"kib"
/// spellings too), case-insensitive.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(invalid)?;
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size = go_parse_float(num)?;
    if size < 0.0 {
        return Err(invalid());
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    if sfx.len() > 3 {
        return Err(format!("invalid suffix: '{sfx}'"));
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() == 1 {
            Ok(size as i64)
        } else {
            Err(bad())
        };
    }
    let mul: i64 = match b[0] {
        b'k' => 1 << 10,
        b'm' => 1 << 20,
        b'g' => 1 << 30,
        b't' => 1 << 40,
        b'p' => 1 << 50,
        _ => return Err(bad()),
    };
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &lower[1..] != "ib") {
        return Err(bad());
    }
    Ok((size * mul as f64) as i64)
}

/// Go's `strconv.ParseFloat` error text, for the sizes above.
fn go_parse_float(num: &str) -> Result<f64, String> {
    let ok = !num.is_empty()
        && num
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E'));
    num.parse::<f64>()
        .ok()
        .filter(|_| ok)
        .ok_or_else(|| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_like_go_units() {
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("512"), Ok(512));
        assert_eq!(ram_in_bytes("10b"), Ok(10));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("2KiB"), Ok(2048));
        assert_eq!(ram_in_bytes("3 MB"), Ok(3 << 20));
        assert_eq!(ram_in_bytes("x"), Err("invalid size: 'x'".into()));
        assert_eq!(ram_in_bytes("-1"), Err("invalid size: '-1'".into()));
        assert_eq!(ram_in_bytes("1q"), Err("invalid suffix: 'q'".into()));
        assert_eq!(ram_in_bytes("1kbx"), Err("invalid suffix: 'kbx'".into()));
    }
}
