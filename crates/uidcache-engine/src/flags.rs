//! Interned flag names (atoms) and flag sets, so a record holds one 32-bit flag-set ID
//! whatever the number of keywords a mailbox uses.

use std::collections::HashMap;

use uidcache_format::Op;

use crate::error::{FlagTableError, InvalidOp, Result};

/// The ID of an interned flag set; resolve it with
/// [`View::flag_names`](crate::View::flag_names) of the same view. An ID stays valid while a
/// record or overlay entry uses it; a checkpoint may free the IDs no record uses and a later
/// commit reuse them (FORMAT.md 4.7), so do not keep IDs across commits, keep names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagSetId(pub u32);

/// The atom and flag-set tables of one mailbox. Between checkpoints entries are only
/// added; a checkpoint may collect the sets no record uses ([`FlagTable::collected`]), which
/// frees their IDs but never renumbers a set that is kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlagTable {
    atoms: Vec<Vec<u8>>,
    atom_ids: HashMap<Vec<u8>, u32>,
    /// `None`: a free slot (FORMAT.md 4.7).
    sets: Vec<Option<Vec<u32>>>,
    set_ids: HashMap<Vec<u32>, u32>,
}

/// Flag tables smaller than this are never collected: the scan of every live record that a
/// collection costs is not worth a few KiB.
pub(crate) const FLAG_GC_MIN_BYTES: u64 = 64 * 1024;

/// Most distinct flag names one message's flag list may hold (FORMAT.md 11.2). Servers
/// limit keywords per mailbox far below this (Dovecot, Cyrus: a few hundred at most); a list
/// beyond it is hostile input, refused before it reaches the tables that every later commit
/// and checkpoint carries.
pub const MAX_FLAGS: usize = 1024;
/// Most bytes of flag names (their lengths summed) one message's flag list may hold.
pub const MAX_FLAG_BYTES: usize = 64 * 1024;

/// Checks one message's flag list against [`MAX_FLAGS`] and [`MAX_FLAG_BYTES`], counting
/// what would be stored: distinct names, `\Recent` excluded. The engine checks every
/// `Update`'s flags with it; a protocol layer may call it first to refuse early.
pub fn check_flag_list(names: &[&[u8]]) -> Result<()> {
    let mut names: Vec<&[u8]> = names.iter().copied().filter(|n| !is_recent(n)).collect();
    names.sort_unstable();
    names.dedup();
    let bytes: usize = names.iter().map(|n| n.len()).sum();
    if names.len() > MAX_FLAGS || bytes > MAX_FLAG_BYTES {
        return Err(InvalidOp::FlagListTooLarge {
            count: names.len(),
            bytes,
        }
        .into());
    }
    Ok(())
}

/// Whether a flag is `\Recent`, which is session state and never stored (RFC 9051 removed it).
fn is_recent(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"\\Recent")
}

impl FlagTable {
    pub(crate) fn from_parts(
        atoms: Vec<Vec<u8>>,
        sets: Vec<Option<Vec<u32>>>,
    ) -> Result<Self, FlagTableError> {
        let mut table = FlagTable::default();
        for (id, name) in atoms.into_iter().enumerate() {
            table.define_atom(id as u32, name)?;
        }
        for (id, set) in sets.into_iter().enumerate() {
            match set {
                Some(set) => table.define_set(id as u32, set)?,
                None => table.sets.push(None),
            }
        }
        Ok(table)
    }

    pub(crate) fn atoms(&self) -> &[Vec<u8>] {
        &self.atoms
    }

    pub(crate) fn sets(&self) -> &[Option<Vec<u32>>] {
        &self.sets
    }

    /// Whether `id` names a set (not a free slot, not beyond the table).
    pub(crate) fn is_defined(&self, id: u32) -> bool {
        matches!(self.sets.get(id as usize), Some(Some(_)))
    }

    /// Bytes the tables take in the index (what every checkpoint writes and every open
    /// reads).
    pub(crate) fn bytes(&self) -> u64 {
        let atoms: usize = self.atoms.iter().map(|a| 4 + a.len()).sum();
        let sets: usize = self
            .sets
            .iter()
            .map(|s| 4 + 4 * s.as_ref().map_or(0, Vec::len))
            .sum();
        (atoms + sets) as u64
    }

    /// The tables with only the sets in `used` (and the atoms they name): every other set's
    /// slot becomes free, trailing free slots are dropped, and atoms are renumbered (atom IDs
    /// appear only in the flag-set table and in journal ops, and a checkpoint starts a new
    /// journal). Kept sets keep their IDs: block records, which are never rewritten, hold
    /// them.
    pub(crate) fn collected(&self, used: &std::collections::HashSet<u32>) -> FlagTable {
        let mut out = FlagTable::default();
        let mut renumber: HashMap<u32, u32> = HashMap::new();
        let mut sets: Vec<Option<Vec<u32>>> = Vec::with_capacity(self.sets.len());
        for (id, set) in self.sets.iter().enumerate() {
            let kept = set.as_ref().filter(|_| used.contains(&(id as u32)));
            sets.push(kept.map(|atoms| {
                atoms
                    .iter()
                    .map(|a| {
                        *renumber.entry(*a).or_insert_with(|| {
                            let new = out.atoms.len() as u32;
                            let name = self.atoms.get(*a as usize).cloned().unwrap_or_default();
                            out.atom_ids.insert(name.clone(), new);
                            out.atoms.push(name);
                            new
                        })
                    })
                    .collect()
            }));
        }
        while matches!(sets.last(), Some(None)) {
            sets.pop();
        }
        for (id, set) in sets.iter().enumerate() {
            if let Some(set) = set {
                out.set_ids.insert(set.clone(), id as u32);
            }
        }
        out.sets = sets;
        out
    }

    /// Applies a `DefineAtom` op.
    pub(crate) fn define_atom(&mut self, id: u32, name: Vec<u8>) -> Result<(), FlagTableError> {
        if id as usize != self.atoms.len() {
            return Err(FlagTableError::AtomId {
                id,
                expected: self.atoms.len(),
            });
        }
        if self.atom_ids.contains_key(&name) {
            return Err(FlagTableError::AtomTwice { id });
        }
        self.atom_ids.insert(name.clone(), id);
        self.atoms.push(name);
        Ok(())
    }

    /// Applies a `DefineFlagSet` op.
    pub(crate) fn define_set(&mut self, id: u32, set: Vec<u32>) -> Result<(), FlagTableError> {
        if id as usize != self.sets.len() {
            return Err(FlagTableError::SetId {
                id,
                expected: self.sets.len(),
            });
        }
        if set.iter().any(|a| *a as usize >= self.atoms.len()) {
            return Err(FlagTableError::UndefinedAtom { id });
        }
        let names: Vec<Option<&Vec<u8>>> =
            set.iter().map(|a| self.atoms.get(*a as usize)).collect();
        let sorted = names
            .windows(2)
            .all(|w| matches!(w, [Some(a), Some(b)] if a < b));
        if !sorted || self.set_ids.contains_key(&set) {
            return Err(FlagTableError::BadSet { id });
        }
        self.set_ids.insert(set.clone(), id);
        self.sets.push(Some(set));
        Ok(())
    }

    /// Whether flag set `id` holds `name`, compared ASCII-case-insensitively (IMAP flag
    /// names are); `false` for an unknown set.
    pub(crate) fn has_name(&self, id: FlagSetId, name: &[u8]) -> bool {
        let Some(Some(set)) = self.sets.get(id.0 as usize) else {
            return false;
        };
        set.iter().any(|a| {
            self.atoms
                .get(*a as usize)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// The names of flag set `id`, sorted by bytes.
    pub(crate) fn names(&self, id: FlagSetId) -> Option<Vec<&[u8]>> {
        let set = self.sets.get(id.0 as usize)?.as_ref()?;
        set.iter()
            .map(|a| self.atoms.get(*a as usize).map(Vec::as_slice))
            .collect()
    }

    /// The ID of the set of `names` (deduplicated, `\Recent` dropped), with the ops that
    /// define whatever was new. Nothing is added to the table here: the ops do that.
    pub(crate) fn lookup_or_plan(&self, names: &[&[u8]]) -> Result<(u32, Vec<Op>)> {
        check_flag_list(names)?;
        let mut names: Vec<&[u8]> = names.iter().copied().filter(|n| !is_recent(n)).collect();
        names.sort_unstable();
        names.dedup();
        let mut ops = Vec::new();
        let mut next_atom = self.atoms.len();
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let id = match self.atom_ids.get(name) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(next_atom)
                        .map_err(|_| InvalidOp::FlagTableFull { what: "flag names" })?;
                    ops.push(Op::DefineAtom {
                        id,
                        name: name.to_vec(),
                    });
                    next_atom += 1;
                    id
                }
            };
            ids.push(id);
        }
        if let Some(id) = self.set_ids.get(&ids) {
            return Ok((*id, ops));
        }
        let id = u32::try_from(self.sets.len())
            .ok()
            .filter(|id| *id < uidcache_format::FLAGS_UNKNOWN)
            .ok_or(InvalidOp::FlagTableFull { what: "flag sets" })?;
        ops.push(Op::DefineFlagSet { id, atoms: ids });
        Ok((id, ops))
    }
}
