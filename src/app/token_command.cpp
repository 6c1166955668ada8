// `huddle token mint`: a service token for a backend that publishes into groups over HTTP
// (POST /api/groups/{id}/messages, docs/protocol.md "Publishing from a backend"). It is a JWT
// signed with the server's own HS256 secret (the file `huddle serve` reads: --jwt-secret-file,
// else huddle.jwt-secret beside --db), carrying `"publish": true` and, with --group, the
// groups it may publish to. It grants nothing else. Printed on stdout, once; nothing is
// stored, so it cannot be revoked but by its expiry (or a new secret, which ends every token).
#include "app/account_options.hpp"
#include "app/commands.hpp"
#include "app/usage_error.hpp"

#include "auth/secret_file.hpp"
#include "auth/token.hpp"
#include "core/option_values.hpp"

#include <boost/program_options.hpp>

#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace huddle::app {

namespace po = boost::program_options;

namespace {

constexpr core::Duration k_default_ttl{std::chrono::hours(24 * 30)};

void add_mint_options(po::options_description& options) {
  auto* ttl = new core::BoundedValue<core::Duration>(
      nullptr, core::Duration{std::chrono::seconds(1)}, core::k_max_duration);
  options.add_options()("publish", "the token may publish (required: the only right it can carry)")(
      "group", po::value<std::vector<std::string>>(),
      "a group it may publish to; repeat for more (default: every group)")(
      "ttl", ttl->default_value(k_default_ttl, to_string(k_default_ttl)),
      "how long the token is valid")(
      "jwt-secret-file", po::value<std::string>()->default_value(""),
      "the server's secret file (default: huddle.jwt-secret beside --db)")(
      "jwt-issuer", po::value<std::string>()->default_value(""),
      "the server's --jwt-issuer, if it has one")("jwt-audience",
                                                  po::value<std::string>()->default_value(""),
                                                  "the server's --jwt-audience, if it has one");
}

int mint(const AccountCommand& command) {
  const std::string& name = check_user_name(command.arguments[0]);
  if (!command.options.count("publish"))
    throw UsageError("say --publish: a service token carries the publish right and nothing else");
  std::optional<std::vector<std::int64_t>> groups;
  if (command.options.count("group")) {
    groups.emplace();
    for (const std::string& group : command.options["group"].as<std::vector<std::string>>())
      groups->push_back(parse_group_id(group));
  }
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(
      command.options["ttl"].as<core::Duration>().value);

  std::filesystem::path secret_file = command.options["jwt-secret-file"].as<std::string>();
  if (secret_file.empty())
    secret_file = std::filesystem::path(command.db).parent_path() / "huddle.jwt-secret";
  // Never created here: a fresh secret would sign tokens no running server accepts.
  if (!std::filesystem::exists(secret_file))
    throw std::runtime_error("no secret file \"" + secret_file.string() +
                             "\": start the server once (it creates it) or name the server's "
                             "--jwt-secret-file");
  auth::TokenConfig config;
  config.hs256_secret = auth::load_or_create_secret(secret_file);
  config.issuer = command.options["jwt-issuer"].as<std::string>();
  config.audience = command.options["jwt-audience"].as<std::string>();
  const auth::IssuedToken issued =
      auth::TokenService(std::move(config)).issue_publisher(name, groups, ttl);
  std::cout << issued.token << '\n';
  return 0;
}

} // namespace

int token_command(const std::vector<std::string>& args) {
  static const std::vector<Subcommand> k_subcommands = {
      {"mint",
       {"NAME"},
       "print a service token for a backend named NAME that publishes with POST "
       "/api/groups/ID/messages (messages come from NAME)",
       add_mint_options,
       mint},
  };
  return run_subcommand("token", k_subcommands, args);
}

} // namespace huddle::app
