// The git commit the harness binary was built from (embedded at build time by
// cmake/build_info.cmake), as opposed to the checkout's commit when it runs.
#pragma once

namespace rpcbench {

const char* build_git_sha();    // 40 hex digits, or "unknown" outside a git checkout
const char* build_git_dirty();  // "1" uncommitted changes to tracked files, "0" clean, "unknown"

}  // namespace rpcbench
