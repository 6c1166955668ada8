// TlsContext: the server's certificate chain and key (ServerConfig::tls_certificate_file,
// tls_key_file) and the TLS settings every accepted connection gets: TLS 1.2 at least,
// forward-secret AEAD ciphers only, ALPN "http/1.1" (docs/operations.md, "TLS").
//
// reload() reads the files again for the connections accepted after it; open connections
// keep what they were accepted with (OpenSSL counts the references). A file that cannot be
// loaded leaves the old certificate in place.
#pragma once

#include "net/tls_connection.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace huddle::net {

class TlsContext {
public:
  // Throws std::runtime_error naming the file and OpenSSL's reason when the chain or the key
  // cannot be loaded, or the key is not the certificate's.
  TlsContext(std::string certificate_file, std::string key_file);

  // Loads the files again; throws as the constructor does, and then nothing changed.
  void reload();

  // A server-side TLS connection on the socket `descriptor` (non-blocking), not yet
  // handshaken.
  std::unique_ptr<TlsConnection> accept(int descriptor) const;

private:
  std::shared_ptr<ssl_ctx_st> load() const;

  const std::string certificate_file_;
  const std::string key_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<ssl_ctx_st> context_; // guarded by mutex_
};

} // namespace huddle::net
