#include "harness/cli/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace wan::cli {

Result<int> run_subprocess(const std::vector<std::string>& argv_in, bool discard_stdout) {
  if (argv_in.empty()) return invalid_argument("run_subprocess: empty command");
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (discard_stdout) posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return unavailable("cannot start '" + args[0] + "': " + std::strerror(spawned) +
                       " (does the file exist and is it executable?)");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return internal_error("waiting for '" + args[0] + "' failed: " + std::strerror(errno));
  }
  if (WIFSIGNALED(status)) {
    return internal_error("'" + args[0] + "' was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

}  // namespace wan::cli
