//! Journal operations: the changes one commit makes, encoded in a frame's payload.
//!
//! Each op is a one-byte tag followed by fixed little-endian fields (spec section
//! "Operations"). Ops are replayed in order onto the state the index describes.

use zerocopy::{FromBytes, IntoBytes};

use crate::block::{Record, RECORD_SIZE};
use crate::cursor::Cursor;
use crate::error::{FormatError, FormatErrorKind};

/// A header value that a [`Op::SetHeader`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderField {
    /// UIDVALIDITY (u32).
    UidValidity,
    /// UIDNEXT (u32).
    UidNext,
    /// HIGHESTMODSEQ (u64).
    HighestModseq,
}

impl HeaderField {
    fn code(self) -> u8 {
        match self {
            HeaderField::UidValidity => 1,
            HeaderField::UidNext => 2,
            HeaderField::HighestModseq => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(HeaderField::UidValidity),
            2 => Some(HeaderField::UidNext),
            3 => Some(HeaderField::HighestModseq),
            _ => None,
        }
    }
}

/// The one-byte tag that starts every op (spec section "Operations"), declared in tag order.
///
/// The one place the numbers live: [`Op::encode`] writes `op.tag() as u8` and the decoder
/// reads it back through [`OpTag::try_from`]. `Debug` prints the op's name as the spec
/// spells it (`SetHeader`, `InlineBlock`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum OpTag {
    /// [`Op::SetHeader`].
    SetHeader = 1,
    /// [`Op::SetExists`].
    SetExists = 2,
    /// [`Op::Clear`].
    Clear = 3,
    /// [`Op::Learn`].
    Learn = 4,
    /// [`Op::Expunge`].
    Expunge = 5,
    /// [`Op::RemoveUid`].
    RemoveUid = 6,
    /// [`Op::ForgetUid`].
    ForgetUid = 7,
    /// [`Op::Unplace`].
    Unplace = 8,
    /// [`Op::SetMeta`].
    SetMeta = 9,
    /// [`Op::DefineAtom`].
    DefineAtom = 10,
    /// [`Op::DefineFlagSet`].
    DefineFlagSet = 11,
    /// [`Op::InlineBlock`].
    InlineBlock = 12,
}

impl OpTag {
    /// Every tag, in tag order.
    pub const ALL: [OpTag; 12] = [
        OpTag::SetHeader,
        OpTag::SetExists,
        OpTag::Clear,
        OpTag::Learn,
        OpTag::Expunge,
        OpTag::RemoveUid,
        OpTag::ForgetUid,
        OpTag::Unplace,
        OpTag::SetMeta,
        OpTag::DefineAtom,
        OpTag::DefineFlagSet,
        OpTag::InlineBlock,
    ];
}

impl TryFrom<u8> for OpTag {
    /// The byte, which is no tag.
    type Error = u8;

    fn try_from(byte: u8) -> Result<Self, u8> {
        // `ALL` is in tag order from 1, so a tag is its own index plus one.
        usize::from(byte)
            .checked_sub(1)
            .and_then(|i| OpTag::ALL.get(i).copied())
            .ok_or(byte)
    }
}

// `TryFrom` relies on `ALL` listing the tags in order from 1 with no gap.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated when compiling: an index out of range fails the build"
)]
const _: () = {
    let mut i = 0;
    while i < OpTag::ALL.len() {
        assert!(OpTag::ALL[i] as usize == i + 1);
        i += 1;
    }
};

/// Offset of [`Op::SetHeader`]'s `field` byte from the op's tag byte: right after the tag.
const SET_HEADER_FIELD_OFFSET: u64 = size_of::<u8>() as u64;
/// Offset of [`Op::SetHeader`]'s `present` byte from the op's tag byte.
const SET_HEADER_PRESENT_OFFSET: u64 = SET_HEADER_FIELD_OFFSET + size_of::<u8>() as u64;

/// One change to the mailbox state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets (`Some`) or forgets (`None`) a header value. Tag 1.
    SetHeader {
        /// Which value.
        field: HeaderField,
        /// The new value.
        value: Option<u64>,
    },
    /// Sets the message count; a smaller count only drops trailing holes. Tag 2.
    SetExists {
        /// The new count.
        count: u32,
    },
    /// Forgets everything: header, records, overlay (a UIDVALIDITY change). Tag 3.
    Clear,
    /// Places `len` records of block `block_id` from `first_record` at `seq` onward. Tag 4.
    Learn {
        /// Sequence number of the first record.
        seq: u32,
        /// Block holding the records.
        block_id: u64,
        /// First record's position in the block.
        first_record: u32,
        /// Number of records.
        len: u32,
        /// UID of the first record.
        first_uid: u32,
        /// UID of the last record.
        last_uid: u32,
    },
    /// Removes sequence number `seq` (record or hole); later ones shift down. Tag 5.
    Expunge {
        /// The sequence number.
        seq: u32,
    },
    /// Removes the message with this UID (VANISHED): placed, in a hole, or unplaced. Tag 6.
    RemoveUid {
        /// The UID.
        uid: u32,
    },
    /// Forgets the record with this UID; a placed one leaves a hole. Tag 7.
    ForgetUid {
        /// The UID.
        uid: u32,
    },
    /// Moves the placed records of `first_seq..=last_seq` to the unplaced set. Tag 8.
    Unplace {
        /// First sequence number.
        first_seq: u32,
        /// Last sequence number.
        last_seq: u32,
    },
    /// Sets the flags and MODSEQ of the record with this UID (overlay). Tag 9.
    SetMeta {
        /// The UID.
        uid: u32,
        /// Flag-set ID, or `FLAGS_UNKNOWN` to keep the block's.
        flags: u32,
        /// MODSEQ, or `MODSEQ_UNKNOWN` to keep the block's.
        modseq: u64,
    },
    /// Interns a flag name under the next atom ID. Tag 10.
    DefineAtom {
        /// The atom ID, equal to the current atom count.
        id: u32,
        /// The flag name as received.
        name: Vec<u8>,
    },
    /// Interns a flag set under the next flag-set ID. Tag 11.
    DefineFlagSet {
        /// The flag-set ID, equal to the current flag-set count.
        id: u32,
        /// Atom IDs, ascending by the atoms' bytes, no duplicates.
        atoms: Vec<u32>,
    },
    /// Records of a small commit stored in the frame itself instead of a block file; `id`
    /// names them like a block until a checkpoint writes them to block file `id`. Tag 12.
    InlineBlock {
        /// The block ID the records stand under.
        id: u64,
        /// The records, in block order.
        records: Vec<Record>,
    },
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Op {
    /// The op's tag.
    pub fn tag(&self) -> OpTag {
        match self {
            Op::SetHeader { .. } => OpTag::SetHeader,
            Op::SetExists { .. } => OpTag::SetExists,
            Op::Clear => OpTag::Clear,
            Op::Learn { .. } => OpTag::Learn,
            Op::Expunge { .. } => OpTag::Expunge,
            Op::RemoveUid { .. } => OpTag::RemoveUid,
            Op::ForgetUid { .. } => OpTag::ForgetUid,
            Op::Unplace { .. } => OpTag::Unplace,
            Op::SetMeta { .. } => OpTag::SetMeta,
            Op::DefineAtom { .. } => OpTag::DefineAtom,
            Op::DefineFlagSet { .. } => OpTag::DefineFlagSet,
            Op::InlineBlock { .. } => OpTag::InlineBlock,
        }
    }

    /// Appends the encoding of this op to `out`: its tag, then its fields.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag() as u8);
        match self {
            Op::SetHeader { field, value } => {
                out.push(field.code());
                out.push(u8::from(value.is_some()));
                put64(out, value.unwrap_or(0));
            }
            Op::SetExists { count } => put32(out, *count),
            Op::Clear => {}
            Op::Learn {
                seq,
                block_id,
                first_record,
                len,
                first_uid,
                last_uid,
            } => {
                put32(out, *seq);
                put64(out, *block_id);
                put32(out, *first_record);
                put32(out, *len);
                put32(out, *first_uid);
                put32(out, *last_uid);
            }
            Op::Expunge { seq } => put32(out, *seq),
            Op::RemoveUid { uid } | Op::ForgetUid { uid } => put32(out, *uid),
            Op::Unplace {
                first_seq,
                last_seq,
            } => {
                put32(out, *first_seq);
                put32(out, *last_seq);
            }
            Op::SetMeta { uid, flags, modseq } => {
                put32(out, *uid);
                put32(out, *flags);
                put64(out, *modseq);
            }
            Op::DefineAtom { id, name } => {
                put32(out, *id);
                put32(out, len32(name.len()));
                out.extend_from_slice(name);
            }
            Op::DefineFlagSet { id, atoms } => {
                put32(out, *id);
                put32(out, len32(atoms.len()));
                for atom in atoms {
                    put32(out, *atom);
                }
            }
            Op::InlineBlock { id, records } => {
                put64(out, *id);
                put32(out, len32(records.len()));
                out.extend_from_slice(records.as_bytes());
            }
        }
    }

    /// Decodes every op of a frame payload that starts at file offset `base`.
    pub fn decode_all(payload: &[u8], base: u64) -> Result<Vec<Op>, FormatError> {
        let mut cur = Cursor::new(payload, base, "Op");
        let mut ops = Vec::new();
        while !cur.is_empty() {
            ops.push(Self::decode_one(&mut cur)?);
        }
        Ok(ops)
    }

    fn decode_one(cur: &mut Cursor<'_>) -> Result<Op, FormatError> {
        let at = cur.offset();
        let tag = OpTag::try_from(cur.u8()?).map_err(|byte| {
            FormatError::new(
                FormatErrorKind::Invalid,
                "Op",
                "tag",
                at,
                format_args!("1..={}", OpTag::ALL.len()),
                byte,
            )
        })?;
        let op = match tag {
            OpTag::SetHeader => {
                let code = cur.u8()?;
                let field = HeaderField::from_code(code).ok_or_else(|| {
                    FormatError::new(
                        FormatErrorKind::Invalid,
                        "Op",
                        "field",
                        at + SET_HEADER_FIELD_OFFSET,
                        "1, 2 or 3",
                        code,
                    )
                })?;
                let present = cur.u8()?;
                let value = cur.u64()?;
                let value = match present {
                    0 => None,
                    1 => Some(value),
                    other => {
                        return Err(FormatError::new(
                            FormatErrorKind::Invalid,
                            "Op",
                            "present",
                            at + SET_HEADER_PRESENT_OFFSET,
                            "0 or 1",
                            other,
                        ))
                    }
                };
                Op::SetHeader { field, value }
            }
            OpTag::SetExists => Op::SetExists { count: cur.u32()? },
            OpTag::Clear => Op::Clear,
            OpTag::Learn => Op::Learn {
                seq: cur.u32()?,
                block_id: cur.u64()?,
                first_record: cur.u32()?,
                len: cur.u32()?,
                first_uid: cur.u32()?,
                last_uid: cur.u32()?,
            },
            OpTag::Expunge => Op::Expunge { seq: cur.u32()? },
            OpTag::RemoveUid => Op::RemoveUid { uid: cur.u32()? },
            OpTag::ForgetUid => Op::ForgetUid { uid: cur.u32()? },
            OpTag::Unplace => Op::Unplace {
                first_seq: cur.u32()?,
                last_seq: cur.u32()?,
            },
            OpTag::SetMeta => Op::SetMeta {
                uid: cur.u32()?,
                flags: cur.u32()?,
                modseq: cur.u64()?,
            },
            OpTag::DefineAtom => {
                let id = cur.u32()?;
                let len = cur.u32()? as usize;
                Op::DefineAtom {
                    id,
                    name: cur.take(len)?.to_vec(),
                }
            }
            OpTag::DefineFlagSet => {
                let id = cur.u32()?;
                let n = cur.u32()?;
                let mut atoms = Vec::new();
                for _ in 0..n {
                    atoms.push(cur.u32()?);
                }
                Op::DefineFlagSet { id, atoms }
            }
            OpTag::InlineBlock => {
                let id = cur.u64()?;
                let n = cur.u32()? as usize;
                let at = cur.offset();
                let need = n.saturating_mul(RECORD_SIZE);
                let bytes = cur.take(need)?;
                let records = <[Record]>::ref_from_bytes(bytes)
                    .map_err(|_| FormatError::truncated("Op", at, need, bytes.len()))?;
                Op::InlineBlock {
                    id,
                    records: records.to_vec(),
                }
            }
        };
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_op() -> Vec<Op> {
        vec![
            Op::SetHeader {
                field: HeaderField::UidValidity,
                value: Some(5),
            },
            Op::SetHeader {
                field: HeaderField::HighestModseq,
                value: None,
            },
            Op::SetExists { count: 9 },
            Op::Clear,
            Op::Learn {
                seq: 1,
                block_id: 2,
                first_record: 3,
                len: 4,
                first_uid: 5,
                last_uid: 8,
            },
            Op::Expunge { seq: 3 },
            Op::RemoveUid { uid: 4 },
            Op::ForgetUid { uid: 6 },
            Op::Unplace {
                first_seq: 2,
                last_seq: 7,
            },
            Op::SetMeta {
                uid: 4,
                flags: 1,
                modseq: 99,
            },
            Op::DefineAtom {
                id: 0,
                name: b"\\Seen".to_vec(),
            },
            Op::DefineFlagSet {
                id: 0,
                atoms: vec![0, 3],
            },
            Op::InlineBlock {
                id: 9,
                records: vec![Record::new(5, 1, 2), Record::new(6, u32::MAX, 0)],
            },
        ]
    }

    #[test]
    fn round_trip() {
        let ops = every_op();
        let mut bytes = Vec::new();
        for op in &ops {
            op.encode(&mut bytes);
        }
        assert_eq!(Op::decode_all(&bytes, 0).expect("valid"), ops);
    }

    #[test]
    fn truncation_and_bad_tags_are_errors() {
        let mut bytes = Vec::new();
        for op in every_op() {
            op.encode(&mut bytes);
        }
        for cut in 1..bytes.len() {
            // A cut can land on an op boundary and still decode; it must never panic.
            let _ = Op::decode_all(&bytes[..cut], 0);
        }
        let err = Op::decode_all(&[42], 100).unwrap_err();
        assert_eq!(err.expected, "1..=12");
        assert_eq!((err.field, err.offset), ("tag", 100));
        let err = Op::decode_all(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0], 50).unwrap_err();
        assert_eq!((err.field, err.offset), ("field", 51));
        let err = Op::decode_all(&[1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0], 50).unwrap_err();
        assert_eq!((err.field, err.offset), ("present", 52));
    }

    #[test]
    fn every_tag_decodes_to_itself_and_no_other_byte_is_a_tag() {
        for byte in 0..=u8::MAX {
            match OpTag::try_from(byte) {
                Ok(tag) => assert_eq!(tag as u8, byte),
                Err(b) => {
                    assert_eq!(b, byte);
                    assert!(byte == 0 || usize::from(byte) > OpTag::ALL.len());
                }
            }
        }
        for op in every_op() {
            let mut bytes = Vec::new();
            op.encode(&mut bytes);
            assert_eq!(bytes.first(), Some(&(op.tag() as u8)), "{op:?}");
        }
    }
}
