//! Replaying a transcript (`C: ` / `S: ` lines) into a cache, committing at every tagged
//! completion and at the end of the input.
//!
//! A line that ends with a literal's announcement (`{n}` or `~{n}`) continues on the
//! following lines: they hold the literal's `n` bytes, each line break in it counting as the
//! two bytes CRLF, and the message goes on right after the literal's last byte (on the same
//! line, or on the next when the literal ends with a line break).

use std::borrow::Cow;

use uidcache_engine::{Cache, Durability};

use crate::error::{Error, LineError};
use crate::session::{Session, Step};

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Lines read.
    pub lines: u64,
    /// Commit points passed (tagged completions and the end of input).
    pub commits: u64,
}

/// Replays `input` (a whole transcript) into `cache`. On error the cache stays at the last
/// commit point and the error names the line. A last line without a line terminator is torn
/// input: not applied, an error. The end of the input is a commit point, except inside a
/// SELECT/EXAMINE whose completion never came (see [`Session::finish`]).
pub fn replay(
    cache: &mut Cache,
    input: &[u8],
    durability: Durability,
) -> Result<ReplayStats, LineError> {
    let mut session = Session::new();
    let mut stats = ReplayStats::default();
    let engine = |line: u64| {
        move |e: uidcache_engine::Error| LineError {
            line,
            source: e.into(),
        }
    };
    let mut tx = cache.transaction().map_err(engine(0))?;
    let mut last = 0;
    // What follows the last line terminator is a line only if it is empty: anything else
    // was cut short (a `VANISHED 1000:1002` torn to `1000:1` would remove 1,000 messages).
    let mut lines = Lines {
        rest: input.split(|b| *b == b'\n').peekable(),
        read: 0,
    };
    loop {
        let line = match lines.next() {
            Next::Line(line) => line,
            Next::End => break,
            Next::Torn => {
                return Err(LineError {
                    line: lines.read,
                    source: Error::TornLine,
                })
            }
        };
        let pos = lines.read;
        (last, stats.lines) = (pos, pos);
        if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
            continue;
        }
        let line =
            with_literals(line, &mut lines).map_err(|source| LineError { line: pos, source })?;
        (last, stats.lines) = (lines.read, lines.read);
        if let Some(cmd) = line.strip_prefix(b"C: ") {
            session.command(&mut tx, cmd)?;
        } else if let Some(resp) = line.strip_prefix(b"S: ") {
            if session.response(&mut tx, pos, resp)? == Step::Commit {
                tx.commit_with(durability).map_err(engine(pos))?;
                stats.commits += 1;
                tx = cache.transaction().map_err(engine(pos))?;
            }
        } else {
            return Err(LineError {
                line: pos,
                source: Error::BadLine,
            });
        }
    }
    if session.finish() == Step::Commit {
        tx.commit_with(durability).map_err(engine(last))?;
        stats.commits += 1;
    }
    Ok(stats)
}

/// The lines of a transcript, counted.
struct Lines<'a, I: Iterator<Item = &'a [u8]>> {
    rest: std::iter::Peekable<I>,
    /// Lines read so far: the number of the last one.
    read: u64,
}

/// What [`Lines::next`] found.
enum Next<'a> {
    /// A line, without its terminator.
    Line(&'a [u8]),
    /// The end of the input, after a line terminator.
    End,
    /// A last line without a terminator: torn input.
    Torn,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Lines<'a, I> {
    fn next(&mut self) -> Next<'a> {
        let Some(raw) = self.rest.next() else {
            return Next::End;
        };
        self.read += 1;
        if self.rest.peek().is_none() {
            return if raw.is_empty() {
                Next::End
            } else {
                Next::Torn
            };
        }
        Next::Line(raw.strip_suffix(b"\r").unwrap_or(raw))
    }

    /// The next line inside a literal, which the input may not end in.
    fn inside_literal(&mut self) -> Result<&'a [u8], Error> {
        match self.next() {
            Next::Line(line) => Ok(line),
            Next::End | Next::Torn => Err(Error::TornLine),
        }
    }
}

/// `line`, continued with the literals it announces from the following lines.
fn with_literals<'a, I: Iterator<Item = &'a [u8]>>(
    line: &'a [u8],
    lines: &mut Lines<'a, I>,
) -> Result<Cow<'a, [u8]>, Error> {
    let Some(mut need) = literal_at_end(line) else {
        return Ok(Cow::Borrowed(line));
    };
    let mut out = line.to_vec();
    loop {
        // The line break after `{n}` is part of the message, not of the literal.
        out.extend_from_slice(b"\r\n");
        let mut cur = lines.inside_literal()?;
        let rest = loop {
            let take = need.min(cur.len());
            out.extend_from_slice(cur.get(..take).unwrap_or_default());
            need -= take;
            let after = cur.get(take..).unwrap_or_default();
            if need == 0 {
                break after;
            }
            // The line ended inside the literal: its break is two of the literal's bytes.
            if need < 2 {
                return Err(Error::Malformed(
                    "a literal that ends between the CR and the LF of a line break".into(),
                ));
            }
            need -= 2;
            out.extend_from_slice(b"\r\n");
            cur = lines.inside_literal()?;
            if need == 0 {
                break cur;
            }
        };
        out.extend_from_slice(rest);
        match literal_at_end(rest) {
            Some(n) => need = n,
            None => return Ok(Cow::Owned(out)),
        }
    }
}

/// The length a line's closing `{n}` / `~{n}` / `{n+}` announces.
fn literal_at_end(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let start = body.len().checked_sub(digits)?;
    if digits == 0 || digits > 19 || body.get(..start)?.last() != Some(&b'{') {
        return None;
    }
    std::str::from_utf8(body.get(start..)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn run(text: &str) -> Result<ReplayStats, LineError> {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        replay(&mut cache, text.as_bytes(), Durability::NoSync)
    }

    const SELECT: &str =
        "C: a1 SELECT INBOX\nS: * 1 EXISTS\nS: * OK [UIDVALIDITY 1] x\nS: a1 OK x\n";

    #[test]
    fn a_literal_continues_on_the_following_lines() {
        let text =
            format!("{SELECT}S: * 1 FETCH (UID 4 BODY[] {{7}}\nab\n\nc FLAGS (x))\n# {{3}}\n");
        // The comment announcing `{3}` is a comment, not a literal.
        assert_eq!(run(&text).unwrap().lines, 9);
    }

    #[test]
    fn input_that_ends_inside_a_literal_is_torn() {
        for text in [
            format!("{SELECT}S: * 1 FETCH (UID 4 BODY[] {{9}}\nab\n"),
            format!("{SELECT}S: * 1 FETCH (UID 4 BODY[] {{9}}\nab"),
        ] {
            let err = run(&text).unwrap_err();
            assert!(matches!(err.source, Error::TornLine), "{err}");
            assert_eq!(err.line, 5);
        }
    }

    #[test]
    fn a_literal_cannot_end_inside_a_line_break() {
        let text = format!("{SELECT}S: * 1 FETCH (UID 4 BODY[] {{3}}\nab\nc)\n");
        let err = run(&text).unwrap_err();
        assert!(matches!(err.source, Error::Malformed(_)), "{err}");
    }
}
