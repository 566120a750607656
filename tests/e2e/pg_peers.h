#pragma once

// PostgreSQL peers of the end-to-end tests (PEERS.md): Debian's PostgreSQL 15 server and its
// clients (psql, pgbench), pgjdbc (peers/postgresql/PgPeer.java), psycopg2.

#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

// A fresh cluster in dir/pg (initdb as the postgres user, trust authentication), its server
// in the foreground on 127.0.0.1:port. Throws with the output when it does not start. With
// `tls`, ssl=on with a fresh self-signed certificate (clients then use sslmode=require).
Process start_postgres(const fs::path& dir, int port, bool tls = false);
// /usr/lib/postgresql/15/bin/<tool>: the programs themselves, not Debian's wrapper script.
std::string pg_tool(const std::string& tool);
// psql -X (no psqlrc) as user postgres to database postgres on 127.0.0.1:port, then `args`.
std::vector<std::string> psql_command(int port, std::vector<std::string> args);
std::vector<std::string> pgbench_command(int port, std::vector<std::string> args);
std::string jdbc_url(int port);
// `java -cp ... PgPeer args...` (the classes built once per change of PgPeer.java).
std::vector<std::string> pg_java_command(std::vector<std::string> args);
// peers/pg-go (lib/pq from Debian, GOPATH mode), built once per change.
fs::path pg_go_client();
// `node peers/pg-node/client.js PORT` (npm pg, scripts/install-npm-peers.sh).
std::vector<std::string> pg_node_command(int port);

}  // namespace ztrace::e2e
