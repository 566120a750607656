#include "userspace/agent/signals.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <string>

namespace ztrace::agent {
namespace {

// Written by the watcher thread and by the fault handler (async-signal-safe: lock-free).
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

// Faults are synchronous: blocked, a real one would kill the process anyway. Only the same
// signal sent by someone else is a stop request.
constexpr std::array kFaultSignals = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT};

// Signals whose default action ends the process and that arrive asynchronously.
sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
                  SIGXCPU, SIGPWR, SIGSTKFLT, SIGIO}) {
    sigaddset(&set, sig);
  }
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaddset(&set, sig);
  return set;
}

void on_fault_signal(int sig, siginfo_t* info, void*) {
  const bool sent_by_another_process =
      info != nullptr && info->si_code <= 0 && info->si_pid != getpid();
  if (sent_by_another_process) {
    g_stop_signal.store(sig);
    return;
  }
  // Our own fault (or abort()): crash as the default would, with its core dump.
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_fault_handlers() {
  struct sigaction action = {};
  action.sa_sigaction = on_fault_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int sig : kFaultSignals) sigaction(sig, &action, nullptr);
}

// "SIGHUP", or "signal 40" for those without a name (real-time ones).
std::string signal_name(int sig) {
  const char* abbreviation = sigabbrev_np(sig);
  return abbreviation != nullptr ? std::string("SIG") + abbreviation
                                 : "signal " + std::to_string(sig);
}

}  // namespace

SignalAction action_of_signal(int sig) {
  switch (sig) {
    case SIGHUP:
      return SignalAction::kReload;
    case SIGUSR1:
      return SignalAction::kDumpCounters;
    case SIGUSR2:
    case SIGPIPE:
    case SIGXFSZ:
      return SignalAction::kIgnore;
    default:
      return SignalAction::kStop;
  }
}

std::unique_ptr<SignalWatcher> SignalWatcher::start() {
  std::unique_ptr<SignalWatcher> watcher(new SignalWatcher());
  // A failed write returns EPIPE / EFBIG instead of a process-ending signal.
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
  install_fault_handlers();
  const sigset_t set = watched_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  watcher->thread_ = std::thread([w = watcher.get()] { w->watch(); });
  return watcher;
}

SignalWatcher::~SignalWatcher() {
  exiting_.store(true);
  if (thread_.joinable()) thread_.join();
}

void SignalWatcher::watch() {
  const sigset_t set = watched_signals();
  // A short timeout instead of a wake-up signal: the thread checks exiting_ between waits.
  const timespec wait = {0, 200'000'000};
  while (!exiting_.load()) {
    siginfo_t info = {};
    const int sig = sigtimedwait(&set, &info, &wait);
    if (sig <= 0) continue;
    switch (action_of_signal(sig)) {
      case SignalAction::kStop:
        if (g_stop_signal.exchange(sig) == 0) {
          spdlog::info("{} from pid {}: stopping", signal_name(sig), info.si_pid);
        } else {
          spdlog::info("{} from pid {}: already stopping (draining and flushing)", signal_name(sig),
                       info.si_pid);
        }
        break;
      case SignalAction::kReload:
        reload_requested_.store(true);
        break;
      case SignalAction::kDumpCounters:
        spdlog::info("{} from pid {}: logging the counters", signal_name(sig), info.si_pid);
        counter_dump_requested_.store(true);
        break;
      case SignalAction::kIgnore:
        spdlog::info("{} from pid {}: ignored", signal_name(sig), info.si_pid);
        break;
    }
  }
}

bool SignalWatcher::stop_requested() const { return g_stop_signal.load() != 0; }
int SignalWatcher::stop_signal() const { return g_stop_signal.load(); }
bool SignalWatcher::take_reload_request() { return reload_requested_.exchange(false); }
bool SignalWatcher::take_counter_dump_request() { return counter_dump_requested_.exchange(false); }

}  // namespace ztrace::agent
