// Java peer for the ztrace end-to-end tests: com.sun.net.httpserver server and an
// HttpURLConnection client (JDK only).
//
//   java Peer server PORT
//   java Peer client [--method M] [--body B] [--repeat N] URL...
//
// server routes: /ok/... 200, /error/... 500, POST /echo/... 200 echoing the body, anything
// else 404; every response has a Content-Length and X-Client-Port (the client's port as the
// server sees it). The client sends the URLs in order (N rounds); HttpURLConnection keeps
// the connection alive when each body is read to the end. It prints
// "STATUS METHOD URL port=X-Client-Port" per request.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

public class Peer {
  public static void main(String[] args) throws Exception {
    if (args.length >= 2 && args[0].equals("server")) {
      serve(Integer.parseInt(args[1]));
    } else if (args.length >= 2 && args[0].equals("client")) {
      client(args);
    } else {
      System.err.println("usage: Peer server PORT | client [--method M] [--body B] [--repeat N] URL...");
      System.exit(2);
    }
  }

  static void reply(HttpExchange ex, int code, byte[] body) throws IOException {
    ex.getResponseHeaders().set("Content-Type", "text/plain");
    ex.getResponseHeaders().set("X-Client-Port", String.valueOf(ex.getRemoteAddress().getPort()));
    boolean head = ex.getRequestMethod().equals("HEAD");
    ex.sendResponseHeaders(code, head ? -1 : body.length);
    if (!head) {
      try (OutputStream os = ex.getResponseBody()) {
        os.write(body);
      }
    }
    ex.close();
  }

  static void serve(int port) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.createContext("/", ex -> {
      String path = ex.getRequestURI().getPath();
      byte[] request = ex.getRequestBody().readAllBytes();
      if (ex.getRequestMethod().equals("POST") && path.startsWith("/echo/")) {
        reply(ex, 200, request);
      } else if (path.startsWith("/ok/")) {
        reply(ex, 200, ("ok " + path + "\n").getBytes(StandardCharsets.UTF_8));
      } else if (path.startsWith("/error/")) {
        reply(ex, 500, "error\n".getBytes(StandardCharsets.UTF_8));
      } else {
        reply(ex, 404, "not found\n".getBytes(StandardCharsets.UTF_8));
      }
    });
    server.start();
    System.out.println("listening " + port);
  }

  static void client(String[] args) throws IOException {
    String method = "GET";
    String body = null;
    int repeat = 1;
    List<String> urls = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      switch (args[i]) {
        case "--method": method = args[++i]; break;
        case "--body": body = args[++i]; break;
        case "--repeat": repeat = Integer.parseInt(args[++i]); break;
        default: urls.add(args[i]);
      }
    }
    for (int r = 0; r < repeat; r++) {
      for (String u : urls) {
        HttpURLConnection c = (HttpURLConnection) new URL(u).openConnection();
        c.setRequestMethod(method);
        if (body != null) {
          byte[] b = body.getBytes(StandardCharsets.UTF_8);
          c.setDoOutput(true);
          c.setFixedLengthStreamingMode(b.length);
          try (OutputStream os = c.getOutputStream()) {
            os.write(b);
          }
        }
        int code = c.getResponseCode();
        InputStream in = code >= 400 ? c.getErrorStream() : c.getInputStream();
        if (in != null) {
          in.readAllBytes();  // read to the end so the connection goes back to the pool
          in.close();
        }
        System.out.println(code + " " + method + " " + u + " port=" + c.getHeaderField("X-Client-Port"));
      }
    }
  }
}
