// The harness's three error channels:
//  - InputError: bad input (suite, plugin library, CLI value, database path), reported before any
//    work with file:line:col where there is one; exit code 2.
//  - failures inside a case: caught by the runner and recorded as data (status + message).
//  - RPCBENCH_CHECK: a broken internal invariant; aborts loudly with file:line.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace rpcbench {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void invariant_failed(const char* expr, const char* file, int line,
                                          const std::string& what) {
  std::fprintf(stderr, "%s:%d: internal error: %s (%s)\n", file, line, what.c_str(), expr);
  std::abort();
}

}  // namespace rpcbench

#define RPCBENCH_CHECK(cond, what) \
  ((cond) ? void(0) : ::rpcbench::invariant_failed(#cond, __FILE__, __LINE__, (what)))
