//! The seed's rename-based layout, ported faithfully as the baseline: block files named by
//! the sequence number they start at, at most 2,000 records each, the same 16-byte records
//! as uidcache; an expunge rewrites its block and renames every later block file; opening
//! scans the directory; a lookup walks the block table. No improvements, on purpose.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use uidcache_format::{Record, RECORD_SIZE};
use zerocopy::{FromBytes, IntoBytes};

use super::{Msg, Peer};
use crate::BenchError;

/// Most records a block file holds in the seed's design.
const MAX_BLOCK: usize = 2000;

struct Block {
    start: u32,
    /// Loaded on first use, as the seed maps a block file when it first needs it.
    records: Option<Vec<Record>>,
    len: u32,
}

/// The rename-based layout.
pub struct RenameLayout {
    dir: PathBuf,
    durable: bool,
    blocks: Vec<Block>,
    exists: u32,
    dirty: Vec<u32>,
    renamed: bool,
    fsyncs: u64,
}

fn name(start: u32) -> String {
    format!("{start:010}.blk")
}

impl RenameLayout {
    /// Opens `dir`, scanning it for block files.
    pub fn open(dir: &Path, durable: bool) -> Result<Self, BenchError> {
        fs::create_dir_all(dir)?;
        let mut blocks = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(start) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".blk"))
                .and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let len = (entry.metadata()?.len() / RECORD_SIZE as u64) as u32;
            blocks.push(Block {
                start,
                records: None,
                len,
            });
        }
        blocks.sort_by_key(|b| b.start);
        let exists = fs::read_to_string(dir.join("count"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Ok(RenameLayout {
            dir: dir.to_path_buf(),
            durable,
            blocks,
            exists,
            dirty: Vec::new(),
            renamed: false,
            fsyncs: 0,
        })
    }

    fn path(&self, start: u32) -> PathBuf {
        self.dir.join(name(start))
    }

    /// Walks the block table for the block holding `seq`.
    fn find(&self, seq: u32) -> Option<usize> {
        self.blocks
            .iter()
            .position(|b| b.start <= seq && seq < b.start + b.len)
    }

    fn load(&mut self, i: usize) -> Result<&mut Vec<Record>, BenchError> {
        let start = self.blocks.get(i).ok_or(BenchError::Range(0))?.start;
        let path = self.path(start);
        let block = self.blocks.get_mut(i).ok_or(BenchError::Range(0))?;
        if block.records.is_none() {
            let bytes = fs::read(path)?;
            let records = <[Record]>::ref_from_bytes(&bytes)
                .map_err(|_| BenchError::Format("rename block length"))?;
            block.records = Some(records.to_vec());
        }
        block
            .records
            .as_mut()
            .ok_or(BenchError::Format("unloaded block"))
    }

    fn write_block(&mut self, start: u32, records: &[Record]) -> Result<(), BenchError> {
        let mut file = File::create(self.path(start))?;
        file.write_all(records.as_bytes())?;
        self.dirty.push(start);
        Ok(())
    }
}

impl Peer for RenameLayout {
    fn name(&self) -> &'static str {
        "rename"
    }

    fn set_exists(&mut self, count: u32) -> Result<(), BenchError> {
        self.exists = count;
        fs::write(self.dir.join("count"), count.to_string())?;
        Ok(())
    }

    fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<(), BenchError> {
        // A range that continues the last block fills it up to MAX_BLOCK first (a block
        // holds at most 2,000 records; a new message at the end joins the last block).
        let mut uids = uids;
        let mut seq = seq;
        if let Some(i) = self.blocks.len().checked_sub(1) {
            let (start, len) = self.blocks.get(i).map_or((0, 0), |b| (b.start, b.len));
            if start + len == seq && (len as usize) < MAX_BLOCK && !uids.is_empty() {
                let room = (MAX_BLOCK - len as usize).min(uids.len());
                let (now, later) = uids.split_at(room);
                let mut records = self.load(i)?.clone();
                records.extend(now.iter().map(|u| Record::new(*u, 0, 0)));
                self.write_block(start, &records)?;
                if let Some(b) = self.blocks.get_mut(i) {
                    b.len = records.len() as u32;
                    b.records = Some(records);
                }
                uids = later;
                seq += room as u32;
            }
        }
        for (k, chunk) in uids.chunks(MAX_BLOCK).enumerate() {
            let start = seq + (k * MAX_BLOCK) as u32;
            let records: Vec<Record> = chunk.iter().map(|u| Record::new(*u, 0, 0)).collect();
            self.write_block(start, &records)?;
            let at = self.blocks.partition_point(|b| b.start < start);
            self.blocks.insert(
                at,
                Block {
                    start,
                    records: Some(records),
                    len: chunk.len() as u32,
                },
            );
            self.renamed = true;
        }
        Ok(())
    }

    fn get(&mut self, seq: u32) -> Result<Option<Msg>, BenchError> {
        let Some(i) = self.find(seq) else {
            return Ok(None);
        };
        let start = self.blocks.get(i).map_or(0, |b| b.start);
        let records = self.load(i)?;
        Ok(records.get((seq - start) as usize).map(|r| Msg {
            uid: r.uid.get(),
            flags: r.flags.get(),
            modseq: r.modseq.get(),
        }))
    }

    fn seq_of(&mut self, uid: u32) -> Result<Option<u32>, BenchError> {
        for i in 0..self.blocks.len() {
            let start = self.blocks.get(i).map_or(0, |b| b.start);
            let records = self.load(i)?;
            let (Some(first), Some(last)) = (records.first(), records.last()) else {
                continue;
            };
            if first.uid.get() <= uid && uid <= last.uid.get() {
                return Ok(records
                    .binary_search_by_key(&uid, |r| r.uid.get())
                    .ok()
                    .map(|k| start + k as u32));
            }
        }
        Ok(None)
    }

    fn expunge(&mut self, seq: u32) -> Result<(), BenchError> {
        if let Some(i) = self.find(seq) {
            let start = self.blocks.get(i).map_or(0, |b| b.start);
            let mut records = self.load(i)?.clone();
            records.remove((seq - start) as usize);
            if records.is_empty() {
                fs::remove_file(self.path(start))?;
                self.blocks.remove(i);
                self.renamed = true;
            } else {
                self.write_block(start, &records)?;
                if let Some(b) = self.blocks.get_mut(i) {
                    b.len = records.len() as u32;
                    b.records = Some(records);
                }
            }
        }
        // Every later block now starts one sequence number earlier: rename its file.
        for i in 0..self.blocks.len() {
            let start = self.blocks.get(i).map_or(0, |b| b.start);
            if start > seq {
                fs::rename(self.path(start), self.path(start - 1))?;
                if let Some(b) = self.blocks.get_mut(i) {
                    b.start -= 1;
                }
                for d in &mut self.dirty {
                    if *d == start {
                        *d = start - 1;
                    }
                }
                self.renamed = true;
            }
        }
        self.exists = self.exists.saturating_sub(1);
        fs::write(self.dir.join("count"), self.exists.to_string())?;
        Ok(())
    }

    fn set_flags(&mut self, seq: u32, flags: u32, modseq: u64) -> Result<(), BenchError> {
        let i = self.find(seq).ok_or(BenchError::Range(seq))?;
        let start = self.blocks.get(i).map_or(0, |b| b.start);
        let k = (seq - start) as usize;
        let record = {
            let records = self.load(i)?;
            let r = records.get_mut(k).ok_or(BenchError::Range(seq))?;
            *r = Record::new(r.uid.get(), flags, modseq);
            *r
        };
        // The seed updates the record in place in its mapped block.
        let file = OpenOptions::new().write(true).open(self.path(start))?;
        file.write_all_at(record.as_bytes(), (k * RECORD_SIZE) as u64)?;
        self.dirty.push(start);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        if self.durable {
            self.dirty.sort_unstable();
            self.dirty.dedup();
            for start in std::mem::take(&mut self.dirty) {
                File::open(self.path(start))?.sync_data()?;
                self.fsyncs += 1;
            }
            if self.renamed {
                File::open(&self.dir)?.sync_all()?;
                self.fsyncs += 1;
            }
        }
        self.dirty.clear();
        self.renamed = false;
        Ok(())
    }

    fn fsyncs(&self) -> Option<u64> {
        Some(self.fsyncs)
    }
}
