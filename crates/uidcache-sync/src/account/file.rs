//! The account file (`DIR/account`): the mailbox list as last seen, and for each mailbox
//! the counters of its last completed sync. Layout: format-spec/ACCOUNT.md. Written to a
//! temporary file, fsynced, renamed over the old one and the directory fsynced, so a crash
//! leaves the old file or the new one, never a mix.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `DIR/account`.
pub const FILE_NAME: &str = "account";
const TEMP_NAME: &str = "account.tmp";
/// The first 8 bytes of every account file.
pub const MAGIC: [u8; 8] = *b"UIDCACCT";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// Magic, version, count and body length.
pub const HEADER_LEN: usize = 24;
/// The CRC-32 after the body.
pub const TRAILER_LEN: usize = 4;
const NO_DELIMITER: u32 = u32::MAX;
const SYNCED: u8 = 1;

/// What a completed sync left in a cache: when the server's STATUS shows the same, the
/// mailbox has not changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// MESSAGES (EXISTS).
    pub messages: u32,
    /// HIGHESTMODSEQ; `None` without CONDSTORE (then nothing proves the flags unchanged).
    pub highestmodseq: Option<u64>,
}

/// One mailbox of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as the server sends it (modified UTF-7).
    pub raw: Vec<u8>,
    /// The name decoded to UTF-8 (the raw name itself where it is not valid modified
    /// UTF-7).
    pub name: String,
    /// The hierarchy delimiter (`None`: NIL, a flat name space).
    pub delimiter: Option<char>,
    /// LIST attributes as sent, e.g. `\HasNoChildren`, `\Sent` (special-use, RFC 6154).
    pub attributes: Vec<String>,
    /// The MAILBOXID (RFC 8474) when the server has OBJECTID.
    pub mailbox_id: Option<String>,
    /// The cache's directory under `DIR/mailboxes/`.
    pub dir: String,
    /// The counters of the last completed sync, `None` before the first.
    pub synced: Option<Counters>,
}

impl Entry {
    /// Whether LIST says the mailbox cannot be selected.
    pub fn is_selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }

    /// The special-use attribute (RFC 6154), if any.
    pub fn special_use(&self) -> Option<&str> {
        const USES: [&str; 7] = [
            "\\All",
            "\\Archive",
            "\\Drafts",
            "\\Flagged",
            "\\Junk",
            "\\Sent",
            "\\Trash",
        ];
        self.attributes
            .iter()
            .find(|a| USES.iter().any(|u| u.eq_ignore_ascii_case(a)))
            .map(String::as_str)
    }
}

/// Reads `dir/account`; a missing file is an account never synced (no entries).
pub fn read(dir: &Path) -> Result<Vec<Entry>> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })
        }
    };
    decode(&bytes).map_err(|(offset, what)| Error::AccountFile {
        path: path.display().to_string(),
        offset,
        what,
    })
}

/// Replaces `dir/account` atomically with `entries`.
pub fn write(dir: &Path, entries: &[Entry]) -> Result<()> {
    let bytes = encode(entries)?;
    let temp = dir.join(TEMP_NAME);
    let io = |what: String| move |source| Error::Io { what, source };
    let mut f = File::create(&temp).map_err(io(format!("creating {}", temp.display())))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("writing {}", temp.display())))?;
    drop(f);
    let path = dir.join(FILE_NAME);
    std::fs::rename(&temp, &path).map_err(io(format!("renaming to {}", path.display())))?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            what: format!("syncing the directory {}", dir.display()),
            source,
        })
}

/// The path of the account file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

fn too_long(what: &str) -> Error {
    Error::Server(format!("a mailbox {what} too long for the account file"))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8], wide: bool, what: &str) -> Result<()> {
    if wide {
        let n = u16::try_from(bytes.len()).map_err(|_| too_long(what))?;
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        let n = u8::try_from(bytes.len()).map_err(|_| too_long(what))?;
        out.push(n);
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// The file's bytes.
pub fn encode(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    for e in entries {
        put_bytes(&mut body, &e.raw, true, "name")?;
        put_bytes(&mut body, e.name.as_bytes(), true, "name")?;
        body.extend_from_slice(&e.delimiter.map_or(NO_DELIMITER, u32::from).to_le_bytes());
        body.push(u8::try_from(e.attributes.len()).map_err(|_| too_long("attribute list"))?);
        for a in &e.attributes {
            put_bytes(&mut body, a.as_bytes(), false, "attribute")?;
        }
        put_bytes(
            &mut body,
            e.mailbox_id.as_deref().unwrap_or("").as_bytes(),
            false,
            "MAILBOXID",
        )?;
        put_bytes(&mut body, e.dir.as_bytes(), false, "directory name")?;
        let c = e.synced.unwrap_or(Counters {
            uidvalidity: 0,
            uidnext: 0,
            messages: 0,
            highestmodseq: None,
        });
        body.push(if e.synced.is_some() { SYNCED } else { 0 });
        body.extend_from_slice(&c.uidvalidity.to_le_bytes());
        body.extend_from_slice(&c.uidnext.to_le_bytes());
        body.extend_from_slice(&c.messages.to_le_bytes());
        body.extend_from_slice(&c.highestmodseq.unwrap_or(0).to_le_bytes());
    }
    let count = u32::try_from(entries.len()).map_err(|_| too_long("list"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A reader that never indexes out of bounds: every failure names the byte offset.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type Bad = (u64, String);

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], Bad> {
        let end = self.at.checked_add(n);
        match end.and_then(|end| self.bytes.get(self.at..end)) {
            Some(s) => {
                self.at += n;
                Ok(s)
            }
            None => Err((self.at as u64, format!("{what}: the file ends early"))),
        }
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Bad> {
        let at = self.at as u64;
        self.take(N, what)?
            .try_into()
            .map_err(|_| (at, what.to_string()))
    }
    fn u8(&mut self, what: &str) -> Result<u8, Bad> {
        Ok(u8::from_le_bytes(self.array(what)?))
    }
    fn u16(&mut self, what: &str) -> Result<u16, Bad> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Bad> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, Bad> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn bytes(&mut self, wide: bool, what: &str) -> Result<Vec<u8>, Bad> {
        let n = if wide {
            usize::from(self.u16(what)?)
        } else {
            usize::from(self.u8(what)?)
        };
        Ok(self.take(n, what)?.to_vec())
    }
    fn text(&mut self, wide: bool, what: &str) -> Result<String, Bad> {
        let at = self.at as u64;
        String::from_utf8(self.bytes(wide, what)?).map_err(|_| (at, format!("{what}: not UTF-8")))
    }
}

/// Parses the file's bytes; an error is (byte offset, what is wrong).
pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, Bad> {
    let mut r = Reader { bytes, at: 0 };
    if r.array::<8>("magic")? != MAGIC {
        return Err((0, "magic: not an account file".into()));
    }
    let version = r.u32("version")?;
    if version != VERSION {
        return Err((
            8,
            format!("version {version}, this program reads {VERSION}"),
        ));
    }
    let count = r.u32("count")?;
    let body_len = usize::try_from(r.u64("body length")?)
        .map_err(|_| (16, "body length: too large".to_string()))?;
    let covered = HEADER_LEN
        .checked_add(body_len)
        .filter(|end| end.checked_add(TRAILER_LEN) == Some(bytes.len()))
        .ok_or((
            16,
            format!("body length {body_len} does not match the file's size"),
        ))?;
    let stored = bytes
        .get(covered..)
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(u32::from_le_bytes)
        .ok_or((covered as u64, "checksum: missing".to_string()))?;
    let computed = crc32fast::hash(bytes.get(..covered).unwrap_or_default());
    if stored != computed {
        return Err((
            covered as u64,
            format!("checksum: stored {stored:08x}, computed {computed:08x}"),
        ));
    }
    let mut r = Reader {
        bytes: bytes.get(..covered).unwrap_or_default(),
        at: HEADER_LEN,
    };
    let mut entries = Vec::new();
    for _ in 0..count {
        let raw = r.bytes(true, "raw name")?;
        let name = r.text(true, "name")?;
        let at = r.at as u64;
        let delimiter = match r.u32("delimiter")? {
            NO_DELIMITER => None,
            d => Some(char::from_u32(d).ok_or((at, format!("delimiter {d:#x}: not a character")))?),
        };
        let n = r.u8("attribute count")?;
        let attributes = (0..n)
            .map(|_| r.text(false, "attribute"))
            .collect::<Result<Vec<_>, _>>()?;
        let id = r.text(false, "MAILBOXID")?;
        let at = r.at as u64;
        let dir = r.text(false, "directory name")?;
        if super::dirname::decode(&dir).is_none() && !dir.contains('~') {
            return Err((
                at,
                format!("directory name {dir:?}: not one this program makes"),
            ));
        }
        let flags = r.u8("flags")?;
        let counters = Counters {
            uidvalidity: r.u32("UIDVALIDITY")?,
            uidnext: r.u32("UIDNEXT")?,
            messages: r.u32("MESSAGES")?,
            highestmodseq: Some(r.u64("HIGHESTMODSEQ")?).filter(|m| *m != 0),
        };
        entries.push(Entry {
            raw,
            name,
            delimiter,
            attributes,
            mailbox_id: (!id.is_empty()).then_some(id),
            dir,
            synced: (flags & SYNCED != 0).then_some(counters),
        });
    }
    if r.at != covered {
        return Err((r.at as u64, "bytes after the last entry".into()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry {
                raw: b"INBOX".to_vec(),
                name: "INBOX".into(),
                delimiter: Some('/'),
                attributes: vec!["\\HasChildren".into()],
                mailbox_id: Some("F2212ea87-6097-4256-9d51-71338625".into()),
                dir: "_i_n_b_o_x".into(),
                synced: Some(Counters {
                    uidvalidity: 7,
                    uidnext: 12,
                    messages: 11,
                    highestmodseq: Some(40),
                }),
            },
            Entry {
                raw: b"INBOX/Entw&APw-rfe".to_vec(),
                name: "INBOX/Entwürfe".into(),
                delimiter: None,
                attributes: vec!["\\Drafts".into(), "\\HasNoChildren".into()],
                mailbox_id: None,
                dir: "_i_n_b_o_x%2f_entw%26_a_pw-rfe".into(),
                synced: None,
            },
        ]
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&sample()).unwrap();
        assert_eq!(&bytes[..8], b"UIDCACCT");
        assert_eq!(decode(&bytes).unwrap(), sample());
        assert_eq!(sample()[1].special_use(), Some("\\Drafts"));
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        write(dir.path(), &sample()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), sample());
        assert!(!dir.path().join(TEMP_NAME).exists());
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let bytes = encode(&sample()).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "cut at {n}");
        }
        let mut newer = bytes.clone();
        newer[8] = 2;
        let (offset, what) = decode(&newer).unwrap_err();
        assert_eq!(offset, 8);
        assert!(what.contains("version 2"), "{what}");
    }
}
