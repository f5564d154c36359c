//! `uidcache sync --json`: one object, the same shape for one mailbox and for an account:
//! `{"mailboxes":[{"name","dir","messages","new","expunged","flag_changes","method","error"}],
//! "round_trips","bytes_in","bytes_out","seconds"}`. Written by hand: five fields do not
//! need serde in the binary.

use std::fmt::Write;
use std::path::Path;

use uidcache_sync::account::{method_key, AccountSummary, MailboxReport, Outcome};
use uidcache_sync::{Summary, Traffic};

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Row<'a> {
    name: &'a str,
    dir: &'a Path,
    messages: u64,
    summary: Option<&'a Summary>,
    method: &'a str,
    error: Option<String>,
}

fn row(r: &Row<'_>) -> String {
    let c = r.summary.map(|s| s.changes).unwrap_or_default();
    format!(
        "{{\"name\":{},\"dir\":{},\"messages\":{},\"new\":{},\"expunged\":{},\"flag_changes\":{},\"method\":{},\"error\":{}}}",
        string(r.name),
        string(&r.dir.to_string_lossy()),
        r.messages,
        c.new,
        c.gone,
        c.changed,
        string(r.method),
        r.error.as_deref().map_or("null".to_string(), string)
    )
}

fn object(rows: &[String], traffic: Traffic, seconds: f64) -> String {
    format!(
        "{{\"mailboxes\":[{}],\"round_trips\":{},\"bytes_in\":{},\"bytes_out\":{},\"seconds\":{:.3}}}",
        rows.join(","),
        traffic.round_trips,
        traffic.bytes_in,
        traffic.bytes_out,
        seconds
    )
}

/// The object of a one-mailbox sync.
pub fn mailbox(summary: &Summary, dir: &Path) -> String {
    let r = row(&Row {
        name: &summary.mailbox,
        dir,
        messages: u64::from(summary.messages),
        summary: Some(summary),
        method: method_key(summary.method),
        error: None,
    });
    object(&[r], summary.traffic, summary.elapsed.as_secs_f64())
}

fn report(m: &MailboxReport) -> String {
    let (summary, error) = match &m.outcome {
        Outcome::Synced(s) => (Some(&**s), None),
        Outcome::Failed(e) => (None, Some(e.to_string())),
        Outcome::Unchanged => (None, None),
    };
    row(&Row {
        name: &m.name,
        dir: &m.dir,
        messages: m.messages,
        summary,
        method: m.outcome.method_name(),
        error,
    })
}

/// The object of an account sync.
pub fn account(s: &AccountSummary) -> String {
    let rows: Vec<String> = s.mailboxes.iter().map(report).collect();
    object(&rows, s.traffic, s.elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(string("a\"b\\c\nü\u{1}"), "\"a\\\"b\\\\c\\nü\\u0001\"");
    }
}
