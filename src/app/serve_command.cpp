// `huddle serve`: runs a Server on a pool of --threads io_contexts, one thread each
// (docs/architecture.md, "Threads"), until SIGINT or SIGTERM, then stops it gracefully
// (every WebSocket gets 1001) and exits 0.
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/serve_options.hpp"
#include "app/usage_error.hpp"
#include "core/log.hpp"

#include <huddle/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace huddle::app {

namespace asio = boost::asio;

int serve_command(const std::vector<std::string>& args) {
  const ServeOptions options = parse_serve_options(args);
  if (options.help) {
    std::cout << serve_help();
    return 0;
  }
  init_logging(options.log_level, options.log_format);
  ServerConfig config = options.server;
  config.logger = boost_log_logger();
  Logger& log = *config.logger;

  // One io_context per thread (docs/architecture.md, "Threads"): a connection's coroutines
  // run on one thread without a strand; the first context also runs the accept loop and
  // the signals. The work guards keep a context without connections running.
  std::vector<std::unique_ptr<asio::io_context>> pool;
  std::vector<asio::any_io_executor> executors;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  for (unsigned i = 0; i < options.threads; ++i) {
    pool.push_back(std::make_unique<asio::io_context>(1));
    executors.push_back(pool.back()->get_executor());
    keep_running.push_back(asio::make_work_guard(*pool.back()));
  }
  asio::io_context& io = *pool.front();
  std::optional<Server> server;
  try {
    server.emplace(executors, config);
  } catch (const std::runtime_error& e) { // port in use, bad address, unusable --db
    std::cerr << "huddle serve: " << e.what() << '\n';
    return k_exit_failure;
  }
  // An optional so it can go before the io_context its service lives in (below).
  std::optional<asio::signal_set> signals;
  signals.emplace(io, SIGINT, SIGTERM);
  signals->async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    HUDDLE_LOG(log, info, "server.signal", {{"signal", signal}});
    server->stop();
  });
  // SIGHUP: the TLS certificate and key are read again (renewed certificates) for new
  // connections; a file that cannot be loaded is logged and the old ones stay. Without TLS
  // it is logged and ignored: a reload sent by a service manager must not stop the server.
  std::optional<asio::signal_set> reload_signal; // goes with `signals`, below
  reload_signal.emplace(io, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_reload =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        HUDDLE_LOG(log, info, "server.signal", {{"signal", signal}});
        if (!options.server.tls_certificate_file.empty()) {
          try {
            server->reload_tls();
          } catch (const std::exception& e) {
            HUDDLE_LOG(log, error, "tls.reload_failed", {{"error", e.what()}});
          }
        }
        reload_signal->async_wait(on_reload);
      };
  reload_signal->async_wait(on_reload);
  // Scripts and tests read the bound port from this line (with --port 0 it is chosen here),
  // and may signal right after it: the handlers above are already installed.
  std::cout << "listening on " << options.server.address << ':' << server->port() << std::endl;

  int exit_code = 0;
  asio::co_spawn(io, server->run(), [&](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        HUDDLE_LOG(log, fatal, "server.failed", {{"error", e.what()}});
      }
      exit_code = k_exit_failure;
    }
    signals->cancel();
    reload_signal->cancel();
    keep_running.clear();
    for (auto& context : pool)
      context->stop();
  });

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.threads; ++i)
    threads.emplace_back([context = pool[i].get()] { context->run(); });
  io.run();
  for (auto& thread : threads)
    thread.join();
  // What is left in the contexts is destroyed now. The first context goes last: the shared
  // state (ChatManager, store) lives on it and may be released by another context's leftovers.
  signals.reset();
  reload_signal.reset();
  server.reset();
  executors.clear();
  while (!pool.empty())
    pool.pop_back();
  return exit_code;
}

} // namespace huddle::app
