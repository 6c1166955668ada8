// The TLS side of a wss:// client (`huddle chat`, huddle-load): one place that decides how
// the server is checked, so both tools trust the same servers and refuse them with the same
// reasons.
//
// make_client_tls_context() builds the context once per process; it is shared by every
// connection and every thread (OpenSSL's SSL_CTX is safe to share once set up). Before each
// handshake prepare_client_handshake() names the server (SNI) and installs the check that
// the certificate is for the URL's host. After a failed handshake, tls_failure_reason() says
// why in words ("certificate has expired", "hostname mismatch", ...).
//
// Verification is on unless `insecure`: the chain must lead to a CA of the system's default
// paths or of `ca_file`, and the leaf must name the host (a DNS name, or an IP address as an
// IP SAN). TLS 1.2 is the minimum. Messages name no command-line flag: the tools add those.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/system/error_code.hpp>

#include <string>

namespace huddle::core {

struct ClientTlsOptions {
  std::string ca_file;   // PEM CA certificates trusted besides the system's; empty: none
  bool insecure = false; // no verification at all: for self-signed test setups only
};

// Throws std::runtime_error saying what is wrong with ca_file (unreadable, no certificate).
boost::asio::ssl::context make_client_tls_context(ClientTlsOptions const& options);

// The verify callback: asio's host_name_verification, which on a mismatch only answers
// false, plus the verify result OpenSSL reports for it (X509_V_ERR_HOSTNAME_MISMATCH or
// X509_V_ERR_IP_ADDRESS_MISMATCH), so tls_failure_reason() can name it.
class ServerIdentityCheck {
public:
  explicit ServerIdentityCheck(std::string const& host) : check_(host), host_(host) {}
  bool operator()(bool preverified, boost::asio::ssl::verify_context& context) const;

private:
  boost::asio::ssl::host_name_verification check_;
  std::string host_;
};

// SNI (RFC 6066 §3) for a host name; an IP address is not sent, as the RFC asks.
void set_server_name(SSL* ssl, std::string const& host);

// Whether the context `ssl` came from checks the server (false: ClientTlsOptions::insecure).
bool verifies_peer(SSL const* ssl);

// For any Asio or Beast TLS stream (asio::ssl::stream, beast::ssl_stream) before its client
// handshake with `host`, the host as the URL names it (an IPv6 address without brackets).
template <class TlsStream>
void prepare_client_handshake(TlsStream& stream, std::string const& host) {
  set_server_name(stream.native_handle(), host);
  if (verifies_peer(stream.native_handle())) stream.set_verify_callback(ServerIdentityCheck(host));
}

// Whether a failed handshake on `ssl` failed because the server's certificate did not pass
// the check (then a tool can point at its CA and insecure options).
bool certificate_refused(SSL const* ssl);

// Why the handshake on `ssl` failed with `error`: the certificate check's verdict when it
// failed, else what the error says, with a hint when the server does not speak TLS.
std::string tls_failure_reason(SSL const* ssl, boost::system::error_code error);

} // namespace huddle::core
