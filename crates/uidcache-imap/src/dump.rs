//! The `uidcache dump` format: the exact, stable text form of a cache's state.
//!
//! ```text
//! uidvalidity N|-
//! uidnext N|-
//! highestmodseq N|-
//! exists N|-
//! <seq> <uid> <flags> <modseq>      placed records, ascending seq
//! - <uid> <flags> <modseq>          unplaced records, ascending uid
//! ```
//! flags: `(` the flags separated by one space, bytes as received, duplicates removed, sorted
//! by byte order `)`, or `-` when never learned; modseq: a number or `-`.

use std::io::Write;

use uidcache_engine::{Message, View};

/// Writes the dump of `view` to `out`. Engine read errors become I/O errors.
pub fn dump(view: &View<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    writeln!(
        out,
        "uidvalidity {}",
        opt(view.uidvalidity().map(u64::from))
    )?;
    writeln!(out, "uidnext {}", opt(view.uidnext().map(u64::from)))?;
    writeln!(out, "highestmodseq {}", opt(view.highestmodseq()))?;
    writeln!(out, "exists {}", opt(view.exists().map(u64::from)))?;
    let placed = view.placed_messages().map_err(std::io::Error::other)?;
    for (seq, m) in placed {
        write!(out, "{seq} ")?;
        record(view, &m, out)?;
    }
    for m in view.unplaced_messages().map_err(std::io::Error::other)? {
        write!(out, "- ")?;
        record(view, &m, out)?;
    }
    Ok(())
}

fn record(view: &View<'_>, m: &Message, out: &mut dyn Write) -> std::io::Result<()> {
    write!(out, "{} ", m.uid)?;
    match m.flags {
        None => out.write_all(b"-")?,
        Some(id) => {
            let mut names = view.flag_names(id).ok_or_else(|| {
                std::io::Error::other(format!("UID {}: undefined flag set", m.uid))
            })?;
            names.retain(|n| !n.eq_ignore_ascii_case(b"\\Recent"));
            names.sort_unstable();
            names.dedup();
            out.write_all(b"(")?;
            out.write_all(&names.join(&b' '))?;
            out.write_all(b")")?;
        }
    }
    match m.modseq {
        Some(v) => writeln!(out, " {v}"),
        None => writeln!(out, " -"),
    }
}

/// The dump as a string (flag bytes that are not UTF-8 are replaced).
pub fn dump_to_string(view: &View<'_>) -> std::io::Result<String> {
    let mut out = Vec::new();
    dump(view, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
