#include "k8s/api_config.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ztrace::k8s {
namespace {

constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

std::optional<std::string> base64_decode(const std::string& in) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int value;
    if (c >= 'A' && c <= 'Z')
      value = c - 'A';
    else if (c >= 'a' && c <= 'z')
      value = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      value = c - '0' + 52;
    else if (c == '+')
      value = 62;
    else if (c == '/')
      value = 63;
    else if (c == '=' || std::isspace(static_cast<unsigned char>(c)))
      continue;
    else
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

// A named entry ("clusters", "users", "contexts") of a kubeconfig: its inner map.
YAML::Node named(const YAML::Node& root, const char* list, const std::string& name,
                 const char* inner) {
  if (!root[list] || !root[list].IsSequence()) return YAML::Node();
  for (const YAML::Node& entry : root[list]) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry[inner];
  }
  return YAML::Node();
}

std::string scalar(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap() || !map[key] || !map[key].IsScalar()) return "";
  return map[key].as<std::string>();
}

}  // namespace

std::unique_ptr<httplib::Client> ApiConfig::connect(std::string* error) const {
  std::unique_ptr<httplib::Client> client;
  if (!client_cert_file.empty()) {
    client = std::make_unique<httplib::Client>(server, client_cert_file, client_key_file);
  } else {
    client = std::make_unique<httplib::Client>(server);
  }
  if (!client->is_valid()) {
    *error = "cannot use the API server address '" + server + "' (or its client certificate)";
    return nullptr;
  }
  std::string bearer = token;
  if (!token_file.empty()) {
    auto text = read_text(token_file);
    if (!text) {
      *error = "cannot read the token file " + token_file;
      return nullptr;
    }
    bearer = trim(*text);
  }
  if (!bearer.empty()) client->set_bearer_token_auth(bearer);
  if (insecure_skip_verify) {
    client->enable_server_certificate_verification(false);
  } else if (!ca_pem.empty()) {
    // The client owns the store (OpenSSL's SSL_CTX frees it), so each gets its own.
    X509_STORE* store = X509_STORE_new();
    BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
    int count = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++count;
    }
    BIO_free(bio);
    if (count == 0) {
      X509_STORE_free(store);
      *error = "the API server's CA (" + source + ") holds no PEM certificate";
      return nullptr;
    }
    client->set_ca_cert_store(store);
  }
  client->set_connection_timeout(std::chrono::seconds(5));
  return client;
}

std::optional<ApiConfig> read_kubeconfig(const std::string& path, std::string* error) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    *error = "kubeconfig " + path + ": " + e.what();
    return std::nullopt;
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  auto resolve = [&](const std::string& file) {
    return file.empty() || file[0] == '/' || dir.empty() ? file : dir + "/" + file;
  };
  const std::string context_name = scalar(root, "current-context");
  const YAML::Node context = named(root, "contexts", context_name, "context");
  if (context_name.empty() || !context) {
    *error = "kubeconfig " + path + ": no current-context, or it is not among the contexts";
    return std::nullopt;
  }
  const YAML::Node cluster = named(root, "clusters", scalar(context, "cluster"), "cluster");
  const YAML::Node user = named(root, "users", scalar(context, "user"), "user");
  ApiConfig config;
  config.source = path;
  config.server = scalar(cluster, "server");
  if (config.server.empty()) {
    *error = "kubeconfig " + path + ": the context's cluster has no server";
    return std::nullopt;
  }
  config.insecure_skip_verify = scalar(cluster, "insecure-skip-tls-verify") == "true";
  if (const std::string data = scalar(cluster, "certificate-authority-data"); !data.empty()) {
    auto pem = base64_decode(data);
    if (!pem) {
      *error = "kubeconfig " + path + ": certificate-authority-data is not base64";
      return std::nullopt;
    }
    config.ca_pem = *pem;
  } else if (const std::string file = resolve(scalar(cluster, "certificate-authority"));
             !file.empty()) {
    auto pem = read_text(file);
    if (!pem) {
      *error = "kubeconfig " + path + ": cannot read certificate-authority " + file;
      return std::nullopt;
    }
    config.ca_pem = *pem;
  }
  config.token = scalar(user, "token");
  config.token_file = resolve(scalar(user, "tokenFile"));
  config.client_cert_file = resolve(scalar(user, "client-certificate"));
  config.client_key_file = resolve(scalar(user, "client-key"));
  if (!scalar(user, "client-certificate-data").empty() || user["exec"] || user["auth-provider"]) {
    *error = "kubeconfig " + path +
             ": only token, tokenFile and client-certificate/client-key files are supported";
    return std::nullopt;
  }
  return config;
}

std::optional<ApiConfig> load_api_config(const std::map<std::string, std::string>& env,
                                         const std::string& kubeconfig, std::string* error) {
  auto var = [&](const char* name) {
    const auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  std::string path = kubeconfig.empty() ? var("KUBECONFIG") : kubeconfig;
  if (path.find(':') != std::string::npos) path = path.substr(0, path.find(':'));
  if (!path.empty()) return read_kubeconfig(path, error);
  const std::string host = var("KUBERNETES_SERVICE_HOST");
  if (host.empty()) {
    *error =
        "no Kubernetes API server: not in a pod (KUBERNETES_SERVICE_HOST unset) and no "
        "kubeconfig (KUBECONFIG or --kubeconfig)";
    return std::nullopt;
  }
  ApiConfig config;
  config.source = "in-cluster service account";
  const std::string port =
      var("KUBERNETES_SERVICE_PORT").empty() ? "443" : var("KUBERNETES_SERVICE_PORT");
  config.server =
      "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  config.token_file = std::string(kServiceAccountDir) + "/token";
  auto ca = read_text(std::string(kServiceAccountDir) + "/ca.crt");
  if (!ca) {
    *error = std::string("in a pod, but cannot read ") + kServiceAccountDir + "/ca.crt";
    return std::nullopt;
  }
  config.ca_pem = *ca;
  return config;
}

}  // namespace ztrace::k8s
