// TLS (ServerConfig::tls_certificate_file): what only TLS has. The main paths run over wss
// as well as ws in the other files (TEST_CASE_TEMPLATE over WsClient and WssClient).
#include "test_server.hpp"
#include "ws_client.hpp"

#include <huddle/server.hpp>

#include <boost/asio/read.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <stdexcept>
#include <string>

using namespace huddle::test;

namespace tls_test {

// The subject's common name of the certificate a TLS handshake with the server shows,
// without verifying it ("" when the handshake fails).
std::string served_certificate(std::uint16_t port) {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_none);
  asio::io_context io;
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  error_code ec =
      run_with_deadline(io, beast::get_lowest_layer(stream), k_io_timeout, [&](auto handler) {
        beast::get_lowest_layer(stream).async_connect(local_endpoint(port), std::move(handler));
      });
  if (!ec)
    ec = run_with_deadline(io, beast::get_lowest_layer(stream), k_io_timeout, [&](auto handler) {
      stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
    });
  if (ec) return "";
  X509* certificate = SSL_get1_peer_certificate(stream.native_handle());
  if (certificate == nullptr) return "";
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name, sizeof name);
  X509_free(certificate);
  return name;
}

// The server's files, in a directory of the test's own, so reload_tls() sees them change.
struct ReloadableFiles {
  ReloadableFiles() { use("server"); }
  // Copies `<name>.pem` and `<name>.key` of the test certificates over the served files.
  void use(const std::string& name) const {
    const auto& certificates = TestCertificates::get();
    std::filesystem::copy_file(certificates.file((name + ".pem").c_str()), certificate(),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(certificates.file((name + ".key").c_str()), key(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::string certificate() const { return dir.file("cert.pem"); }
  std::string key() const { return dir.file("key.pem"); }
  TempDir dir;
};

} // namespace tls_test

using namespace tls_test;

TEST_CASE("over TLS: https answers, and plain HTTP to the TLS port gets 400 tls_required") {
  TestServer server(with_tls({}));
  const HttpAnswer secure = http_call(server.port(), "/healthz", {}, &test_client_tls());
  REQUIRE_MESSAGE(!secure.ec, secure.ec.message());
  CHECK(secure.status() == 200);

  const HttpAnswer plain = http_request(server.port(), "/healthz");
  REQUIRE_MESSAGE(!plain.ec, plain.ec.message());
  CHECK(plain.status() == 400);
  REQUIRE(plain.body.has_value());
  CHECK(str(*plain.body, "error") == "tls_required");
  CHECK(plain.response[http::field::connection] == "close");
}

TEST_CASE("a TCP client that never starts the TLS handshake is dropped after handshake_timeout") {
  huddle::ServerConfig config;
  config.handshake_timeout = std::chrono::milliseconds(300);
  TestServer server(with_tls(config));
  asio::io_context io;
  beast::tcp_stream stream(io);
  REQUIRE(!run_with_deadline(io, stream, k_io_timeout, [&](auto handler) {
    stream.async_connect(local_endpoint(server.port()), std::move(handler));
  }));
  char byte = 0;
  const auto started = std::chrono::steady_clock::now();
  const error_code ec = run_with_deadline(io, stream, k_io_timeout, [&](auto handler) {
    asio::async_read(stream, asio::buffer(&byte, 1), std::move(handler));
  });
  CHECK_MESSAGE(ec == asio::error::eof, ec.message()); // closed by the server, not timed out
  CHECK(std::chrono::steady_clock::now() - started < k_io_timeout);
}

TEST_CASE("TLS 1.1 and older are refused; TLS 1.2 and 1.3 are served") {
  TestServer server(with_tls({}));
  for (const int version : {TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION}) {
    CAPTURE(version);
    asio::ssl::context tls = client_tls(TestCertificates::get().file("ca.pem"));
    SSL_CTX_set_security_level(tls.native_handle(), 0); // let the client offer TLS 1.1 at all
    SSL_CTX_set_min_proto_version(tls.native_handle(), version);
    SSL_CTX_set_max_proto_version(tls.native_handle(), version);
    const HttpAnswer answer = http_call(server.port(), "/healthz", {}, &tls);
    if (version == TLS1_1_VERSION) {
      CHECK(answer.ec);
    } else {
      REQUIRE_MESSAGE(!answer.ec, answer.ec.message());
      CHECK(answer.status() == 200);
    }
  }
}

TEST_CASE("ALPN: http/1.1 is chosen when offered; a client offering only h2 goes on without") {
  TestServer server(with_tls({}));
  const auto negotiate = [&](const std::string& offer) {
    asio::ssl::context tls = client_tls(TestCertificates::get().file("ca.pem"));
    SSL_CTX_set_alpn_protos(tls.native_handle(),
                            reinterpret_cast<const unsigned char*>(offer.data()),
                            static_cast<unsigned>(offer.size()));
    asio::io_context io;
    beast::ssl_stream<beast::tcp_stream> stream(io, tls);
    auto& lowest = beast::get_lowest_layer(stream);
    REQUIRE(!run_with_deadline(io, lowest, k_io_timeout, [&](auto handler) {
      lowest.async_connect(local_endpoint(server.port()), std::move(handler));
    }));
    const error_code ec = tls_handshake(io, stream);
    REQUIRE_MESSAGE(!ec, ec.message());
    const unsigned char* chosen = nullptr;
    unsigned length = 0;
    SSL_get0_alpn_selected(stream.native_handle(), &chosen, &length);
    return std::string(reinterpret_cast<const char*>(chosen), length);
  };
  CHECK(negotiate(std::string("\x02h2\x08http/1.1", 12)) == "http/1.1");
  CHECK(negotiate(std::string("\x02h2", 3)).empty());
}

TEST_CASE("a client that verifies refuses an expired certificate and one for another name") {
  for (const char* name : {"expired", "wrong-name"}) {
    CAPTURE(name);
    huddle::ServerConfig config;
    config.tls_certificate_file =
        TestCertificates::get().file((std::string(name) + ".pem").c_str());
    config.tls_key_file = TestCertificates::get().file((std::string(name) + ".key").c_str());
    TestServer server(config);
    const HttpAnswer answer = http_call(server.port(), "/healthz", {}, &test_client_tls());
    CHECK(answer.ec.category() == asio::error::get_ssl_category());
  }
}

TEST_CASE("a certificate or key that cannot be loaded stops the server from starting") {
  TempDir dir;
  huddle::ServerConfig config = with_tls({});
  config.port = 0;
  SUBCASE("a missing certificate file") {
    config.tls_certificate_file = dir.file("missing.pem");
    CHECK_THROWS_WITH_AS(huddle::Server(asio::system_executor(), config),
                         doctest::Contains("missing.pem"), std::runtime_error);
  }
  SUBCASE("a key of another certificate") {
    config.tls_key_file = TestCertificates::get().file("wrong-name.key");
    CHECK_THROWS_WITH_AS(huddle::Server(asio::system_executor(), config),
                         doctest::Contains("is not the certificate"), std::runtime_error);
  }
  SUBCASE("a certificate without its key") {
    config.tls_key_file.clear();
    CHECK_THROWS_AS(huddle::Server(asio::system_executor(), config), std::invalid_argument);
  }
}

TEST_CASE("reload_tls(): new connections get the new certificate, open ones go on; a bad file "
          "keeps the old one") {
  ReloadableFiles files;
  huddle::ServerConfig config;
  config.tls_certificate_file = files.certificate();
  config.tls_key_file = files.key();
  TestServer server(config);
  CHECK(served_certificate(server.port()) == "server");
  WssClient alice, bob;
  alice.join(server.port(), 5, "alice");
  bob.join(server.port(), 5, "bob");
  alice.expect("join");

  files.use("wrong-name");
  server.server().reload_tls();
  CHECK(served_certificate(server.port()) == "wrong-name");
  // The open connections keep their TLS sessions.
  alice.send_message("after the reload");
  CHECK(str(bob.expect("message"), "text") == "after the reload");

  std::filesystem::resize_file(files.certificate(), 10); // a broken file
  CHECK_THROWS_WITH_AS(server.server().reload_tls(), doctest::Contains("cert.pem"),
                       std::runtime_error);
  CHECK(served_certificate(server.port()) == "wrong-name");

  files.use("server");
  server.server().reload_tls();
  const HttpAnswer answer = http_call(server.port(), "/healthz", {}, &test_client_tls());
  REQUIRE_MESSAGE(!answer.ec, answer.ec.message());
  CHECK(answer.status() == 200);
}

TEST_CASE("reload_tls() on a server without TLS is a logic error") {
  TestServer server;
  CHECK_THROWS_AS(server.server().reload_tls(), std::logic_error);
}

TEST_CASE("messages of several TLS records and bursts of small ones arrive whole and in order") {
  huddle::ServerConfig config;
  config.max_message_bytes = 1024 * 1024;
  config.message_rate = 0;
  TestServer server(with_tls(config));
  WssClient alice, bob;
  alice.join(server.port(), 9, "alice");
  bob.join(server.port(), 9, "bob");
  alice.expect("join");
  std::string big(300 * 1024, 'x'); // about 19 records each way
  for (std::size_t i = 0; i < big.size(); i += 1000)
    big[i] = static_cast<char>('a' + (i / 1000) % 26);
  alice.send_message(big, "big");
  CHECK(str(bob.expect("message"), "text") == big);
  CHECK(str(alice.expect("ack"), "ref") == "big");
  for (int i = 0; i < 300; ++i)
    bob.send_message("m" + std::to_string(i));
  for (int i = 0; i < 300; ++i)
    CHECK(str(alice.next_of("message"), "text") == "m" + std::to_string(i));
}
