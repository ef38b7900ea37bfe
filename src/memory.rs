//! What the extension leaves in memory.
//!
//! - [`ZeroingAlloc`], the extension's global allocator: every block Rust code in
//!   the extension frees (its own, ureq's, rustls's, http's) is zeroed before it
//!   goes back to the C allocator, and a reallocation moves the block and zeroes
//!   the old one. So a copy of a key made by a library out of reach (an HTTP
//!   header buffer, a TLS plaintext buffer) does not survive in freed chunks.
//!   PHP's own allocator (emalloc) is not affected.
//! - [`guard_lock`] / [`guard_unlock`], installed in MINIT as the core's
//!   [`secure_forward_core::MemoryGuard`]: the pages of every live
//!   `Secret` are locked in RAM (mlock: never swapped) and excluded from core
//!   dumps (`MADV_DONTDUMP`) while it exists, at most [`MAX_PAGES`] pages at a
//!   time; failures (e.g. `RLIMIT_MEMLOCK`) are counted and shown in phpinfo.
//!   A page whose secrets are gone stays in the table (it holds only zeros by
//!   then) until its slot is needed for another page; a secret landing on it
//!   locks it again (it may have been unmapped and remapped meanwhile), and a
//!   forked child re-locks the pages of live secrets (locks are not inherited).
#![cfg_attr(feature = "plain-alloc", allow(dead_code))]
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Mutex;

extern "C" {
    /// glibc ≥ 2.25 / musl / BSD: `memset` to zero that the compiler may not
    /// remove as a dead store (the block is freed right after).
    fn explicit_bzero(s: *mut c_void, n: usize);
}

/// Zeroes `len` bytes at `ptr`.
///
/// # Safety
/// `ptr..ptr+len` must be writable memory owned by the caller.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    if len > 0 {
        // SAFETY: the caller guarantees `ptr..ptr+len` is writable and owned.
        unsafe { explicit_bzero(ptr.cast::<c_void>(), len) };
    }
}

/// `System`, zeroing every block before it is freed.
#[derive(Debug, Clone, Copy)]
pub struct ZeroingAlloc;

// SAFETY: every method forwards to `System` with the same layout contract; the
// only additions are writes of zeros into the block being freed (which the
// caller owns until `dealloc` returns) and, in `realloc`, an allocate-copy-free
// sequence that preserves `realloc`'s contract (contents up to the smaller size
// kept, old block released, null on failure with the old block untouched).
unsafe impl GlobalAlloc for ZeroingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours (non-zero size layout).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by us with `layout`, so `layout.size()`
        // bytes at `ptr` are ours to write until they are freed just below.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Never let the C allocator move the block itself: it would free the old
        // block without zeroing it.
        // SAFETY: the caller guarantees `new_size` > 0 and, rounded up to
        // `layout.align()`, not above isize::MAX: a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: valid non-zero layout (above).
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; we copy the smaller
            // size; then the old block (ptr, layout) is ours to free.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(not(feature = "plain-alloc"))]
#[global_allocator]
// Process-wide by nature: the global allocator (zeroes freed memory).
static GLOBAL: ZeroingAlloc = ZeroingAlloc;

/// Most pages locked for secrets at a time.
pub const MAX_PAGES: usize = 256;

struct Pages {
    /// Locked page address -> live secrets on it (0: kept in the table for reuse;
    /// locked again when a secret lands on it, since the page may have been
    /// unmapped and mapped again in between).
    count: BTreeMap<usize, u32>,
    /// The process the locks were taken in: a forked child (PHP-FPM workers)
    /// inherits this table but not the locks.
    pid: u32,
    peak: usize,
    failures: u64,
    over_limit: u64,
    locked_total: u64,
}

// Process-wide: the locked pages of the memory guard, shared by every allocation.
static PAGES: Mutex<Pages> =
    Mutex::new(Pages { count: BTreeMap::new(), pid: 0, peak: 0, failures: 0, over_limit: 0, locked_total: 0 });

fn pages() -> std::sync::MutexGuard<'static, Pages> {
    PAGES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The page-aligned addresses spanned by `addr..addr+len`.
fn span(addr: usize, len: usize) -> impl Iterator<Item = usize> {
    let size = rustix::param::page_size().max(1);
    let first = addr - addr % size;
    let last = addr.saturating_add(len.max(1) - 1);
    (first..=last).step_by(size)
}

/// Locks the pages of a new secret buffer (`addr`, capacity `len`).
pub fn guard_lock(addr: usize, len: usize) {
    let size = rustix::param::page_size();
    let mut p = pages();
    let pid = std::process::id();
    if p.pid != pid {
        // First use, or the first in a forked child: memory locks are not
        // inherited. Pages with live secrets are locked again; idle ones are
        // forgotten (locked again when reused).
        p.pid = pid;
        p.count.retain(|_, c| *c > 0);
        let live: Vec<usize> = p.count.keys().copied().collect();
        for page in live {
            lock_page(&mut p, page, size);
        }
    }
    for page in span(addr, len) {
        if let Some(c) = p.count.get_mut(&page) {
            *c = c.saturating_add(1);
            if *c == 1 {
                // Idle since its last secret: it may have been unmapped and
                // mapped again (heap trimming) without our lock and flag.
                lock_page(&mut p, page, size);
            }
            continue;
        }
        if p.count.len() >= MAX_PAGES {
            // Free a slot: unlock a page no live secret uses, if there is one.
            match p.count.iter().find(|(_, c)| **c == 0).map(|(page, _)| *page) {
                Some(idle) => {
                    p.count.remove(&idle);
                    release(idle, size);
                }
                None => {
                    p.over_limit += 1;
                    continue;
                }
            }
        }
        lock_page(&mut p, page, size);
        p.count.insert(page, 1);
    }
    let live = p.count.values().filter(|c| **c > 0).count();
    p.peak = p.peak.max(live);
}

/// `mlock` + `MADV_DONTDUMP` of one page that holds (part of) a live secret.
fn lock_page(p: &mut Pages, page: usize, size: usize) {
    let at = page as *mut c_void;
    // SAFETY: `page` is page-aligned and inside a live heap allocation of ours
    // (a live secret's buffer spans it), so the range is mapped; mlock and
    // madvise(MADV_DONTDUMP) change neither its content nor its mapping.
    let locked = unsafe { rustix::mm::mlock(at, size) }.is_ok();
    // SAFETY: as above.
    let hidden = unsafe { rustix::mm::madvise(at, size, rustix::mm::Advice::LinuxDontDump) }.is_ok();
    if !(locked && hidden) {
        p.failures += 1;
    }
    p.locked_total += 1;
}

/// Unlocks a page (`munlock`, `MADV_DODUMP`).
fn release(page: usize, size: usize) {
    let at = page as *mut c_void;
    // SAFETY: `page` was locked by `guard_lock` while it belonged to a live
    // allocation; munlock and MADV_DODUMP only change its lock and dump flags,
    // never content or mapping, and fail harmlessly (ignored) if it has since
    // been unmapped.
    unsafe {
        let _ = rustix::mm::munlock(at, size);
        let _ = rustix::mm::madvise(at, size, rustix::mm::Advice::LinuxDoDump);
    }
}

/// A secret buffer was just zeroized: its pages no longer count it. They stay
/// locked (zeros only) until their slot is needed; see [`guard_lock`].
pub fn guard_unlock(addr: usize, len: usize) {
    let mut p = pages();
    for page in span(addr, len) {
        if let Some(c) = p.count.get_mut(&page) {
            *c = c.saturating_sub(1);
        }
    }
}

/// Installs the guard (MINIT).
pub fn install_guard() {
    secure_forward_core::set_memory_guard(secure_forward_core::MemoryGuard { lock: guard_lock, unlock: guard_unlock });
}

/// The phpinfo "secret memory" row.
pub fn describe() -> String {
    let p = pages();
    let alloc = if cfg!(feature = "plain-alloc") { "off (plain-alloc build)" } else { "on" };
    format!(
        "zeroing allocator {alloc}; secret pages mlocked + MADV_DONTDUMP: {} with live secrets (peak {}), {} locked (limit {MAX_PAGES}, {} locks so far), {} mlock/madvise failures, {} pages over the limit",
        p.count.values().filter(|c| **c > 0).count(),
        p.peak,
        p.count.len(),
        p.locked_total,
        p.failures,
        p.over_limit
    )
}
