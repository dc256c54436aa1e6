//! What Postgres can store. A record the decoder accepts must never make a transaction fail,
//! or the messages batched with it would wait (or, worse, a tenant's writer would retry it for
//! ever). Typed columns are safe by construction (Rust types narrower than their columns);
//! what is kept as `jsonb` (entity and budget payloads, nested objects) is Amazon's text as
//! sent, unknown fields included, and `jsonb` is stricter than JSON:
//!
//! * no `\u0000` in any string or key (Postgres text cannot hold U+0000);
//! * no lone UTF-16 surrogate escapes (`"\ud800"`);
//! * every number must fit `numeric`: at most 131,072 digits before the decimal point and
//!   16,383 after it, exponent included (`1e999999` is valid JSON and refused by Postgres).
//!
//! The limits were measured against PostgreSQL 15's `jsonb` input; `tests/ledger.rs` holds this
//! check against the server for every boundary.

use crate::json::Reader;

/// Largest power of ten `numeric` holds: values must stay below 10^131072 (weight ≤ 32767
/// base-10000 digits).
const MAX_LEADING_EXPONENT: i64 = 131_071;
/// Most digits `numeric` keeps after the decimal point (its dscale limit).
const MAX_SCALE: i64 = 16_383;
/// Postgres refuses an exponent of INT_MAX / 2 or more before looking at the digits.
const MAX_EXPONENT: i64 = 1_073_741_823;

/// Checks that `text` (one JSON document) can be stored as `jsonb`; the error says what cannot.
pub fn check_jsonb(text: &str) -> Result<(), String> {
    if !needs_walk(text) {
        return Ok(());
    }
    let mut r = Reader::new(text);
    let mut problem = None;
    let walked = value(&mut r, &mut problem).and_then(|()| r.end());
    if let Some(p) = problem {
        return Err(p);
    }
    walked.map_err(|e| match e.what {
        "lone surrogate" => format!(
            "a string holds a lone UTF-16 surrogate escape (byte {}), which Postgres jsonb refuses",
            e.at
        ),
        "nested too deeply" => format!("nested more than 128 levels deep (byte {})", e.at),
        _ => format!("not storable as jsonb: {e}"),
    })
}

/// Whether `text` could hold anything `jsonb` refuses, by a few SIMD scans instead of a walk
/// (nearly every record: the walk cost a quarter of the decode throughput). Each test below
/// may say yes for text that is fine (a bracket inside a string, an `e` after a digit in a
/// name); then the walk decides.
/// * surrogates and U+0000 only come from `\u` escapes (raw NUL is refused before);
/// * a number past `numeric` needs an exponent (a digit followed by `e`/`E`), or more than
///   16,383 digits (a text longer than that);
/// * nesting deeper than 128 needs more than 128 opening brackets.
fn needs_walk(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() > MAX_SCALE as usize {
        return true;
    }
    if memchr::memmem::find(b, b"\\u").is_some() {
        return true;
    }
    if memchr::memchr2_iter(b'{', b'[', b).nth(MAX_DEPTH).is_some() {
        return true;
    }
    memchr::memchr2_iter(b'e', b'E', b).any(|i| exponent_at(b, i))
}

/// Whether the `e` at `i` can be a number's exponent: digits (with at most one `.`) and an
/// optional `-` before it, and before those what can precede a value (`:`, `,`, `[`, space).
/// Ids and hashes inside strings (`"0b6f3f0e-…"`, `"A3EXAMPLE"`) have a letter there instead.
fn exponent_at(b: &[u8], i: usize) -> bool {
    let mut j = i;
    let mut digits = 0;
    let mut dot = false;
    while j > 0 {
        match b[j - 1] {
            c if c.is_ascii_digit() => digits += 1,
            b'.' if !dot => dot = true,
            _ => break,
        }
        j -= 1;
    }
    if digits == 0 {
        return false;
    }
    if j > 0 && b[j - 1] == b'-' {
        j -= 1;
    }
    j == 0 || matches!(b[j - 1], b':' | b',' | b'[' | b' ' | b'\n' | b'\r' | b'\t')
}

/// Nesting deeper than this is refused (as by the JSON reader and serde_json).
const MAX_DEPTH: usize = 128;

/// Walks one value. A storability problem is put in `problem` and ends the walk through a
/// reader error (the reader's own errors are syntax).
fn value(r: &mut Reader<'_>, problem: &mut Option<String>) -> crate::json::Result<()> {
    let stop = |problem: &mut Option<String>, what: String| {
        *problem = Some(what);
        Err(crate::json::JsonError { at: 0, what: "unstorable" })
    };
    match r.peek() {
        Some(b'"') => {
            let s = r.string()?;
            if s.contains('\0') {
                return stop(problem, "a string holds U+0000, which Postgres cannot store".into());
            }
            Ok(())
        }
        Some(b'{') => r.object(|r, key| {
            if key.contains('\0') {
                return stop(problem, "a key holds U+0000, which Postgres cannot store".into());
            }
            value(r, problem)
        }),
        Some(b'[') => r.array(|r| value(r, problem)),
        Some(b'-' | b'0'..=b'9') => {
            let n = r.number_text()?;
            if !fits_numeric(n) {
                let shown: String = n.chars().take(40).collect();
                let more = if n.len() > 40 { "…" } else { "" };
                return stop(
                    problem,
                    format!("the number {shown}{more} ({} characters) does not fit Postgres numeric", n.len()),
                );
            }
            Ok(())
        }
        _ => r.skip(),
    }
}

/// Whether a JSON number (valid syntax) fits Postgres `numeric`.
pub fn fits_numeric(n: &str) -> bool {
    let n = n.strip_prefix('-').unwrap_or(n);
    let (mantissa, exponent) = match n.find(['e', 'E']) {
        Some(at) => (&n[..at], parse_exponent(&n[at + 1..])),
        None => (n, 0),
    };
    if exponent.abs() >= MAX_EXPONENT {
        return false;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (frac.len() as i64 - exponent).max(0) > MAX_SCALE {
        return false;
    }
    let significant = int.trim_start_matches('0');
    let leading = if !significant.is_empty() {
        significant.len() as i64 - 1 + exponent
    } else if let Some(p) = frac.find(|c| c != '0') {
        exponent - (p as i64 + 1)
    } else {
        return true; // zero: only its scale matters
    };
    leading <= MAX_LEADING_EXPONENT
}

/// The exponent's value, saturated far beyond any limit above (no overflow on `1e99999999999`).
fn parse_exponent(e: &str) -> i64 {
    let (negative, digits) = match e.as_bytes().first() {
        Some(b'-') => (true, &e[1..]),
        Some(b'+') => (false, &e[1..]),
        _ => (false, e),
    };
    let digits = digits.trim_start_matches('0');
    let v = if digits.len() > 15 { i64::MAX / 4 } else { digits.parse().unwrap_or(0) };
    if negative {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_limits_match_postgres() {
        // Each verdict below is what PostgreSQL 15 answered for `('{"x": <n>}')::jsonb`.
        for (n, ok) in [
            ("1e1000", true),
            ("1e-1001", true),
            ("1e131071", true),
            ("1e131072", false),
            ("-1e131072", false),
            ("10e131071", false),
            ("0.5e131072", true),
            ("0.00001e131076", true),
            ("1e-16383", true),
            ("1e-16384", false),
            ("1.5e-16383", false),
            ("123e-16385", false),
            ("0.000001e-16377", true),
            ("0.000001e-16378", false),
            ("1e999999", false),
            ("0e999999", true),
            ("0e-999999", false),
            ("0e1073741822", true),
            ("0e1073741823", false),
            ("0e2147483648", false),
            ("0.0000e16383", true),
            ("9223372036854775807", true),
            ("1e99999999999999999999999", false),
        ] {
            assert_eq!(fits_numeric(n), ok, "{n}");
        }
    }

    #[test]
    fn the_scan_sends_every_doubtful_text_to_the_walk() {
        assert!(!needs_walk(r#"{"a":"b","n":[1,2.5,-3],"o":{"k":null}}"#));
        // Ids and hashes with digits before an `e` are not exponents.
        assert!(!needs_walk(r#"{"id":"0b6f3f0e-5a8e-4c53","adv":"A3EXAMPLE","t":"2024-05-01T10:00:00-07:00","x":"12e5"}"#));
        for t in [r#"{"x":-1.5e3}"#, r#"[1E9]"#, r#"{"x": 7e1}"#, "{\"x\":\n3e2}"] {
            assert!(needs_walk(t), "{t}");
        }
        for t in [r#"{"x":"\u00e9"}"#, r#"{"x":1e5}"#, r#"{"x":2E-1}"#, &format!("{{\"x\":{}1{}}}", "[".repeat(128), "]".repeat(128))] {
            assert!(needs_walk(t), "{t}");
        }
        assert!(needs_walk(&format!("{{\"x\":\"{}\"}}", "a".repeat(16_400))));
    }

    #[test]
    fn jsonb_refusals_are_named() {
        assert!(check_jsonb(r#"{"a":[1,{"b":"c\u00e9\ud83d\ude00"}],"n":-1.5e3}"#).is_ok());
        let e = check_jsonb(r#"{"a":1,"x":"\ud800"}"#).unwrap_err();
        assert!(e.contains("lone UTF-16 surrogate"), "{e}");
        let e = check_jsonb(r#"{"x":"\udc00\ud800"}"#).unwrap_err();
        assert!(e.contains("lone UTF-16 surrogate"), "{e}");
        let e = check_jsonb(r#"{"x":[1e999999]}"#).unwrap_err();
        assert!(e.contains("1e999999") && e.contains("numeric"), "{e}");
        let e = check_jsonb(r#"{"x":"a\u0000b"}"#).unwrap_err();
        assert!(e.contains("U+0000"), "{e}");
        let e = check_jsonb(r#"{"a\u0000":1}"#).unwrap_err();
        assert!(e.contains("key"), "{e}");
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let e = check_jsonb(&deep).unwrap_err();
        assert!(e.contains("nested"), "{e}");
        let long = format!("{{\"x\":1{}}}", "0".repeat(131_072));
        assert!(check_jsonb(&long).unwrap_err().contains("131073 characters"));
    }
}
