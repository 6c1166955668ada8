#include "core/client_tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace huddle::core {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

ssl::context make_client_tls_context(ClientTlsOptions const& options) {
  ssl::context context(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  if (options.insecure) {
    context.set_verify_mode(ssl::verify_none);
    return context;
  }
  context.set_verify_mode(ssl::verify_peer);
  context.set_default_verify_paths();
  if (!options.ca_file.empty()) {
    // Opened first so that a wrong path reads as one, not as OpenSSL's "system lib".
    std::FILE* file = std::fopen(options.ca_file.c_str(), "r");
    if (file == nullptr) {
      throw std::runtime_error("cannot read \"" + options.ca_file + "\": " + std::strerror(errno));
    }
    std::fclose(file);
    boost::system::error_code ec;
    context.load_verify_file(options.ca_file, ec);
    if (ec) {
      throw std::runtime_error("\"" + options.ca_file + "\" holds no PEM certificate (" +
                               ec.message() + ")");
    }
  }
  return context;
}

bool ServerIdentityCheck::operator()(bool preverified, ssl::verify_context& context) const {
  if (!preverified || check_(preverified, context)) return preverified;
  // Only the leaf certificate (depth 0) can fail here: the chain was fine.
  boost::system::error_code not_an_address;
  asio::ip::make_address(host_, not_an_address);
  X509_STORE_CTX_set_error(context.native_handle(), not_an_address
                                                        ? X509_V_ERR_HOSTNAME_MISMATCH
                                                        : X509_V_ERR_IP_ADDRESS_MISMATCH);
  return false;
}

void set_server_name(SSL* ssl, std::string const& host) {
  boost::system::error_code not_an_address;
  asio::ip::make_address(host, not_an_address);
  if (not_an_address) SSL_set_tlsext_host_name(ssl, host.c_str());
}

bool verifies_peer(SSL const* ssl) {
  return (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0;
}

bool certificate_refused(SSL const* ssl) {
  return verifies_peer(ssl) && SSL_get_verify_result(ssl) != X509_V_OK;
}

std::string tls_failure_reason(SSL const* ssl, boost::system::error_code error) {
  if (certificate_refused(ssl)) {
    return std::string("certificate verify failed: ") +
           X509_verify_cert_error_string(SSL_get_verify_result(ssl));
  }
  if (error == ssl::error::stream_truncated) {
    return "the server closed the connection during the TLS handshake";
  }
  if (error.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(error.value())) == SSL_R_WRONG_VERSION_NUMBER) {
    return error.message() + ": the server does not speak TLS (a ws:// server?)";
  }
  return error.message();
}

} // namespace huddle::core
