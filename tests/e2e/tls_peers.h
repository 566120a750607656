#pragma once

// TLS peers (OpenSSL on both sides): nginx with ssl and h2, Python's ssl module. The
// certificate is a fresh self-signed one made with the openssl command in the test's folder.

#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

struct TlsCert {
  fs::path cert, key;
};
// A self-signed certificate for 127.0.0.1 in dir (openssl req -x509).
TlsCert make_tls_cert(const fs::path& dir);

// nginx from peers/nginx/tls.conf.in (HTTP/1.1 and h2 by ALPN), with the static files of
// start_nginx: index.html, head.html, v10.html (12 bytes each), big.bin (256 KiB); /boom: 500.
Process start_nginx_tls(const fs::path& dir, int port);

// peers/python/tls_http.py: the HTTPS server, and the urllib client's command for `urls`.
Process start_python_tls_server(const fs::path& dir, int port);
std::vector<std::string> python_tls_client(const std::vector<std::string>& urls);

// peers/node/tls_peer.js: `mode` "https-server" or "h2-server", and a client's command
// ("https-client", "fetch-client", "h2-client") for `urls`.
Process start_node_tls_server(const fs::path& dir, int port, const std::string& mode);
std::vector<std::string> node_tls_client(const std::string& mode,
                                         const std::vector<std::string>& urls);

// peers/java-tls/TlsPeer.java (JSSE): com.sun.net.httpserver.HttpsServer with a fresh
// keystore (keytool), serving /hello and /call?to=URL (an HttpsURLConnection call to URL).
// `jvm_flags` go before the class path; `launcher` (e.g. unshare ...) runs the java command.
Process start_java_tls_server(const fs::path& dir, int port,
                              const std::vector<std::string>& jvm_flags = {},
                              const std::vector<std::string>& launcher = {});
// A client's command: `mode` "urlconnection", "httpclient-h1" or "httpclient-h2".
std::vector<std::string> java_tls_client(const std::string& mode,
                                         const std::vector<std::string>& urls);

std::string https_url_of(int port, std::string_view path);

// Secrets the TLS clients send in Authorization and Cookie (curl's -H, TlsPeer.java).
inline constexpr std::string_view kSecretToken = "zt-secret-token-4711";
inline constexpr std::string_view kSecretCookie = "zt-secret-cookie-4711";
// CHECKs that neither secret appears in the agent's spans file or its log.
void check_secrets_absent(const Agent& agent);

}  // namespace ztrace::e2e
