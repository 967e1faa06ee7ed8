#include "tuner/worker.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "runtime/error.hpp"

extern char** environ;

namespace attnjit {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) detail::raise(ErrorCode::internal, fmt::format("pipe2: {}", std::strerror(errno)));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// write(2) to a pipe whose reader is gone raises SIGPIPE, which would kill the tuner: block it in this thread
// for the call and consume it if it came, so the write just fails with EPIPE (no process-wide handler).
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  const ssize_t put = ::write(fd, data, size);
  const int saved = errno;
  if (put < 0 && saved == EPIPE) {
    const timespec now{0, 0};
    sigtimedwait(&pipe_signal, nullptr, &now);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = saved;
  return put;
}

}  // namespace

std::string WorkerResult::describe() const {
  switch (end) {
    case WorkerEnd::exited: return fmt::format("exited with status {}", exit_code);
    case WorkerEnd::signaled: return fmt::format("crashed with signal {} ({})", signal, strsignal(signal));
    case WorkerEnd::timed_out:
      if (idle_seconds > 0) return fmt::format("hung: no progress for {:.1f} s, killed after {:.1f} s", idle_seconds, seconds);
      return fmt::format("hung: killed after {:.1f} s", seconds);
  }
  return "?";
}

WorkerResult run_worker(const std::vector<std::string>& argv, const std::string& input,
                        std::chrono::milliseconds limit) {
  WorkerWatch watch;
  watch.limit = limit;
  return run_worker(argv, input, watch);
}

WorkerResult run_worker(const std::vector<std::string>& argv, const std::string& input, const WorkerWatch& watch) {
  const std::chrono::milliseconds limit = watch.limit;
  if (argv.empty()) detail::raise(ErrorCode::internal, "run_worker: empty argv");
  Pipe in, out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);  // its own group: the watchdog kills it whole
  posix_spawnattr_setpgroup(&attributes, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const auto start = Clock::now();
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) detail::raise(ErrorCode::internal, fmt::format("cannot start the worker {}: {}", argv[0], std::strerror(rc)));
  in.close_read();
  out.close_write();
  err.close_write();
  ::fcntl(in.write, F_SETFL, O_NONBLOCK);  // a blocking write of more than the pipe holds would stop the draining

  // Feed stdin and drain stdout/stderr together (a worker blocked on a full pipe would look hung).
  WorkerResult result;
  std::size_t written = 0;
  if (input.empty()) in.close_write();
  const auto deadline = start + limit;
  auto last_line = start;
  std::size_t line_start = 0;  // of the first stdout line not yet passed to on_line
  bool timed_out = false;
  while (out.read >= 0 || err.read >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (watch.idle_limit.count() > 0 && Clock::now() - last_line > watch.idle_limit) {
      timed_out = true;
      result.idle_seconds = std::chrono::duration<double>(Clock::now() - last_line).count();
      break;
    }
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    int out_at = -1, err_at = -1, in_at = -1;
    if (out.read >= 0) out_at = static_cast<int>(n), fds[n++] = {out.read, POLLIN, 0};
    if (err.read >= 0) err_at = static_cast<int>(n), fds[n++] = {err.read, POLLIN, 0};
    if (in.write >= 0) in_at = static_cast<int>(n), fds[n++] = {in.write, POLLOUT, 0};
    if (::poll(fds.data(), n, static_cast<int>(std::min<long long>(left, 100))) < 0 && errno != EINTR) break;
    char buffer[65536];
    auto drain = [&](int at, Pipe& pipe, std::string& into) {
      if (at < 0 || fds[at].revents == 0) return;
      const ssize_t got = ::read(pipe.read, buffer, sizeof buffer);
      if (got > 0) {
        into.append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        pipe.close_read();
      }
    };
    drain(out_at, out, result.out);
    for (std::size_t end; (end = result.out.find('\n', line_start)) != std::string::npos; line_start = end + 1) {
      last_line = Clock::now();
      if (watch.on_line) watch.on_line(result.out.substr(line_start, end - line_start));
    }
    drain(err_at, err, result.err);
    if (in_at >= 0 && fds[in_at].revents != 0) {
      const ssize_t put = write_without_sigpipe(in.write, input.data() + written, input.size() - written);
      if (put > 0) written += static_cast<std::size_t>(put);
      const bool broken = put < 0 && errno != EAGAIN && errno != EINTR;  // the worker closed its end
      if (broken || written == input.size()) in.close_write();
    }
  }
  in.close_write();
  int status = 0;
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    result.end = WorkerEnd::timed_out;
  } else {
    // Output closed: the worker is ending; it may still outlive the limit (closed its pipes, then hung).
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (Clock::now() >= deadline) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        timed_out = true;
        break;
      }
      ::usleep(1000);
    }
    if (timed_out) {
      result.end = WorkerEnd::timed_out;
    } else if (WIFSIGNALED(status)) {
      result.end = WorkerEnd::signaled;
      result.signal = WTERMSIG(status);
    } else {
      result.end = WorkerEnd::exited;
      result.exit_code = WEXITSTATUS(status);
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace attnjit
