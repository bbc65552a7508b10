// A static HTML page with inline SVG plots of one run: no server, no network, no scripts.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace rpcbench {

// Writes DIR/index.html for the run (latest, or of `suite`, or `run_id`) in `db`. Returns its path.
std::filesystem::path write_html_report(const std::string& db, std::optional<std::int64_t> run_id,
                                        const std::string& suite, const std::filesystem::path& out_dir,
                                        const std::string& claims_subject = "rpc");

}  // namespace rpcbench
