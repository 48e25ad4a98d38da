//! The test binary's global allocator: the system allocator, recording the largest single
//! request of each thread, and, during [`measure`], where the first request over the bound
//! came from (a backtrace, captured once, with the allocator re-entered only for it).
//! Requests over [`SAFETY_CAP`] are refused, so a runaway reader aborts its child process
//! (which the parent reports) instead of exhausting the machine's memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::io::Write;

/// Single allocations above this are refused: 2 GiB.
pub const SAFETY_CAP: usize = 2 << 30;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TRAP_ABOVE: Cell<usize> = const { Cell::new(usize::MAX) };
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static TRAPPED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Frames of the allocator, the standard library and this harness, skipped when naming the
/// code that asked for an allocation.
const SKIP: [&str; 12] = [
    "std::",
    "core::",
    "alloc::",
    "<std::",
    "<core::",
    "<alloc::",
    "<fuzz_parsers::",
    "fuzz_parsers::",
    "__rust",
    "__rdl",
    "rust_",
    "_",
];

/// The first frame of `bt` outside the standard library and the allocator, and the first
/// frame of a toolkit crate (`unlearn_*`) when it is a different one.
pub fn culprit(bt: &Backtrace) -> String {
    let text = bt.to_string();
    let frames: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let (n, sym) = l.trim_start().split_once(": ")?;
            n.parse::<u32>().ok().map(|_| sym.trim())
        })
        .collect();
    let library = |s: &str| {
        SKIP.iter().any(|p| s.starts_with(p))
            || [" as alloc::", " as core::", " as std::"]
                .iter()
                .any(|p| s.starts_with('<') && s.contains(p))
    };
    let first = frames.iter().find(|s| !library(s)).copied();
    let ours = frames.iter().find(|s| s.starts_with("unlearn_")).copied();
    match (first, ours) {
        (Some(f), Some(o)) if f != o => format!("{f} (called from {o})"),
        (Some(f), _) => f.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => "an unknown frame".to_string(),
    }
}

/// Runs `f` with re-entrancy blocked, so allocations made by `f` are not trapped again.
fn guarded(f: impl FnOnce()) {
    if BUSY.try_with(|b| !b.replace(true)).unwrap_or(false) {
        f();
        let _ = BUSY.try_with(|b| b.set(false));
    }
}

fn note(size: usize) -> bool {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
    if size > TRAP_ABOVE.try_with(Cell::get).unwrap_or(usize::MAX) {
        guarded(|| {
            let site = culprit(&Backtrace::force_capture());
            if size > SAFETY_CAP {
                let _ = writeln!(
                    std::io::stderr(),
                    "fuzz_parsers: refusing a single allocation of {size} bytes (over the \
                     {SAFETY_CAP}-byte safety cap) requested in {site}"
                );
            }
            let _ = TRAPPED.try_with(|t| {
                if let Ok(mut t) = t.try_borrow_mut() {
                    t.get_or_insert(site);
                }
            });
        });
    }
    size <= SAFETY_CAP
}

/// The system allocator, recording request sizes (see the module documentation).
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; only sizes are recorded, and a
// refused request returns null, as a failed allocation does.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            System.alloc(layout)
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            System.alloc_zeroed(layout)
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) {
            System.realloc(ptr, layout, new_size)
        } else {
            std::ptr::null_mut()
        }
    }
}

/// Runs `f` on this thread and returns its result, the largest single allocation it
/// requested, and where the first request over `limit` came from, if one was.
pub fn measure<R>(limit: usize, f: impl FnOnce() -> R) -> (R, usize, Option<String>) {
    LARGEST.with(|m| m.set(0));
    TRAPPED.with(|t| t.borrow_mut().take());
    TRAP_ABOVE.with(|t| t.set(limit));
    let r = f();
    TRAP_ABOVE.with(|t| t.set(usize::MAX));
    let site = TRAPPED.with(|t| t.borrow_mut().take());
    (r, LARGEST.with(Cell::get), site)
}
