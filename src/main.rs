//! `portsim`: see `portsim --help` and README.md.

use libmimalloc_sys as ffi;

/// mimalloc: an execution allocates and frees many small strings and
/// vectors; glibc's malloc and free were a quarter of the time.
#[global_allocator]
static GLOBAL: Mi = Mi;

/// mimalloc without its aligned entry points for the common case.
/// `mimalloc::MiMalloc` calls `mi_malloc_aligned` for every layout, a
/// longer path than `mi_malloc`. Every mimalloc block is aligned to 8
/// bytes (its smallest size class is one word); a block of some size
/// classes is not aligned to 16, so larger alignments take the aligned
/// path, which checks the block it finds.
struct Mi;

impl Mi {
    /// Whether a plain `mi_malloc` block satisfies `layout`'s alignment.
    #[inline]
    fn plain(layout: std::alloc::Layout) -> bool {
        layout.align() <= 8
    }
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free`
// takes blocks of either entry point); a plain block is used only where
// its alignment satisfies the layout (`Mi::plain`), otherwise the aligned
// entry point is called, as `mimalloc::MiMalloc` does.
unsafe impl std::alloc::GlobalAlloc for Mi {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation functions accept any size.
        unsafe {
            if Mi::plain(layout) {
                ffi::mi_malloc(layout.size()).cast()
            } else {
                ffi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if Mi::plain(layout) {
                ffi::mi_zalloc(layout.size()).cast()
            } else {
                ffi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { ffi::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        // SAFETY: `ptr` came from mimalloc; the new block keeps `layout`'s
        // alignment by the same rule as `alloc`.
        unsafe {
            let grown = std::alloc::Layout::from_size_align_unchecked(new, layout.align());
            if Mi::plain(grown) {
                ffi::mi_realloc(ptr.cast(), new).cast()
            } else {
                ffi::mi_realloc_aligned(ptr.cast(), new, layout.align()).cast()
            }
        }
    }
}

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    portsim::cli::main()
}

/// Under `--cfg loom` the world runs on loom's primitives, which only work
/// inside `loom::model`: this build serves the loom models.
#[cfg(loom)]
fn main() -> std::process::ExitCode {
    eprintln!("portsim: a --cfg loom build serves the loom models only");
    std::process::ExitCode::from(2)
}
