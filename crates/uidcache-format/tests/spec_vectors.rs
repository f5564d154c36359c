//! The spec is the code: every test vector of `format-spec/FORMAT.md` section 12 must be
//! what the encoders write and must decode back to the value it describes, and the spec's
//! size table (1.1) and op table (5.3) must match the structs and [`OpTag`].
//!
//! The vector convention (a fenced block `` ```vector NAME ``, hex bytes, `OFFSET:` prefixes,
//! `FIRST-LAST: zeros`, `#` comments) is defined in FORMAT.md section 12 itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use uidcache_format::{
    encode_block, encode_frame, encode_journal_header, parse_block, scan_journal, HeaderField,
    IndexImage, Op, OpTag, Record, BLOCK_HEADER_SIZE, FLAGS_UNKNOWN, FRAME_DURABLE,
    FRAME_HEADER_SIZE, INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE, JOURNAL_HEADER_SIZE, MODSEQ_UNKNOWN,
    NO_IDENTITY, RECORD_SIZE,
};

/// The identity of the v2 vectors.
const V2_ID: u64 = 0x0123_4567_89AB_CDEF;
/// Salt of the journal vectors.
const SALT: u32 = 0x5A17;

/// The spec's text. A crate published alone does not carry `format-spec/`; this test belongs
/// to the repository, where a missing spec is an error, never a silent pass.
fn spec() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../format-spec/FORMAT.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the format spec at {}: {e}; this test runs in the uidcache repository, \
             which holds format-spec/FORMAT.md beside crates/",
            path.display()
        )
    })
}

/// The vectors of the spec by name, each with the line number of its fence.
fn spec_vectors(spec: &str) -> BTreeMap<String, (usize, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut lines = spec.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(name) = line.strip_prefix("```vector") else {
            continue;
        };
        let name = name.trim().to_string();
        assert!(
            !name.is_empty(),
            "FORMAT.md:{}: a vector needs a name",
            n + 1
        );
        let mut bytes = Vec::new();
        loop {
            let (m, line) = lines
                .next()
                .unwrap_or_else(|| panic!("FORMAT.md:{}: vector {name} is not closed", n + 1));
            if line.trim() == "```" {
                break;
            }
            parse_line(line, &mut bytes)
                .unwrap_or_else(|e| panic!("FORMAT.md:{}: vector {name}: {e}", m + 1));
        }
        let previous = out.insert(name.clone(), (n + 1, bytes));
        assert!(previous.is_none(), "FORMAT.md: vector {name} appears twice");
    }
    out
}

/// Appends the bytes of one vector line to `bytes`.
fn parse_line(line: &str, bytes: &mut Vec<u8>) -> Result<(), String> {
    let text = line.split('#').next().unwrap_or_default().trim();
    let hex = |s: &str| usize::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not hex"));
    let rest = match text.split_once(':') {
        Some((range, rest)) => {
            let (first, last) = match range.split_once('-') {
                Some((first, last)) => (hex(first)?, Some(hex(last)?)),
                None => (hex(range)?, None),
            };
            if first != bytes.len() {
                return Err(format!(
                    "offset {first:#x} but {:#x} bytes before it",
                    bytes.len()
                ));
            }
            if let Some(last) = last {
                if rest.trim() != "zeros" || last < first {
                    return Err(format!(
                        "expected `{range}: zeros` with {first:#x} <= {last:#x}"
                    ));
                }
                bytes.resize(last + 1, 0);
                return Ok(());
            }
            rest
        }
        None => text,
    };
    for token in rest.split_whitespace() {
        if token.len() != 2 {
            return Err(format!("{token:?} is not one byte as two hex digits"));
        }
        bytes.push(u8::try_from(hex(token)?).map_err(|e| e.to_string())?);
    }
    Ok(())
}

/// What a vector encodes.
enum Value {
    /// One op.
    Op(Op),
    /// A block file: ID, records, cache identity.
    Block(u64, Vec<Record>, u64),
    /// An index file.
    Index(IndexImage),
    /// A journal header (generation) and one durable frame of these ops.
    Journal(u64, Vec<Op>, u64),
}

impl Value {
    fn encode(&self) -> Vec<u8> {
        match self {
            Value::Op(op) => {
                let mut out = Vec::new();
                op.encode(&mut out);
                out
            }
            Value::Block(id, records, cache_id) => encode_block(*id, records, *cache_id),
            Value::Index(image) => image.encode(),
            Value::Journal(generation, ops, cache_id) => {
                let mut payload = Vec::new();
                for op in ops {
                    op.encode(&mut payload);
                }
                let mut out = encode_journal_header(SALT, *generation, *cache_id);
                out.extend(encode_frame(SALT, *cache_id, 1, FRAME_DURABLE, &payload));
                out
            }
        }
    }

    /// Decodes `bytes` as this kind of value and checks it is this value.
    fn check_decodes(&self, name: &str, bytes: &[u8]) {
        match self {
            Value::Op(op) => {
                let ops = Op::decode_all(bytes, 0)
                    .unwrap_or_else(|e| panic!("vector {name} does not decode: {e}"));
                assert_eq!(
                    ops,
                    std::slice::from_ref(op),
                    "vector {name} decodes to another op"
                );
            }
            Value::Block(id, records, cache_id) => {
                let got = parse_block(bytes, *id, *cache_id)
                    .unwrap_or_else(|e| panic!("vector {name} does not parse: {e}"));
                assert_eq!(got, &records[..], "vector {name} holds other records");
            }
            Value::Index(image) => {
                let got = IndexImage::decode(bytes)
                    .unwrap_or_else(|e| panic!("vector {name} does not decode: {e}"));
                assert_eq!(&got, image, "vector {name} decodes to another index");
            }
            Value::Journal(generation, ops, cache_id) => {
                let scan = scan_journal(bytes, *cache_id)
                    .unwrap_or_else(|e| panic!("vector {name} does not scan: {e}"));
                assert_eq!((scan.salt, scan.generation), (SALT, *generation), "{name}");
                let [frame] = &scan.frames[..] else {
                    panic!("vector {name} holds {} frames, not 1", scan.frames.len());
                };
                assert_eq!((frame.frame_seq, frame.flags), (1, FRAME_DURABLE), "{name}");
                let got = Op::decode_all(frame.payload, frame.payload_offset)
                    .unwrap_or_else(|e| panic!("vector {name}'s payload does not decode: {e}"));
                assert_eq!(&got, ops, "vector {name} holds other ops");
            }
        }
    }
}

/// Every value the spec must have a vector for, by vector name.
fn expected() -> BTreeMap<&'static str, Value> {
    let new_index = |cache_id| {
        Value::Index(IndexImage {
            cache_id,
            next_block_id: 1,
            ..IndexImage::default()
        })
    };
    let record = vec![Record::new(42, FLAGS_UNKNOWN, MODSEQ_UNKNOWN)];
    let ops = [
        (
            "op-set-header",
            Op::SetHeader {
                field: HeaderField::UidValidity,
                value: Some(0x1122_3344_5566_7788),
            },
        ),
        (
            "op-set-header-forget",
            Op::SetHeader {
                field: HeaderField::HighestModseq,
                value: None,
            },
        ),
        ("op-set-exists", Op::SetExists { count: 0xAABB_CCDD }),
        ("op-clear", Op::Clear),
        (
            "op-learn",
            Op::Learn {
                seq: 1,
                block_id: 2,
                first_record: 3,
                len: 2,
                first_uid: 5,
                last_uid: 6,
            },
        ),
        ("op-expunge", Op::Expunge { seq: 7 }),
        ("op-remove-uid", Op::RemoveUid { uid: 8 }),
        ("op-forget-uid", Op::ForgetUid { uid: 9 }),
        (
            "op-unplace",
            Op::Unplace {
                first_seq: 10,
                last_seq: 11,
            },
        ),
        (
            "op-set-meta",
            Op::SetMeta {
                uid: 12,
                flags: 13,
                modseq: 14,
            },
        ),
        (
            "op-define-atom",
            Op::DefineAtom {
                id: 15,
                name: b"\\Seen".to_vec(),
            },
        ),
        (
            "op-define-flag-set",
            Op::DefineFlagSet {
                id: 16,
                atoms: vec![17, 18],
            },
        ),
        (
            "op-inline-block",
            Op::InlineBlock {
                id: 25,
                records: vec![
                    Record::new(26, FLAGS_UNKNOWN, MODSEQ_UNKNOWN),
                    Record::new(27, 28, 29),
                ],
            },
        ),
    ];
    let mut all: BTreeMap<&'static str, Value> = ops
        .into_iter()
        .map(|(name, op)| (name, Value::Op(op)))
        .collect();
    all.insert("block-v1", Value::Block(1, record.clone(), NO_IDENTITY));
    all.insert("block-v2", Value::Block(1, record, V2_ID));
    all.insert("index-v1", new_index(NO_IDENTITY));
    all.insert("index-v2", new_index(V2_ID));
    all.insert(
        "journal-v1",
        Value::Journal(3, vec![Op::Clear], NO_IDENTITY),
    );
    all.insert("journal-v2", Value::Journal(3, vec![Op::Clear], V2_ID));
    all
}

#[test]
fn every_vector_of_the_spec_is_what_the_code_encodes_and_decodes() {
    let spec = spec();
    let vectors = spec_vectors(&spec);
    let expected = expected();
    let unknown: Vec<_> = vectors
        .keys()
        .filter(|k| !expected.contains_key(k.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "FORMAT.md has vectors this test does not know: {unknown:?}"
    );
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !vectors.contains_key(**k))
        .collect();
    assert!(missing.is_empty(), "FORMAT.md lacks vectors {missing:?}");
    for (name, value) in &expected {
        let (line, bytes) = &vectors[*name];
        let encoded = value.encode();
        assert!(
            &encoded == bytes,
            "FORMAT.md:{line}: vector {name} disagrees with the encoder\n spec: {}\n code: {}",
            hex(bytes),
            hex(&encoded)
        );
        value.check_decodes(name, bytes);
    }
}

#[test]
fn every_op_tag_has_a_vector() {
    let covered: Vec<OpTag> = expected()
        .values()
        .filter_map(|v| match v {
            Value::Op(op) => Some(op.tag()),
            _ => None,
        })
        .collect();
    for tag in OpTag::ALL {
        assert!(covered.contains(&tag), "no vector for op {tag:?}");
    }
}

/// The rows of the first Markdown table after `heading`, as trimmed cells (the header row
/// and the `|---|` row are skipped).
fn table_after(spec: &str, heading: &str) -> Vec<Vec<String>> {
    let start = spec
        .find(heading)
        .unwrap_or_else(|| panic!("FORMAT.md has no heading {heading:?}"));
    spec[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_size_table_of_the_spec_is_the_structs() {
    let code = BTreeMap::from([
        ("BlockHeader", BLOCK_HEADER_SIZE),
        ("Record", RECORD_SIZE),
        ("IndexHeader", INDEX_HEADER_SIZE),
        ("IndexEntry", INDEX_ENTRY_SIZE),
        ("JournalHeader", JOURNAL_HEADER_SIZE),
        ("FrameHeader", FRAME_HEADER_SIZE),
    ]);
    let spec: BTreeMap<String, usize> = table_after(&spec(), "### 1.1 ")
        .into_iter()
        .map(|row| {
            let size = row[1].parse().expect("a size in bytes");
            (row[0].clone(), size)
        })
        .collect();
    let spec: BTreeMap<&str, usize> = spec.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(spec, code, "FORMAT.md 1.1 sizes against the structs");
}

#[test]
fn the_op_table_of_the_spec_is_op_tag() {
    let spec = spec();
    let rows = table_after(&spec, "### 5.3 Operations");
    let tags: Vec<(u8, String)> = rows
        .iter()
        .map(|row| (row[0].parse().expect("a tag"), row[1].clone()))
        .collect();
    let code: Vec<(u8, String)> = OpTag::ALL
        .iter()
        .map(|t| (*t as u8, format!("{t:?}")))
        .collect();
    assert_eq!(tags, code, "FORMAT.md 5.3 op table against OpTag");
    // Fixed sizes in the table are the length of the op's vector.
    let vectors = spec_vectors(&spec);
    for (row, value) in rows.iter().filter_map(|r| {
        let size: usize = r[2].parse().ok()?;
        Some((r, size))
    }) {
        let name = &row[1];
        let op_vectors: Vec<usize> = expected()
            .iter()
            .filter(|(_, v)| matches!(v, Value::Op(op) if format!("{:?}", op.tag()) == *name))
            .map(|(k, _)| vectors[*k].1.len())
            .collect();
        assert!(!op_vectors.is_empty(), "no vector for {name}");
        for len in op_vectors {
            assert_eq!(len, value, "FORMAT.md 5.3: size of {name}");
        }
    }
    // The decoding rule for tags names the same range.
    let rule = format!("tag not in `1..={}`", OpTag::ALL.len());
    assert!(
        spec.contains(&rule),
        "FORMAT.md 5.3 lacks the decoding rule {rule:?}"
    );
}

#[test]
fn the_vector_parser_refuses_what_the_convention_does_not_allow() {
    let mut bytes = Vec::new();
    parse_line("00: 01 02  # comment ab", &mut bytes).expect("valid");
    parse_line("02-05: zeros", &mut bytes).expect("valid");
    parse_line("   ff", &mut bytes).expect("valid");
    assert_eq!(bytes, [1, 2, 0, 0, 0, 0, 0xff]);
    for bad in [
        "03: 01",
        "07: 1",
        "07: zz",
        "07-06: zeros",
        "07-08: 01",
        "123",
    ] {
        let mut b = bytes.clone();
        assert!(parse_line(bad, &mut b).is_err(), "{bad:?} was accepted");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
