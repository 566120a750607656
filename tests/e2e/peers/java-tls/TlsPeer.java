// JSSE peers of the end-to-end tests (tests/e2e/java_tls_test.cc), with the JDK's own classes:
//   server PORT KEYSTORE        com.sun.net.httpserver.HttpsServer (SSLEngine): /hello* -> 200,
//                               /call?to=URL -> an HttpsURLConnection GET to URL, then 200;
//                               anything else -> 404.
//   urlconnection URL...        HttpsURLConnection (SSLSocket), one keep-alive connection
//   httpclient h1|h2 URL...     java.net.http.HttpClient (SSLEngine) with that version
// ZT_WAIT_AGENT=SECONDS: first wait until ztrace's Java agent is in this JVM.
// Clients send Authorization and Cookie headers (secrets the agent must never write out),
// trust any certificate, and print one line per response: "STATUS BYTES".
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

public class TlsPeer {
  static final String TOKEN = "Bearer zt-secret-token-4711";
  static final String COOKIE = "session=zt-secret-cookie-4711";

  public static void main(String[] args) throws Exception {
    waitForAgent();
    switch (args[0]) {
      case "server":
        server(Integer.parseInt(args[1]), args[2]);
        break;
      case "urlconnection":
        for (int i = 1; i < args.length; i++) System.out.println(urlConnectionGet(args[i]));
        break;
      case "httpclient":
        httpClient(args);
        break;
      default:
        throw new IllegalArgumentException(args[0]);
    }
  }

  // With ZT_WAIT_AGENT=SECONDS: a JVM started after ztrace gets its TLS agent about a second
  // after start (ztrace waits for the JVM's SIGQUIT handler, then attaches); its requests
  // wait for it, as the test means to trace them at the TLS layer. Exit 3 when it never came.
  static void waitForAgent() throws InterruptedException {
    String wait = System.getenv("ZT_WAIT_AGENT");
    if (wait == null)
      return;
    long deadline = System.nanoTime() + Long.parseLong(wait) * 1_000_000_000L;
    while (!"on".equals(System.getProperty("ztrace.jsse"))) {
      if (System.nanoTime() > deadline) {
        System.err.println("ztrace's Java agent did not load");
        System.exit(3);
      }
      Thread.sleep(20);
    }
  }

  // Trusts every certificate and skips the host check (an X509ExtendedTrustManager: the JDK
  // adds its own host check around a plain X509TrustManager, and the Node peers' certificates
  // have no subjectAltName).
  static final class TrustAll extends X509ExtendedTrustManager {
    public void checkClientTrusted(X509Certificate[] c, String a) {}

    public void checkServerTrusted(X509Certificate[] c, String a) {}

    public void checkClientTrusted(X509Certificate[] c, String a, Socket s) {}

    public void checkServerTrusted(X509Certificate[] c, String a, Socket s) {}

    public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) {}

    public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) {}

    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }

  static SSLContext trustAll() throws Exception {
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {new TrustAll()}, null);
    return ctx;
  }

  static String urlConnectionGet(String url) throws Exception {
    HttpsURLConnection c = (HttpsURLConnection) new URL(url).openConnection();
    c.setSSLSocketFactory(trustAll().getSocketFactory());
    c.setHostnameVerifier((h, s) -> true);
    c.setRequestProperty("Authorization", TOKEN);
    c.setRequestProperty("Cookie", COOKIE);
    int status = c.getResponseCode();
    InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream();
    int n = in == null ? 0 : in.readAllBytes().length;
    if (in != null)
      in.close();
    return status + " " + n;
  }

  static void httpClient(String[] args) throws Exception {
    HttpClient client =
        HttpClient.newBuilder()
            .sslContext(trustAll())
            .version(args[1].equals("h2") ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1)
            .build();
    for (int i = 2; i < args.length; i++) {
      HttpRequest req = HttpRequest.newBuilder(URI.create(args[i]))
                            .header("Authorization", TOKEN)
                            .header("Cookie", COOKIE)
                            .GET()
                            .build();
      HttpResponse<byte[]> r = client.send(req, HttpResponse.BodyHandlers.ofByteArray());
      System.out.println(r.statusCode() + " " + r.body().length + " " + r.version());
    }
  }

  static void server(int port, String keystore) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(keystore)) {
      ks.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "changeit".toCharArray());
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.setHttpsConfigurator(new HttpsConfigurator(ctx));
    server.createContext("/", TlsPeer::handle);
    server.start();
    System.out.println("listening " + port);
  }

  static void handle(HttpExchange ex) {
    try {
      ex.getRequestBody().readAllBytes();
      String path = ex.getRequestURI().getPath();
      int status = 404;
      String body = "not found\n";
      if (path.startsWith("/hello")) {
        status = 200;
        body = "hello\n";
      } else if (path.equals("/call")) {
        String to = ex.getRequestURI().getQuery().replaceFirst("^to=", "");
        body = "downstream " + urlConnectionGet(to) + "\n";
        status = 200;
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(status, bytes.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(bytes);
      }
    } catch (Exception e) {
      e.printStackTrace();
    } finally {
      ex.close();
    }
  }
}
