// Loads the plugins and pins threads before any benchmark runs, so the context (threads, BLAS)
// is printed with the results.
#include "bench_support.hpp"

int main(int argc, char** argv) {
  rpcbench::keep_freed_memory();  // as the harness does
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  rpcbench::bench::plugins();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
