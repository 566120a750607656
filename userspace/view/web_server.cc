#include "userspace/view/web_server.h"

#include <httplib.h>

#include <map>
#include <ostream>

#include "userspace/control/control_server.h"
#include "userspace/view/web_view.h"

namespace ztrace::view {

int serve_web(const ViewOptions& options, const std::string& listen, std::ostream& notes) {
  std::string host;
  int port = 0;
  if (!control::split_listen_address(listen, &host, &port)) {
    notes << "error: --listen: '" << listen << "' is not HOST:PORT\n";
    return 1;
  }
  WebView view(options.files, options.filter);
  httplib::Server server;
  server.Get(R"(/(.*))", [&view](const httplib::Request& request, httplib::Response& response) {
    std::map<std::string, std::string> params(request.params.begin(), request.params.end());
    const WebReply reply = view.get(request.matches[1], params);
    response.status = reply.status;
    response.set_content(reply.body, reply.content_type);
  });
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    notes << "error: cannot listen on " << listen << " (in use, or not an address here)\n";
    return 1;
  }
  notes << "ztrace view: http://" << host << ":" << port << "/ (Ctrl-C to stop)" << std::endl;
  server.listen_after_bind();
  return 0;
}

}  // namespace ztrace::view
