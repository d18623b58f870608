#include "http/tls_context.h"

#include <openssl/ssl.h>

#include <stdexcept>

namespace imgd::http {

namespace asio = boost::asio;

std::unique_ptr<asio::ssl::context> MakeServerTlsContext(const std::string& cert_file,
                                                         const std::string& key_file) {
  auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  // TLS 1.2 and 1.3 only; no compression, a fresh key share per handshake.
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
  // Throws (with OpenSSL's reason) when a file is missing, malformed or they do not match.
  tls->use_certificate_chain_file(cert_file);
  tls->use_private_key_file(key_file, asio::ssl::context::pem);
  if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    throw std::invalid_argument("--tls-key does not match --tls-cert");
  }
  return tls;
}

}  // namespace imgd::http
