#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace huddle::net {

namespace {

// OpenSSL's reasons for the last failure, oldest first ("no such file", "key values
// mismatch"), emptying the thread's error queue.
std::string openssl_errors() {
  std::string reasons;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    if (!reasons.empty()) reasons += "; ";
    reasons += text.data();
  }
  return reasons.empty() ? "unknown OpenSSL error" : reasons;
}

// Mozilla's "intermediate" TLS 1.2 list without DHE: ECDHE key exchange, AEAD ciphers. TLS 1.3
// keeps OpenSSL's defaults, which are all of that kind.
constexpr const char* k_tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// huddle speaks HTTP/1.1 only: it is chosen when offered, and a client that offers only
// other protocols (h2) goes on without ALPN rather than failing the handshake.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_length,
                  const unsigned char* offered, unsigned int offered_length, void*) {
  static constexpr unsigned char k_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, k_http11, sizeof k_http11, offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

} // namespace

TlsContext::TlsContext(std::string certificate_file, std::string key_file)
    : certificate_file_(std::move(certificate_file)), key_file_(std::move(key_file)),
      context_(load()) {}

void TlsContext::reload() {
  std::shared_ptr<ssl_ctx_st> loaded = load();
  const std::lock_guard lock(mutex_);
  context_ = std::move(loaded);
}

std::shared_ptr<ssl_ctx_st> TlsContext::load() const {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> context(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!context) throw std::runtime_error("TLS: " + openssl_errors());
  SSL_CTX* ctx = context.get();
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate_file_.c_str()) != 1)
    throw std::runtime_error("cannot load the TLS certificate \"" + certificate_file_ +
                             "\": " + openssl_errors());
  // OpenSSL checks that the key is the certificate's as it loads it.
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file_.c_str(), SSL_FILETYPE_PEM) != 1) {
    const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    throw std::runtime_error(
        mismatch ? "the TLS key \"" + key_file_ + "\" is not the certificate \"" +
                       certificate_file_ + "\"'s: " + openssl_errors()
                 : "cannot load the TLS key \"" + key_file_ + "\": " + openssl_errors());
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, k_tls12_ciphers);
  // No renegotiation (a client could make the server do handshakes at will); a bare FIN ends
  // a connection as close_notify would (HTTP frames its own ends; WebSocket has its close).
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  // Partial writes and moving write buffers: see TlsConnection::write_some(). Released
  // buffers: an idle connection keeps no 16 KB read and write buffers (about 34 KB).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Reads take what the socket has, not one record header at a time: fewer recvfrom calls.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);
  return context;
}

std::unique_ptr<TlsConnection> TlsContext::accept(int descriptor) const {
  std::shared_ptr<ssl_ctx_st> context;
  {
    const std::lock_guard lock(mutex_);
    context = context_;
  }
  return std::make_unique<TlsConnection>(context.get(), descriptor);
}

} // namespace huddle::net
