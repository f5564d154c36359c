//! The overlay section and the atom and flag-set tables (FORMAT.md 4.5–4.7, rules 10–12).

use std::collections::HashSet;

use uidcache_format::FLAGS_UNKNOWN;

use super::{Locator, Target};
use crate::report::Severity::Damage;

fn overlay(loc: &mut Locator<'_>) {
    let defined: Vec<bool> = loc.image.flagsets.iter().map(Option::is_some).collect();
    let mut prev = 0u32;
    for (k, r) in loc.image.overlay.clone().iter().enumerate() {
        let (uid, flags) = (r.uid.get(), r.flags.get());
        let t = Target::Overlay(k);
        if uid == 0 || uid <= prev {
            loc.report(
                Damage,
                t,
                0,
                "Overlay",
                "uid",
                format_args!("a nonzero UID above {prev} (ascending, unique)"),
                uid,
            );
        } else {
            prev = uid;
        }
        if flags != FLAGS_UNKNOWN && !defined.get(flags as usize).copied().unwrap_or(false) {
            loc.report(
                Damage,
                t,
                4,
                "Overlay",
                "flags",
                format_args!(
                    "FLAGS_UNKNOWN or a defined flag-set ID (below {}, not a free slot)",
                    defined.len()
                ),
                format_args!("{flags} (UID {uid})"),
            );
        }
    }
}

fn atoms(loc: &mut Locator<'_>) -> u64 {
    let mut seen = HashSet::new();
    let mut at = 0u64;
    let mut dupes = Vec::new();
    for (id, name) in loc.image.atoms.iter().enumerate() {
        if !seen.insert(name.as_slice()) {
            dupes.push((at, id, String::from_utf8_lossy(name).into_owned()));
        }
        at += 4 + name.len() as u64;
    }
    for (at, id, name) in dupes {
        loc.report(
            Damage,
            Target::FlagTables,
            at,
            "FlagTable",
            "atom",
            "pairwise distinct atom names",
            format_args!("atom {id} {name:?} repeats an earlier one"),
        );
    }
    at
}

fn flagsets(loc: &mut Locator<'_>, start: u64) {
    let atoms = loc.image.atoms.clone();
    let mut seen = HashSet::new();
    let mut at = start;
    for (id, set) in loc.image.flagsets.clone().iter().enumerate() {
        // A free slot (FORMAT.md 4.7): 4 bytes, no atoms.
        let Some(set) = set else {
            at += 4;
            continue;
        };
        let names: Vec<Option<&Vec<u8>>> = set.iter().map(|a| atoms.get(*a as usize)).collect();
        let defined = names.iter().all(Option::is_some);
        let sorted = names
            .windows(2)
            .all(|w| matches!(w, [Some(a), Some(b)] if a < b));
        let why = if !defined {
            Some("an atom ID at or above atom_count")
        } else if !sorted {
            Some("atoms not strictly ascending by name")
        } else if !seen.insert(set.clone()) {
            Some("the same atoms as an earlier set")
        } else {
            None
        };
        if let Some(why) = why {
            loc.report(
                Damage,
                Target::FlagTables,
                at,
                "FlagTable",
                "flagset",
                "defined atoms, strictly ascending by name, sets pairwise distinct",
                format_args!("flag set {id}: {why}"),
            );
        }
        at += 4 + 4 * set.len() as u64;
    }
}

/// Runs every rule of this module.
pub(crate) fn check(loc: &mut Locator<'_>) {
    overlay(loc);
    let end = atoms(loc);
    flagsets(loc, end);
}
