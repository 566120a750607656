#pragma once

// What signals do to the agent. No signal short of SIGKILL may lose a captured span, so every
// signal whose default would end the process either stops the agent the orderly way (drain,
// flush, final counters) or does something documented instead:
//   SIGHUP            reload request (the agent logs it and re-reads what it can)
//   SIGUSR1           log the counters now
//   SIGUSR2           ignored (logged)
//   SIGPIPE, SIGXFSZ  ignored: the failing write returns an error, which the output counts
//   every other terminating signal (SIGINT, SIGTERM, SIGQUIT, SIGALRM, SIGPWR, real-time
//   signals, ...), and SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP/SIGSYS/SIGABRT sent by another
//   process: stop the orderly way. A fault of the agent's own still crashes it.
//
// The asynchronous ones are blocked in every thread and taken by one watcher thread
// (sigtimedwait), so no library call is interrupted (EINTR) and nothing runs in a handler but
// for the fault signals. The loops poll the requests below.

#include <atomic>
#include <memory>
#include <thread>

namespace ztrace::agent {

enum class SignalAction { kStop, kReload, kDumpCounters, kIgnore };

// What `signal` asks of the agent (the table above), for the asynchronous signals.
SignalAction action_of_signal(int signal);

class SignalWatcher {
 public:
  // Call before any other thread starts: the mask set here is what later threads inherit.
  static std::unique_ptr<SignalWatcher> start();
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  bool stop_requested() const;
  // The signal that asked to stop (0 when none).
  int stop_signal() const;
  // True once per SIGHUP (several before a take count as one).
  bool take_reload_request();
  // True once per SIGUSR1.
  bool take_counter_dump_request();

 private:
  SignalWatcher() = default;
  void watch();

  std::thread thread_;
  std::atomic<bool> exiting_{false};
  std::atomic<bool> reload_requested_{false};
  std::atomic<bool> counter_dump_requested_{false};
};

}  // namespace ztrace::agent
