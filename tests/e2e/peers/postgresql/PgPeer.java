// PostgreSQL JDBC peer of the end-to-end tests (pgjdbc from libpostgresql-jdbc-java).
// ZT_WAIT_AGENT=SECONDS: first wait for ztrace's Java agent (see waitForAgent).
//   PgPeer queries URL        the client scenario below; prints one line per step
//   PgPeer late URL FILE      prepares and runs a statement 6 times, prints "ready", waits
//                             for FILE to exist, runs it 3 more times
//   PgPeer server PORT URL    HTTP server: GET /items/N answers the name of item N, read
//                             with a JDBC query on the handler's thread
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class PgPeer {
  public static void main(String[] args) throws Exception {
    waitForAgent();
    switch (args[0]) {
      case "queries" -> queries(args[1]);
      case "late" -> late(args[1], Path.of(args[2]));
      case "server" -> server(Integer.parseInt(args[1]), args[2]);
      default -> throw new IllegalArgumentException(args[0]);
    }
  }

  // ZT_WAIT_AGENT=SECONDS (java_tls_test.cc, over TLS): first wait until ztrace's Java agent
  // is in this JVM (it sets the system property ztrace.jsse=on); exit 3 when it never came.
  static void waitForAgent() throws InterruptedException {
    String wait = System.getenv("ZT_WAIT_AGENT");
    if (wait == null) return;
    long deadline = System.nanoTime() + Long.parseLong(wait) * 1_000_000_000L;
    while (!"on".equals(System.getProperty("ztrace.jsse"))) {
      if (System.nanoTime() > deadline) {
        System.err.println("ztrace's Java agent did not load");
        System.exit(3);
      }
      Thread.sleep(20);
    }
  }

  static void queries(String url) throws Exception {
    try (Connection c = DriverManager.getConnection(url)) {
      try (Statement s = c.createStatement()) {
        s.execute("create table jitems (id int primary key, name text)");
      }
      // pgjdbc switches to a named server-side statement at the 5th execution
      // (prepareThreshold): Parse once, then only Bind/Execute.
      try (PreparedStatement p = c.prepareStatement("insert into jitems values (?, ?)")) {
        for (int i = 1; i <= 7; i++) {
          p.setInt(1, i);
          p.setString(2, "item" + i);
          p.executeUpdate();
        }
      }
      System.out.println("inserted 7");
      try (PreparedStatement p = c.prepareStatement("insert into jitems values (?, ?)")) {
        for (int i = 100; i < 103; i++) {
          p.setInt(1, i);
          p.setString(2, "batch" + i);
          p.addBatch();
        }
        System.out.println("batch " + p.executeBatch().length);
      }
      try (PreparedStatement p = c.prepareStatement("select name from jitems where id <= ?")) {
        p.setInt(1, 3);
        int rows = 0;
        try (ResultSet r = p.executeQuery()) {
          while (r.next()) rows++;
        }
        System.out.println("rows " + rows);
      }
      try (Statement s = c.createStatement()) {
        s.executeUpdate("insert into jitems values (1, 'duplicate')");
      } catch (SQLException e) {
        System.out.println("sqlstate " + e.getSQLState());
      }
    }
  }

  static void late(String url, Path go) throws Exception {
    try (Connection c = DriverManager.getConnection(url);
         PreparedStatement p = c.prepareStatement("select count(*) from pg_class where oid > ?")) {
      for (int i = 0; i < 9; i++) {
        if (i == 6) {
          System.out.println("ready");
          System.out.flush();
          while (!Files.exists(go)) Thread.sleep(20);
        }
        p.setInt(1, i);
        try (ResultSet r = p.executeQuery()) {
          r.next();
        }
      }
    }
    System.out.println("done");
    // A process the agent did not see start is described from /proc when its first event
    // arrives: it must still exist then.
    Thread.sleep(1000);
  }

  static void server(int port, String url) throws Exception {
    Connection c = DriverManager.getConnection(url);
    PreparedStatement p = c.prepareStatement("select name from jitems where id = ?");
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.createContext("/items/", exchange -> {
      String name = "none";
      try {
        p.setInt(1, Integer.parseInt(exchange.getRequestURI().getPath().substring(7)));
        try (ResultSet r = p.executeQuery()) {
          if (r.next()) name = r.getString(1);
        }
      } catch (SQLException e) {
        name = "error " + e.getSQLState();
      }
      byte[] body = name.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    });
    server.start();
    System.out.println("listening " + port);
  }
}
