// LoadRunner: one load test against a WebSocket chat server, as `Options` describe it.
//
// It owns its io_contexts (one per --threads, each run by one thread), opens every
// client, runs the phases (connect, warm-up, measured window, drain, close) on a fixed
// timeline, prints progress on stderr, and returns the Report. Every wait is bounded:
// the run ends by itself even if the server stops answering. Beast stays inside the .cpp,
// the I/O driver of the parts without I/O: each client's ClientFsm (client_fsm.hpp) and
// the run's timeline, RunPhases (run_phases.hpp).
#pragma once

#include <functional>
#include <memory>

#include "load/options.hpp"
#include "load/report.hpp"

namespace huddle::load {

class LoadRunner {
public:
  // Throws std::runtime_error naming the flag when the options name TLS material it cannot
  // use (--ca-file): a bad command line, found before anything connects.
  explicit LoadRunner(Options options);
  ~LoadRunner();
  LoadRunner(LoadRunner const&) = delete;
  LoadRunner& operator=(LoadRunner const&) = delete;

  // Blocks for the run. Throws std::runtime_error when it cannot start (host does not
  // resolve, bad source addresses, a wss:// server whose certificate does not verify);
  // everything that happens once running is counted.
  Report run();

  // Defined in the .cpp only; public so the client coroutines there can name it.
  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace huddle::load
