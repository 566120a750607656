#include "userspace/control/control_server.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace ztrace::control {
namespace {

constexpr const char* kJson = "application/json";

void json_reply(httplib::Response& response, int status, const std::string& body) {
  response.status = status;
  response.set_content(body, kJson);
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

std::unique_ptr<ControlServer> ControlServer::start(const std::string& listen,
                                                    ControlHandlers handlers, std::string* error) {
  std::unique_ptr<ControlServer> control(new ControlServer());
  if (!split_listen_address(listen, &control->host_, &control->port_)) {
    *error = "control API: '" + listen + "' is not HOST:PORT";
    return nullptr;
  }
  control->handlers_ = std::move(handlers);
  control->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *control->server_;
  const ControlHandlers& h = control->handlers_;
  server.Get("/health", [](const httplib::Request&, httplib::Response& response) {
    json_reply(response, 200, R"({"status":"ok"})");
  });
  server.Get("/ready", [&h](const httplib::Request&, httplib::Response& response) {
    const bool ready = h.ready();
    json_reply(response, ready ? 200 : 503,
               ready ? R"({"status":"ready"})" : R"({"status":"starting"})");
  });
  server.Get("/metrics", [&h](const httplib::Request&, httplib::Response& response) {
    response.set_content(h.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/api/tracing/status", [&h](const httplib::Request&, httplib::Response& response) {
    json_reply(response, 200, h.status_json());
  });
  // With a content reader the body is left unread: `curl -X POST` sends no Content-Length,
  // which httplib would answer with 400 before the handler ran.
  server.Post("/api/config/reload", [&h](const httplib::Request&, httplib::Response& response,
                                         const httplib::ContentReader&) {
    std::string message;
    const bool ok = h.reload(&message);
    json_reply(response, ok ? 200 : 422,
               nlohmann::ordered_json{{"reloaded", ok}, {"message", message}}.dump());
  });
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
  server.set_payload_max_length(64 * 1024);
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
