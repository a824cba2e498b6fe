//! Java properties files (`alluxio-site.properties`), read the way
//! `java.util.Properties.load` reads them, so that a site file users already
//! have means the same thing here.
//!
//! Supported: `#` and `!` comments, `=`, `:` or whitespace between key and
//! value, backslash escapes (`\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\x` for
//! any other `x`), and continuation lines (a line ending in an odd number of
//! backslashes continues on the next, whose leading whitespace is dropped).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A line of a site file.
    File {
        /// The site file.
        path: PathBuf,
        /// The line (of the entry's first line, for continued ones).
        line: usize,
    },
    /// A command-line flag.
    Flag(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Flag(flag) => write!(f, "command line {flag}"),
        }
    }
}

/// One setting: its value and where it was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value, with escapes resolved.
    pub value: String,
    /// Where it was set (the last place, if set twice).
    pub origin: Origin,
}

/// Why a properties file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PropertiesError {
    /// The file could not be opened or read.
    #[error("cannot read site file {}: {source}", path.display())]
    Read {
        /// The site file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A `\u` escape that is not four hex digits.
    #[error("{}:{line}: malformed \\uXXXX escape", path.display())]
    BadEscape {
        /// The site file.
        path: PathBuf,
        /// The line.
        line: usize,
    },
}

/// Reads the properties file at `path`.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, Entry>, PropertiesError> {
    let text = std::fs::read_to_string(path).map_err(|source| PropertiesError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Parses properties text; `path` is only used to say where each entry came from.
pub fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, Entry>, PropertiesError> {
    let mut entries = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let start_line = index + 1;
        let trimmed = first.trim_start_matches([' ', '\t', '\x0c']);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::from(trimmed);
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\x0c'])),
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let bad_escape = || PropertiesError::BadEscape {
            path: path.to_owned(),
            line: start_line,
        };
        let key = unescape(raw_key).ok_or_else(bad_escape)?;
        let value = unescape(raw_value).ok_or_else(bad_escape)?;
        entries.insert(
            key,
            Entry {
                value,
                origin: Origin::File {
                    path: path.to_owned(),
                    line: start_line,
                },
            },
        );
    }
    Ok(entries)
}

/// True if the line ends in an odd number of backslashes.
fn ends_in_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or whitespace; a
/// whitespace separator may be followed by one `=` or `:`.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = bytes.len();
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(bytes.len());
    let mut rest = &line[key_end..];
    rest = rest.trim_start_matches([' ', '\t', '\x0c']);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches([' ', '\t', '\x0c']);
    }
    (&line[..key_end], rest)
}

/// Resolves backslash escapes; `None` on a malformed `\u` escape.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 {
                    return None;
                }
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            Some(other) => out.push(other),
            // A lone trailing backslash (continuation at end of file) is dropped.
            None => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text, Path::new("site.properties"))
            .unwrap()
            .into_iter()
            .map(|(k, e)| (k, e.value))
            .collect()
    }

    #[test]
    fn separators_comments_and_whitespace_follow_java_rules() {
        let text = "# comment\n! also a comment\n  a=1\nb : 2\nc 3\nd\te = 4\nempty=\nlone\n";
        assert_eq!(
            values(text),
            [
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "e = 4"),
                ("empty", ""),
                ("lone", ""),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn escapes_and_continuation_lines_are_resolved() {
        let text =
            "key\\ with\\=odd\\:chars = a\\tb\\u0041\\\\\nlist = one,\\\n      two,\\\n  three\n";
        let got = values(text);
        assert_eq!(got[0], ("key with=odd:chars".into(), "a\tbA\\".into()));
        assert_eq!(got[1], ("list".into(), "one,two,three".into()));
    }

    #[test]
    fn later_entries_win_and_remember_their_line() {
        let map = parse("a=1\n\na=2\n", Path::new("f")).unwrap();
        assert_eq!(map["a"].value, "2");
        assert_eq!(map["a"].origin.to_string(), "f:3");
    }

    #[test]
    fn malformed_unicode_escape_names_the_line() {
        let err = parse("ok=1\nbad=\\u12\n", Path::new("site")).unwrap_err();
        assert_eq!(err.to_string(), "site:2: malformed \\uXXXX escape");
    }
}
