// Whole-file writes that a reader never sees half done and that never follow a planted name.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace rpcbench {

// Writes `contents` to a new file created exclusively (mkstemp: O_CREAT | O_EXCL, a random name
// `.rpcbench-XXXXXX`) in `path`'s folder, then renames it over `path` (and syncs the folder). A symlink or file planted at any fixed
// temporary name is never opened; a failure removes the temporary and throws InputError naming
// `path`. The file gets the mode a plain create would (0666 less the umask).
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace rpcbench
