// Java peer for the ztrace end-to-end tests: com.sun.net.httpserver server and an
// HttpURLConnection client (JDK only).
//
//   java Peer server PORT
//   java Peer client [--method M] [--body B] [--repeat N] URL...
//
// server routes: /ok/... 200, /error/... 500, POST /echo/... 200 echoing the body, GET
// /chain/... one hop of the chain (below), anything else 404; every response has a
// Content-Length and X-Client-Port (the client's port as the server sees it). Handlers run on
// a fixed thread pool (the server's executor). The client sends the URLs in order (N rounds); HttpURLConnection keeps
// the connection alive when each body is read to the end. It prints
// "STATUS METHOD URL port=X-Client-Port" per request.
//
// Chain mode (the e2e chain tests), from the environment: CHAIN_NEXT (base URL of the next
// hop; the handler GETs CHAIN_NEXT<same path> with HttpURLConnection, keep-alive, on the
// executor thread that runs it; unset: the leaf), CHAIN_NAME (name in the report, default
// "java"). The answer is JSON: {"hop", "pid", "method", "path", "peer_port", "traceparent":
// [received values], "tracestate": [...], "sent_traceparent": "", "next_status", "next": the
// next hop's JSON or null}; 502 when the next hop fails.
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
import java.util.concurrent.Executors;

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

  static String jsonString(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }

  static String jsonList(List<String> values) {
    StringBuilder b = new StringBuilder("[");
    if (values != null) {
      for (String v : values) b.append(b.length() > 1 ? "," : "").append(jsonString(v));
    }
    return b.append(']').toString();
  }

  // One hop of the chain: the next hop is called from the executor thread serving the request.
  static void chainHop(HttpExchange ex) throws IOException {
    String next = System.getenv("CHAIN_NEXT");
    String name = System.getenv().getOrDefault("CHAIN_NAME", "java");
    String uri = ex.getRequestURI().toString();
    int code = 200;
    int nextStatus = 0;
    String nextJson = "null";
    if (next != null && !next.isEmpty()) {
      try {
        HttpURLConnection c = (HttpURLConnection) new URL(next.replaceAll("/+$", "") + uri).openConnection();
        c.setConnectTimeout(20000);
        c.setReadTimeout(20000);
        nextStatus = c.getResponseCode();
        InputStream in = nextStatus >= 400 ? c.getErrorStream() : c.getInputStream();
        String body = "";
        if (in != null) {
          body = new String(in.readAllBytes(), StandardCharsets.UTF_8);  // to the end: keep-alive
          in.close();
        }
        nextJson = body.startsWith("{") ? body : jsonString(body);
        if (nextStatus != 200) code = 502;
      } catch (IOException e) {
        nextJson = jsonString("error: " + e);
        code = 502;
      }
    }
    String report = "{\"hop\":" + jsonString(name)
        + ",\"pid\":" + ProcessHandle.current().pid()
        + ",\"method\":" + jsonString(ex.getRequestMethod())
        + ",\"path\":" + jsonString(uri)
        + ",\"peer_port\":" + ex.getRemoteAddress().getPort()
        + ",\"traceparent\":" + jsonList(ex.getRequestHeaders().get("traceparent"))
        + ",\"tracestate\":" + jsonList(ex.getRequestHeaders().get("tracestate"))
        + ",\"sent_traceparent\":\"\""
        + ",\"next_status\":" + nextStatus
        + ",\"next\":" + nextJson + "}";
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.getResponseHeaders().set("X-Client-Port", String.valueOf(ex.getRemoteAddress().getPort()));
    byte[] body = report.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(code, body.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(body);
    }
    ex.close();
  }

  static void serve(int port) throws IOException {
    // Idle keep-alive connections kept per destination (default 5): enough for the chain
    // tests' concurrent clients.
    System.setProperty("http.maxConnections", "64");
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.setExecutor(Executors.newFixedThreadPool(16));
    server.createContext("/", ex -> {
      String path = ex.getRequestURI().getPath();
      byte[] request = ex.getRequestBody().readAllBytes();
      if (ex.getRequestMethod().equals("GET") && path.startsWith("/chain/")) {
        chainHop(ex);
      } else if (ex.getRequestMethod().equals("POST") && path.startsWith("/echo/")) {
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
