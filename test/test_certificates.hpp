// TestCertificates: the TLS material of test/tls/make-test-certs, made once per test process
// in a temporary directory (the certificates are valid for a day: made fresh, never stored).
//
//   const TestCertificates& certs = TestCertificates::get();
//   config.tls_certificate_file = certs.file("server.pem");
#pragma once

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#ifndef HUDDLE_MAKE_TEST_CERTS
#error "test/meson.build defines HUDDLE_MAKE_TEST_CERTS, the path of test/tls/make-test-certs"
#endif

namespace huddle::test {

class TestCertificates {
public:
  static const TestCertificates& get() {
    static const TestCertificates certificates;
    return certificates;
  }

  // ca.pem, server.pem/.key, expired.pem/.key, wrong-name.pem/.key, self-signed.pem/.key.
  std::string file(const char* name) const { return dir_.file(name); }

private:
  TestCertificates() {
    const std::string command =
        std::string(HUDDLE_MAKE_TEST_CERTS) + " '" + dir_.path.string() + "' >/dev/null 2>&1";
    REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "failed: " << command);
  }

  TempDir dir_;
};

} // namespace huddle::test
