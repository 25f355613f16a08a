#pragma once
// The one table of limits on every size and count an entry point accepts, and
// the memory budget that the bytes a request needs are compared with before
// anything is allocated. Every workload checks through these, in C++, so the
// command lines and the Python module inherit the same refusals: an
// InvalidArgument naming the argument, never std::bad_alloc, a crash or a hang.
#include <array>
#include <string>

namespace lorafgc {

enum class Quantity {
  length,       // L: tokens of a sequence
  examples,     // n: in-context examples of a prompt
  width,        // d, d_out, K: widths of a layer or a head
  rank,         // r: LoRA rank
  batch,        // sequences or prompts in one batch
  tasks,        // tasks of an evaluation or a reference set
  layers,       // N: layers of a network
  threads,      // OpenMP/BLAS threads; 0 means "the current default"
  steps,        // gradient-descent or training steps
  units,        // ReLU units of one fitted function
  loops,        // loops of a looped transformer
  repetitions,  // timed repetitions of a measurement
};

struct CountLimit {
  Quantity quantity;
  const char* what;
  long long min, max;
  const char* why;
};

// Every limit, in the order of Quantity.
const std::array<CountLimit, 12>& limit_table();
const CountLimit& limit(Quantity q);

// InvalidArgument(name) unless limit(q).min <= value <= limit(q).max.
void require_count(const std::string& name, long long value, Quantity q);

// What one request may plan to allocate: half of the smallest of physical
// memory, the address-space limit (RLIMIT_AS) and the cgroup's memory.max,
// read at most once a second per thread.
double memory_budget_bytes();
// InvalidArgument(name) when `bytes` exceed the budget; `what` says what needs them.
void require_memory(const std::string& name, double bytes, const std::string& what);

// Under an address-space limit (ulimit -v), every thread that calls OpenBLAS
// reserves about 256 MiB of addresses (OpenBLAS's buffer, a malloc arena, a
// stack; measured: 4 threads fit a 1.5 GB limit, 5 make OpenBLAS's allocator
// spin forever). InvalidArgument(name) when `threads` would not fit in what the
// limit leaves; without a limit, nothing to check.
void require_threads_fit(const std::string& name, long long threads);

// "3.2 GiB", "512 MiB": bytes for messages.
std::string bytes_text(double bytes);
// "1e+300", "0.001", "1.414e+15": a number for messages (%.4g).
std::string number_text(double value);

}  // namespace lorafgc
