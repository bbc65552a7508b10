#include "run/environment.hpp"

#include <malloc.h>

#include "run/build_info.hpp"
#include "util/errors.hpp"

#include <rpcbench/plugin.hpp>

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#ifndef RPCBENCH_VERSION
#define RPCBENCH_VERSION "0.0.0"
#endif
#ifndef RPCBENCH_BUILD_TYPE
#define RPCBENCH_BUILD_TYPE "unknown"
#endif
#ifndef RPCBENCH_SOURCE_DIR
#define RPCBENCH_SOURCE_DIR ""
#endif

namespace rpcbench {
namespace {

std::string command_output(const std::string& command) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe(popen(command.c_str(), "r"), &pclose);
  if (!pipe) return {};
  std::string out;
  std::array<char, 512> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

// OpenBLAS keeps its own thread pool, which LibTorch 1.13's set_num_threads does not reach.
std::string pin_blas(int threads) {
  using SetThreads = void (*)(int);
  using GetConfig = const char* (*)();
  auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (set == nullptr) {
    Dl_info info{};
    void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
    if (sgemm != nullptr && dladdr(sgemm, &info) != 0 && info.dli_fname != nullptr)
      return std::string("unknown BLAS (") + info.dli_fname + ")";
    return "none found";
  }
  set(threads);
  return std::string(config != nullptr ? config() : "OpenBLAS") + "; threads " +
         std::to_string(threads);
}

}  // namespace

torch::Device resolve_device(const std::string& spec) {
  if (spec == "cpu") return torch::kCPU;
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::kCPU;
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw InputError("--device " + spec + ": this LibTorch (" + TORCH_VERSION +
                       ") has no usable CUDA (CPU-only build, or no GPU visible); use --device cpu");
    try {
      torch::Device device(spec);
      if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
        throw InputError("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) +
                         " CUDA device(s) visible");
      return device;
    } catch (const c10::Error&) {
      throw InputError("--device " + spec + ": not a device (expected auto, cpu, cuda or cuda:N)");
    }
  }
  throw InputError("--device " + spec + ": expected auto, cpu, cuda or cuda:N");
}

ThreadSettings configure_threads(int threads, int blas_threads) {
  ThreadSettings s;
  s.intra_op = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Inter-op threads can only be set once per process, before any inter-op work.
  static const bool inter_op_set = [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
    }
    return true;
  }();
  (void)inter_op_set;
  s.inter_op = at::get_num_interop_threads();
  torch::set_num_threads(s.intra_op);
  s.blas = pin_blas(blas_threads > 0 ? blas_threads : s.intra_op);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  return s;
}

std::string utc_now() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buffer;
}

std::string harness_version() { return RPCBENCH_VERSION; }

CheckoutState checkout_state() {
  CheckoutState state;
  const std::string source = RPCBENCH_SOURCE_DIR;
  if (source.empty()) return state;
  const std::string sha = command_output("git -C '" + source + "' rev-parse HEAD 2>/dev/null");
  if (sha.empty()) return state;
  state.sha = sha;
  state.dirty = command_output("git -C '" + source + "' status --porcelain --untracked-files=no 2>/dev/null").empty()
                    ? "0"
                    : "1";
  return state;
}

std::string build_matches_checkout(const CheckoutState& checkout) {
  const std::string build = build_git_sha();
  if (build == "unknown" || checkout.sha == "unknown") return "unknown";
  // A dirty tree can differ from its commit in either direction: only a clean match is a match.
  if (build == checkout.sha && std::string(build_git_dirty()) == "0" && checkout.dirty == "0") return "yes";
  return build == checkout.sha ? "unknown (uncommitted changes)" : "no";
}

std::map<std::string, std::string> collect_provenance(const torch::Device& device,
                                                      const ThreadSettings& threads,
                                                      const std::string& command_line) {
  std::map<std::string, std::string> p;
  // git_sha is the commit the binary was built from: the code that produced the numbers. The
  // checkout's commit now is recorded beside it, and a mismatch (a binary older than the source
  // it sits in) is flagged.
  p["git_sha"] = build_git_sha();
  p["git_dirty"] = build_git_dirty();
  const CheckoutState checkout = checkout_state();
  p["checkout_git_sha"] = checkout.sha;
  p["checkout_git_dirty"] = checkout.dirty;
  p["build_matches_checkout"] = build_matches_checkout(checkout);
  p["harness_version"] = harness_version();
  p["libtorch_version"] = TORCH_VERSION;
  p["plugin_abi"] = std::to_string(kAbiVersion);
#if defined(__clang__)
  p["compiler"] = std::string("clang ") + __VERSION__;
#else
  p["compiler"] = std::string("gcc ") + __VERSION__;
#endif
  p["build_type"] = RPCBENCH_BUILD_TYPE;
  p["cpu_model"] = cpu_model();
  p["cpu_count"] = std::to_string(std::thread::hardware_concurrency());
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  p["host"] = host;
  p["device"] = device.str();
  if (device.is_cuda()) {
    p["cuda_devices"] = std::to_string(torch::cuda::device_count());
    // CUDA and cuDNN as this LibTorch was built with them, and the GPU itself.
    try {
      p["cuda_config"] = at::detail::getCUDAHooks().showConfig();
      p["cudnn_version"] = std::to_string(at::detail::getCUDAHooks().versionCuDNN());
    } catch (const c10::Error&) {
      p["cuda_config"] = "unknown";
    }
    p["gpu"] = command_output("nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null");
  }
  p["threads"] = std::to_string(threads.intra_op);
  p["interop_threads"] = std::to_string(threads.inter_op);
  p["blas"] = threads.blas;
  p["deterministic_algorithms"] = "on (warn only)";
  p["command_line"] = command_line;
  p["json"] = nlohmann::json(p).dump();
  return p;
}

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace rpcbench
