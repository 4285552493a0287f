//! The kernel's reserved-port list (`ip_local_reserved_ports`) as moby's
//! port allocator reads it, and the `ip_local_port_range` scan.
//!
//! Mirrors `daemon/libnetwork/portallocator/portallocator_linux.go` at moby
//! b985e2313a: `parseReservedPorts` (including the exact `strconv.ParseUint`
//! error texts a user sees) and the `fmt.Fscanf("%d\t%d")` of
//! `getDynamicPortRange`. Both are pure functions.

use crate::error::GoError;
use std::collections::BTreeSet;

/// Parse a kernel port list ("8080,9148", "30000-32767", mixed), keeping
/// only ports within `begin..=end`.
///
/// Port of `parseReservedPorts` (portallocator_linux.go, moby b985e2313a):
/// the whole list is trimmed (Go's `strings.TrimSpace`), entries are not;
/// an entry is split at its first `-`; both ends are parsed like
/// `strconv.ParseUint(s, 10, 16)`; a range whose end is below its start is
/// an error. Go returns a nil map for an empty list and an empty map when
/// every entry falls outside the range; both are an empty set here (a
/// lookup in either finds nothing, which is all the allocator does).
pub fn parse_reserved_ports(list: &str, begin: i64, end: i64) -> Result<BTreeSet<u16>, GoError> {
    let list = list.trim();
    let mut reserved = BTreeSet::new();
    if list.is_empty() {
        return Ok(reserved);
    }
    for entry in list.split(',') {
        let (first, last) = match entry.split_once('-') {
            Some((f, l)) => (f, Some(l)),
            None => (entry, None),
        };
        let entry_begin = parse_uint16(first)
            .map_err(|e| GoError::new(format!("invalid port {}: {e}", go_quote(entry))))?;
        let mut entry_end = entry_begin;
        if let Some(last) = last {
            entry_end = parse_uint16(last).map_err(|e| {
                GoError::new(format!("invalid port range {}: {e}", go_quote(entry)))
            })?;
            if entry_end < entry_begin {
                return Err(GoError::new(format!(
                    "invalid port range {}",
                    go_quote(entry)
                )));
            }
        }
        let lo = i64::from(entry_begin).max(begin);
        let hi = i64::from(entry_end).min(end);
        // lo >= 0 and hi <= 65535 here, so every port fits in u16.
        for port in lo..=hi {
            reserved.insert(port as u16);
        }
    }
    Ok(reserved)
}

/// `strconv.ParseUint(s, 10, 16)`: digits only (no sign, no underscores in
/// base 10), scanned left to right so the first problem found wins, exactly
/// as Go reports it.
pub fn parse_uint16(s: &str) -> Result<u16, String> {
    let syntax = || format!("strconv.ParseUint: parsing {}: invalid syntax", go_quote(s));
    let range = || {
        format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )
    };
    if s.is_empty() {
        return Err(syntax());
    }
    let mut n: u32 = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return Err(syntax());
        }
        n = n * 10 + u32::from(c - b'0');
        if n > u32::from(u16::MAX) {
            return Err(range());
        }
    }
    Ok(n as u16)
}

/// Go's `%q` / `strconv.Quote` for the strings this module meets.
///
/// ASCII is escaped exactly as Go does (`\a \b \f \n \r \t \v \\ \"`, other
/// control bytes as `\xNN`). Beyond ASCII, Go keeps `unicode.IsPrint` runes
/// and escapes the rest as `\uNNNN`; this port escapes the C1 controls,
/// U+00A0, U+00AD and the Unicode separators and formatting characters
/// that kernels never print, and keeps the rest (an approximation of
/// `IsPrint` that only matters for lists no kernel produces).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if !go_is_print_non_ascii(c) => {
                let v = c as u32;
                if v < 0x10000 {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Non-ASCII runes Go's `unicode.IsPrint` rejects (see [`go_quote`]).
fn go_is_print_non_ascii(c: char) -> bool {
    let v = c as u32;
    if v < 0x80 {
        return true;
    }
    !matches!(
        v,
        0x80..=0x9f
            | 0xa0
            | 0xad
            | 0x1680
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x206f
            | 0x3000
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0xe000..=0xf8ff
    )
}

/// The first two integers of `ip_local_port_range`, as
/// `fmt.Fscanf(r, "%d\t%d", &start, &end)` reads them in
/// `getDynamicPortRange` (portallocator_linux.go, moby b985e2313a).
///
/// Fscanf rules reproduced: each `%d` skips spaces but fails on a newline,
/// takes an optional sign and one or more decimal digits (64-bit); the tab
/// in the format needs one or more non-newline spaces in the input (or the
/// end of it, after which the second `%d` fails). Text after the second
/// number is ignored. The error text is only logged by moby, so the error
/// here just says what went wrong.
pub fn scan_port_range(text: &str) -> Result<(i64, i64), String> {
    let mut sc = Scanner {
        chars: text.chars().collect(),
        pos: 0,
    };
    let start = sc.int()?;
    sc.format_space()?;
    let end = sc.int()?;
    Ok((start, end))
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// `ss.SkipSpace` with newlines not counting as space.
    fn skip_space(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek() {
            if c == '\n' {
                return Err("unexpected newline".to_string());
            }
            if !c.is_whitespace() {
                break;
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// `%d`: `ss.scanInt` with base 10.
    fn int(&mut self) -> Result<i64, String> {
        self.skip_space()?;
        if self.peek().is_none() {
            return Err("unexpected EOF".to_string());
        }
        let mut tok = String::new();
        if let Some(c @ ('+' | '-')) = self.peek() {
            tok.push(c);
            self.pos += 1;
        }
        let digits_at = tok.len();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            tok.push(c);
            self.pos += 1;
        }
        if tok.len() == digits_at {
            return Err("expected integer".to_string());
        }
        tok.parse::<i64>().map_err(|_| {
            format!(
                "strconv.ParseInt: parsing {}: value out of range",
                go_quote(&tok)
            )
        })
    }

    /// A space in the format (`ss.advance`): one or more input spaces up to
    /// a newline, or the end of input.
    fn format_space(&mut self) -> Result<(), String> {
        let Some(c) = self.peek() else {
            return Ok(());
        };
        if !c.is_whitespace() {
            return Err("expected space in input to match format".to_string());
        }
        while let Some(c) = self.peek() {
            if c == '\n' {
                return Err("newline in input does not match format".to_string());
            }
            if !c.is_whitespace() {
                break;
            }
            self.pos += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ports: &[u16]) -> BTreeSet<u16> {
        ports.iter().copied().collect()
    }

    /// TestParseReservedPorts (portallocator_linux_test.go): every table
    /// row, with begin-end 1-65535 unless the row sets it.
    #[test]
    fn test_parse_reserved_ports() {
        let ok: &[(&str, &str, i64, i64, &[u16])] = &[
            ("empty", "\n", 0, 0, &[]),
            ("single port", "8080\n", 0, 0, &[8080]),
            ("multiple ports", "8080,9148", 0, 0, &[8080, 9148]),
            ("port range", "30000-30002", 0, 0, &[30000, 30001, 30002]),
            (
                "mixed",
                "8080,30000-30001,9148",
                0,
                0,
                &[8080, 30000, 30001, 9148],
            ),
            (
                "port outside allocation range",
                "8080,30000",
                20000,
                40000,
                &[30000],
            ),
            (
                "range clamped to allocation range",
                "29998-30001",
                30000,
                40000,
                &[30000, 30001],
            ),
            (
                "range fully outside allocation range",
                "8080-8082",
                30000,
                40000,
                &[],
            ),
        ];
        for &(name, list, b, e, want) in ok {
            let (b, e) = if b == 0 && e == 0 { (1, 65535) } else { (b, e) };
            assert_eq!(parse_reserved_ports(list, b, e), Ok(set(want)), "{name}");
        }
        let bad: &[(&str, &str, &str)] = &[
            ("invalid port", "8080,abc", r#"invalid port "abc""#),
            (
                "invalid range",
                "30002-30000",
                r#"invalid port range "30002-30000""#,
            ),
            (
                "incomplete range",
                "30000-",
                r#"invalid port range "30000-""#,
            ),
            ("out of range port", "65536", r#"invalid port "65536""#),
        ];
        for &(name, list, want) in bad {
            let err = parse_reserved_ports(list, 1, 65535).unwrap_err();
            assert!(err.text.contains(want), "{name}: {}", err.text);
        }
    }

    #[test]
    fn error_texts_match_go_byte_for_byte() {
        let cases = [
            (
                "abc",
                r#"invalid port "abc": strconv.ParseUint: parsing "abc": invalid syntax"#,
            ),
            (
                "65536",
                r#"invalid port "65536": strconv.ParseUint: parsing "65536": value out of range"#,
            ),
            (
                "30000-",
                r#"invalid port range "30000-": strconv.ParseUint: parsing "": invalid syntax"#,
            ),
            ("30002-30000", r#"invalid port range "30002-30000""#),
            (
                "-5",
                r#"invalid port "-5": strconv.ParseUint: parsing "": invalid syntax"#,
            ),
            (
                "1-2-3",
                r#"invalid port range "1-2-3": strconv.ParseUint: parsing "2-3": invalid syntax"#,
            ),
            (
                "8080,,9148",
                r#"invalid port "": strconv.ParseUint: parsing "": invalid syntax"#,
            ),
            (
                "+80",
                r#"invalid port "+80": strconv.ParseUint: parsing "+80": invalid syntax"#,
            ),
        ];
        for (list, want) in cases {
            assert_eq!(
                parse_reserved_ports(list, 1, 65535).unwrap_err().text,
                want,
                "{list}"
            );
        }
    }

    #[test]
    fn entries_are_not_trimmed_but_the_list_is() {
        assert_eq!(
            parse_reserved_ports("  8080,9148 \n", 1, 65535),
            Ok(set(&[8080, 9148]))
        );
        assert_eq!(
            parse_reserved_ports("8080, 9148", 1, 65535)
                .unwrap_err()
                .text,
            r#"invalid port " 9148": strconv.ParseUint: parsing " 9148": invalid syntax"#
        );
    }

    #[test]
    fn parse_uint_reports_the_first_problem_left_to_right() {
        // Go checks the range as it goes: an overflow before a bad byte wins.
        assert_eq!(
            parse_uint16("700000x").unwrap_err(),
            r#"strconv.ParseUint: parsing "700000x": value out of range"#
        );
        assert_eq!(
            parse_uint16("7x00000").unwrap_err(),
            r#"strconv.ParseUint: parsing "7x00000": invalid syntax"#
        );
        assert_eq!(parse_uint16("65535"), Ok(65535));
        assert_eq!(parse_uint16("00080"), Ok(80));
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\t\n\u{1}\u{7f}"), r#""\t\n\x01\x7f""#);
        assert_eq!(go_quote("é\u{a0}"), "\"é\\u00a0\"");
        // The first non-ASCII rune is a C1 control: strconv.Quote("\u0080")
        // is "\u0080", and ASCII stays as it is.
        assert_eq!(go_quote("\u{80}~ \u{9f}"), "\"\\u0080~ \\u009f\"");
    }

    #[test]
    fn scan_port_range_reads_like_fscanf() {
        assert_eq!(scan_port_range("32768\t60999\n"), Ok((32768, 60999)));
        assert_eq!(scan_port_range("  1024 \t 2048 trailing"), Ok((1024, 2048)));
        assert_eq!(scan_port_range("+10\t-5"), Ok((10, -5)));
        assert!(scan_port_range("32768\n60999").is_err());
        assert!(scan_port_range("32768").is_err());
        assert!(scan_port_range("32768,60999").is_err());
        assert!(scan_port_range("\n32768\t60999").is_err());
        assert!(scan_port_range("").is_err());
        assert!(scan_port_range("x\t1").is_err());
        assert!(scan_port_range("99999999999999999999\t1").is_err());
    }

    /// A range whose two ends are equal is that one port (Go refuses only
    /// an end below the start).
    #[test]
    fn a_range_of_one_port_is_that_port() {
        assert_eq!(
            parse_reserved_ports("8080-8080", 1, 65535),
            Ok(set(&[8080]))
        );
    }

    /// The tab of `%d\t%d` must meet a space in the input: a number glued
    /// to the first (`-2048`) is not read as the second.
    #[test]
    fn scan_port_range_needs_a_space_between_the_numbers() {
        assert_eq!(
            scan_port_range("1024-2048"),
            Err("expected space in input to match format".to_string())
        );
        assert_eq!(
            scan_port_range("1024\n2048"),
            Err("newline in input does not match format".to_string())
        );
        // The format's space takes every space before the newline.
        assert_eq!(
            scan_port_range("1024 \t\n2048"),
            Err("newline in input does not match format".to_string())
        );
    }
}
