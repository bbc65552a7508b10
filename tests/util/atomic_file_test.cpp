// write_file_atomically: the whole file or the previous one, never through a planted name.
#include "test_support.hpp"
#include "util/atomic_file.hpp"
#include "util/errors.hpp"

#include <sys/stat.h>

#include <fstream>

namespace rpcbench {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(AtomicFile, WritesTheWholeFileAndLeavesNoTemporary) {
  test::TempDir dir;
  const auto path = dir.path() / "out.json";
  write_file_atomically(path, "first");
  write_file_atomically(path, std::string(1 << 20, 'x'));
  EXPECT_EQ(read(path), std::string(1 << 20, 'x'));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);  // not mkstemp's 0600
  // A name as long as the file system allows (255 bytes): the temporary's name is not longer.
  const auto longest = dir.path() / std::string(255, 'n');
  write_file_atomically(longest, "long");
  EXPECT_EQ(read(longest), "long");
}

// The names the harness used before (`index.html.tmp`, `FILE.tmp`) planted as symlinks to a
// victim: the victim is untouched, the output is written, the links are left alone.
TEST(AtomicFile, NeverWritesThroughAPlantedTemporaryName) {
  test::TempDir dir;
  const auto victim = dir.path() / "victim";
  { std::ofstream(victim) << "precious"; }
  for (const char* name : {"index.html", "export.json"}) {
    const auto path = dir.path() / name;
    std::filesystem::create_symlink(victim, path.string() + ".tmp");
    write_file_atomically(path, "report");
    EXPECT_EQ(read(path), "report");
    EXPECT_TRUE(std::filesystem::is_symlink(path.string() + ".tmp"));
  }
  EXPECT_EQ(read(victim), "precious");
}

TEST(AtomicFile, AFolderThatCannotBeWrittenIsAnInputErrorNamingThePath) {
  test::TempDir dir;
  const auto path = dir.path() / "missing" / "out.json";
  try {
    write_file_atomically(path, "x");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  // A directory where the file should go: the rename fails, no temporary is left behind.
  std::filesystem::create_directory(dir.path() / "taken");
  EXPECT_THROW(write_file_atomically(dir.path() / "taken", "x"), InputError);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

}  // namespace
}  // namespace rpcbench
