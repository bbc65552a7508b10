// Process-wide execution settings: device, threads, determinism, and the provenance record.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace rpcbench {

// "auto" (CUDA when this LibTorch has it and a GPU is visible, else CPU), "cpu", "cuda",
// "cuda:N". Throws InputError when CUDA is asked for and not available.
torch::Device resolve_device(const std::string& spec);

struct ThreadSettings {
  int intra_op = 0;  // LibTorch intra-op threads (also given to OpenBLAS)
  int inter_op = 1;
  std::string blas;  // the BLAS actually loaded, with its thread count
};

// Pins LibTorch's and the BLAS's thread pools; `threads` 0 means every core. Call before any
// tensor work. Also turns on LibTorch's deterministic algorithms.
ThreadSettings configure_threads(int threads, int blas_threads = 0);

// Keeps freed memory in the process (glibc would return every block over 128 KiB to the system and
// page-fault it back in at the next step: a tenth of a batched critic's step). Called once at start.
void keep_freed_memory();

// git, versions, compiler, build type, CPU, host, device, threads, BLAS, command line, plus
// "json": all of it as one JSON object.
std::map<std::string, std::string> collect_provenance(const torch::Device& device,
                                                      const ThreadSettings& threads,
                                                      const std::string& command_line);

std::string utc_now();  // ISO 8601 with milliseconds

// The harness source checkout's commit when it runs ("unknown" outside git).
struct CheckoutState {
  std::string sha = "unknown";
  std::string dirty = "unknown";
};
CheckoutState checkout_state();
// "yes" when the binary was built from the checkout's current, clean commit; "no" when the
// commits differ; "unknown" otherwise.
std::string build_matches_checkout(const CheckoutState& checkout);
std::string harness_version();

}  // namespace rpcbench
