//! One IMAP connection: framing with imap-codec's `Fragmentizer` (lines and literals),
//! greeting and LOGIN with imap-codec's codecs, tags, capabilities, counters, and the
//! transcript. What the responses mean for the cache is `uidcache_imap::Session`'s job.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imap_codec::decode::Decoder;
use imap_codec::encode::{Encoder, Fragment};
use imap_codec::fragmentizer::Fragmentizer;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::response::{Greeting, GreetingKind};
use imap_codec::{CommandCodec, GreetingCodec};

use crate::error::{printable, Error, Result};
use crate::net::Stream;
use crate::transcript::Transcript;

/// The largest response accepted (a `* SEARCH` of a whole 10M-message mailbox is ~80 MB;
/// the sync asks in blocks, so real answers stay far below this).
const MAX_MESSAGE: u32 = 256 << 20;
/// How often a blocked read wakes up (to keep the total wait bounded).
const POLL: Duration = Duration::from_millis(500);
/// A command whose answer does not start within this is given up on.
const SILENCE: Duration = Duration::from_secs(180);

/// Counters for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes received (after TLS decryption: IMAP bytes).
    pub bytes_in: u64,
    /// Bytes sent (IMAP bytes).
    pub bytes_out: u64,
    /// Round trips: commands sent while no other was outstanding (a pipelined batch counts
    /// once), plus the greeting.
    pub round_trips: u64,
    /// Commands sent.
    pub commands: u64,
}

impl Traffic {
    /// Adds another connection's counters.
    pub(crate) fn add(&mut self, t: Traffic) {
        self.bytes_in += t.bytes_in;
        self.bytes_out += t.bytes_out;
        self.round_trips += t.round_trips;
        self.commands += t.commands;
    }
}

/// What a server message is, as far as the connection cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A tagged completion of one of our commands.
    Tagged { tag: String, ok: bool },
    /// `+ ...`
    Continuation,
    /// `* BYE ...`
    Bye,
    /// Any other untagged response.
    Untagged,
}

/// A complete server message without its final CRLF.
#[derive(Debug)]
pub(crate) struct Received {
    pub raw: Vec<u8>,
    pub kind: Kind,
}

pub(crate) struct Conn {
    stream: Option<Stream>,
    frag: Fragmentizer,
    buf: Vec<u8>,
    next_tag: u64,
    /// Our commands not yet completed.
    outstanding: usize,
    pub(crate) traffic: Traffic,
    pub(crate) transcript: Option<Transcript>,
    /// Transcript line numbers (what `Session` errors report).
    pub(crate) line: u64,
    caps: Vec<String>,
    timeout: Option<Duration>,
}

impl Conn {
    /// Reads the greeting. A PREAUTH greeting is refused: the login is ours to make.
    pub(crate) fn open(stream: Stream, transcript: Option<Transcript>) -> Result<Conn> {
        let mut conn = Conn {
            stream: Some(stream),
            frag: Fragmentizer::new(MAX_MESSAGE),
            buf: vec![0; 64 << 10],
            next_tag: 1,
            outstanding: 0,
            traffic: Traffic::default(),
            transcript,
            line: 0,
            caps: Vec::new(),
            timeout: None,
        };
        conn.traffic.round_trips += 1;
        let greeting = conn
            .read_raw(SILENCE)?
            .ok_or_else(|| Error::Closed(" before its greeting".to_string()))?;
        if let Some(t) = conn.transcript.as_mut() {
            t.note("connected")?;
            t.server(&greeting)?;
        }
        conn.line += 2;
        let mut bytes = greeting.clone();
        bytes.extend_from_slice(b"\r\n");
        let decoded: Greeting<'_> = match GreetingCodec::default().decode(&bytes) {
            Ok((_, g)) => g,
            Err(_) => {
                return Err(Error::Protocol {
                    what: "not an IMAP greeting".into(),
                    message: printable(&greeting),
                })
            }
        };
        if decoded.kind == GreetingKind::Bye {
            return Err(Error::Server(format!(
                "refused the connection: {}",
                printable(&greeting)
            )));
        }
        conn.note_caps(&greeting);
        Ok(conn)
    }

    /// The capabilities last announced (upper case).
    pub(crate) fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    pub(crate) fn caps(&self) -> &[String] {
        &self.caps
    }

    pub(crate) fn forget_caps(&mut self) {
        self.caps.clear();
    }

    /// Replaces the stream by a TLS one (after STARTTLS); nothing may be buffered.
    pub(crate) fn upgrade(&mut self, config: &Arc<rustls::ClientConfig>, host: &str) -> Result<()> {
        let stream = self
            .stream
            .take()
            .ok_or_else(|| Error::Closed(String::new()))?;
        self.stream = Some(stream.into_tls(config, host)?);
        self.timeout = None;
        Ok(())
    }

    /// Sends `text` as a tagged command and returns the tag. `shown` replaces the command in
    /// the transcript (secrets).
    pub(crate) fn send(&mut self, text: &str, shown: Option<&str>) -> Result<String> {
        let tag = format!("u{}", self.next_tag);
        self.next_tag += 1;
        let line = format!("{tag} {text}");
        self.begin_command();
        self.write_line(
            line.as_bytes(),
            shown.map(|s| format!("{tag} {s}")).as_deref(),
        )?;
        Ok(tag)
    }

    /// Sends `texts` as tagged commands in one write (a pipelined batch reaches the server
    /// as one burst, not interleaved with its first answers) and returns their tags.
    pub(crate) fn send_all(&mut self, texts: &[String]) -> Result<Vec<String>> {
        let mut bytes = Vec::new();
        let mut tags = Vec::with_capacity(texts.len());
        for text in texts {
            let tag = format!("u{}", self.next_tag);
            self.next_tag += 1;
            let line = format!("{tag} {text}");
            if let Some(t) = self.transcript.as_mut() {
                t.client(line.as_bytes())?;
            }
            self.line += 1;
            self.begin_command();
            bytes.extend_from_slice(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            tags.push(tag);
        }
        self.write_bytes(&bytes)?;
        Ok(tags)
    }

    /// Answers a `+` continuation with `line` (a SASL response: a secret, so the transcript
    /// gets a comment in its place). Waiting for the continuation was one more round trip.
    pub(crate) fn send_continuation(&mut self, line: &str) -> Result<()> {
        if let Some(t) = self.transcript.as_mut() {
            t.note("a SASL response, not shown")?;
        }
        self.line += 1;
        self.traffic.round_trips += 1;
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write_bytes(&bytes)
    }

    /// Sends an untagged client line (`DONE`).
    pub(crate) fn send_raw(&mut self, line: &str) -> Result<()> {
        self.write_line(line.as_bytes(), None)
    }

    fn write_line(&mut self, line: &[u8], shown: Option<&str>) -> Result<()> {
        if let Some(t) = self.transcript.as_mut() {
            t.client(shown.map_or(line, str::as_bytes))?;
        }
        self.line += 1;
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
        self.write_bytes(&bytes)
    }

    fn begin_command(&mut self) {
        if self.outstanding == 0 {
            self.traffic.round_trips += 1;
        }
        self.outstanding += 1;
        self.traffic.commands += 1;
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| Error::Closed(String::new()))?;
        stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .map_err(|source| Error::Io {
                what: "sending to the server".into(),
                source,
            })?;
        self.traffic.bytes_out += bytes.len() as u64;
        Ok(())
    }

    /// LOGIN, encoded by imap-codec (quoted or as a literal, as the password needs).
    pub(crate) fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let body = CommandBody::login(user.to_string(), password.to_string()).map_err(|e| {
            Error::Server(format!(
                "cannot send this user name or password with LOGIN: {e}"
            ))
        })?;
        let tag = format!("u{}", self.next_tag);
        self.next_tag += 1;
        let command =
            Command::new(tag.as_str(), body).map_err(|e| Error::Server(format!("bad tag: {e}")))?;
        let shown = format!("{tag} LOGIN {} ***", crate::mailbox::quoted(user));
        if let Some(t) = self.transcript.as_mut() {
            t.client(shown.as_bytes())?;
        }
        self.line += 1;
        self.begin_command();
        for fragment in CommandCodec::default().encode(&command) {
            match fragment {
                Fragment::Line { data } => self.write_bytes(&data)?,
                Fragment::Literal { data, mode } => {
                    if mode == LiteralMode::Sync {
                        // A synchronizing literal waits for the server's "+".
                        self.traffic.round_trips += 1;
                        loop {
                            let r = self
                                .read(None)?
                                .ok_or_else(|| Error::Closed(" during LOGIN".to_string()))?;
                            match r.kind {
                                Kind::Continuation => break,
                                Kind::Tagged { ok: false, .. } => {
                                    return Err(Error::Rejected {
                                        mechanism: "LOGIN".into(),
                                        response: printable(&r.raw),
                                        sasl: None,
                                    })
                                }
                                Kind::Bye => {
                                    return Err(Error::Closed(format!(": {}", printable(&r.raw))))
                                }
                                _ => {}
                            }
                        }
                    }
                    self.write_bytes(&data)?;
                }
            }
        }
        loop {
            let r = self
                .read(None)?
                .ok_or_else(|| Error::Closed(" during LOGIN".to_string()))?;
            self.note_caps(&r.raw);
            match r.kind {
                Kind::Tagged { tag: t, ok } if t == tag => {
                    return if ok {
                        Ok(())
                    } else {
                        Err(Error::Rejected {
                            mechanism: "LOGIN".into(),
                            response: printable(&r.raw),
                            sasl: None,
                        })
                    };
                }
                Kind::Bye => return Err(Error::Closed(format!(": {}", printable(&r.raw)))),
                _ => {}
            }
        }
    }

    /// The next server message. `wait`: `None` waits as long as a command may take (and
    /// fails after [`SILENCE`]); `Some(d)` returns `Ok(None)` when nothing complete arrived
    /// within `d` (IDLE). Capabilities in the message are noted.
    pub(crate) fn read(&mut self, wait: Option<Duration>) -> Result<Option<Received>> {
        let Some(raw) = self.read_raw(wait.unwrap_or(SILENCE))? else {
            if wait.is_none() {
                return Err(Error::Io {
                    what: "waiting for the server".into(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer for {} s", SILENCE.as_secs()),
                    ),
                });
            }
            return Ok(None);
        };
        if let Some(t) = self.transcript.as_mut() {
            t.server(&raw)?;
        }
        self.line += 1;
        self.note_caps(&raw);
        let kind = classify(&raw);
        if matches!(kind, Kind::Tagged { .. }) {
            self.outstanding = self.outstanding.saturating_sub(1);
        }
        Ok(Some(Received { raw, kind }))
    }

    fn read_raw(&mut self, budget: Duration) -> Result<Option<Vec<u8>>> {
        let start = Instant::now();
        loop {
            if self.frag.progress().is_some() {
                if !self.frag.is_message_complete() {
                    continue;
                }
                if self.frag.is_max_message_size_exceeded() {
                    return Err(Error::Protocol {
                        what: format!("a response longer than {MAX_MESSAGE} bytes"),
                        message: printable(self.frag.message_bytes()),
                    });
                }
                let bytes = self.frag.message_bytes();
                let end = bytes
                    .strip_suffix(b"\r\n")
                    .or_else(|| bytes.strip_suffix(b"\n"))
                    .unwrap_or(bytes);
                return Ok(Some(end.to_vec()));
            }
            let elapsed = start.elapsed();
            if elapsed >= budget {
                return Ok(None);
            }
            let slice = (budget - elapsed).min(POLL).max(Duration::from_millis(1));
            self.set_timeout(slice)?;
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| Error::Closed(String::new()))?;
            match stream.read(&mut self.buf) {
                Ok(0) => return Err(Error::Closed(String::new())),
                Ok(n) => {
                    self.traffic.bytes_in += n as u64;
                    self.frag
                        .enqueue_bytes(self.buf.get(..n).unwrap_or_default());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(source) => {
                    return Err(Error::Io {
                        what: "reading from the server".into(),
                        source,
                    })
                }
            }
        }
    }

    fn set_timeout(&mut self, d: Duration) -> Result<()> {
        if self.timeout == Some(d) {
            return Ok(());
        }
        if let Some(s) = self.stream.as_ref() {
            s.set_read_timeout(Some(d)).map_err(|source| Error::Io {
                what: "setting a read timeout".into(),
                source,
            })?;
        }
        self.timeout = Some(d);
        Ok(())
    }

    /// `[CAPABILITY ...]` in a status response or `* CAPABILITY ...` replaces what is known.
    fn note_caps(&mut self, raw: &[u8]) {
        // Every response passes here (100,000 FETCH lines in a first sync): look for the
        // word before copying anything.
        if !raw
            .windows(10)
            .any(|w| w.eq_ignore_ascii_case(b"CAPABILITY"))
        {
            return;
        }
        let text = String::from_utf8_lossy(raw);
        let upper = text.to_ascii_uppercase();
        let list = if let Some(rest) = upper.strip_prefix("* CAPABILITY ") {
            Some(rest)
        } else {
            upper
                .find("[CAPABILITY ")
                .and_then(|i| upper.get(i + 12..))
                .and_then(|rest| rest.split(']').next())
        };
        if let Some(list) = list {
            self.caps = list.split_ascii_whitespace().map(str::to_string).collect();
        }
    }

    /// Ends the connection politely when possible.
    pub(crate) fn close(&mut self) {
        if let Some(mut s) = self.stream.take() {
            s.shutdown();
        }
        if let Some(t) = self.transcript.as_mut() {
            let _ = t.flush();
        }
    }
}

fn classify(raw: &[u8]) -> Kind {
    if raw.starts_with(b"+") {
        return Kind::Continuation;
    }
    if let Some(rest) = raw.strip_prefix(b"* ") {
        return if rest.len() >= 3
            && rest
                .get(..3)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"BYE"))
        {
            Kind::Bye
        } else {
            Kind::Untagged
        };
    }
    let text = String::from_utf8_lossy(raw);
    let mut words = text.splitn(3, ' ');
    match (words.next(), words.next()) {
        (Some(tag), Some(status)) => Kind::Tagged {
            tag: tag.to_string(),
            ok: status.eq_ignore_ascii_case("OK"),
        },
        _ => Kind::Untagged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        assert_eq!(classify(b"+ idling"), Kind::Continuation);
        assert_eq!(classify(b"* BYE shutting down"), Kind::Bye);
        assert_eq!(classify(b"* 3 EXISTS"), Kind::Untagged);
        assert_eq!(
            classify(b"u7 ok done"),
            Kind::Tagged {
                tag: "u7".into(),
                ok: true
            }
        );
        assert_eq!(
            classify(b"u8 NO [TRYCREATE] no"),
            Kind::Tagged {
                tag: "u8".into(),
                ok: false
            }
        );
    }
}
