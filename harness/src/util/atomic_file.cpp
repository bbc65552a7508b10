#include "util/atomic_file.hpp"

#include "util/errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace rpcbench {
namespace {

// The process's umask, read without changing it (umask(2) sets as it reads: another thread
// creating a file in between would get mode 0666).
mode_t created_file_mode() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Umask:", 0) == 0) return 0666 & ~static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  return 0644;
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // A short fixed prefix: a temporary named after a long file name would pass NAME_MAX.
  std::string name = (dir / ".rpcbench-XXXXXX").string();
  const int fd = ::mkstemp(name.data());
  if (fd < 0)
    throw InputError("cannot write '" + path.string() + "': cannot create a file in '" + dir.string() +
                     "': " + std::strerror(errno));
  auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(name.c_str());
    throw InputError("cannot write '" + path.string() + "': " + what + ": " + reason);
  };
  for (std::size_t done = 0; done < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, created_file_mode()) != 0) fail("fchmod");
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(name.c_str());
    throw InputError("cannot write '" + path.string() + "': close: " + reason);
  }
  if (std::rename(name.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(name.c_str());
    throw InputError("cannot write '" + path.string() + "': rename: " + reason);
  }
  // The rename itself durable: the folder's entry written too.
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace rpcbench
