#pragma once

// Where the Kubernetes API server is and who the agent is to it: the pod's service account
// (in a cluster), or the current context of a kubeconfig (KUBECONFIG, outside one).

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace httplib {
class Client;
}

namespace ztrace::k8s {

struct ApiConfig {
  std::string server;  // "https://HOST:PORT"
  std::string ca_pem;  // trusted CAs; empty: the system's
  bool insecure_skip_verify = false;
  std::string token;       // bearer token; or
  std::string token_file;  // re-read at each connection: projected tokens rotate
  std::string client_cert_file, client_key_file;
  std::string source;  // "in-cluster service account" or the kubeconfig's path, for logs

  // A client for one request or one watch; nullptr and `error` when the token file is
  // unreadable or the CA is not PEM.
  std::unique_ptr<httplib::Client> connect(std::string* error) const;
};

// The in-cluster service account when KUBERNETES_SERVICE_HOST is set and `kubeconfig` is
// empty, else the kubeconfig file (its current context; token, tokenFile or client
// certificate files; certificate-authority or -data). nullopt and `error` otherwise.
std::optional<ApiConfig> load_api_config(const std::map<std::string, std::string>& env,
                                         const std::string& kubeconfig, std::string* error);

// Reads a kubeconfig file.
std::optional<ApiConfig> read_kubeconfig(const std::string& path, std::string* error);

}  // namespace ztrace::k8s
