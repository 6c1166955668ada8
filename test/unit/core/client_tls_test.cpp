// Unit tests of the clients' TLS setup (src/core/client_tls.{hpp,cpp}): the CA file's
// errors, and handshakes over a socket pair (no network) against a certificate made here
// for localhost and 127.0.0.1, so each verdict (trusted, hostname or IP address mismatch,
// self-signed, --insecure) is checked with its reason. The tools over real sockets are
// tested in test/cli/wss_clients_test.py.
#include "core/client_tls.hpp"
#include "core/use_tuple.hpp"

#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using huddle::core::ClientTlsOptions;
using huddle::core::make_client_tls_context;
using huddle::test::TempDir;

// The message make_client_tls_context refuses `options` with; empty when it accepts them.
std::string refusal(ClientTlsOptions const& options) {
  try {
    make_client_tls_context(options);
  } catch (std::runtime_error const& e) {
    return e.what();
  }
  return {};
}

// A self-signed certificate and its key (EC P-256), valid for a day, for DNS:localhost and
// IP:127.0.0.1, written as PEM to `cert_file` and `key_file`.
void make_certificate(std::string const& cert_file, std::string const& key_file) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  REQUIRE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<unsigned char const*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  REQUIRE(san != nullptr);
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);

  std::FILE* out = std::fopen(cert_file.c_str(), "w");
  REQUIRE(out != nullptr);
  PEM_write_X509(out, cert.get());
  std::fclose(out);
  out = std::fopen(key_file.c_str(), "w");
  REQUIRE(out != nullptr);
  PEM_write_PrivateKey(out, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(out);
}

struct Certificate {
  TempDir dir;
  std::string cert = dir.file("cert.pem");
  std::string key = dir.file("key.pem");
  Certificate() { make_certificate(cert, key); }
};

using Stream = ssl::stream<asio::local::stream_protocol::socket>;

asio::awaitable<void> serve(Stream& server) {
  auto [ec] = co_await server.async_handshake(ssl::stream_base::server, huddle::use_tuple);
  if (ec) server.next_layer().close(); // the client gave up: let it see the end, not hang
}

asio::awaitable<void> connect(Stream& client, std::string host, std::string& outcome) {
  huddle::core::prepare_client_handshake(client, host);
  auto [ec] = co_await client.async_handshake(ssl::stream_base::client, huddle::use_tuple);
  outcome = ec ? huddle::core::tls_failure_reason(client.native_handle(), ec) : "ok";
  if (ec) client.next_layer().close();
}

// "ok", or why the client refused the server of `certificate` when connecting to `host`.
std::string handshake(Certificate const& certificate, ClientTlsOptions const& options,
                      std::string const& host) {
  asio::io_context io;
  ssl::context server_context(ssl::context::tls_server);
  server_context.use_certificate_chain_file(certificate.cert);
  server_context.use_private_key_file(certificate.key, ssl::context::pem);
  ssl::context client_context = make_client_tls_context(options);
  Stream server(io, server_context);
  Stream client(io, client_context);
  asio::local::connect_pair(server.next_layer(), client.next_layer());
  std::string outcome;
  asio::co_spawn(io, serve(server), asio::detached);
  asio::co_spawn(io, connect(client, host, outcome), asio::detached);
  io.run();
  return outcome;
}

} // namespace

TEST_CASE("a CA file that cannot be read is refused with its path and the reason") {
  TempDir dir;
  std::string const missing = dir.file("missing.pem");
  std::string const message = refusal({.ca_file = missing});
  CAPTURE(message);
  CHECK(message.find(missing) != std::string::npos);
  CHECK(message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("a CA file without a PEM certificate is refused") {
  TempDir dir;
  std::string const text = dir.file("notes.txt");
  std::ofstream(text) << "not a certificate\n";
  std::string const message = refusal({.ca_file = text});
  CAPTURE(message);
  CHECK(message.find(text) != std::string::npos);
  CHECK(message.find("no PEM certificate") != std::string::npos);
  std::string const empty = dir.file("empty.pem");
  std::ofstream{empty};
  CHECK(refusal({.ca_file = empty}).find("no PEM certificate") != std::string::npos);
}

TEST_CASE("a server whose certificate the CA file holds is trusted by name and by address") {
  Certificate const certificate;
  ClientTlsOptions const trust{.ca_file = certificate.cert};
  CHECK(refusal(trust).empty());
  CHECK(handshake(certificate, trust, "localhost") == "ok");
  CHECK(handshake(certificate, trust, "127.0.0.1") == "ok");
}

TEST_CASE("a certificate for another name or address is refused, naming the mismatch") {
  Certificate const certificate;
  ClientTlsOptions const trust{.ca_file = certificate.cert};
  std::string const name = handshake(certificate, trust, "other.invalid");
  CAPTURE(name);
  CHECK(name.find("certificate verify failed") != std::string::npos);
  CHECK(name.find("ostname mismatch") != std::string::npos);
  std::string const address = handshake(certificate, trust, "127.0.0.2");
  CAPTURE(address);
  CHECK(address.find("IP address mismatch") != std::string::npos);
}

TEST_CASE("a certificate no trusted CA signed is refused, unless insecure") {
  Certificate const certificate;
  std::string const untrusted = handshake(certificate, {}, "localhost");
  CAPTURE(untrusted);
  CHECK(untrusted.find("self-signed certificate") != std::string::npos);
  ClientTlsOptions insecure;
  insecure.insecure = true;
  CHECK(handshake(certificate, insecure, "localhost") == "ok");
  CHECK(handshake(certificate, insecure, "other.invalid") == "ok");
}
