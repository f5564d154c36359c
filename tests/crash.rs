//! Crash consistency (issue 4): every write workload is crashed after **every** file
//! operation, and each crash is turned into several power-loss images (unsynced data lost,
//! kept, torn at sector boundaries, reordered; unsynced directory changes undone). Each
//! image must open, hold exactly the state of some committed prefix that includes every
//! commit that returned as durable, keep HIGHESTMODSEQ no higher than its records allow, and
//! open a second time to the same state.
//!
//! `UIDCACHE_CRASH_SEEDS` sets how many random workloads run (the long mode uses more).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::sync::Arc;

use common::simfs::{Loss, Sim, SimFs};
use common::Rng;
use uidcache::{Cache, Durability, OpenOptions, Update, View};

/// The syncer runs inline: its operations (block fdatasyncs, inline blocks written out, the
/// journal's directory fsync, the open's removal of `clean`) are crashed at like the
/// others, in the order of one schedule the background thread could take (FORMAT.md 7.4).
fn options(fs: &Arc<SimFs>) -> OpenOptions {
    OpenOptions::new()
        .vfs(Arc::new(Sim(Arc::clone(fs))))
        .journal_limit(1500)
        .background_sync(false)
}

/// The whole visible state, as comparable text.
fn dump(view: &View<'_>) -> uidcache::Result<Vec<String>> {
    let mut out = vec![format!(
        "{:?} {:?} {:?} {:?}",
        view.uidvalidity(),
        view.uidnext(),
        view.highestmodseq(),
        view.exists()
    )];
    for (seq, m) in view.placed_messages()? {
        let flags = m.flags.map(|f| view.flag_names(f).unwrap());
        out.push(format!("{seq} {} {flags:?} {:?}", m.uid, m.modseq));
    }
    for m in view.unplaced_messages()? {
        let flags = m.flags.map(|f| view.flag_names(f).unwrap());
        out.push(format!("- {} {flags:?} {:?}", m.uid, m.modseq));
    }
    Ok(out)
}

/// HIGHESTMODSEQ never below a record's MODSEQ: the workload only raises it together with
/// the records it covers, so an image where it is lower mixed commits.
fn check_highestmodseq(cache: &Cache, ctx: &str) {
    let view = cache.view();
    if let Some(h) = view.highestmodseq() {
        for (seq, m) in view.placed_messages().unwrap() {
            assert!(
                m.modseq.is_none_or(|v| v <= h),
                "{ctx}: seq {seq} modseq {:?} above HIGHESTMODSEQ {h}",
                m.modseq
            );
        }
    }
}

/// What the workload got through before it failed.
#[derive(Default)]
struct Progress {
    /// State after each commit attempted, `states[0]` being the empty cache.
    states: Vec<Vec<String>>,
    /// Index into `states` of the last commit (or checkpoint) that returned as durable.
    durable: usize,
}

/// Eight random steps of every write kind.
fn random_plan(seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed ^ 0x5EED);
    (0..8).map(|_| rng.below(9)).collect()
}

/// A random workload of every write kind; stops at the first error (the simulated crash).
fn durability(durable: bool) -> Durability {
    if durable {
        Durability::Durable
    } else {
        Durability::NoSync
    }
}

fn workload(seed: u64, fs: &Arc<SimFs>, p: &mut Progress) -> uidcache::Result<()> {
    run_plan(seed, &random_plan(seed), fs, p)
}

/// Runs the steps of `plan` (0, 1: fill; 2: expunges; 3: VANISHED; 4: flag storm; 5:
/// UIDVALIDITY reset; 6: compaction; 7: checkpoint; 8: compaction step, published by a
/// later checkpoint); stops at the first error.
fn run_plan(seed: u64, plan: &[u64], fs: &Arc<SimFs>, p: &mut Progress) -> uidcache::Result<()> {
    let mut rng = Rng::new(seed);
    p.states = vec![vec!["None None None None".to_string()]];
    p.durable = 0;
    let mut cache = Cache::open_with("/mbox", options(fs))?;
    let mut uids: Vec<u32> = Vec::new();
    let mut next_uid = 0;
    let mut modseq = 100;
    for &kind in plan {
        let durable = rng.below(4) != 0;
        if kind == 6 {
            cache.compact()?;
            p.durable = p.states.len() - 1;
            continue;
        }
        if kind == 7 {
            cache.checkpoint()?;
            p.durable = p.states.len() - 1;
            continue;
        }
        if kind == 8 {
            // Not durable by itself: the state it leaves is the last commit's.
            cache.compact_step(1 + rng.below(200))?;
            continue;
        }
        let mut tx = cache.transaction()?;
        match kind {
            0 | 1 => {
                // Fill: new messages, learned in ranges out of order.
                let n = 1 + rng.below(40) as usize;
                for _ in 0..n {
                    next_uid += 1 + rng.below(3) as u32;
                    uids.push(next_uid);
                }
                tx.set_exists(uids.len() as u32)?;
                let mut starts: Vec<usize> = (0..uids.len()).step_by(7).collect();
                for i in (1..starts.len()).rev() {
                    starts.swap(i, rng.below(i as u64 + 1) as usize);
                }
                for s in starts.into_iter().take(3) {
                    let end = (s + 7).min(uids.len());
                    tx.learn_range(s as u32 + 1, &uids[s..end])?;
                }
            }
            2 => {
                for _ in 0..1 + rng.below(4) {
                    if !uids.is_empty() {
                        let i = rng.below(uids.len() as u64) as usize;
                        uids.remove(i);
                        tx.expunge(i as u32 + 1)?;
                    }
                }
            }
            3 => {
                for _ in 0..1 + rng.below(4) {
                    if !uids.is_empty() {
                        let i = rng.below(uids.len() as u64) as usize;
                        tx.remove_uid(uids.remove(i))?;
                    }
                }
            }
            4 => {
                // Flag storm, with HIGHESTMODSEQ raised in the same commit.
                for _ in 0..1 + rng.below(12) {
                    if uids.is_empty() {
                        break;
                    }
                    let seq = 1 + rng.below(uids.len() as u64) as u32;
                    if tx.view().message_at(seq)?.is_some() {
                        modseq += 1;
                        let flags: &[&[u8]] = if rng.below(2) == 0 {
                            &[b"\\Seen"]
                        } else {
                            &[b"$Junk", b"\\Flagged"]
                        };
                        tx.update_seq(
                            seq,
                            Update {
                                flags: Some(flags),
                                modseq: Some(modseq),
                            },
                        )?;
                    }
                }
                tx.set_highestmodseq(Some(modseq))?;
            }
            _ => {
                // UIDVALIDITY changed: everything goes.
                tx.clear()?;
                tx.set_uidvalidity(Some(1 + rng.below(1000) as u32))?;
                uids.clear();
                tx.set_exists(0)?;
            }
        }
        commit_recorded(tx, durable, p)?;
    }
    cache.close()?;
    p.durable = p.states.len() - 1;
    Ok(())
}

/// Commits `tx`, recording the state it produces first (before the commit can crash), and
/// as the last durable one when the commit is durable.
fn commit_recorded(
    tx: uidcache::Transaction<'_>,
    durable: bool,
    p: &mut Progress,
) -> uidcache::Result<()> {
    p.states.push(dump(&tx.view())?);
    tx.commit_with(durability(durable))?;
    if durable {
        p.durable = p.states.len() - 1;
    }
    Ok(())
}

fn fsck_sample(ctx: &str) -> bool {
    ctx.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 16
        == 0
}

/// Opens a crash image and checks every promise.
fn check_image(image: Arc<SimFs>, p: &Progress, ctx: &str) {
    let cache = Cache::open_with("/mbox", options(&image))
        .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
    let state = dump(&cache.view()).unwrap_or_else(|e| panic!("{ctx}: read failed: {e}"));
    let found = p.states.iter().rposition(|s| *s == state);
    match found {
        Some(j) => assert!(
            j >= p.durable,
            "{ctx}: state of commit {j}, but commit {} returned durable",
            p.durable
        ),
        None => panic!(
            "{ctx}: state matches no committed prefix:\n{state:#?}\nlast states: {:#?}",
            p.states.last()
        ),
    }
    check_highestmodseq(&cache, ctx);
    drop(cache);
    // One image in sixteen also goes through fsck on a real directory, after the recovery
    // above: it must find nothing at all, not even a warning.
    if fsck_sample(ctx) {
        let real = tempfile::tempdir().unwrap();
        image.materialize(real.path()).unwrap();
        let report = uidcache::fsck::check(real.path().join("mbox")).unwrap();
        assert!(
            report.is_clean(),
            "{ctx}: fsck after recovery: {:?}",
            report.problems
        );
    }
    let again = Cache::open_with("/mbox", options(&image))
        .unwrap_or_else(|e| panic!("{ctx}: second open failed: {e}"));
    assert_eq!(
        dump(&again.view()).unwrap(),
        state,
        "{ctx}: a second reopen changed the state"
    );
}

fn crash_every_operation(seed: u64) -> u64 {
    let full = SimFs::crashing_after(u64::MAX);
    let mut p = Progress::default();
    workload(seed, &full, &mut p).unwrap();
    let total = full.ops();
    let mut explored = 0;
    for k in 0..=total {
        let fs = SimFs::crashing_after(k);
        let mut p = Progress::default();
        let outcome = workload(seed, &fs, &mut p);
        assert_eq!(
            outcome.is_ok(),
            k >= total,
            "seed {seed}: crash after {k} of {total} ops"
        );
        for (i, loss) in Loss::each_at(k).into_iter().enumerate() {
            check_image(
                fs.image(loss),
                &p,
                &format!("seed {seed}, crash after op {k}/{total}, loss {loss:?} ({i})"),
            );
            explored += 1;
        }
    }
    explored
}

#[test]
fn every_crash_point_recovers_a_committed_prefix() {
    let seeds: u64 = std::env::var("UIDCACHE_CRASH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut explored = 0;
    for seed in 1..=seeds {
        explored += crash_every_operation(seed);
    }
    eprintln!("crash states explored: {explored}");
    assert!(
        explored >= seeds * 100,
        "workloads too small: {explored} crash states"
    );
    if seeds >= 300 {
        assert!(
            explored >= 30_000,
            "CI must explore at least 30,000 crash states, explored {explored}"
        );
    }
}

/// The ACE approach: every sequence of one or two steps after a durable fill, crashed at
/// every operation, with every subset of the unsynced writes lost (sampled past 2^10).
#[test]
fn short_sequences_with_every_subset_of_unsynced_writes_lost() {
    let long = std::env::var("UIDCACHE_CRASH_SEEDS").is_ok();
    let max_len = if long { 3 } else { 2 };
    let mut plans: Vec<Vec<u64>> = vec![vec![]];
    for _ in 0..max_len {
        let longer: Vec<Vec<u64>> = plans
            .iter()
            .flat_map(|p| (0..8).map(move |k| [p.as_slice(), &[k]].concat()))
            .collect();
        plans.extend(longer);
    }
    plans.retain(|p| !p.is_empty());
    let mut explored = 0u64;
    for (n, steps) in plans.iter().enumerate() {
        let plan: Vec<u64> = [&[0u64, 4][..], steps].concat();
        let seed = 1000 + n as u64;
        let full = SimFs::crashing_after(u64::MAX);
        run_plan(seed, &plan, &full, &mut Progress::default()).unwrap();
        let total = full.ops();
        for k in 0..=total {
            let fs = SimFs::crashing_after(k);
            let mut p = Progress::default();
            let _ = run_plan(seed, &plan, &fs, &mut p);
            let writes = fs.unsynced_writes().min(62);
            let mut rng = Rng::new(seed * 31 + k);
            let masks: Vec<u64> = if writes <= 10 {
                (0..1u64 << writes).collect()
            } else {
                (0..1024)
                    .map(|_| rng.next_u64() & ((1 << writes) - 1))
                    .collect()
            };
            for mask in masks {
                for names in [0, 1 << 63] {
                    let ctx = format!("plan {plan:?}, crash after op {k}/{total}, subset {mask:#x}/{writes} names {}", names != 0);
                    check_image(fs.image(Loss::Subset(mask | names)), &p, &ctx);
                    explored += 1;
                }
            }
        }
    }
    eprintln!(
        "subset crash states explored: {explored} over {} sequences",
        plans.len()
    );
    assert!(explored > 5_000, "{explored}");
}

/// A crash while recovering from a crash: recovery truncates torn tails, removes leftovers
/// and may start a journal; crashing it at each of those steps must leave a cache that
/// still opens to an acceptable state.
#[test]
fn crash_during_recovery_from_a_crash() {
    let mut explored = 0;
    for seed in 1..=40u64 {
        let full = SimFs::crashing_after(u64::MAX);
        run_plan(seed, &random_plan(seed), &full, &mut Progress::default()).unwrap();
        let total = full.ops();
        for k in (0..total).step_by(3) {
            let fs = SimFs::crashing_after(k);
            let mut p = Progress::default();
            let _ = workload(seed, &fs, &mut p);
            let first = fs.image(Loss::TornPrefix(seed + k));
            let probe = first.snapshot();
            drop(Cache::open_with("/mbox", options(&probe)));
            for m in 0..probe.ops() {
                let recovering = first.crashing_copy(m);
                let _ = Cache::open_with("/mbox", options(&recovering));
                for loss in [Loss::All, Loss::TornPrefix(m)] {
                    check_image(
                        recovering.image(loss),
                        &p,
                        &format!("seed {seed}, crash at {k}, recovery crash at {m}, {loss:?}"),
                    );
                    explored += 1;
                }
            }
        }
    }
    eprintln!("crash-during-recovery images: {explored}");
    assert!(explored >= 200, "{explored}");
}

/// An I/O error at every operation, once or from then on: it surfaces as an error (never
/// a silent wrong state); the files then reopen to an acceptable state.
#[test]
fn io_errors_at_every_operation_surface_and_lose_nothing_committed() {
    let mut cases = 0;
    for seed in 1..=30u64 {
        let full = SimFs::crashing_after(u64::MAX);
        run_plan(seed, &random_plan(seed), &full, &mut Progress::default()).unwrap();
        for n in 1..=full.ops() {
            for forever in [false, true] {
                let fs = SimFs::default().failing_at(n, forever);
                let mut p = Progress::default();
                let outcome = workload(seed, &fs, &mut p);
                if let Err(e) = &outcome {
                    let text = format!("{e}");
                    assert!(
                        text.contains("injected I/O error"),
                        "seed {seed} op {n}: unclear error {text}"
                    );
                }
                // The process lives on: nothing is lost from the page cache.
                check_image(
                    fs.image(Loss::None),
                    &p,
                    &format!("seed {seed}, I/O error at op {n}, forever {forever}"),
                );
                cases += 1;
            }
        }
    }
    eprintln!("I/O error cases: {cases}");
}

/// After a failed fsync the handle refuses all further work: a retried fsync could report
/// success for data the kernel already dropped.
#[test]
fn a_failed_commit_poisons_the_handle() {
    // A small commit (records inline in the frame: write, fsync) and a large one (a block
    // file: write, fsync, rename, directory fsync; then the frame: write, fsync).
    for (new, ops) in [(2u32, 2u64), (400, 6)] {
        for k in 1..=ops {
            let base = SimFs::crashing_after(u64::MAX);
            {
                let mut cache = Cache::open_with("/mbox", options(&base)).unwrap();
                let mut tx = cache.transaction().unwrap();
                tx.set_exists(3).unwrap();
                tx.learn_range(1, &[1, 2, 3]).unwrap();
                tx.commit().unwrap();
                cache.close().unwrap();
            }
            // Count the operations of opening and beginning a transaction (which removes
            // the `clean` the open trusted), so the failure lands inside the next commit
            // (not of the drop that follows: it may put the marker back).
            let probe = base.snapshot();
            let mut opened = Cache::open_with("/mbox", options(&probe)).unwrap();
            drop(opened.transaction().unwrap());
            let open_ops = probe.ops();
            drop(opened);
            let fs = base.failing_at(open_ops + k, false);
            let mut cache = Cache::open_with("/mbox", options(&fs)).unwrap();
            let mut tx = cache.transaction().unwrap();
            tx.set_exists(3 + new).unwrap();
            let uids: Vec<u32> = (4..4 + new).collect();
            tx.learn_range(4, &uids).unwrap();
            let err = tx.commit().unwrap_err();
            assert!(err.to_string().contains("injected"), "{err}");
            assert!(matches!(
                cache.transaction().err().map(uidcache::Error::into_kind),
                Some(uidcache::ErrorKind::Poisoned)
            ));
            assert!(cache.checkpoint().is_err_and(|e| e.is_poisoned()));
        }
    }
}

/// The in-place upgrade of a format-v1 cache (FORMAT.md 1.2) crashed after every file
/// operation: each image opens to the state the v1 cache held, and once an open succeeds
/// the cache is format v2. Nothing is committed during the upgrade, so every image must hold
/// exactly that state.
#[test]
fn crash_during_the_upgrade_of_a_format_v1_cache() {
    use uidcache::tools::Vfs;
    let mut explored = 0;
    for seed in 1..=12u64 {
        let full = SimFs::crashing_after(u64::MAX);
        let mut p = Progress::default();
        run_plan(seed, &random_plan(seed), &full, &mut p).unwrap();
        let v2 = full.snapshot();
        let state = dump(&Cache::open_with("/mbox", options(&v2)).unwrap().view()).unwrap();
        // The same files as format v1 wrote them (all durable).
        let v1 = SimFs::crashing_after(u64::MAX);
        let sim = Sim(Arc::clone(&v1));
        for (path, bytes) in common::to_format_v1(&v2.files()) {
            sim.write_file(&path, &bytes).unwrap();
        }
        let v1 = v1.snapshot();
        let probe = v1.snapshot();
        drop(Cache::open_with("/mbox", options(&probe)).unwrap());
        let only = Progress {
            states: vec![state.clone()],
            durable: 0,
        };
        for m in 0..=probe.ops() {
            let upgrading = v1.crashing_copy(m);
            let _ = Cache::open_with("/mbox", options(&upgrading));
            for loss in [
                Loss::All,
                Loss::None,
                Loss::TornPrefix(m),
                Loss::Reordered(m),
            ] {
                let ctx = format!("seed {seed}, upgrade crash at {m}, {loss:?}");
                let image = upgrading.image(loss);
                check_image(Arc::clone(&image), &only, &ctx);
                let index = uidcache_format::IndexImage::decode(
                    &image.files()[std::path::Path::new("/mbox/index")],
                )
                .unwrap();
                assert_ne!(index.cache_id, uidcache_format::NO_IDENTITY, "{ctx}");
                explored += 1;
            }
        }
    }
    eprintln!("upgrade crash images: {explored}");
    assert!(explored >= 100, "{explored}");
}

/// A commit of 300 messages, then one transaction that learns more than
/// `PENDING_BLOCKS_IN_MEMORY` blocks of records, so that it writes full blocks out before
/// its commit (durable or not), then a close.
fn spilling_plan(durable: bool, fs: &Arc<SimFs>, p: &mut Progress) -> uidcache::Result<()> {
    use uidcache::{tools::MAX_BLOCK_RECORDS, PENDING_BLOCKS_IN_MEMORY};
    p.states = vec![vec!["None None None None".to_string()]];
    p.durable = 0;
    let mut cache = Cache::open_with("/mbox", options(fs))?;
    let mut tx = cache.transaction()?;
    tx.set_exists(300)?;
    tx.learn_range(1, &(1..=300).collect::<Vec<u32>>())?;
    p.states.push(dump(&tx.view())?);
    tx.commit()?;
    p.durable = 1;
    // The `clean` marker stands now: writing a block out must remove it first (FORMAT.md
    // 8.5), or the next open would trust it and keep the leftovers.
    cache.checkpoint()?;
    let n = (PENDING_BLOCKS_IN_MEMORY + 1) * MAX_BLOCK_RECORDS + 100;
    let uids: Vec<u32> = (0..n as u32).map(|k| 1000 + 3 * k).collect();
    let mut tx = cache.transaction()?;
    tx.set_exists(300 + n as u32)?;
    for (k, chunk) in uids.chunks(5000).enumerate() {
        tx.learn_range(301 + 5000 * k as u32, chunk)?;
    }
    p.states.push(dump(&tx.view())?);
    tx.commit_with(durability(durable))?;
    if durable {
        p.durable = 2;
    }
    cache.close()?;
    p.durable = 2;
    Ok(())
}

/// Opens `image` as a writer and checks that no block file or temporary file is left that
/// its state does not name: the blocks a crashed transaction or step wrote are removed.
/// `exact`: every block the state names is a file (every commit of the plan learns more
/// than `INLINE_RECORDS`), so the files must be exactly those; otherwise some it names may
/// still be inline in the journal, and there must be no more files than it names.
fn check_no_leftover(image: &Arc<SimFs>, ctx: &str, exact: bool) {
    let cache = Cache::open_with("/mbox", options(image).checkpoint_on_drop(false))
        .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
    let files = image.files();
    let tmp: Vec<_> = files
        .keys()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "{ctx}: temporary files left: {tmp:?}");
    let blocks = files
        .keys()
        .filter(|p| p.starts_with("/mbox/blocks") && p.to_string_lossy().ends_with(".ucb"))
        .count();
    let named = cache.layout().blocks;
    assert!(
        blocks == named || (!exact && blocks < named),
        "{ctx}: {blocks} block files, the state names {named}"
    );
}

/// A plan of this file's kind: a workload that stops at the first error.
type Plan = fn(bool, &Arc<SimFs>, &mut Progress) -> uidcache::Result<()>;

/// Runs `plan` (durable and not) crashed after every file operation under three loss
/// models, and with an I/O error at every operation: each image opens to a committed state
/// at or after the last durable one (`check_image`) and, before that open touched it, holds
/// no leftover its writer's open would not remove (`check_no_leftover`, `exact` as there).
/// Returns the number of states explored.
fn explore(name: &str, plan: Plan, exact: bool) -> u64 {
    let mut explored = 0;
    for durable in [true, false] {
        let full = SimFs::crashing_after(u64::MAX);
        plan(durable, &full, &mut Progress::default()).unwrap();
        let total = full.ops();
        for k in 0..=total {
            let fs = SimFs::crashing_after(k);
            let mut p = Progress::default();
            let outcome = plan(durable, &fs, &mut p);
            assert_eq!(outcome.is_ok(), k >= total, "crash after {k} of {total}");
            for loss in [Loss::All, Loss::None, Loss::Reordered(k * 7 + 3)] {
                let ctx =
                    format!("{name}, durable {durable}, crash after op {k}/{total}, {loss:?}");
                let image = fs.image(loss);
                // Before `check_image`, whose open already removes what a crash left.
                let untouched = image.snapshot();
                check_image(image, &p, &ctx);
                check_no_leftover(&untouched, &ctx, exact);
                explored += 1;
            }
        }
        for n in 1..=total {
            let fs = SimFs::default().failing_at(n, false);
            let mut p = Progress::default();
            if let Err(e) = plan(durable, &fs, &mut p) {
                assert!(e.to_string().contains("injected I/O error"), "op {n}: {e}");
            }
            let ctx = format!("{name}, durable {durable}, I/O error at op {n}");
            check_image(fs.image(Loss::None), &p, &ctx);
            explored += 1;
        }
    }
    eprintln!("{name}: crash states explored: {explored}");
    explored
}

/// A transaction that writes blocks out before its commit (to bound its memory), crashed
/// after every file operation and under three loss models: each image opens to the state
/// before or after that commit (after, once it returned durable), and the writer's open
/// leaves no block file behind that the state does not name. An I/O error at any operation
/// leaves the committed state (the process going on).
#[test]
fn a_crash_while_a_transaction_writes_blocks_out_leaves_a_committed_state_and_no_leftover() {
    let explored = explore("spilling", spilling_plan, true);
    assert!(explored > 200, "{explored}");
}

/// A fragmented layout (short slices in many blocks, a sparse block, overlay entries), then
/// compaction steps between commits, a checkpoint that publishes them, more steps and
/// commits, and a close: each step's blocks are orphans until a checkpoint names them.
fn stepping_plan(durable: bool, fs: &Arc<SimFs>, p: &mut Progress) -> uidcache::Result<()> {
    p.states = vec![vec!["None None None None".to_string()]];
    p.durable = 0;
    // Steps only where the plan calls them, so that each one has work.
    let stepping = options(fs).journal_limit(1 << 20).auto_compact(false);
    let mut cache = Cache::open_with("/mbox", stepping)?;
    let mut exists = 0u32;
    // Twelve commits of 300 messages each: twelve blocks of 300 records.
    for k in 0..12u32 {
        let mut tx = cache.transaction()?;
        tx.set_exists(exists + 300)?;
        let uids: Vec<u32> = (0..300).map(|i| 1 + 2 * (k * 300 + i)).collect();
        tx.learn_range(exists + 1, &uids)?;
        exists += 300;
        commit_recorded(tx, true, p)?;
    }
    // Expunge most of block two's messages, and flag some of block five's.
    let mut tx = cache.transaction()?;
    for seq in (301..=560).rev() {
        tx.expunge(seq)?;
    }
    exists -= 260;
    for seq in (1200..1300).step_by(3) {
        tx.update_seq(
            seq,
            Update {
                flags: Some(&[b"\\Seen"]),
                modseq: Some(u64::from(seq)),
            },
        )?;
    }
    commit_recorded(tx, durable, p)?;
    let stats = cache.compact_step(700)?;
    assert!(stats.blocks_written > 0, "the step found nothing to do");
    // A commit between a step and the checkpoint that publishes it.
    let mut tx = cache.transaction()?;
    tx.expunge(5)?;
    exists -= 1;
    commit_recorded(tx, durable, p)?;
    cache.checkpoint()?;
    p.durable = p.states.len() - 1;
    cache.compact_step(5000)?;
    let mut tx = cache.transaction()?;
    tx.set_exists(exists + 1)?;
    tx.learn_range(exists + 1, &[100_000])?;
    commit_recorded(tx, durable, p)?;
    cache.close()?;
    p.durable = p.states.len() - 1;
    Ok(())
}

/// Compaction steps (issue 12), crashed after every file operation under three loss
/// models: every image opens to a committed state at or after the last durable one, and
/// leaves no block file that its state does not name (the steps' unpublished blocks are
/// orphans the open removes). An I/O error at any operation loses nothing committed.
#[test]
fn a_crash_around_compaction_steps_leaves_a_committed_state_and_no_leftover() {
    let explored = explore("steps", stepping_plan, false);
    assert!(explored > 200, "{explored}");
}

/// Many small commits without a checkpoint, so that the syncer gets the blocks a
/// checkpoint will need once they are old (FORMAT.md 7.4): inline blocks written out to
/// files and compaction steps' blocks fdatasynced between commits, then a close.
fn syncing_plan(durable: bool, fs: &Arc<SimFs>, p: &mut Progress) -> uidcache::Result<()> {
    p.states = vec![vec!["None None None None".to_string()]];
    p.durable = 0;
    // One step, where the plan calls it: automatic ones would merge the inline slices
    // again and again, and their blocks would die before they are old.
    let syncing = options(fs).journal_limit(1 << 20).auto_compact(false);
    let mut cache = Cache::open_with("/mbox", syncing)?;
    let mut exists = 0u32;
    for k in 0..60u32 {
        if k == 12 {
            let stats = cache.compact_step(1 << 20)?;
            assert!(stats.blocks_written > 0, "the step found nothing to do");
        }
        let mut tx = cache.transaction()?;
        if k % 5 == 4 {
            tx.expunge(1 + (k * 7) % exists)?;
            exists -= 1;
        } else {
            // Inline: at most 256 records, carried by the frame until a file holds them.
            let count = 20 + k % 7;
            tx.set_exists(exists + count)?;
            let uids: Vec<u32> = (0..count).map(|i| 1 + 3 * (k * 40 + i)).collect();
            tx.learn_range(exists + 1, &uids)?;
            exists += count;
        }
        // Every fourth durable, the rest NoSync (or all NoSync).
        commit_recorded(tx, durable && k % 4 == 0, p)?;
    }
    let stats = cache.stats();
    assert_eq!(
        stats.checkpoints, 0,
        "a checkpoint came before the syncer's work"
    );
    assert!(stats.background_fsyncs > 0, "the syncer got nothing");
    cache.close()?;
    p.durable = p.states.len() - 1;
    Ok(())
}

/// The syncer's operations between commits (inline blocks written out, steps' blocks
/// fdatasynced), crashed after every file operation under three loss models: every image
/// opens to a committed state at or after the last durable one and leaves no block file
/// that its state does not name. An I/O error at any operation loses nothing committed.
#[test]
fn a_crash_around_the_syncers_work_leaves_a_committed_state_and_no_leftover() {
    let explored = explore("syncing", syncing_plan, false);
    assert!(explored > 200, "{explored}");
}
