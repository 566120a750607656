#include "userspace/control/control_server.h"

#include <httplib.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

namespace ztrace::control {
namespace {

constexpr const char* kJson = "application/json";

constexpr size_t kMaxBodyBytes = 64 * 1024;

void json_reply(httplib::Response& response, int status, const std::string& body) {
  response.status = status;
  response.set_content(body, kJson);
}

// Compares in time independent of where they differ (a token must not leak by timing).
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  }
  return difference == 0;
}

// False (and the 401 answer given) when a token is set and the request lacks it.
bool authorized(const httplib::Request& request, httplib::Response& response,
                const std::string& token) {
  if (token.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  const std::string& header = request.get_header_value("Authorization");
  if (header.size() > kBearer.size() && header.compare(0, kBearer.size(), kBearer) == 0 &&
      same_secret(std::string_view(header).substr(kBearer.size()), token)) {
    return true;
  }
  response.set_header("WWW-Authenticate", "Bearer");
  json_reply(response, 401, R"({"error":"this request changes state: it needs the API token"})");
  return false;
}

// The body of a POST registered with a content reader (curl -X POST sends none, with no
// Content-Length). False when it is over the limit.
bool read_body(const httplib::Request& request, const httplib::ContentReader& reader,
               std::string* body) {
  if (!request.has_header("Content-Length") && !request.has_header("Transfer-Encoding")) {
    return true;
  }
  // False also when httplib refused it first (over set_payload_max_length).
  return reader([&](const char* data, size_t length) {
    if (body->size() + length > kMaxBodyBytes) return false;
    body->append(data, length);
    return true;
  });
}

}  // namespace

bool split_listen_address(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  const std::string port_text = listen.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) {
    return false;
  }
  *port = std::stoi(port_text);
  *host = listen.substr(0, colon);
  return *port <= 65535;
}

std::optional<std::string> read_token_file(const std::string& path, std::string* error) {
  std::ifstream file(path);
  std::string token;
  if (!file || !std::getline(file, token)) {
    *error = "API token file " + path + ": cannot be read";
    return std::nullopt;
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) {
    token.erase(token.begin());
  }
  if (token.empty()) {
    *error = "API token file " + path + ": its first line is empty";
    return std::nullopt;
  }
  return token;
}

std::unique_ptr<ControlServer> ControlServer::start(const std::string& listen,
                                                    ControlHandlers handlers, std::string token,
                                                    std::string* error) {
  std::unique_ptr<ControlServer> control(new ControlServer());
  if (!split_listen_address(listen, &control->host_, &control->port_)) {
    *error = "control API: '" + listen + "' is not HOST:PORT";
    return nullptr;
  }
  control->handlers_ = std::move(handlers);
  control->token_ = std::move(token);
  control->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *control->server_;
  const ControlHandlers& h = control->handlers_;
  const std::string& api_token = control->token_;
  server.Get("/health", [](const httplib::Request&, httplib::Response& response) {
    json_reply(response, 200, R"({"status":"ok"})");
  });
  // A handler left unset leaves its endpoint out (a metrics-only port has /metrics alone).
  if (h.ready) {
    server.Get("/ready", [&h](const httplib::Request&, httplib::Response& response) {
      const bool ready = h.ready();
      json_reply(response, ready ? 200 : 503,
                 ready ? R"({"status":"ready"})" : R"({"status":"starting"})");
    });
  }
  if (h.metrics) {
    server.Get("/metrics", [&h](const httplib::Request&, httplib::Response& response) {
      response.set_content(h.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  if (h.status_json) {
    server.Get("/api/tracing/status", [&h](const httplib::Request&, httplib::Response& response) {
      json_reply(response, 200, h.status_json());
    });
  }
  // With a content reader the body is left unread: `curl -X POST` sends no Content-Length,
  // which httplib would answer with 400 before the handler ran.
  if (h.reload) {
    server.Post("/api/config/reload",
                [&h, &api_token](const httplib::Request& request, httplib::Response& response,
                                 const httplib::ContentReader&) {
                  if (!authorized(request, response, api_token)) return;
                  std::string message;
                  const bool ok = h.reload(&message);
                  json_reply(response, ok ? 200 : 422,
                             nlohmann::ordered_json{{"reloaded", ok}, {"message", message}}.dump());
                });
  }
  const auto rule_endpoint =
      [&api_token](const std::function<int(const std::string&, std::string*)>& handler) {
        return [&handler, &api_token](const httplib::Request& request, httplib::Response& response,
                                      const httplib::ContentReader& reader) {
          if (!authorized(request, response, api_token)) return;
          std::string body;
          if (!read_body(request, reader, &body)) {
            json_reply(response, 413, R"({"error":"the body is over 64 KiB"})");
            return;
          }
          if (!handler) {
            json_reply(response, 404, R"({"error":"not served by this agent"})");
            return;
          }
          std::string answer;
          const int status = handler(body, &answer);
          json_reply(response, status, answer);
        };
      };
  if (h.enable_rule || h.disable_rule) {
    server.Post("/api/tracing/enable", rule_endpoint(h.enable_rule));
    server.Post("/api/tracing/disable", rule_endpoint(h.disable_rule));
  }
  if (h.view) {
    server.Get("/view", [](const httplib::Request&, httplib::Response& response) {
      response.set_redirect("/view/");
    });
    server.Get(R"(/view/(.*))", [&h](const httplib::Request& request, httplib::Response& response) {
      const std::map<std::string, std::string> params(request.params.begin(), request.params.end());
      const ControlHandlers::Page page = h.view(request.matches[1], params);
      response.status = page.status;
      response.set_content(page.body, page.content_type);
    });
  }
  // Bodies are bounded; whatever a client sends, the answer is a status, never a crash.
  server.set_payload_max_length(kMaxBodyBytes);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  if (control->port_ == 0) {
    control->port_ = server.bind_to_any_port(control->host_);
    if (control->port_ < 0) {
      *error = "control API: cannot listen on " + listen;
      return nullptr;
    }
  } else if (!server.bind_to_port(control->host_, control->port_)) {
    *error = "control API: cannot listen on " + listen + " (in use, or not an address here)";
    return nullptr;
  }
  control->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return control;
}

ControlServer::~ControlServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string ControlServer::address() const { return host_ + ":" + std::to_string(port_); }

}  // namespace ztrace::control
