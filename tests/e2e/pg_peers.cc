#include "tests/e2e/pg_peers.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/e2e/tls_peers.h"

namespace ztrace::e2e {

std::string pg_tool(const std::string& tool) { return "/usr/lib/postgresql/15/bin/" + tool; }

Process start_postgres(const fs::path& dir, int port, bool tls) {
  const fs::path root = dir / "pg";
  fs::create_directories(root);
  const passwd* pg = getpwnam("postgres");
  if (!pg || chown(root.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
    throw std::runtime_error("no postgres user, or cannot give it " + root.string());
  }
  // initdb refuses to run as root.
  auto init = run_command(dir,
                          {"runuser", "-u", "postgres", "--", pg_tool("initdb"), "-D",
                           (root / "data").string(), "-U", "postgres", "-A", "trust", "--no-sync"},
                          120s);
  if (init.exit_code != 0) throw std::runtime_error("initdb failed:\n" + init.describe);
  std::vector<std::string> tls_args;
  if (tls) {
    // The server refuses a key readable by others, or not its own.
    const TlsCert cert = make_tls_cert(root);
    for (const auto& file : {cert.cert, cert.key}) {
      if (chown(file.c_str(), pg->pw_uid, pg->pw_gid) != 0 || chmod(file.c_str(), 0600) != 0) {
        throw std::runtime_error("cannot hand " + file.string() + " to postgres");
      }
    }
    tls_args = {"-c", "ssl=on",
                "-c", "ssl_cert_file=" + cert.cert.string(),
                "-c", "ssl_key_file=" + cert.key.string()};
  }
  ProcessOptions o;
  o.argv = {"runuser",
            "-u",
            "postgres",
            "--",
            pg_tool("postgres"),
            "-D",
            (root / "data").string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            std::to_string(port),
            "-k",
            root.string(),
            "-c",
            "fsync=off"};
  o.argv.insert(o.argv.end(), tls_args.begin(), tls_args.end());
  o.cwd = dir;
  o.stdout_path = dir / "postgres.stdout";
  o.stderr_path = dir / "postgres.stderr";
  Process p(std::move(o));
  // The port listens before recovery ends ("the database system is starting up"): wait for
  // the server's own word, which needs no connection.
  const auto ready = [&] {
    return read_file(dir / "postgres.stderr").find("ready to accept connections") !=
           std::string::npos;
  };
  if (!wait_for_port(port, 60s) || !wait_until(ready, 60s) || !p.running()) {
    p.stop(1s);
    throw std::runtime_error("postgres did not listen on port " + std::to_string(port) + "\n" +
                             p.describe());
  }
  return p;
}

std::vector<std::string> psql_command(int port, std::vector<std::string> args) {
  std::vector<std::string> argv = {pg_tool("psql"),      "-X", "-h",       "127.0.0.1", "-p",
                                   std::to_string(port), "-U", "postgres", "-d",        "postgres"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> pgbench_command(int port, std::vector<std::string> args) {
  std::vector<std::string> argv = {pg_tool("pgbench"),   "-h", "127.0.0.1", "-p",
                                   std::to_string(port), "-U", "postgres"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("postgres");
  return argv;
}

std::string jdbc_url(int port) {
  return "jdbc:postgresql://127.0.0.1:" + std::to_string(port) + "/postgres?user=postgres";
}

namespace {

constexpr const char* kJdbcJar = "/usr/share/java/postgresql.jar";

fs::path pg_java_classes() {
  const fs::path dir = scratch_dir() / "peers";
  const fs::path src = peers_dir() / "postgresql" / "PgPeer.java";
  const fs::path classes = dir / "pg-java";
  BuildLock lock(dir);
  if (up_to_date(classes / "PgPeer.class", src)) return classes;
  fs::create_directories(classes);
  auto r = run_command(dir, {"javac", "-d", classes.string(), src.string()}, 120s);
  if (r.exit_code != 0) throw std::runtime_error("javac failed:\n" + r.describe);
  return classes;
}

}  // namespace

std::vector<std::string> pg_java_command(std::vector<std::string> args) {
  std::vector<std::string> argv = {"java", "-cp", pg_java_classes().string() + ":" + kJdbcJar,
                                   "PgPeer"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

fs::path pg_go_client() {
  return build_go_peer(peers_dir() / "pg-go" / "main.go", "ztrace-e2e-pg-go", 300s,
                       "/usr/share/gocode");
}

std::vector<std::string> pg_node_command(int port) {
  return {"node", (peers_dir() / "pg-node" / "client.js").string(), std::to_string(port)};
}

}  // namespace ztrace::e2e
