//! The Dovecot transcripts of `../shared/transcripts/` (copied to tests/data/transcripts):
//! they replay without error, and the placed records agree with the transcript's last full
//! `FETCH 1:* (UID FLAGS MODSEQ)`, updated by the later FETCH and VANISHED responses.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

use std::collections::{BTreeMap, BTreeSet};

fn transcript(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/transcripts");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(name))
        .unwrap();
    std::fs::read_to_string(file).unwrap()
}

fn replay(text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    common::replay_dump(&tmp.path().join("c"), text).unwrap()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(key)? + key.len();
    let rest = &line[i..];
    Some(if key.ends_with('(') {
        &rest[..rest.find(')').unwrap()]
    } else {
        rest.split([' ', ')']).next().unwrap()
    })
}

/// UID → "flags modseq" as the dump prints them, from the last full FETCH on.
fn truth(text: &str) -> BTreeMap<u32, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("C: ") && l.ends_with(" FETCH 1:* (UID FLAGS MODSEQ)"))
        .unwrap();
    let mut map = BTreeMap::new();
    for l in &lines[start..] {
        if let Some(set) = l.strip_prefix("S: * VANISHED ") {
            let set = set.trim_start_matches("(EARLIER) ");
            for part in set.split(',') {
                let (a, b) = part.split_once(':').unwrap_or((part, part));
                for u in a.parse::<u32>().unwrap()..=b.parse().unwrap() {
                    map.remove(&u);
                }
            }
        } else if l.starts_with("S: * ") && l.contains(" FETCH (") {
            let Some(uid) = field(l, "UID ") else {
                continue;
            };
            let flags: BTreeSet<&str> = field(l, "FLAGS (").map_or(BTreeSet::new(), |f| {
                f.split(' ').filter(|x| !x.is_empty()).collect()
            });
            let flags: Vec<&str> = flags.into_iter().collect();
            map.insert(
                uid.parse().unwrap(),
                format!("({}) {}", flags.join(" "), field(l, "MODSEQ (").unwrap()),
            );
        }
    }
    map
}

fn header(dump: &str, key: &str) -> String {
    dump.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap()
        .to_string()
}

fn check_against_fetch(name: &str) -> String {
    let text = transcript(name);
    let dump = replay(&text);
    let expected: Vec<String> = truth(&text)
        .iter()
        .enumerate()
        .map(|(i, (u, rest))| format!("{} {u} {rest}", i + 1))
        .collect();
    let placed: Vec<&str> = dump.lines().skip(4).collect();
    let first_diff = placed.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(
        first_diff,
        None,
        "{name}: {:?}",
        first_diff.map(|i| (placed[i], &expected[i]))
    );
    assert_eq!(placed.len(), expected.len(), "{name}");
    dump
}

#[test]
fn a_condstore_search_fetch() {
    let dump = check_against_fetch("a-");
    assert_eq!(header(&dump, "exists"), "1260");
    assert_eq!(dump.lines().count(), 4 + 1260);
    assert_eq!(header(&dump, "highestmodseq"), "7");
}

#[test]
fn d_qresync_reconnect_keeps_the_prefix() {
    let dump = check_against_fetch("d-");
    // 900 - 12 vanished keep their positions; the 3 new messages are unknown.
    assert_eq!(header(&dump, "exists"), "891");
    assert_eq!(dump.lines().count(), 4 + 888);
    assert_eq!(header(&dump, "highestmodseq"), "14");
    assert_eq!(header(&dump, "uidnext"), "1004");
}

#[test]
fn b_noop_unsolicited() {
    let dump = replay(&transcript("b-"));
    assert_eq!(header(&dump, "exists"), "538");
    assert_eq!(header(&dump, "highestmodseq"), "16");
    // FETCHes without UID teach nothing when the UID is unknown.
    assert_eq!(dump.lines().count(), 4);
}

#[test]
fn c_qresync_vanished() {
    let dump = replay(&transcript("c-"));
    assert_eq!(header(&dump, "exists"), "712");
    assert_eq!(header(&dump, "highestmodseq"), "13");
    // The last UID FETCH placed these four; every UID agrees with its sequence number.
    let placed: Vec<&str> = dump.lines().skip(4).collect();
    assert_eq!(
        placed,
        [
            "319 363 (\\Flagged) 10",
            "417 470 (\\Flagged \\Seen) 10",
            "482 546 (\\Flagged) 10",
            "712 801 () 13"
        ]
    );
}

#[test]
fn e_esearch() {
    let text = transcript("e-");
    let dump = replay(&text);
    assert_eq!(header(&dump, "exists"), "1020");
    // All 1020 positions learned from RETURN (ALL) blocks; the other searches taught nothing.
    let placed: Vec<&str> = dump.lines().skip(4).collect();
    assert_eq!(placed.len(), 1020);
    assert_eq!(placed[0], "1 1 - -");
    assert_eq!(placed[150], "151 172 - -");
    assert_eq!(placed[1019], "1020 1200 - -");
}
