#pragma once
// The server's TLS settings: TLS 1.2 and 1.3 only, no compression, a fresh key share per
// handshake, the certificate chain and key from PEM files.
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace imgd::http {

// Throws (with OpenSSL's reason) when a file is missing or malformed, std::invalid_argument
// when the key does not match the certificate.
std::unique_ptr<boost::asio::ssl::context> MakeServerTlsContext(const std::string& cert_file,
                                                                const std::string& key_file);

}  // namespace imgd::http
