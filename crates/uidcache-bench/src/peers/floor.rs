//! The in-memory floor: a Vec of messages, nothing persisted. What no store can beat.

use super::{Msg, Peer};
use crate::BenchError;

/// A plain `Vec`, with unknown messages as UID 0.
#[derive(Debug, Default)]
pub struct Floor {
    msgs: Vec<Msg>,
}

impl Peer for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn set_exists(&mut self, count: u32) -> Result<(), BenchError> {
        self.msgs.resize(count as usize, Msg::default());
        Ok(())
    }

    fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<(), BenchError> {
        let start = seq as usize - 1;
        let slots = self
            .msgs
            .get_mut(start..start + uids.len())
            .ok_or(BenchError::Range(seq))?;
        for (slot, uid) in slots.iter_mut().zip(uids) {
            *slot = Msg {
                uid: *uid,
                flags: 0,
                modseq: 0,
            };
        }
        Ok(())
    }

    fn get(&mut self, seq: u32) -> Result<Option<Msg>, BenchError> {
        Ok(self
            .msgs
            .get((seq as usize).wrapping_sub(1))
            .copied()
            .filter(|m| m.uid != 0))
    }

    fn seq_of(&mut self, uid: u32) -> Result<Option<u32>, BenchError> {
        // Every position is known in the benchmarks, so the Vec is sorted by UID.
        Ok(self
            .msgs
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| i as u32 + 1))
    }

    fn expunge(&mut self, seq: u32) -> Result<(), BenchError> {
        if seq == 0 || seq as usize > self.msgs.len() {
            return Err(BenchError::Range(seq));
        }
        self.msgs.remove(seq as usize - 1);
        Ok(())
    }

    fn set_flags(&mut self, seq: u32, flags: u32, modseq: u64) -> Result<(), BenchError> {
        let m = self
            .msgs
            .get_mut((seq as usize).wrapping_sub(1))
            .ok_or(BenchError::Range(seq))?;
        m.flags = flags;
        m.modseq = modseq;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        Ok(())
    }

    fn fsyncs(&self) -> Option<u64> {
        Some(0)
    }
}
