//! The threads that share a batch's work: the calling thread and helpers
//! that spin between parallel regions instead of sleeping.
//!
//! Why not rayon's pool directly: a rayon worker with nothing to do yields
//! a few dozen times and then sleeps, and waking it takes a system call on
//! one side and, on a virtual machine, an interrupt to a halted virtual CPU
//! on the other. A DQN update has three parallel regions (the chunks, the
//! sum of their gradients, the optimizer), and a training loop does a few
//! microseconds of serial work (acting, the environment, the replay) between
//! updates: long enough for rayon's worker to fall asleep every step. The
//! seed's loop ran *slower* at 2 threads than at 1 (7.8 k against 12.9 k
//! steps per second on a Zen 5 VM) although the update alone ran 1.6× faster.
//! A helper here spins on a counter for [`SPIN`] after each region and
//! parks only after that, so in a training loop it is awake when the next
//! region starts.
//!
//! The team's size is rayon's: `rayon::current_num_threads()` on the calling
//! thread (a `RAYON_NUM_THREADS`, a pool's `install`, the run pool's
//! one-thread pools), so the thread count is configured where it was. Each
//! calling thread owns its helpers (a thread-local), which stop when it
//! exits. Work inside a region that asks for a region of its own runs on the
//! thread it is on.
//!
//! Bits: the team only decides *which thread* runs an item; every caller
//! gives items whose results do not depend on that (each writes its own
//! output, and any combining happens in a fixed order afterwards).

#![allow(unsafe_code)]

use std::cell::{Cell, RefCell, UnsafeCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long a helper spins for the next region before it parks: well above
/// the serial work between two updates of a training loop (10–30 µs), well
/// below anything a person would notice as a busy core.
pub(crate) const SPIN: Duration = Duration::from_micros(300);

thread_local! {
    /// This thread's helpers, made on its first parallel region.
    static TEAM: RefCell<Option<Team>> = const { RefCell::new(None) };
    /// Whether this thread is running a region's work (or is a helper):
    /// nested regions then run in turn on it.
    static IN_REGION: Cell<bool> = const { Cell::new(false) };
}

/// Calls `f(k)` once for every `k` in `0..n`, spread over the calling
/// thread's team. With one thread, inside a region, or for fewer than two
/// items, in turn on the calling thread.
pub(crate) fn for_each_index(n: usize, f: impl Fn(usize) + Sync) {
    for_each_weighted(n, |_| 1, f);
}

/// [`for_each_index`] with a cost per item: thread `t` of the team first
/// runs its own share, the `t`-th of contiguous ranges of about equal cost,
/// and then helps with the others' unclaimed items.
///
/// Why shares and not one queue: the same thread then gets the same items
/// at every call (chunk `c`, the same optimizer rows), so their buffers stay
/// in its core's cache. With one queue, which thread took which item varied
/// from call to call, and the seed's training loop spent more time moving
/// the optimizer's state and the chunks' gradients between the cores than
/// the second thread saved.
pub(crate) fn for_each_weighted(n: usize, cost: impl Fn(usize) -> usize, f: impl Fn(usize) + Sync) {
    let threads = rayon::current_num_threads();
    if threads < 2 || n < 2 || IN_REGION.get() {
        (0..n).for_each(f);
        return;
    }
    let shares = Shares::new(n, threads, cost);
    let work = |t: usize| {
        for s in (0..threads).map(|j| (t + j) % threads) {
            let (next, end) = &shares.0[s];
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= *end {
                    break;
                }
                f(k);
            }
        }
    };
    TEAM.with(|team| {
        let mut team = team.borrow_mut();
        if team.as_ref().is_none_or(|t| t.helpers.len() + 1 != threads) {
            // Dropping the old team (a different pool size) stops its helpers.
            *team = Some(Team::new(threads - 1));
        }
        team.as_ref().expect("made above").run(&work);
    });
}

/// Each thread's contiguous range of items: the next unclaimed one, and the
/// end.
struct Shares(Vec<(AtomicUsize, usize)>);

impl Shares {
    /// `threads` ranges of `0..n`, cut where the running cost crosses each
    /// `t / threads` of the total.
    fn new(n: usize, threads: usize, cost: impl Fn(usize) -> usize) -> Self {
        let total: usize = (0..n).map(&cost).sum();
        let mut ranges = Vec::with_capacity(threads);
        let (mut start, mut k, mut running) = (0, 0, 0);
        for t in 1..=threads {
            let goal = total * t / threads;
            while k < n && (t == threads || running + cost(k) / 2 < goal) {
                running += cost(k);
                k += 1;
            }
            ranges.push((AtomicUsize::new(start), k));
            start = k;
        }
        Self(ranges)
    }
}

/// Calls `f(k, &mut items[k])` once for every item, spread over the calling
/// thread's team as [`for_each_index`] spreads indices.
pub(crate) fn for_each_mut<I: Send>(items: &mut [I], f: impl Fn(usize, &mut I) + Sync) {
    for_each_mut_weighted(items, |_| 1, f);
}

/// [`for_each_mut`] with a cost per item, as [`for_each_weighted`].
pub(crate) fn for_each_mut_weighted<I: Send>(
    items: &mut [I],
    cost: impl Fn(usize) -> usize,
    f: impl Fn(usize, &mut I) + Sync,
) {
    let base = SendPtr(items.as_mut_ptr());
    let n = items.len();
    for_each_weighted(n, cost, |k| {
        // SAFETY: `k < n` (for_each_weighted gives each index in `0..n`
        // exactly once), so this is the only reference to `items[k]` while
        // `f` runs, and `items` stays mutably borrowed until every call has
        // returned.
        let item = unsafe { &mut *base.get().add(k) };
        f(k, item);
    });
}

/// Keeps every thread of the current rayon pool busy for `duration`.
///
/// For benchmarks, before they measure: on the virtual machines this
/// project is measured on, cores that were idle run the first second or two
/// of new work slowly. The 2-thread update grid's first rows ran at 1-thread
/// speed, whichever group of rows came first, and at 2-thread speed after
/// two seconds of spinning on both cores.
pub fn warm_up_threads(duration: Duration) {
    rayon::broadcast(|_| {
        let start = Instant::now();
        while start.elapsed() < duration {
            std::hint::spin_loop();
        }
    });
}

/// A pointer that may cross to the helpers (see [`for_each_mut`]).
struct SendPtr<I>(*mut I);

impl<I> SendPtr<I> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut I {
        self.0
    }
}

// SAFETY: only used to hand out disjoint `&mut I` (I: Send) to the threads.
unsafe impl<I: Send> Sync for SendPtr<I> {}

/// A region's work as the helpers see it: the leader's closure with its
/// lifetime erased (the leader does not return before every helper that
/// entered the region is done).
type Work = *const (dyn Fn(usize) + Sync + 'static);

/// What the leader and its helpers share.
struct Shared {
    /// Bumped by the leader to start a region.
    epoch: AtomicU64,
    /// The current region's entry: its epoch (high 32 bits), whether the
    /// leader has closed it ([`CLOSED`]), and how many helpers entered (low
    /// bits). A helper runs a region's work only if it entered while it was
    /// open, so the leader never waits for a helper that was asleep or
    /// descheduled while the region ran: it closes the region when its
    /// own work finds nothing left, and waits only for those inside.
    entry: AtomicU64,
    /// Helpers of the current region that have finished.
    finished: AtomicU64,
    /// The region's work, written by the leader before it bumps `epoch` and
    /// read by helpers that entered.
    work: UnsafeCell<Option<Work>>,
    /// A helper's work panicked in the current region.
    panicked: AtomicBool,
    /// The team is being dropped.
    stop: AtomicBool,
}

// SAFETY: `work` is written only by the leader while no helper reads it
// (between regions: every helper that entered the last one has finished),
// and read only by helpers that entered the current region; `entry`'s
// release/acquire orders the two.
unsafe impl Sync for Shared {}
// SAFETY: the one non-`Send` field, the erased pointer, points at a `Sync`
// closure and is only dereferenced under the rule above.
unsafe impl Send for Shared {}

/// One helper: its thread and whether it is parked.
struct Helper {
    thread: Thread,
    handle: Option<JoinHandle<()>>,
    sleeping: Arc<AtomicBool>,
}

/// A calling thread's helpers.
struct Team {
    shared: Arc<Shared>,
    helpers: Vec<Helper>,
}

impl Team {
    fn new(n: usize) -> Self {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            work: UnsafeCell::new(None),
            entry: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let helpers = (0..n)
            .map(|i| {
                let sleeping = Arc::new(AtomicBool::new(false));
                let (shared, flag) = (Arc::clone(&shared), Arc::clone(&sleeping));
                let handle = std::thread::Builder::new()
                    .name(format!("mlp-team-{}", i + 1))
                    .spawn(move || helper_loop(i + 1, &shared, &flag))
                    .expect("the OS can start a helper thread");
                Helper { thread: handle.thread().clone(), handle: Some(handle), sleeping }
            })
            .collect();
        Self { shared, helpers }
    }

    /// Runs `work(0)` on this thread and `work(i)` on helper `i` (from 1),
    /// and returns when all are done; a panic in any of them is raised here
    /// afterwards.
    fn run(&self, work: &(dyn Fn(usize) + Sync)) {
        let s = &*self.shared;
        // SAFETY: only the lifetime is erased; `Wait` below keeps this frame
        // (and so `work`) alive until every helper has finished with it,
        // also when the leader's own share panics.
        let erased: Work = unsafe { std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), Work>(work) };
        // SAFETY: no region is running (the last one waited for every
        // helper that entered it), so no helper reads `work` now.
        unsafe { *s.work.get() = Some(erased) };
        let epoch = s.epoch.load(Ordering::Relaxed).wrapping_add(1);
        s.finished.store(0, Ordering::Relaxed);
        s.entry.store((epoch & 0xffff_ffff) << 32, Ordering::Release);
        s.epoch.store(epoch, Ordering::SeqCst);
        for h in &self.helpers {
            if h.sleeping.load(Ordering::SeqCst) {
                h.thread.unpark();
            }
        }
        let wait = Wait(s);
        IN_REGION.set(true);
        let leader = catch_unwind(AssertUnwindSafe(|| work(0)));
        IN_REGION.set(false);
        drop(wait);
        let helper_panicked = s.panicked.swap(false, Ordering::Relaxed);
        if let Err(payload) = leader {
            resume_unwind(payload);
        }
        if helper_panicked {
            panic!("a helper thread's share of a parallel region panicked");
        }
    }
}

/// Set in [`Shared::entry`] when the leader closes a region.
const CLOSED: u64 = 1 << 31;

/// Closes the current region when dropped, and waits until every helper
/// that entered it has finished.
struct Wait<'a>(&'a Shared);

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let entered = self.0.entry.fetch_or(CLOSED, Ordering::AcqRel) & (CLOSED - 1);
        let mut spins = 0u32;
        while self.0.finished.load(Ordering::Acquire) != entered {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) {
                // A helper descheduled by the host: let it have the core.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for h in &mut self.helpers {
            h.thread.unpark();
            if let Some(handle) = h.handle.take() {
                // A helper never panics outside `catch_unwind`.
                let _ = handle.join();
            }
        }
    }
}

fn helper_loop(me: usize, s: &Shared, sleeping: &AtomicBool) {
    IN_REGION.set(true);
    let mut seen = 0u64;
    loop {
        let mut since = Instant::now();
        let mut spins = 0u32;
        loop {
            let epoch = s.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                // If the OS put this thread on the caller's core, this lets
                // the caller run: spinning there would only take its time.
                std::thread::yield_now();
            }
            if spins.is_multiple_of(128) && since.elapsed() > SPIN {
                // Park, unless a region started meanwhile (the leader reads
                // `sleeping` after bumping the epoch: one of the two sees
                // the other).
                sleeping.store(true, Ordering::SeqCst);
                if s.epoch.load(Ordering::SeqCst) == seen && !s.stop.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                sleeping.store(false, Ordering::SeqCst);
                since = Instant::now();
            } else {
                std::hint::spin_loop();
            }
        }
        if !enter(s, seen) {
            continue;
        }
        // SAFETY: this helper entered the region, so the leader wrote `work`
        // for it and keeps the closure alive until `finished` counts this
        // helper.
        let work = unsafe { *s.work.get() };
        if let Some(work) = work {
            // SAFETY: as above.
            let work = unsafe { &*work };
            if catch_unwind(AssertUnwindSafe(|| work(me))).is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
        }
        s.finished.fetch_add(1, Ordering::Release);
    }
}

/// Enters region `epoch` if it is still open; false if the leader closed
/// it (or already opened a later one).
fn enter(s: &Shared, epoch: u64) -> bool {
    let mut entry = s.entry.load(Ordering::Acquire);
    loop {
        if entry >> 32 != epoch & 0xffff_ffff || entry & CLOSED != 0 {
            return false;
        }
        match s.entry.compare_exchange_weak(entry, entry + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(now) => entry = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool").install(f)
    }

    #[test]
    fn every_index_runs_exactly_once_at_any_thread_count() {
        for threads in [1, 2, 3] {
            let counts: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
            in_pool(threads, || {
                for _ in 0..50 {
                    for_each_index(counts.len(), |k| {
                        counts[k].fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 50), "threads {threads}");
        }
    }

    #[test]
    fn shares_cut_the_cost_evenly_and_cover_every_item() {
        let bounds = |n, threads, cost: &dyn Fn(usize) -> usize| -> Vec<(usize, usize)> {
            Shares::new(n, threads, cost).0.into_iter().map(|(a, b)| (a.into_inner(), b)).collect()
        };
        assert_eq!(bounds(2, 2, &|_| 1), [(0, 1), (1, 2)]);
        assert_eq!(bounds(5, 2, &|_| 1), [(0, 2), (2, 5)]);
        // One heavy item first: it alone is the first share.
        assert_eq!(bounds(4, 2, &|k| if k == 0 { 9 } else { 1 }), [(0, 1), (1, 4)]);
        assert_eq!(bounds(1, 3, &|_| 1), [(0, 0), (0, 0), (0, 1)]);
    }

    #[test]
    fn items_are_each_given_once_mutably() {
        let mut items: Vec<u64> = (0..257).collect();
        in_pool(2, || for_each_mut(&mut items, |k, x| *x = *x * 3 + k as u64));
        assert!(items.iter().enumerate().all(|(k, &x)| x == 4 * k as u64));
    }

    #[test]
    fn a_nested_region_runs_on_its_thread() {
        let total = AtomicUsize::new(0);
        in_pool(2, || {
            for_each_index(8, |_| for_each_index(8, |_| _ = total.fetch_add(1, Ordering::Relaxed)));
        });
        assert_eq!(total.load(Ordering::Relaxed), 64);
    }

    #[test]
    fn a_panic_in_a_region_reaches_the_caller_and_the_team_still_works() {
        let caught = in_pool(2, || catch_unwind(|| for_each_index(64, |k| assert!(k != 40, "item 40 fails"))).is_err());
        assert!(caught);
        let sum = AtomicUsize::new(0);
        in_pool(2, || for_each_index(100, |k| _ = sum.fetch_add(k, Ordering::Relaxed)));
        assert_eq!(sum.load(Ordering::Relaxed), 4950);
    }

    #[test]
    fn a_parked_helper_wakes_for_the_next_region() {
        let sum = AtomicUsize::new(0);
        in_pool(2, || {
            for round in 0..3 {
                for_each_index(10, |k| _ = sum.fetch_add(k, Ordering::Relaxed));
                if round < 2 {
                    // Long enough for the helper to park.
                    std::thread::sleep(SPIN * 4);
                }
            }
        });
        assert_eq!(sum.load(Ordering::Relaxed), 135);
    }
}
