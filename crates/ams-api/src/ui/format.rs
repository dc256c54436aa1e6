//! Numbers as a person reads them: money in the marketplace's currency (`$1,234.56`,
//! `€12.30`, `¥1,235`), counts with thousands separators, ratios as percentages. Values arrive
//! as exact decimal strings (the reports' JSON) and are formatted without going through floats.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// The symbol a currency is written with, and its decimals.
fn currency(code: &str) -> (&str, u32) {
    match code {
        "USD" => ("$", 2),
        "EUR" => ("€", 2),
        "GBP" => ("£", 2),
        "JPY" => ("¥", 0),
        "CAD" => ("CA$", 2),
        "AUD" => ("A$", 2),
        "MXN" => ("MX$", 2),
        "BRL" => ("R$", 2),
        "INR" => ("₹", 2),
        "SGD" => ("S$", 2),
        "SEK" => ("kr ", 2),
        "PLN" => ("zł ", 2),
        "TRY" => ("₺", 2),
        _ => (code, 2),
    }
}

/// `1234567.891` → `1,234,567.89` with `dp` decimals (half away from zero, as a ledger rounds).
pub fn grouped(d: Decimal, dp: u32) -> String {
    let r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.*}", dp as usize, r.abs());
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if r.is_sign_negative() && !r.is_zero() {
        out.insert(0, '−');
    }
    out
}

fn parse(v: &str) -> Option<Decimal> {
    Decimal::from_str(v).ok().or_else(|| Decimal::from_scientific(v).ok())
}

/// Money: `money("1234.5", "USD")` → `$1,234.50`; empty for no value.
pub fn money(value: &str, code: &str) -> String {
    let Some(d) = parse(value) else { return String::new() };
    let (symbol, dp) = currency(code);
    let n = grouped(d, dp);
    match n.strip_prefix('−') {
        Some(abs) => format!("−{symbol}{abs}"),
        None => format!("{symbol}{n}"),
    }
}

/// A count: `12345` → `12,345`.
pub fn count(value: &str) -> String {
    parse(value).map(|d| grouped(d, 0)).unwrap_or_default()
}

/// A ratio as a percentage: `0.1234` → `12.34%`; empty for none.
pub fn percent(value: &str) -> String {
    parse(value).map(|d| format!("{}%", grouped(d * Decimal::ONE_HUNDRED, 2))).unwrap_or_default()
}

/// A plain ratio (ROAS): `3.5` → `3.50`.
pub fn ratio(value: &str) -> String {
    parse(value).map(|d| grouped(d, 2)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_the_console() {
        assert_eq!(money("1234.5", "USD"), "$1,234.50");
        assert_eq!(money("1234567.891", "EUR"), "€1,234,567.89");
        assert_eq!(money("1234.5", "JPY"), "¥1,235");
        assert_eq!(money("-12.345", "GBP"), "−£12.35");
        assert_eq!(money("0", "USD"), "$0.00");
        assert_eq!(money("", "USD"), "");
        assert_eq!(count("1234567"), "1,234,567");
        assert_eq!(percent("0.1234"), "12.34%");
        assert_eq!(ratio("3.5"), "3.50");
        assert_eq!(money("999.995", "USD"), "$1,000.00");
    }
}
