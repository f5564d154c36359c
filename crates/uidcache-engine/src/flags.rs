//! Interned flag names (atoms) and flag sets, so a record holds one 32-bit flag-set ID
//! whatever the number of keywords a mailbox uses.

use std::collections::HashMap;

use uidcache_format::Op;

use crate::error::{InvalidOp, Result};

/// The ID of an interned flag set; resolve it with `Cache::flag_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagSetId(pub u32);

/// The atom and flag-set tables of one mailbox. Entries are only ever added, so an ID
/// stays valid for the life of the cache.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlagTable {
    atoms: Vec<Vec<u8>>,
    atom_ids: HashMap<Vec<u8>, u32>,
    sets: Vec<Vec<u32>>,
    set_ids: HashMap<Vec<u32>, u32>,
}

/// Whether a flag is `\Recent`, which is session state and never stored (RFC 9051 removed it).
fn is_recent(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"\\Recent")
}

impl FlagTable {
    pub(crate) fn from_parts(atoms: Vec<Vec<u8>>, sets: Vec<Vec<u32>>) -> Result<Self, String> {
        let mut table = FlagTable::default();
        for (id, name) in atoms.into_iter().enumerate() {
            table.define_atom(id as u32, name)?;
        }
        for (id, set) in sets.into_iter().enumerate() {
            table.define_set(id as u32, set)?;
        }
        Ok(table)
    }

    pub(crate) fn atoms(&self) -> &[Vec<u8>] {
        &self.atoms
    }

    pub(crate) fn sets(&self) -> &[Vec<u32>] {
        &self.sets
    }

    /// Applies a `DefineAtom` op.
    pub(crate) fn define_atom(&mut self, id: u32, name: Vec<u8>) -> Result<(), String> {
        if id as usize != self.atoms.len() {
            return Err(format!("atom id {id}, expected {}", self.atoms.len()));
        }
        if self.atom_ids.contains_key(&name) {
            return Err(format!(
                "atom {:?} defined twice",
                String::from_utf8_lossy(&name)
            ));
        }
        self.atom_ids.insert(name.clone(), id);
        self.atoms.push(name);
        Ok(())
    }

    /// Applies a `DefineFlagSet` op.
    pub(crate) fn define_set(&mut self, id: u32, set: Vec<u32>) -> Result<(), String> {
        if id as usize != self.sets.len() {
            return Err(format!("flag set id {id}, expected {}", self.sets.len()));
        }
        if set.iter().any(|a| *a as usize >= self.atoms.len()) {
            return Err(format!("flag set {id} names an undefined atom"));
        }
        let names: Vec<Option<&Vec<u8>>> =
            set.iter().map(|a| self.atoms.get(*a as usize)).collect();
        let sorted = names
            .windows(2)
            .all(|w| matches!(w, [Some(a), Some(b)] if a < b));
        if !sorted || self.set_ids.contains_key(&set) {
            return Err(format!(
                "flag set {id} is not sorted, has duplicates, or is defined twice"
            ));
        }
        self.set_ids.insert(set.clone(), id);
        self.sets.push(set);
        Ok(())
    }

    /// The names of flag set `id`, sorted by bytes.
    pub(crate) fn names(&self, id: FlagSetId) -> Option<Vec<&[u8]>> {
        let set = self.sets.get(id.0 as usize)?;
        set.iter()
            .map(|a| self.atoms.get(*a as usize).map(Vec::as_slice))
            .collect()
    }

    /// The ID of the set of `names` (deduplicated, `\Recent` dropped), with the ops that
    /// define whatever was new. Nothing is added to the table here: the ops do that.
    pub(crate) fn lookup_or_plan(&self, names: &[&[u8]]) -> Result<(u32, Vec<Op>)> {
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
                        .map_err(|_| InvalidOp::Unsupported("too many flags".into()))?;
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
            .ok_or_else(|| InvalidOp::Unsupported("too many flag sets".into()))?;
        ops.push(Op::DefineFlagSet { id, atoms: ids });
        Ok((id, ops))
    }
}
