#include "harness/cli/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

extern char** environ;

namespace wan::cli {
namespace {

std::atomic<pid_t> g_forward_group{0};
std::atomic<int> g_interrupted{0};

extern "C" void forward_signal(int sig) {
  g_interrupted.store(sig);
  const pid_t group = g_forward_group.load();
  if (group > 0) ::kill(-group, sig);
}

// Ends what is left of a process group: SIGTERM, then SIGKILL after `grace` if anything remains.
void end_group(pid_t group, std::chrono::milliseconds grace) {
  if (::kill(-group, SIGTERM) != 0) return;  // ESRCH: nothing left
  const auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until) {
    if (::kill(-group, 0) != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-group, SIGKILL);
}

}  // namespace

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

Result<std::string> resolve_program(const std::string& program) {
  if (program.empty()) return not_found("no program given after --");
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    if (executable(program)) return program;
    struct stat st;
    if (::stat(program.c_str(), &st) != 0) return not_found("program '" + program + "' does not exist");
    return not_found("program '" + program + "' is not an executable file (chmod +x, or name its interpreter: python3 " + program + ")");
  }
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env ? path_env : "/usr/bin:/bin";
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    const std::string dir = j > i ? path.substr(i, j - i) : ".";
    const std::string candidate = dir + "/" + program;
    if (executable(candidate)) return candidate;
    i = j + 1;
  }
  return not_found("program '" + program + "' is not on PATH (" + path + "); give its path");
}

Result<SpawnResult> spawn_and_wait(const std::vector<std::string>& argv_in, const SpawnOptions& o) {
  if (argv_in.empty()) return invalid_argument("spawn_and_wait: empty command");
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Environment: inherited, with extra_env's keys replaced.
  std::set<std::string> keys;
  for (const std::string& kv : o.extra_env) keys.insert(kv.substr(0, kv.find('=')));
  std::vector<std::string> env_strings = o.extra_env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (!keys.count(kv.substr(0, kv.find('=')))) env_strings.push_back(kv);
  }
  std::vector<char*> envp;
  for (auto& kv : env_strings) envp.push_back(kv.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Not the terminal: a program that reads stdin in its own process group would stop (SIGTTIN).
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!o.stdout_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, o.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!o.stderr_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Default dispositions for the signals repro forwards (a shell may have started repro with
  // SIGINT ignored, and ignored signals would stay ignored in the program).
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  SpawnResult r;
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0)
    return unavailable("cannot start '" + args[0] + "': " + std::strerror(spawned) + " (does it exist, is it executable?)");
  r.pid = pid;
  // Signals to repro reach the program too (it is in its own process group, off the terminal's).
  g_interrupted.store(0);
  g_forward_group.store(pid);
  struct sigaction forward = {}, old_int = {}, old_term = {}, old_hup = {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGINT, &forward, &old_int);
  sigaction(SIGTERM, &forward, &old_term);
  sigaction(SIGHUP, &forward, &old_hup);
  // The wait blocks (no polling delay in the measured time); a watcher thread ends the
  // process group at the timeout.
  std::mutex mu;
  std::condition_variable cv;
  bool exited = false;
  std::thread watcher;
  if (o.timeout_seconds > 0) {
    watcher = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_for(lock, std::chrono::duration<double>(o.timeout_seconds), [&] { return exited; })) return;
      r.timed_out = true;
      ::kill(-pid, SIGTERM);
      if (cv.wait_for(lock, std::chrono::seconds(5), [&] { return exited; })) return;
      ::kill(-pid, SIGKILL);
    });
  }
  int status = 0;
  pid_t waited;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  const int wait_errno = errno;
  {
    std::lock_guard<std::mutex> lock(mu);
    exited = true;
  }
  cv.notify_all();
  if (watcher.joinable()) watcher.join();
  if (waited < 0) return internal_error("waiting for '" + args[0] + "' failed: " + std::strerror(wait_errno));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  end_group(pid, std::chrono::milliseconds(2000));  // workers the program left behind
  g_forward_group.store(0);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  r.interrupted = g_interrupted.exchange(0);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  else r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace wan::cli
