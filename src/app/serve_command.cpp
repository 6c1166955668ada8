// `huddle serve`: runs a Server on an io_context driven by --threads threads until SIGINT
// or SIGTERM, then stops it gracefully (every WebSocket gets 1001) and exits 0.
#include "app/commands.hpp"
#include "app/logging.hpp"
#include "app/serve_options.hpp"
#include "app/usage_error.hpp"

#include <huddle/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/log/trivial.hpp>

#include <iostream>
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

  asio::io_context io(static_cast<int>(options.threads));
  std::optional<Server> server;
  try {
    server.emplace(io.get_executor(), options.server);
  } catch (const std::runtime_error& e) { // port in use, bad address, unusable --db
    std::cerr << "huddle serve: " << e.what() << '\n';
    return k_exit_failure;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    BOOST_LOG_TRIVIAL(info) << "signal " << signal << ": shutting down";
    server->stop();
  });
  // Scripts and tests read the bound port from this line (with --port 0 it is chosen here),
  // and may signal right after it: the handlers above are already installed.
  std::cout << "listening on " << options.server.address << ':' << server->port() << std::endl;

  int exit_code = 0;
  asio::co_spawn(io, server->run(), [&](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        BOOST_LOG_TRIVIAL(fatal) << "server failed: " << e.what();
      }
      exit_code = k_exit_failure;
    }
    signals.cancel();
    io.stop();
  });

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.threads; ++i)
    threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& thread : threads)
    thread.join();
  return exit_code;
}

} // namespace huddle::app
