//! Value syntaxes shared by site-file keys and flags: booleans, durations
//! (`500ms`, `5s`, `2min`; a bare number is milliseconds, as in Alluxio) and
//! byte sizes (`16MB` = 16 MiB, as in Alluxio; `16MiB` too).

use std::time::Duration;

/// Parses `true`/`false` in any case.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Splits `12.5ms` into the number and the lower-cased unit; `expected` is
/// the error when there is no number.
fn number_and_unit(text: &str, expected: &str) -> Result<(f64, String), String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.parse().map_err(|_| expected.to_owned())?;
    Ok((number, unit.trim().to_ascii_lowercase()))
}

/// Parses a duration such as `500ms`, `5s`, `2min`, `1h`, or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text, "expected a duration such as 500ms, 5s or 2min")?;
    let scale = match unit.as_str() {
        "" | "ms" | "millis" => 0.001,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, min, h or d)"
            ));
        }
    };
    Duration::try_from_secs_f64(number * scale).map_err(|e| e.to_string())
}

/// A whole number (`5`, ` 12 `).
pub fn parse_whole<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number".into())
}

/// Parses a byte size such as `4096`, `64KB`, `16MB`, `1GiB`, `2TB` (units are powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text, "expected a size such as 4096, 64KB or 16MB")?;
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KB, MB, GB or TB)"
            ));
        }
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(0.0..=u64::MAX as f64).contains(&bytes) {
        return Err("size out of range".into());
    }
    Ok(bytes as u64)
}

/// Checks that `text` is an `http://host:port` or `https://host:port` URL
/// (what etcd endpoints look like) and returns it without a trailing `/`.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let text = text.trim();
    let expected = "expected a URL such as http://etcd.example:2379";
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{expected} (missing http:// or https://)"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', ' ']) {
        return Err(format!("{expected} (no path allowed)"));
    }
    // `[v6addr]:port`, `[v6addr]`, `host:port` or `host`.
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (_, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{expected} (unclosed [ in IPv6 address)"))?;
        match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("{expected} (junk after IPv6 address)"))?,
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!("{expected} (IPv6 addresses go in brackets)"));
            }
            Some(("", _)) => return Err(format!("{expected} (no host)")),
            Some((_, port)) => Some(port),
            None => None,
        }
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "{expected} (port {port:?} is not a number up to 65535)"
        ));
    }
    Ok(text.strip_suffix('/').unwrap_or(text).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_alluxio_units_and_bare_milliseconds() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert!(
            parse_duration("5 fortnights")
                .unwrap_err()
                .contains("fortnights")
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes_are_binary_like_alluxio() {
        assert_eq!(parse_size("16MB"), Ok(16 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:2379/"),
            Ok("http://127.0.0.1:2379".into())
        );
        assert!(parse_endpoint("https://[::1]:2379").is_ok());
        assert!(parse_endpoint("etcd:2379").unwrap_err().contains("http://"));
        assert!(
            parse_endpoint("http://etcd:port")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            parse_endpoint("http://etcd:2379/v3")
                .unwrap_err()
                .contains("path")
        );
        assert!(
            parse_endpoint("http://:2379")
                .unwrap_err()
                .contains("no host")
        );
    }
}
