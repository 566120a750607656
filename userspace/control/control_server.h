#pragma once

// The agent's HTTP control port: liveness and readiness, the tracing status, on-demand
// sampling rules, a reload, and Prometheus /metrics. It runs on its own thread and only calls
// the handlers it is given; a port that cannot be bound is reported, never fatal (tracing goes
// on without it). With a token, every request that changes state must carry it
// (`Authorization: Bearer TOKEN`); reads need none.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace ztrace::control {

struct ControlHandlers {
  std::function<bool()> ready;               // probes attached, exporter set up
  std::function<std::string()> metrics;      // the /metrics text
  std::function<std::string()> status_json;  // GET /api/tracing/status
  // POST /api/config/reload: the new settings' description, or the error (false).
  std::function<bool(std::string* message)> reload;
  // POST /api/tracing/enable and /disable: the request body → the HTTP status and the JSON
  // answer.
  std::function<int(const std::string& body, std::string* answer)> enable_rule;
  std::function<int(const std::string& body, std::string* answer)> disable_rule;
  // GET /view/PATH: the trace viewer's page and its JSON (userspace/view/web_view.h), given
  // PATH and the query parameters. Unset: no /view/.
  struct Page {
    int status = 200;
    std::string content_type;
    std::string body;
  };
  std::function<Page(const std::string& path, const std::map<std::string, std::string>& params)>
      view;
};

// The token a state-changing request must carry, read from a file (its first line, trimmed).
// nullopt and `error` when the file cannot be read or is empty.
std::optional<std::string> read_token_file(const std::string& path, std::string* error);

class ControlServer {
 public:
  // "HOST:PORT" (port 0: any free port). nullptr and `error` when it cannot listen.
  // `token`: empty for none.
  static std::unique_ptr<ControlServer> start(const std::string& listen, ControlHandlers handlers,
                                              std::string token, std::string* error);
  ~ControlServer();  // stops the server and joins its thread
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  std::string address() const;  // "127.0.0.1:8401"

 private:
  ControlServer() = default;

  std::unique_ptr<httplib::Server> server_;
  ControlHandlers handlers_;
  std::string token_;
  std::string host_;
  int port_ = 0;
  std::thread thread_;
};

// "HOST:PORT" → host and port; false when it is not that shape.
bool split_listen_address(const std::string& listen, std::string* host, int* port);

}  // namespace ztrace::control
