//! Text without the `fmt` machinery: decimals and quoted values for error messages. The browser
//! build writes its messages with these (`fmt` would cost it kilobytes); the native `Display`
//! implementations call the same functions, so both say the same thing to the letter.

/// Appends `v` in decimal.
pub fn push_decimal(o: &mut String, v: u64) {
    if v >= 10 {
        push_decimal(o, v / 10);
    }
    o.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends `s` quoted as Rust's `{:?}` quotes a string of printable characters: `"` and `\`
/// escaped, `\t \r \n \0` by name, other control characters as `\u{..}`. (Unlike `{:?}`, other
/// characters pass as they are: the tables that decide which are printable are large.)
pub fn push_quoted(o: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '\n' => o.push_str("\\n"),
            '\0' => o.push_str("\\0"),
            c if c.is_control() => {
                o.push_str("\\u{");
                let v = c as u32;
                let mut started = false;
                for shift in (0..8).rev() {
                    let d = (v >> (shift * 4)) & 0xf;
                    if d != 0 || started || shift == 0 {
                        started = true;
                        o.push(char::from(HEX[d as usize]));
                    }
                }
                o.push('}');
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

/// Appends a user value as an error shows it: quoted, and cut to 64 bytes with its length when
/// it is longer.
pub fn push_shown(o: &mut String, s: &str) {
    const SHOW: usize = 64;
    if s.len() <= SHOW {
        return push_quoted(o, s);
    }
    let mut cut = SHOW;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    push_quoted(o, s.get(..cut).unwrap_or_default());
    o.push_str("... (");
    push_decimal(o, s.len() as u64);
    o.push_str(" bytes)");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut o = String::new();
        push_quoted(&mut o, s);
        o
    }

    #[test]
    fn decimals_cover_zero_and_u64_max() {
        for v in [0, 7, 10, 1_700_000_000_000_000_000, u64::MAX] {
            let mut o = String::new();
            push_decimal(&mut o, v);
            assert_eq!(o, v.to_string());
        }
    }

    #[test]
    fn quoting_matches_debug_for_ascii_and_control_characters() {
        for s in [
            "",
            "plain",
            "a\nb\u{1b}\"q\"\\",
            "\t\r\0\u{7f}\u{85}\u{9f}",
            "é 😀",
        ] {
            assert_eq!(quoted(s), format!("{s:?}"), "{s:?}");
        }
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary_with_their_length() {
        let mut o = String::new();
        push_shown(&mut o, &format!("{}é", "x".repeat(63)));
        assert_eq!(o, format!("\"{}\"... (65 bytes)", "x".repeat(63)));
    }
}
