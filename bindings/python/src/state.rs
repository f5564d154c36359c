//! What a Python `Cache` holds: the engine's cache, alone or lent to an open transaction.
//!
//! A Python transaction lives across many calls, longer than any Rust borrow of the cache
//! can, so the open transaction and the cache it borrows are kept together in one
//! self-referential value ([`OpenTx`], built by ouroboros, which boxes the cache so that the
//! borrow stays valid while the value moves).

use ouroboros::self_referencing;
use uidcache::{Cache, Durability, Transaction, View};

/// A cache with its open transaction. `tx` is `None` only while `commit` consumes it.
#[self_referencing]
pub struct OpenTx {
    cache: Cache,
    #[borrows(mut cache)]
    #[not_covariant]
    tx: Option<Transaction<'this>>,
}

/// Where a Python `Cache`'s engine handle is.
pub enum State {
    /// Open, no transaction (boxed, as `OpenTx` boxes it: the state moves between the two).
    Idle(Box<Cache>),
    /// A transaction is open on it.
    InTx(OpenTx),
    /// Closed, or lost to a failed close.
    Closed,
}

/// Why a call on the state could not run.
pub enum Refused {
    /// The cache is closed.
    Closed,
    /// The call needs the open transaction, and there is none.
    NoTransaction,
    /// The engine refused or failed.
    Engine(uidcache::Error),
}

impl From<uidcache::Error> for Refused {
    fn from(e: uidcache::Error) -> Refused {
        Refused::Engine(e)
    }
}

impl State {
    /// Takes the state out (leaving `Closed`) when `wanted` accepts it; otherwise leaves it
    /// and says why not.
    fn take(&mut self, wanted: impl Fn(&State) -> bool) -> Result<State, Refused> {
        if wanted(self) {
            return Ok(std::mem::replace(self, State::Closed));
        }
        Err(match self {
            State::Closed => Refused::Closed,
            _ => Refused::NoTransaction,
        })
    }

    /// Runs `read` on what the handle shows: the transaction's state while one is open
    /// (the handle's own uncommitted changes), else the committed state. A reader whose
    /// snapshot went stale (a writer's checkpoint unlinked a block) refreshes and reads
    /// again (`Cache::read`), so `read` may run more than once.
    pub fn read<T>(
        &mut self,
        mut read: impl FnMut(&View<'_>) -> uidcache::Result<T>,
    ) -> Result<T, Refused> {
        match self {
            State::Idle(cache) => Ok(cache.read(read)?),
            State::InTx(open) => open.with_tx(|tx| match tx {
                Some(tx) => Ok(read(&tx.view())?),
                None => Err(Refused::NoTransaction),
            }),
            State::Closed => Err(Refused::Closed),
        }
    }

    /// The idle cache, for calls that need it alone (refresh, sync, a new transaction).
    pub fn idle(&mut self) -> Result<&mut Cache, Refused> {
        match self {
            State::Idle(cache) => Ok(cache),
            State::InTx(_) => Err(Refused::NoTransaction),
            State::Closed => Err(Refused::Closed),
        }
    }

    /// Starts a transaction on the idle cache. On failure (a read-only or poisoned handle)
    /// the cache stays idle.
    pub fn begin(&mut self) -> Result<(), Refused> {
        let State::Idle(mut cache) = self.take(|s| matches!(s, State::Idle(_)))? else {
            return Err(Refused::NoTransaction);
        };
        // Ask first, so that a refusal (read-only, poisoned) leaves the cache idle; an
        // empty transaction dropped at once changes nothing.
        if let Err(e) = cache.transaction().map(drop) {
            *self = State::Idle(cache);
            return Err(Refused::Engine(e));
        }
        let open = OpenTxBuilder {
            cache: *cache,
            tx_builder: |c: &mut Cache| c.transaction().ok(),
        }
        .build();
        *self = State::InTx(open);
        Ok(())
    }

    /// Runs `change` on the open transaction.
    pub fn change<T, E: From<Refused>>(
        &mut self,
        change: impl FnOnce(&mut Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            State::InTx(open) => open.with_tx_mut(|tx| match tx {
                Some(tx) => change(tx),
                None => Err(Refused::NoTransaction.into()),
            }),
            State::Idle(_) => Err(Refused::NoTransaction.into()),
            State::Closed => Err(Refused::Closed.into()),
        }
    }

    /// Ends the open transaction: commits it with `durability` (`None`: the cache's own), or
    /// discards it. The cache is idle afterwards either way.
    pub fn end(&mut self, commit: Option<Option<Durability>>) -> Result<(), Refused> {
        let State::InTx(open) = self.take(|s| matches!(s, State::InTx(_)))? else {
            return Err(Refused::NoTransaction);
        };
        let mut open = open;
        let result = open.with_tx_mut(|tx| match (tx.take(), commit) {
            (Some(tx), Some(Some(d))) => tx.commit_with(d),
            (Some(tx), Some(None)) => tx.commit(),
            // Dropping the transaction discards it (the engine rereads the committed state).
            (Some(tx), None) => {
                drop(tx);
                Ok(())
            }
            (None, _) => Ok(()),
        });
        *self = State::Idle(Box::new(open.into_heads().cache));
        Ok(result?)
    }

    /// Closes the handle (discarding an open transaction first): checkpoints a writer and
    /// compacts a fragmented layout (`Cache::close`).
    pub fn close(&mut self) -> Result<(), Refused> {
        if matches!(self, State::InTx(_)) {
            self.end(None)?;
        }
        match std::mem::replace(self, State::Closed) {
            State::Idle(cache) => Ok((*cache).close()?),
            _ => Ok(()),
        }
    }
}
