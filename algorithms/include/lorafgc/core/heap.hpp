#pragma once
// Freed buffers kept for the next call, so that repeated calls measure the
// algorithm and not the kernel's page-fault path.
//
// glibc returns large freed blocks to the kernel (mmap threshold, trim
// threshold, both adjusted as the process runs), and the next call faults its
// buffers in again. On these virtual machines a fault costs several
// microseconds: poly-cheb at L = 65536, d = 16, full, rank 17 (Zen 5, Python)
// took 90-115 ms a call, 45 ms of it in the kernel (6000 faults a call), and
// 38 ms with the freed memory kept. How much a process kept depended on what it
// had run before, so the same call took 31 ms in one process and 100 ms in
// another, and auto (whose plan allocates a little more) paid 25-30 ms more
// than the algorithm it chose.
#include <string>

namespace lorafgc {

// Tells glibc to serve every block from its heap, none by a mapping of its own
// (M_MMAP_MAX = 0), and to give the heap's free top back to the kernel only
// past 1 GiB (M_TRIM_THRESHOLD), once per process; the entry points (Python
// module, benchmarks, tools) call it. LORAFGC_HEAP=system in the environment
// leaves the allocator as it is.
void retain_freed_memory();

// What this process does: "retained (no mmap, trim threshold 1 GiB)", or
// "system" (not asked, refused, or LORAFGC_HEAP=system).
std::string heap_policy();

// Freed memory back to the kernel (malloc_trim), before a peak resident set
// is measured: what earlier calls kept would otherwise count in it.
void release_freed_memory();

}  // namespace lorafgc
